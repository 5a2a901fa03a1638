//! Harness adapters: how each agent program's output becomes canonical protocol events.

pub mod pi_events;
