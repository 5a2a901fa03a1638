//! Running `oqto-relay` for `oqtoctl web`, `token` and `password`: the relay's own program
//! owns its `SQLite` file (sessions, tokens, login links), so `oqtoctl` runs it as the same
//! user instead of linking `SQLite` itself.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use anyhow::Context as _;
use oqto_cli::{CliError, Exit};
use oqto_config::Environment;
use oqto_ipc::spawn::Spawn;

/// The variable naming the `oqto-relay` executable.
pub const RELAY_BIN_VAR: &str = "OQTO_RELAY_BIN";

/// `$OQTO_RELAY_BIN`, else `oqto-relay` next to `oqtoctl`, else on `PATH`.
pub fn program() -> anyhow::Result<PathBuf> {
    let env = Environment::capture();
    if let Some(path) = env.var_nonempty(RELAY_BIN_VAR) {
        return Ok(PathBuf::from(path));
    }
    oqto_client::sibling_bin(&env, "oqto-relay").ok_or_else(|| {
        CliError::new(
            Exit::NotFound,
            "cannot find oqto-relay next to oqtoctl or on PATH",
        )
        .with_hint(format!("install it, or name it in {RELAY_BIN_VAR}"))
        .into()
    })
}

/// `oqto-relay ARGS` with this process's environment (and `--socket` passed on).
pub fn command(program: &Path, socket: Option<&Path>, args: &[&str]) -> Spawn {
    let mut spawn = Spawn::new(program)
        .envs(std::env::vars_os().collect::<Vec<(OsString, OsString)>>())
        .current_dir("/")
        .args(args);
    if let Some(socket) = socket {
        spawn = spawn.arg("--socket").arg(socket);
    }
    spawn
}

/// Runs `oqto-relay ARGS` to the end on this terminal's stdout and stderr (and stdin, when
/// `stdin` says so), with its exit status as ours.
pub fn passthrough(socket: Option<&Path>, args: &[&str], stdin: Stdio) -> anyhow::Result<Exit> {
    let program = program()?;
    let status = command(&program, socket, args)
        .stdin(stdin)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {}", program.display()))?
        .wait()?;
    Ok(exit_of(status.code()))
}

/// Runs it to the end with its output captured.
pub fn output(program: &Path, socket: Option<&Path>, args: &[&str]) -> anyhow::Result<Output> {
    command(program, socket, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", program.display()))?
        .wait_with_output()
        .with_context(|| format!("waiting for {}", program.display()))
}

/// The exit status of `oqto-relay`, as ours.
pub fn exit_of(code: Option<i32>) -> Exit {
    match code {
        Some(0) => Exit::Ok,
        Some(2) => Exit::Usage,
        Some(3) => Exit::RunnerUnreachable,
        _ => Exit::Failure,
    }
}
