//! `oqtoctl web [--open]`: a fresh one-time login link for the running relay, starting
//! one in the background (its log in `$XDG_STATE_HOME/oqto/relay.log`) when none runs.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use oqto_cli::{CliError, Exit};
use oqto_ipc::spawn::Spawn;

use crate::cmd::relay;

/// How long a relay started here may take to announce itself.
const START_DEADLINE: Duration = Duration::from_secs(15);

pub fn run(
    open: bool,
    socket: Option<&Path>,
    state_dir: &Path,
    out: &mut impl Write,
) -> anyhow::Result<Exit> {
    let program = relay::program()?;
    let mut link = relay::output(&program, socket, &["link"])?;
    if link.status.code() == Some(3) {
        let log_path = state_dir.join("relay.log");
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut child = relay::command(&program, socket, &[])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        tracing::info!(pid = child.id(), "started oqto-relay");
        let give_up = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(CliError::new(
                    Exit::Failure,
                    format!("oqto-relay exited at start ({status})"),
                )
                .with_hint(format!("its log: {}", log_path.display()))
                .into());
            }
            link = relay::output(&program, socket, &["link"])?;
            if link.status.code() != Some(3) || Instant::now() > give_up {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if !link.status.success() {
        let stderr = String::from_utf8_lossy(&link.stderr);
        let message = stderr
            .trim()
            .strip_prefix("oqto-relay: error: ")
            .unwrap_or(stderr.trim())
            .to_owned();
        return Err(CliError::new(relay::exit_of(link.status.code()), message).into());
    }
    let url = String::from_utf8(link.stdout).context("oqto-relay printed a non-UTF-8 link")?;
    let url = url.trim();
    writeln!(out, "{url}")?;
    out.flush()?;
    if open {
        Spawn::new("xdg-open")
            .envs(std::env::vars_os().collect::<Vec<_>>())
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                CliError::new(Exit::Failure, format!("cannot run xdg-open: {e}"))
                    .with_hint("open the link above in a browser")
            })?;
    }
    Ok(Exit::Ok)
}
