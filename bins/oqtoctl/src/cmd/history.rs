//! `oqtoctl history search|import` and `oqtoctl models`.

use std::io::Write;

use oqto_cli::Exit;
use oqto_protocol::{Command, ImportSource, Reply, Role, SearchFilters, SessionId};

use super::{ago, json_line, now_millis, table};
use crate::cli::{HistoryCommand, ImportArg, ModelsArgs, RoleArg, SearchArgs};
use crate::cmd::prompt::{default_harness, runner_dir};
use crate::ondemand::Target;
use crate::render::{escape_controls, truncate};

pub async fn run(command: HistoryCommand, target: &Target) -> anyhow::Result<Exit> {
    match command {
        HistoryCommand::Search(args) => search(args, target).await,
        HistoryCommand::Import { source, dir, json } => {
            let ImportArg::Pi = source;
            let dir = match dir {
                Some(dir) => Some(runner_dir(&dir, "pi directory", target)?),
                None => None,
            };
            let mut conn = target.connect().await?;
            let reply = conn
                .request(Command::HistoryImport {
                    source: ImportSource::Pi,
                    dir,
                })
                .await?;
            let mut out = std::io::stdout().lock();
            if json {
                json_line(&mut out, &reply)?;
                return Ok(Exit::Ok);
            }
            let Reply::Imported {
                files,
                sessions_new,
                sessions_updated,
                sessions_unchanged,
                messages,
                skipped,
            } = reply
            else {
                anyhow::bail!("unexpected reply to history.import");
            };
            writeln!(
                out,
                "{files} file(s): {sessions_new} new session(s), {sessions_updated} updated, {sessions_unchanged} unchanged; {messages} message(s) written"
            )?;
            for skip in &skipped {
                writeln!(
                    out,
                    "skipped {}: {}",
                    escape_controls(&skip.path),
                    escape_controls(&skip.reason)
                )?;
            }
            Ok(Exit::Ok)
        }
    }
}

async fn search(args: SearchArgs, target: &Target) -> anyhow::Result<Exit> {
    let now = now_millis();
    let age = |d: std::time::Duration| {
        now.saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    let filters = SearchFilters {
        harness: args.harness,
        cwd: match &args.cwd {
            Some(dir) => Some(runner_dir(dir, "--cwd", target)?),
            None => None,
        },
        session: args.session.map(SessionId),
        since: args.since.map(age),
        until: args.until.map(age),
        role: args.role.map(|r| match r {
            RoleArg::User => Role::User,
            RoleArg::Assistant => Role::Assistant,
            RoleArg::System => Role::System,
        }),
    };
    let mut conn = target.connect().await?;
    let reply = conn
        .request(Command::HistorySearch {
            query: args.query,
            limit: Some(args.limit),
            filters,
        })
        .await?;
    let Reply::SearchResults { hits } = reply else {
        anyhow::bail!("unexpected reply to history.search");
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        for hit in &hits {
            json_line(&mut out, hit)?;
        }
        return Ok(Exit::Ok);
    }
    if hits.is_empty() {
        writeln!(out, "no matches")?;
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|hit| {
            let snippet = hit.snippet.replace(['\n', '\r', '\t'], " ");
            vec![
                ago(now, hit.created_at),
                hit.session.0.clone(),
                hit.role.as_str().to_owned(),
                escape_controls(&truncate(hit.title.as_deref().unwrap_or("-"), 30)).into_owned(),
                escape_controls(&truncate(&snippet, 100)).into_owned(),
            ]
        })
        .collect();
    table(
        &mut out,
        &["WHEN", "SESSION", "ROLE", "TITLE", "MATCH"],
        &rows,
    )?;
    Ok(Exit::Ok)
}

pub async fn models(args: ModelsArgs, target: &Target) -> anyhow::Result<Exit> {
    let mut conn = target.connect().await?;
    // Without a session, a short-lived one of the harness answers, and is deleted after.
    let (session, temporary) = if let Some(id) = args.session {
        (SessionId(id), false)
    } else {
        let harness = args
            .harness
            .unwrap_or_else(|| default_harness(&conn, target));
        // Through a relay, this machine's temporary directory means nothing over there.
        let cwd = if target.remote().is_some() {
            "/tmp".to_owned()
        } else {
            std::env::temp_dir().to_string_lossy().into_owned()
        };
        let reply = conn
            .request(Command::SessionCreate {
                harness,
                cwd,
                model: None,
                provider: None,
                sandbox_profile: None,
                title: Some("oqtoctl models".into()),
            })
            .await?;
        let Reply::Session { session, .. } = reply else {
            anyhow::bail!("unexpected reply to session.create");
        };
        (session.id, true)
    };
    let result = conn
        .request(Command::GetModels {
            session: session.clone(),
        })
        .await;
    if temporary {
        let _ = conn.request(Command::SessionDelete { session }).await;
    }
    let Reply::Models { models } = result? else {
        anyhow::bail!("unexpected reply to get_models");
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        for model in &models {
            json_line(&mut out, model)?;
        }
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                format!("{}/{}", m.provider, m.id),
                escape_controls(m.name.as_deref().unwrap_or("-")).into_owned(),
                m.context_window
                    .map_or_else(|| "-".into(), |c| c.to_string()),
                if m.reasoning { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    table(&mut out, &["MODEL", "NAME", "CONTEXT", "REASONING"], &rows)?;
    Ok(Exit::Ok)
}
