//! `oqtoctl sessions`, `oqtoctl session show|rm|rename|close`, `abort`, `steer`,
//! `follow-up`, `messages`.

use std::io::{IsTerminal, Write};

use anyhow::Context as _;
use oqto_cli::Exit;
use oqto_protocol::{Command, MessageId, Reply, SessionId, SessionInfo, State};

use super::{ago, json_line, table};
use crate::cli::{IdText, MessagesArgs, SessionCommand, SessionsArgs, StateArg};
use crate::cmd::prompt::{read_stdin, runner_dir, send_once};
use crate::ondemand::Target;
use crate::render::{Output, Printer, escape_controls};

pub async fn list(args: SessionsArgs, target: &Target) -> anyhow::Result<Exit> {
    let cwd = match &args.cwd {
        Some(dir) => Some(runner_dir(dir, "--cwd", target)?),
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
            let Reply::Session { session, sandbox } = reply else {
                anyhow::bail!("unexpected reply to session.get");
            };
            let mut out = std::io::stdout().lock();
            if json {
                // The session's fields, plus `sandbox` (the policy) when the runner has one.
                let mut value = serde_json::to_value(&session)?;
                if let (Some(object), Some(policy)) = (value.as_object_mut(), sandbox) {
                    object.insert("sandbox".into(), policy);
                }
                json_line(&mut out, &value)?;
            } else {
                show(&mut out, &session, sandbox.as_ref())?;
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

fn show(
    out: &mut impl Write,
    s: &SessionInfo,
    sandbox: Option<&serde_json::Value>,
) -> std::io::Result<()> {
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
    match sandbox {
        Some(policy) => rows.extend(sandbox_rows(policy)),
        None => rows.push((
            "sandbox",
            format!(
                "{} (not started yet)",
                s.sandbox_profile.as_deref().unwrap_or("-")
            ),
        )),
    }
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

/// The effective sandbox policy (`oqto-sandbox explain --json`, version 1) as rows:
/// whether it is on, isolation, and what the agent may write, read and not see.
fn sandbox_rows(policy: &serde_json::Value) -> Vec<(&'static str, String)> {
    let text = |v: &serde_json::Value| escape_controls(v.as_str().unwrap_or("?")).into_owned();
    let origin = |o: &serde_json::Value| {
        let mut s = text(&o["level"]);
        if let Some(file) = o["file"].as_str() {
            s = format!("{s} {}", escape_controls(file));
            if let Some(line) = o["line"].as_u64() {
                s = format!("{s}:{line}");
            }
        }
        s
    };
    let list = |key: &str| {
        let rules: Vec<String> = policy[key]
            .as_array()
            .map(|a| a.iter().map(|r| text(&r["rule"])).collect())
            .unwrap_or_default();
        if rules.is_empty() {
            "-".to_owned()
        } else {
            rules.join(", ")
        }
    };
    let profile = text(&policy["profile"]["name"]);
    if policy["enabled"] == false {
        return vec![(
            "sandbox",
            format!(
                "DISABLED by {}: the harness runs WITHOUT confinement (profile {profile} not applied)",
                origin(&policy["enabled_from"])
            ),
        )];
    }
    let on = |key: &str, yes: &str, no: &str| {
        if policy[key]["value"] == true {
            yes
        } else {
            no
        }
        .to_owned()
    };
    let writable = match policy["fixed"]["workspace_writable"].as_str() {
        Some(ws) => {
            let rest = list("allow_write");
            let ws = escape_controls(ws).into_owned();
            if rest == "-" {
                ws
            } else {
                format!("{ws}, {rest}")
            }
        }
        None => list("allow_write"),
    };
    vec![
        ("sandbox", format!("{profile} (confined)")),
        (
            "network",
            on("isolate_network", "isolated", "shared with the host"),
        ),
        (
            "processes",
            on(
                "isolate_pid",
                "private (host processes hidden)",
                "host processes visible",
            ),
        ),
        ("writable", writable),
        (
            "readable",
            format!("system directories, {}", list("allow_read")),
        ),
        ("kept r/o", list("read_only")),
        ("hidden", list("deny_read")),
        ("variables", list("env_allow")),
    ]
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
    let client_msg_id =
        Some(oqto_client::new_client_msg_id().context("making an id for the send")?);
    let command = if follow_up {
        Command::FollowUp {
            session,
            text,
            client_msg_id,
        }
    } else {
        Command::Steer {
            session,
            text,
            client_msg_id,
        }
    };
    let mut conn = target.connect().await?;
    send_once(&mut conn, target, &command, None).await?;
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
