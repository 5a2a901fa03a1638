//! The client against a real `oqto-runner` (with the fake agent as its harness), each test
//! in its own `TestEnv`: requests and replies by id with events in between, resume after a
//! seq, reconnect after a restart, start on demand, the raw pass-through, error codes.

mod runner;
mod support;
