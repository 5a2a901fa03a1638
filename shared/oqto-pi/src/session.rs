//! The payloads of pi's session-file entries that are not messages (format version 3, see
//! pi's `docs/session-format.md`); a `message` entry's payload is a
//! [`PiMessage`](crate::PiMessage). Only the fields Oqto uses are read.

use serde::Deserialize;

use crate::message::{PiContent, content_list, shown};

/// A `compaction` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiCompaction {
    pub summary: String,
    #[serde(default)]
    pub tokens_before: Option<u64>,
}

/// A `branch_summary` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PiBranchSummary {
    pub summary: String,
}

/// A `custom_message` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PiCustomMessage {
    #[serde(default, deserialize_with = "content_list")]
    pub content: Vec<PiContent>,
    #[serde(default = "shown")]
    pub display: bool,
}

/// A `model_change` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiModelChange {
    pub provider: String,
    pub model_id: String,
}
