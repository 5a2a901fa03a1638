//! Integration tests: the real `oqto-files` binary over --stdio and --socket, each test in
//! its own `TestEnv`. Waits are polls with deadlines, never fixed sleeps.

mod access;
mod confinement;
mod faults;
mod ops;
mod streams;
mod support;
