//! `oqtoctl token create|list|revoke`: API tokens for the relay, sent as
//! `Authorization: Bearer TOKEN`. Runs `oqto-relay token …` with the terminal's output.

use std::path::Path;
use std::process::Stdio;

use oqto_cli::{Exit, TokenCommand};

use crate::cmd::relay;

pub fn run(command: &TokenCommand, socket: Option<&Path>) -> anyhow::Result<Exit> {
    let mut args = vec!["token"];
    args.extend(command.to_args());
    relay::passthrough(socket, &args, Stdio::null())
}
