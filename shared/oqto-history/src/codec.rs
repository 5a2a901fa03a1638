//! Conversions between protocol values and `SQLite` columns.
//!
//! `SQLite` integers are signed 64-bit; the protocol's times and sequence numbers are `u64`.
//! Writing a value above `i64::MAX` is refused ([`StoreError::OutOfRange`]); reading a
//! negative one means the file was damaged ([`StoreError::Corrupt`]).

use oqto_protocol::{ModelRef, Part, StopReason, Usage};
use serde::de::DeserializeOwned;

use crate::error::StoreError;

/// A `u64` as an `SQLite` integer.
pub(crate) fn to_sql_int(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { what, value })
}

/// A `u64` used as a bound in a query: values above `i64::MAX` mean "no bound" and clamp.
pub(crate) fn to_sql_bound(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// An optional `u64` as an optional `SQLite` integer.
pub(crate) fn to_sql_opt(
    value: Option<u64>,
    what: &'static str,
) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_sql_int(v, what)).transpose()
}

/// An `SQLite` integer read back as a `u64`.
pub(crate) fn from_sql_int(value: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative {what} {value}")))
}

/// A count or limit as an `SQLite` integer (saturating; no `SQLite` table holds more rows).
pub(crate) fn count_to_sql(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The wire name of a stop reason, as stored.
pub(crate) fn stop_reason_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Stop => "stop",
        StopReason::ToolUse => "tool_use",
        StopReason::Length => "length",
        StopReason::Aborted => "aborted",
        StopReason::Error => "error",
    }
}

/// A protocol enum (role, state, stop reason) from its stored wire name.
pub(crate) fn parse_wire<T: DeserializeOwned>(
    text: &str,
    column: &'static str,
) -> Result<T, StoreError> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(text))
        .map_err(|_| StoreError::Corrupt(format!("unknown {column} `{text}`")))
}

/// A model from its two columns; both are set or neither is.
pub(crate) fn model_from_columns(
    provider: Option<String>,
    id: Option<String>,
) -> Result<Option<ModelRef>, StoreError> {
    match (provider, id) {
        (Some(provider), Some(id)) => Ok(Some(ModelRef { provider, id })),
        (None, None) => Ok(None),
        (provider, id) => Err(StoreError::Corrupt(format!(
            "half a model: provider {provider:?}, id {id:?}"
        ))),
    }
}

/// The two model columns of an optional model.
pub(crate) fn model_columns(model: Option<&ModelRef>) -> (Option<&str>, Option<&str>) {
    match model {
        Some(m) => (Some(m.provider.as_str()), Some(m.id.as_str())),
        None => (None, None),
    }
}

/// Usage as stored (JSON text).
pub(crate) fn usage_to_json(usage: Option<&Usage>) -> Result<Option<String>, StoreError> {
    usage
        .map(|u| {
            serde_json::to_string(u)
                .map_err(|e| StoreError::Corrupt(format!("cannot encode usage: {e}")))
        })
        .transpose()
}

/// Usage read back from its JSON text.
pub(crate) fn usage_from_json(text: Option<String>) -> Result<Option<Usage>, StoreError> {
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| StoreError::Corrupt(format!("bad usage JSON `{t}`: {e}")))
    })
    .transpose()
}

/// A part as stored (its protocol JSON).
pub(crate) fn part_to_json(part: &Part) -> Result<String, StoreError> {
    serde_json::to_string(part)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode part `{}`: {e}", part.id())))
}

/// A part read back from its JSON.
pub(crate) fn part_from_json(text: &str) -> Result<Part, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("bad part JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_out_of_range_are_refused_not_wrapped() {
        assert_eq!(to_sql_int(7, "seq").unwrap(), 7);
        assert!(matches!(
            to_sql_int(u64::MAX, "created_at"),
            Err(StoreError::OutOfRange {
                what: "created_at",
                value: u64::MAX
            })
        ));
        assert!(matches!(
            from_sql_int(-1, "seq"),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(to_sql_bound(u64::MAX), i64::MAX);
    }

    #[test]
    fn stop_reason_names_are_the_wire_names() {
        for reason in [
            StopReason::Stop,
            StopReason::ToolUse,
            StopReason::Length,
            StopReason::Aborted,
            StopReason::Error,
        ] {
            let wire = serde_json::to_value(reason).ok();
            assert_eq!(
                wire.as_ref().and_then(|v| v.as_str()),
                Some(stop_reason_name(reason))
            );
            let back: StopReason = parse_wire(stop_reason_name(reason), "x").unwrap();
            assert_eq!(back, reason);
        }
        assert!(parse_wire::<StopReason>("nope", "stop_reason").is_err());
    }

    #[test]
    fn half_a_model_is_corrupt() {
        assert!(model_from_columns(Some("a".into()), None).is_err());
        assert_eq!(model_from_columns(None, None).unwrap(), None);
    }
}
