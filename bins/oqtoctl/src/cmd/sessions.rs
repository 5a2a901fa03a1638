//! `oqtoctl sessions`, `oqtoctl session show|rm|rename|close`, `abort`, `steer`,
//! `follow-up`, `messages`.

use std::io::{IsTerminal, Write};

use oqto_cli::Exit;
use oqto_protocol::{Command, MessageId, Reply, SessionId, SessionInfo, State};

use super::{ago, json_line, table};
use crate::cli::{IdText, MessagesArgs, SessionCommand, SessionsArgs, StateArg};
use crate::cmd::prompt::{canonical_dir, read_stdin};
use crate::ondemand::Target;
use crate::render::{Output, Printer, escape_controls};

pub async fn list(args: SessionsArgs, target: &Target) -> anyhow::Result<Exit> {
    let cwd = match &args.cwd {
        Some(dir) => Some(canonical_dir(dir)?.to_string_lossy().into_owned()),
        None => None,
    };
    let mut conn = target.connect().await?;
    let reply = conn
        .request(Command::SessionList {
            state: args.state.map(state_of),
            harness: args.harness,
            cwd,
        })
        .await?;
    let Reply::Sessions { sessions } = reply else {
        anyhow::bail!("unexpected reply to session.list");
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        for session in &sessions {
            json_line(&mut out, session)?;
        }
        return Ok(Exit::Ok);
    }
    if sessions.is_empty() {
        writeln!(out, "no sessions")?;
        return Ok(Exit::Ok);
    }
    let now = crate::cmd::now_millis();
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.id.0.clone(),
                s.state.as_str().to_owned(),
                s.harness.clone(),
                ago(now, s.last_activity),
                escape_controls(s.title.as_deref().unwrap_or("-")).into_owned(),
                escape_controls(&s.cwd).into_owned(),
            ]
        })
        .collect();
    table(
        &mut out,
        &["ID", "STATE", "HARNESS", "ACTIVE", "TITLE", "CWD"],
        &rows,
    )?;
    Ok(Exit::Ok)
}

fn state_of(arg: StateArg) -> State {
    match arg {
        StateArg::Starting => State::Starting,
        StateArg::Idle => State::Idle,
        StateArg::Working => State::Working,
        StateArg::Error => State::Error,
        StateArg::Stopped => State::Stopped,
    }
}

pub async fn session(command: SessionCommand, target: &Target) -> anyhow::Result<Exit> {
    let mut conn = target.connect().await?;
    match command {
        SessionCommand::Show { id, json } => {
            let reply = conn
                .request(Command::SessionGet {
                    session: SessionId(id),
                })
                .await?;
            let Reply::Session { session } = reply else {
                anyhow::bail!("unexpected reply to session.get");
            };
            let mut out = std::io::stdout().lock();
            if json {
                json_line(&mut out, &session)?;
            } else {
                show(&mut out, &session)?;
            }
        }
        SessionCommand::Rm { ids } => {
            for id in ids {
                conn.request(Command::SessionDelete {
                    session: SessionId(id.clone()),
                })
                .await?;
                eprintln!("deleted {id}");
            }
        }
        SessionCommand::Rename { id, title } => {
            conn.request(Command::SessionRename {
                session: SessionId(id),
                title,
            })
            .await?;
        }
        SessionCommand::Close { id } => {
            conn.request(Command::SessionClose {
                session: SessionId(id),
            })
            .await?;
        }
    }
    Ok(Exit::Ok)
}

fn show(out: &mut impl Write, s: &SessionInfo) -> std::io::Result<()> {
    let now = crate::cmd::now_millis();
    let mut rows: Vec<(&str, String)> = vec![
        ("id", s.id.0.clone()),
        (
            "title",
            escape_controls(s.title.as_deref().unwrap_or("-")).into_owned(),
        ),
        ("harness", s.harness.clone()),
        ("state", s.state.as_str().to_owned()),
    ];
    if let Some(phase) = s.phase {
        rows.push(("phase", format!("{phase:?}").to_lowercase()));
    }
    if let Some(reason) = &s.reason {
        rows.push(("reason", escape_controls(reason).into_owned()));
    }
    rows.push(("cwd", escape_controls(&s.cwd).into_owned()));
    rows.push((
        "model",
        s.model
            .as_ref()
            .map_or_else(|| "-".into(), |m| format!("{}/{}", m.provider, m.id)),
    ));
    rows.push((
        "sandbox",
        s.sandbox_profile.clone().unwrap_or_else(|| "-".into()),
    ));
    if let Some(parent) = &s.parent {
        rows.push(("forked from", parent.0.clone()));
    }
    rows.push(("created", ago(now, s.created_at)));
    rows.push(("last activity", ago(now, s.last_activity)));
    rows.push(("last seq", s.last_seq.to_string()));
    rows.push(("subscribers", s.subscribers.to_string()));
    for (key, value) in rows {
        writeln!(out, "{key:>13}: {value}")?;
    }
    Ok(())
}

/// `abort ID`.
pub async fn abort(id: String, target: &Target) -> anyhow::Result<Exit> {
    let mut conn = target.connect().await?;
    conn.request(Command::Abort {
        session: SessionId(id),
    })
    .await?;
    Ok(Exit::Ok)
}

/// `steer ID TEXT` and `follow-up ID TEXT`.
pub async fn queue(args: IdText, follow_up: bool, target: &Target) -> anyhow::Result<Exit> {
    let text = if args.text == "-" {
        read_stdin()?
    } else {
        args.text
    };
    let session = SessionId(args.id);
    let command = if follow_up {
        Command::FollowUp { session, text }
    } else {
        Command::Steer { session, text }
    };
    let mut conn = target.connect().await?;
    conn.request(command).await?;
    Ok(Exit::Ok)
}

/// `messages ID`.
pub async fn messages(args: MessagesArgs, target: &Target) -> anyhow::Result<Exit> {
    let mut conn = target.connect().await?;
    let reply = conn
        .request(Command::GetMessages {
            session: SessionId(args.id),
            before: args.before.map(MessageId),
            limit: Some(args.limit),
        })
        .await?;
    let Reply::Messages { messages, has_more } = reply else {
        anyhow::bail!("unexpected reply to get_messages");
    };
    let stdout = std::io::stdout();
    if args.json {
        let mut out = stdout.lock();
        for message in &messages {
            json_line(&mut out, message)?;
        }
        return Ok(Exit::Ok);
    }
    let color = crate::render::ColorChoice::Auto.enabled(stdout.is_terminal());
    let mut printer = Printer::new(Output::Human, color, stdout.lock());
    if has_more && let Some(first) = messages.first() {
        eprintln!("(older messages exist: --before {} shows them)", first.id.0);
    }
    for message in &messages {
        printer.message(message)?;
    }
    printer.finish()?;
    Ok(Exit::Ok)
}
