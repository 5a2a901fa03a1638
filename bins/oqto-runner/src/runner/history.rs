//! The history commands: a session's stored messages, search, and the import of pi's
//! session files.

use std::path::{Path, PathBuf};

use oqto_protocol::{
    ErrorCode, ImportSkipped, ImportSource, MessageId, Reply, SearchFilters, SessionId,
};

use super::{DEFAULT_PAGE, Failure, MAX_PAGE, Runner, store_failure};

impl Runner {
    /// `get_messages`: a page of a session's stored messages, newest first.
    pub(super) async fn messages(
        &self,
        session: SessionId,
        before: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<Reply, Failure> {
        self.session(&session)?;
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize;
        let page = self
            .ctx
            .store
            .call(move |store| store.messages(&session, before.as_ref(), limit))
            .await
            .map_err(store_failure)?;
        Ok(Reply::Messages {
            messages: page.messages,
            has_more: page.has_more,
        })
    }

    /// `history.search` over every stored message.
    pub(super) async fn search(
        &self,
        query: String,
        limit: Option<u32>,
        filters: SearchFilters,
    ) -> Result<Reply, Failure> {
        let limit = limit.unwrap_or(20).clamp(1, 200) as usize;
        let hits = self
            .ctx
            .store
            .call(move |store| store.search(&query, &filters, Some(limit)))
            .await
            .map_err(store_failure)?;
        Ok(Reply::SearchResults { hits })
    }

    /// `audit.list`: the newest entries of the audit log that match `filter`.
    pub(super) async fn audit(
        &self,
        filter: oqto_history::AuditFilter,
        limit: Option<u32>,
    ) -> Result<Reply, Failure> {
        let limit = limit.unwrap_or(100) as usize;
        let (entries, has_more) = self
            .ctx
            .store
            .call(move |store| store.audit(&filter, limit))
            .await
            .map_err(store_failure)?;
        Ok(Reply::Audit { entries, has_more })
    }

    /// `history.import`: imports the pi agent directory `dir` (by default
    /// `$PI_CODING_AGENT_DIR`, else `$HOME/.pi/agent`) on the store thread, then adopts the
    /// new sessions.
    pub(super) async fn import_history(
        &self,
        source: ImportSource,
        dir: Option<String>,
    ) -> Result<Reply, Failure> {
        let ImportSource::Pi = source;
        let dir = match dir {
            Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
            Some(dir) => {
                return Err((
                    ErrorCode::BadRequest,
                    format!("history.import: `dir` must be an absolute path, got `{dir}`"),
                ));
            }
            None => self.ctx.pi_agent_dir().ok_or_else(|| {
                (
                    ErrorCode::BadRequest,
                    "history.import: no `dir`, and the pi harness has neither an absolute \
                     PI_CODING_AGENT_DIR nor a HOME"
                        .to_owned(),
                )
            })?,
        };
        let report = self
            .ctx
            .store
            .call(move |store| oqto_history::import::pi::import_pi_dir(store, &dir))
            .await
            .map_err(store_failure)?;
        tracing::info!(
            files = report.files,
            new = report.sessions_new,
            updated = report.sessions_updated,
            unchanged = report.sessions_unchanged,
            messages = report.messages,
            skipped = report.skipped.len(),
            warnings = report.warnings,
            "imported pi sessions"
        );
        self.adopt_new_sessions().await;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Reply::Imported {
            files: count(report.files),
            sessions_new: count(report.sessions_new),
            sessions_updated: count(report.sessions_updated),
            sessions_unchanged: count(report.sessions_unchanged),
            messages: count(report.messages),
            skipped: report
                .skipped
                .into_iter()
                .map(|(path, reason)| ImportSkipped {
                    path: path.display().to_string(),
                    reason,
                })
                .collect(),
        })
    }
}
