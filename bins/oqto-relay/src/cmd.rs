//! `oqto-relay link` and `oqto-relay token …`: they open the relay's `SQLite` file as the
//! same user (the running relay reads the same file), so they work whether or not a relay
//! runs, and `oqtoctl web` / `oqtoctl token` run them without linking `SQLite`.

use std::io::Write;

use anyhow::Context as _;
use oqto_cli::{CliError, Exit};
use serde::Serialize;

use crate::Places;
use crate::cli::TokenCommand;
use crate::local;
use crate::store::{Millis, Store};

fn open(places: &Places) -> anyhow::Result<Store> {
    Store::open(&places.store).with_context(|| format!("opening {}", places.store.display()))
}

/// Prints a fresh one-time login link for the running relay.
pub fn link(places: &Places, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let Some(relay) = local::running(&places.state_file) else {
        return Err(CliError::new(
            Exit::RunnerUnreachable,
            format!(
                "no relay is running (no live {})",
                places.state_file.display()
            ),
        )
        .with_hint("start one with `oqto-relay`, or run `oqtoctl web`, which starts it")
        .into());
    };
    let secret = open(places)?
        .create_login(places.config.login_link_ttl)
        .context("creating a login link")?;
    writeln!(out, "{}/login?token={secret}", relay.url)?;
    Ok(Exit::Ok)
}

#[derive(Serialize)]
struct TokenLine<'a> {
    id: &'a str,
    name: &'a str,
    created_at: Millis,
    expires_at: Option<Millis>,
    last_used: Option<Millis>,
}

/// `token create|list|revoke`.
pub fn token(command: TokenCommand, places: &Places, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let store = open(places)?;
    match command {
        TokenCommand::Create { name, expires } => {
            let expires = expires
                .map(|text| {
                    oqto_config::parse_duration(&text)
                        .map_err(|e| CliError::new(Exit::Usage, format!("--expires {text}: {e}")))
                })
                .transpose()?;
            let (info, token) = store
                .create_token(&name, expires)
                .context("creating a token")?;
            writeln!(out, "{token}")?;
            tracing::info!(id = %info.id, name = %info.name, "created a token");
            eprintln!(
                "token {} ({}) created; it is shown only this once. Send it as `Authorization: Bearer TOKEN`.",
                info.id, info.name
            );
        }
        TokenCommand::List { json } => {
            let tokens = store.list_tokens().context("listing tokens")?;
            if !json {
                writeln!(
                    out,
                    "{:<16}  {:<20}  {:<14}  {:<14}  LAST USED",
                    "ID", "NAME", "CREATED", "EXPIRES"
                )?;
            }
            for t in &tokens {
                if json {
                    let line = TokenLine {
                        id: &t.id,
                        name: &t.name,
                        created_at: t.created_at,
                        expires_at: t.expires_at,
                        last_used: t.last_used,
                    };
                    writeln!(out, "{}", serde_json::to_string(&line)?)?;
                } else {
                    writeln!(
                        out,
                        "{:<16}  {:<20}  {:<14}  {:<14}  {}",
                        t.id,
                        t.name.escape_debug().to_string(),
                        t.created_at,
                        t.expires_at
                            .map_or_else(|| "never".to_owned(), |m| m.to_string()),
                        t.last_used
                            .map_or_else(|| "never".to_owned(), |m| m.to_string()),
                    )?;
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let n = store.revoke_token(&id).context("revoking")?;
            if n == 0 {
                return Err(CliError::new(
                    Exit::Failure,
                    format!("no token has the id or name `{id}`"),
                )
                .with_hint("`oqto-relay token list` shows them")
                .into());
            }
            writeln!(out, "revoked {n} token{}", if n == 1 { "" } else { "s" })?;
        }
    }
    Ok(Exit::Ok)
}
