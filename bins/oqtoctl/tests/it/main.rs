//! Integration tests: the real `oqtoctl` binary in an isolated environment.

mod completions;
