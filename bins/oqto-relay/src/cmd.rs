//! `oqto-relay link`, `oqto-relay token …` and `oqto-relay password`: they open the relay's `SQLite` file as the
//! same user (the running relay reads the same file), so they work whether or not a relay
//! runs, and `oqtoctl web` / `oqtoctl token` / `oqtoctl password` run them without
//! linking `SQLite`.

use std::io::Write;

use anyhow::Context as _;
use oqto_cli::{CliError, Exit};
use serde::Serialize;

use crate::Places;
use crate::local;
use crate::store::{Millis, Store};
use oqto_cli::{PasswordArgs, TokenCommand};

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
            let now = crate::store::now_millis();
            if !json {
                writeln!(
                    out,
                    "{:<16}  {:<20}  {:<10}  {:<12}  LAST USED",
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
                        "{:<16}  {:<20}  {:<10}  {:<12}  {}",
                        t.id,
                        t.name.escape_debug().to_string(),
                        when(now, t.created_at),
                        t.expires_at
                            .map_or_else(|| "never".to_owned(), |m| when(now, m)),
                        t.last_used
                            .map_or_else(|| "never".to_owned(), |m| when(now, m)),
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

/// `password [--name N]`: reads a new password and stores its argon2id hash. Local mode
/// has one user, the account the relay runs as; other names wait for multi-user mode.
pub fn password(args: &PasswordArgs, places: &Places) -> anyhow::Result<Exit> {
    let account = crate::account_name();
    let name = args.name.clone().unwrap_or_else(|| account.clone());
    if name != account {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "`{}` is not a user here: local mode has one user, `{account}`",
                name.escape_debug()
            ),
        )
        .with_hint("leave out --name, or pass your account's name")
        .into());
    }
    let mut stderr = std::io::stderr();
    let password = crate::password::read_new(&mut stderr)
        .map_err(|e| CliError::new(Exit::Usage, e.to_string()))?;
    let hashed = crate::password::hash(&password)?;
    let new = open(places)?
        .set_password(&name, &hashed)
        .context("storing the password")?;
    tracing::info!(user = %name, new, "password set");
    eprintln!(
        "password {} for {name}; log in at the relay's /login",
        if new { "set" } else { "changed" }
    );
    Ok(Exit::Ok)
}

/// `3d ago`, `in 5h`, `now`.
fn when(now: Millis, then: Millis) -> String {
    let secs = (then - now) / 1000;
    let amount = secs.unsigned_abs();
    let text = match amount {
        0 => return "now".to_owned(),
        1..60 => format!("{amount}s"),
        60..3600 => format!("{}m", amount / 60),
        3600..86_400 => format!("{}h", amount / 3600),
        _ => format!("{}d", amount / 86_400),
    };
    if secs < 0 {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::when;

    #[test]
    fn times_are_relative() {
        assert_eq!(when(10_000, 10_000), "now");
        assert_eq!(when(100_000, 10_000), "1m ago");
        assert_eq!(when(0, 2 * 86_400_000), "in 2d");
        assert_eq!(when(7_300_000, 0), "2h ago");
    }
}
