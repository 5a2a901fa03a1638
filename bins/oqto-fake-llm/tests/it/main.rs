//! Integration tests of `oqto-fake-llm`: the HTTP API in-process, the binary as a process,
//! and the real `pi` agent end to end against it.

mod acp;
mod apis;
mod binary;
mod http;
mod pi;
mod support;
