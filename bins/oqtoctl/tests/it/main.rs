//! Integration tests: the real `oqtoctl` binary against a real runner (the fake agent, and
//! the real pi with the demo model) in an isolated environment.

mod acp;
mod agents;
mod attach;
mod autostart;
mod commands;
mod completions;
mod prompt;
mod remote;
mod shell;
mod support;
mod web;
