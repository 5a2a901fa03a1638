//! Integration tests: the real `oqto-runner` binary, driven over its socket.

mod access;
mod acp;
mod faults;
mod files;
mod history;
mod lifecycle;
mod pi;
mod protocol;
mod replay;
mod sandbox;
mod sends;
mod storage;
mod support;
mod terminals;
