//! `oqtoctl terminals`: the runner's terminals.

use std::io::Write as _;

use oqto_cli::Exit;
use oqto_protocol::{Command, Reply};

use crate::cmd::{ago, json_line, now_millis, table};
use crate::ondemand::Target;

pub async fn list(json: bool, target: &Target) -> anyhow::Result<Exit> {
    let mut conn = target.connect().await?;
    let Reply::Terminals { terminals } = conn.request(Command::TerminalList {}).await? else {
        anyhow::bail!("unexpected answer to terminal.list");
    };
    let mut out = std::io::stdout().lock();
    if json {
        for terminal in &terminals {
            json_line(&mut out, terminal)?;
        }
        return Ok(Exit::Ok);
    }
    if terminals.is_empty() {
        writeln!(out, "no terminals; `oqtoctl shell` opens one")?;
        return Ok(Exit::Ok);
    }
    let now = now_millis();
    let rows: Vec<Vec<String>> = terminals
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.clients.to_string(),
                format!("{}x{}", t.cols, t.rows),
                ago(now, t.created_at),
                t.session
                    .as_ref()
                    .map_or_else(|| t.cwd.clone(), |s| format!("{} ({s})", t.cwd)),
                t.command.join(" "),
            ]
        })
        .collect();
    table(
        &mut out,
        &["ID", "CLIENTS", "SIZE", "STARTED", "DIRECTORY", "COMMAND"],
        &rows,
    )?;
    Ok(Exit::Ok)
}
