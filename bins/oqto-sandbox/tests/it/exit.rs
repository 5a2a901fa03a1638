//! Exit statuses, stdio, signals and the parent's death.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::Stdio;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oqto_testkit::wait_until;

use crate::support::{DEADLINE, Sandbox, script};

#[test]
fn the_commands_own_status_passes_through() {
    let sb = Sandbox::new();
    sb.sh("exit 0").assert_code(0);
    sb.sh("exit 7").assert_code(7);
    sb.sh("exit 1").assert_code(1);
}

#[test]
fn death_by_signal_is_128_plus_n() {
    let sb = Sandbox::new();
    sb.sh("kill -TERM $$").assert_code(128 + 15);
    sb.sh("kill -KILL $$").assert_code(128 + 9);
}

#[test]
fn a_missing_command_is_127_with_a_message() {
    let sb = Sandbox::new();
    let run = sb.run(["--", "no-such-command-oqto"]);
    run.assert_code(127);
    assert!(run.stderr.contains("no-such-command-oqto"), "{run:#?}");
    assert!(run.stderr.contains("not found"), "{run:#?}");
    let run = sb.run(["--", "./missing.sh"]);
    run.assert_code(127);
}

#[test]
fn a_command_hidden_by_the_policy_is_127_and_says_so() {
    let sb = Sandbox::new();
    let tool = sb.home().join(".ssh/tool");
    script(&tool, "echo should-not-run");
    let run = sb.run(["--".as_ref(), tool.as_os_str()]);
    run.assert_code(127);
    assert!(
        run.stderr.contains("not visible inside the sandbox"),
        "{run:#?}"
    );
}

#[test]
fn a_command_that_cannot_run_is_126() {
    let sb = Sandbox::new();
    std::fs::write(sb.ws.join("notes.txt"), "not a program").unwrap();
    let run = sb.run(["--", "./notes.txt"]);
    run.assert_code(126);
    assert!(run.stderr.contains("not an executable"), "{run:#?}");
    std::fs::create_dir(sb.ws.join("dir")).unwrap();
    sb.run(["--", "./dir"]).assert_code(126);
}

#[test]
fn no_bwrap_is_125_and_the_command_does_not_run() {
    let sb = Sandbox::new();
    let run = super::support::output(
        sb.spawn(["--", "sh", "-c", "echo ran > ran.txt"])
            .env("OQTO_SANDBOX_BWRAP", "/nonexistent/bwrap"),
    );
    run.assert_code(125);
    assert!(run.stderr.contains("could not be set up"), "{run:#?}");
    assert!(run.stderr.contains("install bubblewrap"), "{run:#?}");
    assert!(!sb.ws.join("ran.txt").exists());
}

#[test]
fn a_failing_bwrap_is_125_with_the_preflights_explanation() {
    let sb = Sandbox::new();
    // A bwrap that reports its version but cannot create namespaces, as under Ubuntu's
    // AppArmor restriction.
    let fake = sb.env.root().join("fake-bwrap");
    script(
        &fake,
        "[ \"$1\" = --version ] && { echo 'bubblewrap 0.8.0'; exit 0; }\n\
         echo 'bwrap: setting up uid map: Permission denied' >&2; exit 1",
    );
    let run = super::support::output(
        sb.spawn(["--", "sh", "-c", "echo ran > ran.txt"])
            .env("OQTO_SANDBOX_BWRAP", &fake),
    );
    run.assert_code(125);
    assert!(run.stderr.contains("the command did not run"), "{run:#?}");
    assert!(
        run.stderr.contains("sandbox start: bwrap failed"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("fix:"), "{run:#?}");
    assert!(!sb.ws.join("ran.txt").exists());
}

#[test]
fn stdio_passes_straight_through() {
    let sb = Sandbox::new();
    let mut child = sb
        .spawn([
            "--",
            "sh",
            "-c",
            "while read l; do echo \"out:$l\"; echo \"err:$l\" >&2; done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{{\"type\":\"get_state\"}}").unwrap();
    writeln!(stdin, "second").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "out:{\"type\":\"get_state\"}\nout:second\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "err:{\"type\":\"get_state\"}\nerr:second\n"
    );
}

/// Starts a command that traps SIGTERM, sends oqto-sandbox one, and checks that the
/// command got it and its status came back.
fn sigterm_reaches(sb: &Sandbox) {
    let mut child = sb
        .spawn([
            "--",
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Lines arrive through a channel so that a signal that is never passed on fails the
    // test at the deadline instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    assert_eq!(rx.recv_timeout(DEADLINE).as_deref(), Ok("ready"));
    kill(
        Pid::from_raw(child.id().try_into().unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let got = rx.recv_timeout(DEADLINE);
    if got.is_err() {
        // An unconfined command does not die with oqto-sandbox: take the whole tree.
        let pid = i32::try_from(child.id()).unwrap();
        for p in oqto_ipc::spawn::descendants(pid) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let _ = child.kill();
    }
    assert_eq!(
        got.as_deref(),
        Ok("got-term"),
        "the command never got SIGTERM"
    );
    assert_eq!(child.wait().unwrap().code(), Some(7));
}

#[test]
fn sigterm_reaches_the_command() {
    sigterm_reaches(&Sandbox::new());
}

#[test]
fn sigterm_reaches_an_unconfined_command_too() {
    let sb = Sandbox::new();
    sb.write_user_policy("enabled = false\n");
    sigterm_reaches(&sb);
}

#[test]
fn an_unconfined_commands_status_passes_through() {
    let sb = Sandbox::new();
    sb.write_user_policy("enabled = false\n");
    sb.sh("exit 9").assert_code(9);
    sb.sh("kill -TERM $$").assert_code(128 + 15);
}

/// A signal that arrives while bwrap is still starting waits, and goes to the command once
/// it runs: oqto-sandbox neither dies of it nor drops it.
#[test]
fn a_signal_during_the_start_reaches_the_command() {
    let sb = Sandbox::new();
    let started = sb.env.root().join("bwrap-started");
    let slow = sb.env.root().join("slow-bwrap");
    script(
        &slow,
        &format!(
            "touch '{}'\nsleep 0.5\nexec bwrap \"$@\"",
            started.display()
        ),
    );
    let mut child = sb
        .spawn(["--", "sleep", "600"])
        .env("OQTO_SANDBOX_BWRAP", &slow)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(DEADLINE, || started.exists()),
        "bwrap never started"
    );
    let pid = i32::try_from(child.id()).unwrap();
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    let mut status = None;
    let ended = wait_until(DEADLINE, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(ended, "the SIGTERM never reached the command");
    // The command (sleep) died of it: 128 + 15, the status of oqto-sandbox's own exit.
    assert_eq!(status.unwrap().code(), Some(128 + 15), "{status:?}");
}

#[test]
fn the_sandbox_dies_with_its_parent() {
    let sb = Sandbox::new();
    let mut child = sb
        .spawn(["--", "sh", "-c", "echo ready; sleep 600"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let pid = i32::try_from(child.id()).unwrap();
    let tree = oqto_ipc::spawn::descendants(pid);
    assert!(tree.len() >= 2, "bwrap and the command: {tree:?}");
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let gone = wait_until(DEADLINE, || {
        tree.iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
    });
    assert!(gone, "sandbox processes outlived oqto-sandbox: {tree:?}");
}

#[test]
fn inherited_descriptors_do_not_reach_the_sandbox() {
    let sb = Sandbox::new();
    // An open directory descriptor without close-on-exec, as a careless parent might
    // leave one: inside, it would be a way out of the mount namespace.
    let dir = std::fs::File::open(sb.home()).unwrap();
    let leaked = nix::unistd::dup(&dir).unwrap();
    let run = sb.sh("ls -l /proc/self/fd");
    drop(leaked);
    run.assert_code(0);
    let home = sb.home().display().to_string();
    assert!(!run.stdout.contains(&home), "{run:#?}");
}

/// oqto-sandbox blocks the signals it forwards before it starts the command; the command
/// must not inherit that.
#[test]
fn the_command_starts_with_no_blocked_signals() {
    let sb = Sandbox::new();
    let run = sb.run(["--", "grep", "SigBlk", "/proc/self/status"]);
    run.assert_code(0);
    assert_eq!(run.stdout.trim(), "SigBlk:\t0000000000000000", "{run:#?}");
    sb.write_user_policy("enabled = false\n");
    let run = sb.run(["--", "grep", "SigBlk", "/proc/self/status"]);
    run.assert_code(0);
    assert_eq!(run.stdout.trim(), "SigBlk:\t0000000000000000", "{run:#?}");
}
