//! Test-only: the real `pi --mode rpc` as the unit tests drive it, with a private agent
//! directory, offline, without extensions, skills, prompt templates or context files.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};

use oqto_ipc::spawn::Spawn;
use oqto_testkit::{TestEnv, pi_bin};

/// A spawned pi: the process, its stdin, and its stdout lines as they come.
pub struct RpcPi {
    pub child: Child,
    pub stdin: ChildStdin,
    pub lines: Receiver<String>,
}

/// Starts pi in `project` with `agent_dir` as `PI_CODING_AGENT_DIR` and `args` after the
/// fixed ones.
pub fn spawn(env: &TestEnv, agent_dir: &Path, project: &Path, args: Vec<OsString>) -> RpcPi {
    let mut child = Spawn::new(pi_bin())
        .args(["--mode", "rpc", "--offline", "-ne", "-ns", "-np", "-nc"])
        .args(args)
        .envs(env.vars())
        .env("PI_CODING_AGENT_DIR", agent_dir)
        .env("PI_OFFLINE", "1")
        .current_dir(project)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pi");
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        // Split on '\n' only: pi writes U+2028 raw inside strings.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    RpcPi {
        child,
        stdin,
        lines,
    }
}
