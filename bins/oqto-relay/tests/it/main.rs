//! `oqto-relay` as a user meets it: the real binary, a real runner started on demand with
//! the fake agent, and a real WebSocket client.

mod agent;
mod auth;
mod files;
mod frames;
mod lifecycle;
mod login;
mod support;
mod terminal;
mod tls;
