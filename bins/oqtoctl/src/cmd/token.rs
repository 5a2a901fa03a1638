//! `oqtoctl token create|list|revoke`: API tokens for the relay, sent as
//! `Authorization: Bearer TOKEN`. Runs `oqto-relay token …` with the terminal's output.

use std::path::Path;
use std::process::Stdio;

use anyhow::Context as _;
use oqto_cli::{Exit, TokenCommand};

use crate::cmd::relay;

pub fn run(command: &TokenCommand, socket: Option<&Path>) -> anyhow::Result<Exit> {
    let mut args = vec!["token"];
    args.extend(command.to_args());
    let program = relay::program()?;
    let status = relay::command(&program, socket, &args)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {}", program.display()))?
        .wait()?;
    Ok(relay::exit_of(status.code()))
}
