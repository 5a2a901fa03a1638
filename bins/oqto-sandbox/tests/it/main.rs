//! Integration tests: the real `oqto-sandbox` binary, real bwrap, real processes.

mod cli;
mod escapes;
mod exit;
mod pi;
mod support;
mod tty;
