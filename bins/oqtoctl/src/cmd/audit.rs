//! `oqtoctl audit`: the audit log.

use std::io::Write;

use oqto_cli::Exit;
use oqto_protocol::{Command, Reply, SessionId};

use super::{ago, json_line, now_millis, table};
use crate::cli::AuditArgs;
use crate::ondemand::Target;
use crate::render::{escape_controls, truncate};

pub async fn run(args: AuditArgs, target: &Target) -> anyhow::Result<Exit> {
    let now = now_millis();
    let since = args
        .since
        .map(|d| now.saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)));
    let mut conn = target.connect().await?;
    let reply = conn
        .request(Command::AuditList {
            session: args.session.map(SessionId),
            since,
            query: args.search,
            limit: Some(args.limit),
        })
        .await?;
    let Reply::Audit { entries, has_more } = reply else {
        anyhow::bail!("unexpected reply to audit.list");
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        for entry in &entries {
            json_line(&mut out, entry)?;
        }
        return Ok(Exit::Ok);
    }
    if entries.is_empty() {
        writeln!(out, "no entries")?;
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                ago(now, e.ts),
                e.session.0.clone(),
                e.kind.as_str().to_owned(),
                escape_controls(&truncate(&e.summary.replace(['\n', '\r', '\t'], " "), 100))
                    .into_owned(),
            ]
        })
        .collect();
    table(&mut out, &["WHEN", "SESSION", "EVENT", "WHAT"], &rows)?;
    if has_more {
        writeln!(out, "(older entries match too: raise --limit)")?;
    }
    Ok(Exit::Ok)
}
