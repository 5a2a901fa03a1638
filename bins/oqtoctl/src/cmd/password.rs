//! `oqtoctl password [--name N]`: sets the password of the relay's `POST /login`. Runs
//! `oqto-relay password …` on this terminal, which reads the password (twice, without
//! echo) or one line of stdin.

use std::path::Path;
use std::process::Stdio;

use oqto_cli::{Exit, PasswordArgs};

use crate::cmd::relay;

pub fn run(args: &PasswordArgs, socket: Option<&Path>) -> anyhow::Result<Exit> {
    let mut all = vec!["password"];
    all.extend(args.to_args());
    relay::passthrough(socket, &all, Stdio::inherit())
}
