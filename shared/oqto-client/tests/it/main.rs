//! The client against a real `oqto-runner` (with the fake agent as its harness) and a real
//! `oqto-files`, each test in its own `TestEnv`: requests and replies by id with events in
//! between, resume after a seq, reconnect after a restart, start on demand, the raw
//! pass-through, raw byte frames both ways, error codes.

mod files;
mod runner;
mod support;
