//! The runner on demand: no `XDG_RUNTIME_DIR`, and a cron-like minimal environment running
//! the real pi against the demo model.

use std::ffi::OsString;

use crate::support::{Ctl, describe, sibling};

#[test]
fn without_xdg_runtime_dir_the_runner_is_started_on_the_state_dir_socket() {
    let mut ctl = Ctl::new();
    ctl.vars.retain(|(k, _)| k != "XDG_RUNTIME_DIR");
    let out = ctl.run(&["prompt", "-o", "final", "no runtime dir"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo: no runtime dir\n"
    );
    let socket = ctl.env.state_dir().join("oqto/run/runner.sock");
    assert!(socket.exists(), "{} missing", socket.display());
    let log = std::fs::read_to_string(ctl.env.state_dir().join("oqto/runner.log")).unwrap();
    assert!(log.contains("oqto-runner listening"), "{log}");
    // The second call finds the same runner.
    let pid = ctl.runner_pid().unwrap();
    ctl.ok(&["prompt", "-o", "final", "again"]);
    assert_eq!(ctl.runner_pid(), Some(pid));
}

#[test]
fn a_cron_like_run_uses_the_demo_model_with_the_real_pi() {
    let ctl_base = Ctl::new();
    // Only HOME and PATH, as cron gives; no runner.toml (pi is the default harness, and
    // with no key pi gets the demo model). The runner is found next to oqtoctl.
    let home = ctl_base.env.home();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut ctl = ctl_base;
    ctl.vars = vec![
        (OsString::from("HOME"), home.clone().into_os_string()),
        (OsString::from("PATH"), path),
    ];
    sibling("oqto-runner");
    std::fs::write(ctl.env.work().join("notes.txt"), "cron was here\n").unwrap();
    let out = ctl.run(&[
        "prompt",
        "--output",
        "final",
        "please run tool:bash cat notes.txt",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "done: cron was here\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEMO model"), "{stderr}");
    // Under HOME: the socket (state-dir fallback), the log, the history.
    assert!(home.join(".local/state/oqto/run/runner.sock").exists());
    assert!(home.join(".local/state/oqto/runner.log").exists());
    assert!(home.join(".local/share/oqto/history.db").exists());
    let hits = ctl.ok(&["history", "search", "cron", "--json"]);
    assert!(hits.lines().count() >= 1, "{hits}");
    let session = ctl.ok(&["sessions", "--json"]);
    assert!(session.contains(r#""harness":"demo""#), "{session}");
    // Pipe mode with the real pi: every line is a protocol event, text streams as deltas.
    let out = ctl.run(&["prompt", "hello pi"]);
    assert!(out.status.success(), "{}", describe(&out));
    let events: Vec<oqto_protocol::Event> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not an event ({e}): {l}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, oqto_protocol::EventKind::PartDelta { .. })),
        "deltas streamed"
    );
    assert!(matches!(
        events.last().unwrap().kind,
        oqto_protocol::EventKind::State {
            state: oqto_protocol::State::Idle,
            ..
        }
    ));
}

#[test]
fn the_runner_holding_the_data_directory_is_used_whatever_socket_a_shell_resolves() {
    let mut ctl = Ctl::new();
    ctl.ok(&["runner", "start"]);
    let pid = ctl.runner_pid().expect("a runner");
    let first_socket = ctl.env.runtime_dir().join("oqto/runner.sock");
    assert!(first_socket.exists());
    // Cron without XDG_RUNTIME_DIR resolves another socket, over the same data directory.
    ctl.vars.retain(|(k, _)| k != "XDG_RUNTIME_DIR");
    let out = ctl.run(&["prompt", "-o", "final", "same runner"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "echo: same runner\n");
    assert_eq!(ctl.runner_pid(), Some(pid), "no second runner was started");
    assert!(!ctl.env.state_dir().join("oqto/run/runner.sock").exists());

    // A second runner started by hand refuses, naming the socket of the first.
    let out = oqto_ipc::spawn::Spawn::new(sibling("oqto-runner"))
        .envs(ctl.vars.clone())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start oqto-runner")
        .wait_with_output()
        .expect("wait for oqto-runner");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "another oqto-runner (pid {pid}) uses the data directory"
        )) && stderr.contains(&first_socket.display().to_string()),
        "{stderr}"
    );
}
