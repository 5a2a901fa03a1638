//! The audit log: one row per permission asked or answered and per tool call started or
//! ended, written by the runner from the session's events ([`AuditEntry`]).

use oqto_protocol::{AuditEntry, AuditKind, Millis, SessionId};
use rusqlite::{OptionalExtension as _, params};

use crate::error::{Context as _, StoreError};
use crate::store::Store;

/// The most entries one `audit.list` returns.
pub const MAX_AUDIT_PAGE: usize = 1000;

/// What `audit.list` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub session: Option<SessionId>,
    pub since: Option<Millis>,
    /// Text the summary contains, case-insensitively.
    pub query: Option<String>,
}

impl Store {
    /// Appends an entry; its `id` is ignored (the log numbers it). Returns the new id.
    pub fn put_audit(&mut self, entry: &AuditEntry) -> Result<u64, StoreError> {
        self.writable()?;
        let answered = entry
            .answered
            .as_ref()
            .map(|a| serde_json::to_string(a).expect("an answerer serializes"));
        self.conn
            .prepare_cached(
                "INSERT INTO audit (ts, session, kind, summary, call_id, request, answered) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    i64::try_from(entry.ts).unwrap_or(i64::MAX),
                    entry.session.as_str(),
                    entry.kind.as_str(),
                    entry.summary,
                    entry.call_id,
                    entry.request,
                    answered,
                ])
            })
            .ctx("writing an audit entry")?;
        Ok(u64::try_from(self.conn.last_insert_rowid()).unwrap_or(0))
    }

    /// The newest `limit` entries matching `filter`, oldest first, and whether older ones
    /// match too. A database older than the log has none.
    pub fn audit(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, bool), StoreError> {
        let exists: Option<i64> = self
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'",
                [],
                |row| row.get(0),
            )
            .optional()
            .ctx("looking for the audit log")?;
        if exists.is_none() {
            return Ok((Vec::new(), false));
        }
        let limit = limit.clamp(1, MAX_AUDIT_PAGE);
        let query = filter.query.as_deref().map(str::to_lowercase);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, ts, session, kind, summary, call_id, request, answered FROM audit \
                 WHERE (?1 IS NULL OR session = ?1) AND (?2 IS NULL OR ts >= ?2) \
                   AND (?3 IS NULL OR instr(lower(summary), ?3) > 0) \
                 ORDER BY id DESC LIMIT ?4",
            )
            .ctx("reading the audit log")?;
        let since = filter.since.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
        let rows = stmt
            .query_map(
                params![
                    filter.session.as_ref().map(SessionId::as_str),
                    since,
                    query,
                    i64::try_from(limit + 1).unwrap_or(i64::MAX),
                ],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, Option<String>>(6)?,
                        row.get::<_, Option<String>>(7)?,
                    ))
                },
            )
            .ctx("reading the audit log")?;
        let mut entries = Vec::new();
        for row in rows {
            let (id, ts, session, kind, summary, call_id, request, answered) =
                row.ctx("reading the audit log")?;
            let Some(kind) = AuditKind::from_name(&kind) else {
                continue;
            };
            entries.push(AuditEntry {
                id: u64::try_from(id).unwrap_or(0),
                ts: u64::try_from(ts).unwrap_or(0),
                session: SessionId::new(session),
                kind,
                summary,
                call_id,
                request,
                answered: answered.and_then(|a| serde_json::from_str(&a).ok()),
            });
        }
        let has_more = entries.len() > limit;
        entries.truncate(limit);
        entries.reverse();
        Ok((entries, has_more))
    }
}

#[cfg(test)]
mod tests {
    use oqto_protocol::Answerer;

    use super::*;

    fn entry(session: &str, ts: Millis, kind: AuditKind, summary: &str) -> AuditEntry {
        AuditEntry {
            id: 0,
            ts,
            session: SessionId::new(session),
            kind,
            summary: summary.into(),
            call_id: Some("c1".into()),
            request: None,
            answered: (kind == AuditKind::PermissionResolved).then(|| Answerer::User {
                client: "oqtoctl/0.1.0".into(),
            }),
        }
    }

    #[test]
    fn entries_are_kept_filtered_and_paged_newest_last() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .put_audit(&entry(
                "s1",
                10,
                AuditKind::PermissionRequest,
                "execute: rm -rf target",
            ))
            .unwrap();
        store
            .put_audit(&entry(
                "s1",
                20,
                AuditKind::PermissionResolved,
                "execute: rm -rf target: reject_once by user (oqtoctl/0.1.0)",
            ))
            .unwrap();
        store
            .put_audit(&entry("s2", 30, AuditKind::ToolStart, "bash: ls"))
            .unwrap();
        let (all, more) = store.audit(&AuditFilter::default(), 100).unwrap();
        assert_eq!(all.iter().map(|e| e.ts).collect::<Vec<_>>(), [10, 20, 30]);
        assert!(!more);
        assert_eq!(
            all[1].answered,
            Some(Answerer::User {
                client: "oqtoctl/0.1.0".into()
            })
        );
        let (s1, _) = store
            .audit(
                &AuditFilter {
                    session: Some(SessionId::new("s1")),
                    since: Some(15),
                    query: None,
                },
                100,
            )
            .unwrap();
        assert_eq!(s1.len(), 1);
        let (found, _) = store
            .audit(
                &AuditFilter {
                    query: Some("RM -RF".into()),
                    ..AuditFilter::default()
                },
                100,
            )
            .unwrap();
        assert_eq!(found.len(), 2);
        let (page, more) = store.audit(&AuditFilter::default(), 1).unwrap();
        assert_eq!((page[0].ts, more), (30, true));
    }
}
