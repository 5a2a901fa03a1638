//! Spawning with an explicit environment and own process group; terminating whole trees.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use oqto_ipc::spawn::{
    Spawn, descendants, exit_code_of, terminate, terminate_blocking, terminate_root_first,
};
use tokio::io::{AsyncBufReadExt, BufReader as AsyncBufReader};

use crate::{DEADLINE, wait_until};

/// Fields of `/proc/<pid>/stat` after the command name: 0 = state, 1 = ppid, 2 = pgrp.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn pgid_of(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// Gone, or a zombie nobody has reaped yet.
fn is_gone(pid: i32) -> bool {
    stat_fields(pid).is_none_or(|f| f[0] == "Z" || f[0] == "X")
}

/// SIGKILLs the process groups it holds (led by these pids) when dropped, so a failing test
/// leaves no process behind (an orphan would keep the test's output pipe open).
struct Cleanup(Vec<i32>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if !is_gone(pid) && pgid_of(pid) == Some(pid) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

fn pid_of(child_id: Option<u32>) -> i32 {
    i32::try_from(child_id.unwrap()).unwrap()
}

/// Reads one line from the child's stdout, failing after [`DEADLINE`].
async fn next_line(
    lines: &mut tokio::io::Lines<AsyncBufReader<tokio::process::ChildStdout>>,
) -> String {
    tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("child wrote a line in time")
        .unwrap()
        .expect("child wrote a line before closing stdout")
}

fn sh(script: &str) -> Spawn {
    Spawn::new("/bin/sh")
        .args(["-c", script])
        .env_inherit(["PATH"])
}

#[test]
fn environment_is_explicit() {
    let out = Spawn::new("/usr/bin/env")
        .env("OQTO_B", "2")
        .env("OQTO_A", "1")
        .env_inherit(["PATH", "OQTO_SURELY_NOT_SET_ANYWHERE"])
        .stdout(Stdio::piped())
        .std_command()
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut expected = vec!["OQTO_A=1".to_owned(), "OQTO_B=2".to_owned()];
    if let Some(path) = std::env::var_os("PATH") {
        expected.push(format!("PATH={}", path.to_str().unwrap()));
    }
    let mut got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn no_environment_at_all_by_default() {
    let out = Spawn::new("/usr/bin/env")
        .stdout(Stdio::piped())
        .std_command()
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "");
}

#[test]
fn current_dir_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Spawn::new("/bin/pwd")
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .std_command()
        .output()
        .unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        std::fs::canonicalize(printed.trim_end()).unwrap(),
        std::fs::canonicalize(tmp.path()).unwrap()
    );
}

#[test]
fn a_missing_program_is_named_in_the_error() {
    let err = Spawn::new("/nonexistent/oqto-no-such-program")
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with("cannot start /nonexistent/oqto-no-such-program: "),
        "{err}"
    );
}

#[test]
fn the_child_leads_its_own_process_group() {
    let mut child = Spawn::new("/bin/sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = pid_of(Some(child.id()));
    let _cleanup = Cleanup(vec![pid]);
    assert_eq!(pgid_of(pid), Some(pid));
    assert_ne!(pgid_of(pid), Some(nix::unistd::getpgrp().as_raw()));
    let status = terminate_blocking(&mut child, DEADLINE).unwrap();
    assert_eq!(status.signal(), Some(libc_sigterm()));
    assert_eq!(exit_code_of(status), 128 + libc_sigterm());
}

fn libc_sigterm() -> i32 {
    nix::sys::signal::Signal::SIGTERM as i32
}

fn sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}

/// Spawns `sh` that starts a `setsid` grandchild running `grandchild`, prints its pid, and
/// sleeps; reads `extra` more lines (in any order with the pid), and waits until the
/// grandchild has its own session.
async fn tree_with_setsid_grandchild(
    grandchild: &str,
    extra: usize,
) -> (tokio::process::Child, i32, i32, Cleanup) {
    let script = format!("setsid {grandchild} & echo $!; sleep 1000");
    let mut child = sh(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn_tokio()
        .unwrap();
    let pid = pid_of(child.id());
    let mut lines = AsyncBufReader::new(child.stdout.take().unwrap()).lines();
    let mut grandchild = None;
    for _ in 0..=extra {
        if let Ok(n) = next_line(&mut lines).await.parse::<i32>() {
            grandchild = Some(n);
        }
    }
    let grandchild = grandchild.expect("sh printed the grandchild's pid");
    let cleanup = Cleanup(vec![pid, grandchild]);
    wait_until("the grandchild to call setsid", || {
        pgid_of(grandchild) == Some(grandchild)
    });
    assert_ne!(pgid_of(grandchild), Some(pid), "grandchild left the group");
    assert!(descendants(pid).contains(&grandchild));
    (child, pid, grandchild, cleanup)
}

#[tokio::test]
async fn terminate_kills_a_setsid_grandchild() {
    let (mut child, pid, grandchild, _cleanup) = tree_with_setsid_grandchild("sleep 1000", 0).await;
    let status = terminate(&mut child, DEADLINE).await.unwrap();
    assert!(!status.success());
    assert!(child.id().is_none(), "child reaped");
    wait_until("the child to be gone", || is_gone(pid));
    wait_until("the setsid grandchild to be gone", || is_gone(grandchild));
}

#[tokio::test]
async fn a_grandchild_ignoring_sigterm_is_killed_after_the_grace() {
    let script = r#"sh -c 'trap "" TERM; echo ready; exec sleep 1000'"#;
    let (mut child, pid, grandchild, _cleanup) = tree_with_setsid_grandchild(script, 1).await;
    let grace = Duration::from_millis(200);
    let started = Instant::now();
    let status = terminate(&mut child, grace).await.unwrap();
    assert!(
        started.elapsed() >= grace,
        "waited for the grandchild, not only the child"
    );
    assert!(!status.success());
    wait_until("the child to be gone", || is_gone(pid));
    wait_until("the grandchild to be gone", || is_gone(grandchild));
}

#[test]
fn terminate_blocking_kills_a_setsid_grandchild() {
    let mut child = sh("setsid sleep 1000 & echo $!; sleep 1000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = pid_of(Some(child.id()));
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let grandchild: i32 = first.trim().parse().unwrap();
    let _cleanup = Cleanup(vec![pid, grandchild]);
    wait_until("the grandchild to call setsid", || {
        pgid_of(grandchild) == Some(grandchild)
    });
    assert!(descendants(pid).contains(&grandchild));
    terminate_blocking(&mut child, DEADLINE).unwrap();
    wait_until("the child to be gone", || is_gone(pid));
    wait_until("the setsid grandchild to be gone", || is_gone(grandchild));
}

#[tokio::test]
async fn a_child_ignoring_sigterm_is_sigkilled_after_the_grace() {
    let mut child = sh(r#"trap "" TERM; echo ready; sleep 1000"#)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn_tokio()
        .unwrap();
    let _cleanup = Cleanup(vec![pid_of(child.id())]);
    let mut lines = AsyncBufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next_line(&mut lines).await, "ready");
    let grace = Duration::from_millis(300);
    let started = Instant::now();
    let status = terminate(&mut child, grace).await.unwrap();
    assert!(started.elapsed() >= grace, "waited out the grace period");
    assert_eq!(status.signal(), Some(sigkill()));
    assert_eq!(exit_code_of(status), 137);
}

#[test]
fn a_child_ignoring_sigterm_is_sigkilled_blocking() {
    let mut child = sh(r#"trap "" TERM; echo ready; sleep 1000"#)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _cleanup = Cleanup(vec![pid_of(Some(child.id()))]);
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "ready\n");
    let status = terminate_blocking(&mut child, Duration::from_millis(200)).unwrap();
    assert_eq!(status.signal(), Some(sigkill()));
}

#[tokio::test]
async fn terminate_after_exit_returns_the_status() {
    let mut child = sh("exit 3").spawn_tokio().unwrap();
    let first = child.wait().await.unwrap();
    let again = terminate(&mut child, DEADLINE).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(exit_code_of(again), 3);

    let mut child = sh("exit 4").spawn_tokio().unwrap();
    // Exited but not yet reaped: terminate reaps it.
    let pid = pid_of(child.id());
    wait_until("the child to exit", || is_gone(pid));
    assert_eq!(
        exit_code_of(terminate(&mut child, DEADLINE).await.unwrap()),
        4
    );
}

#[test]
fn exit_codes() {
    assert_eq!(exit_code_of(ExitStatus::from_raw(0)), 0);
    assert_eq!(exit_code_of(ExitStatus::from_raw(3 << 8)), 3);
    assert_eq!(exit_code_of(ExitStatus::from_raw(9)), 137);
    assert_eq!(exit_code_of(ExitStatus::from_raw(15)), 143);
    let status = sh("kill -9 $$").std_command().status().unwrap();
    assert_eq!(exit_code_of(status), 137);
}

#[test]
fn descendants_of_nothing_is_empty() {
    assert!(descendants(i32::MAX).is_empty());
}

/// A root that stops its own child when asked (as `oqto-sandbox` passes SIGTERM on to the
/// command): the child must get the chance to finish, not be signalled directly.
#[tokio::test]
async fn root_first_lets_the_root_stop_its_own_tree() {
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    // The grandchild ignores a direct SIGTERM (as a command inside bwrap is out of reach
    // of one) but finishes cleanly on SIGUSR1, which only its parent sends it.
    let script = format!(
        r#"sh -c 'trap "echo clean > {done}; exit 0" USR1; trap "" TERM; echo $$; while :; do sleep 0.05; done' &
c=$!
trap 'kill -USR1 $c; wait $c; exit 7' TERM
echo ready
read -r line < /dev/null
wait $c"#,
        done = done.display()
    );
    let mut child = sh(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn_tokio()
        .unwrap();
    let pid = pid_of(child.id());
    let mut lines = AsyncBufReader::new(child.stdout.take().unwrap()).lines();
    // The grandchild's pid and the root's `ready` (its TERM trap is set), in either order:
    // a SIGTERM before the trap would kill the root, which is not what this tests.
    let (first, second) = (next_line(&mut lines).await, next_line(&mut lines).await);
    let grandchild: i32 = if first == "ready" { &second } else { &first }
        .parse()
        .unwrap();
    assert!(
        first == "ready" || second == "ready",
        "{first:?} {second:?}"
    );
    let _cleanup = Cleanup(vec![pid, grandchild]);
    let status = terminate_root_first(&mut child, DEADLINE).await.unwrap();
    assert_eq!(exit_code_of(status), 7, "the root's own exit, not a signal");
    assert_eq!(std::fs::read_to_string(&done).unwrap(), "clean\n");
    wait_until("the grandchild to be gone", || is_gone(grandchild));
}

#[tokio::test]
async fn root_first_ends_what_the_root_leaves_behind() {
    // The root exits on SIGTERM but leaves a setsid grandchild running, which is then no
    // longer its descendant: it must still be ended after the grace.
    let (mut child, pid, grandchild, _cleanup) = tree_with_setsid_grandchild("sleep 1000", 0).await;
    let grace = Duration::from_millis(300);
    let started = Instant::now();
    let status = terminate_root_first(&mut child, grace).await.unwrap();
    assert!(!status.success());
    assert!(started.elapsed() >= grace, "gave the tree its grace");
    wait_until("the root to be gone", || is_gone(pid));
    wait_until("the setsid grandchild to be gone", || is_gone(grandchild));
}
