//! Integration tests of the history store, one binary.

mod import_pi;
mod messages;
mod open;
mod paging;
mod search;
mod search_syntax;
mod sessions;
mod support;
