//! A private environment with a `runner.toml` naming the fake agent, and ways to run
//! `oqtoctl` in it. The runner is started on demand by `oqtoctl` itself and stopped when
//! the fixture is dropped.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use oqto_ipc::spawn::Spawn;
use oqto_testkit::TestEnv;
use serde_json::Value;

/// How long any single wait in these tests may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn oqtoctl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oqtoctl"))
}

/// A program built next to `oqtoctl` by `cargo test --workspace`.
pub fn sibling(name: &str) -> PathBuf {
    let path = oqtoctl_bin().with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

pub struct Ctl {
    pub env: TestEnv,
    /// The environment `oqtoctl` runs with (at first the `TestEnv`'s variables).
    pub vars: Vec<(OsString, OsString)>,
}

impl Ctl {
    /// The fake agent as the default harness.
    pub fn new() -> Self {
        let env = TestEnv::new();
        env.write(
            "config/oqto/runner.toml",
            format!(
                "[runner]\ndefault_harness = \"fake\"\n[harness.fake]\ncommand = \"{}\"\n",
                sibling("oqto-fake-agent").display()
            ),
        );
        let vars = env.vars();
        Self { env, vars }
    }

    pub fn command(&self, args: &[&str]) -> Spawn {
        // Built before the runner is needed, so a missing one fails with a clear message.
        sibling("oqto-runner");
        Spawn::new(oqtoctl_bin())
            .envs(self.vars.clone())
            .current_dir(self.env.work())
            .args(args)
    }

    /// Runs to the end with stdin closed.
    pub fn run(&self, args: &[&str]) -> Output {
        finish(self.command(args))
    }

    /// Runs with `input` on stdin.
    pub fn run_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oqtoctl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().expect("wait for oqtoctl")
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oqtoctl")
    }

    /// Runs to the end with stdin closed, failing the test (and killing oqtoctl) if it has
    /// not ended within [`WAIT`]: for commands whose bug would be a hang.
    pub fn run_within_wait(&self, args: &[&str]) -> Output {
        let child = self.spawn(args);
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        let Ok(out) = rx.recv_timeout(WAIT) else {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("oqtoctl {args:?} did not end within {WAIT:?}");
        };
        out.expect("wait for oqtoctl")
    }

    /// Aborts the turn of session `id` once `lines` (the stdout of an `oqtoctl` following
    /// it in events mode) has shown the first delta, then reads `lines` to their end.
    pub fn abort_after_first_delta(
        &self,
        id: &str,
        lines: &mut impl Iterator<Item = std::io::Result<String>>,
    ) {
        for line in lines.by_ref() {
            if line.expect("read stdout").contains("part.delta") {
                break;
            }
        }
        self.ok(&["abort", id]);
        for _ in lines {}
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "oqtoctl {args:?}: {}", describe(&out));
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// The runner's pid, from `runner status --json`.
    pub fn runner_pid(&self) -> Option<i32> {
        let out = self.run(&["--no-autostart", "runner", "status", "--json"]);
        if !out.status.success() {
            return None;
        }
        let status: Value = serde_json::from_slice(&out.stdout).ok()?;
        status["pid"].as_i64().and_then(|p| i32::try_from(p).ok())
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        let _ = self.run(&["--no-autostart", "runner", "stop"]);
    }
}

/// Runs `spawn` to the end with stdin closed; its output.
pub fn finish(spawn: Spawn) -> Output {
    spawn
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start oqtoctl")
        .wait_with_output()
        .expect("wait for oqtoctl")
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Each stdout line as JSON.
pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}
