//! The audit log: the session's permission and tool events, written to the history store
//! as they go out (`oqtoctl audit`).

use std::collections::HashMap;

use oqto_protocol::{AuditEntry, AuditKind, EventKind, Millis, Part, SessionId};

/// What the audit needs to remember between events: the tool each permission request is
/// about, to name it when the answer comes.
#[derive(Debug, Default)]
pub(super) struct Audit {
    requests: HashMap<String, String>,
}

impl Audit {
    /// The entry `kind` makes, if it is one the audit log records.
    pub(super) fn entry(
        &mut self,
        session: &SessionId,
        kind: &EventKind,
        ts: Millis,
    ) -> Option<AuditEntry> {
        let entry = |kind, summary, call_id, request, answered| AuditEntry {
            id: 0,
            ts,
            session: session.clone(),
            kind,
            summary,
            call_id,
            request,
            answered,
        };
        match kind {
            EventKind::PermissionRequest { request, tool, .. } => {
                let what = format!("{}: {}", tool.kind.as_str(), tool.title);
                self.requests.insert(request.clone(), what.clone());
                Some(entry(
                    AuditKind::PermissionRequest,
                    format!("asked to run {what}"),
                    Some(tool.call_id.clone()),
                    Some(request.clone()),
                    None,
                ))
            }
            EventKind::PermissionResolved {
                request,
                option,
                kind,
                answered,
            } => {
                let what = self
                    .requests
                    .remove(request)
                    .unwrap_or_else(|| request.clone());
                let outcome = match (option, kind) {
                    (Some(option), Some(kind)) => format!("{} (option `{option}`)", kind.as_str()),
                    _ => "cancelled".to_owned(),
                };
                Some(entry(
                    AuditKind::PermissionResolved,
                    format!("{what}: {outcome}, answered by {}", answered.describe()),
                    None,
                    Some(request.clone()),
                    Some(answered.clone()),
                ))
            }
            EventKind::ToolStart {
                call_id,
                name,
                input,
                ..
            } => Some(entry(
                AuditKind::ToolStart,
                format!("{name} started: {}", clip(&input.to_string())),
                Some(call_id.clone()),
                None,
                None,
            )),
            EventKind::ToolEnd { part, .. } => {
                let Part::ToolCall {
                    call_id,
                    name,
                    status,
                    is_error,
                    ..
                } = part
                else {
                    return None;
                };
                let status = serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Some(entry(
                    AuditKind::ToolEnd,
                    format!(
                        "{name} ended: {status}{}",
                        if *is_error { " (error)" } else { "" }
                    ),
                    Some(call_id.clone()),
                    None,
                    None,
                ))
            }
            _ => None,
        }
    }
}

/// At most 200 characters of a tool's input, for a summary.
fn clip(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
