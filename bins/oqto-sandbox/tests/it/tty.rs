//! `--tty`: the command keeps the terminal the caller made for it as its controlling
//! terminal, in the foreground, so that Ctrl-C and window size changes reach it (and a
//! shell can run jobs). Driven on a real pseudo-terminal, as the runner does.

use std::ffi::OsStr;

use oqto_ipc::pty::Pty;
use tokio::time::timeout;

use crate::support::{DEADLINE, Sandbox};

/// Prints `ctty=<tty_nr> fg=<yes|no>` from the shell's own `/proc/self/stat` (the process
/// group against the terminal's foreground group), changes the terminal's modes (which
/// stops a process outside the foreground group), then waits in `sleep`.
const SCRIPT: &str = "read -r pid comm state ppid pgrp sid tty tpgid rest < /proc/self/stat; \
     fg=no; [ \"$pgrp\" = \"$tpgid\" ] && fg=yes; echo \"ctty=$tty fg=$fg\"; \
     trap 'echo winch-$((6*7))' WINCH; stty -echo; echo \"armed-$((1+1))\"; \
     while :; do sleep 1; done";

struct Term {
    pty: Pty,
    out: Vec<u8>,
}

impl Term {
    /// Reads until the output holds `want`, within the deadline.
    async fn until(&mut self, want: &str) {
        let read = async {
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&self.out).contains(want) {
                let n = self.pty.read(&mut buf).await.unwrap();
                assert!(n > 0, "ended before {want:?}");
                self.out.extend_from_slice(&buf[..n]);
            }
        };
        let done = timeout(DEADLINE, read).await;
        assert!(
            done.is_ok(),
            "no {want:?} in {:?}",
            String::from_utf8_lossy(&self.out)
        );
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }
}

fn start(sb: &Sandbox, options: &[&str]) -> (tokio::process::Child, Term) {
    let mut args: Vec<&OsStr> = options.iter().map(OsStr::new).collect();
    args.extend([
        OsStr::new("--workspace"),
        sb.ws.as_os_str(),
        OsStr::new("--"),
        OsStr::new("sh"),
        OsStr::new("-c"),
        OsStr::new(SCRIPT),
    ]);
    let (child, pty) = sb.spawn(args).spawn_pty(80, 24).unwrap();
    (
        child,
        Term {
            pty,
            out: Vec::new(),
        },
    )
}

#[tokio::test]
async fn with_tty_the_command_owns_the_terminal_and_gets_ctrl_c_and_sigwinch() {
    let sb = Sandbox::new();
    let (mut child, mut term) = start(&sb, &["--tty"]);
    term.until("armed-2").await;
    let text = term.text();
    assert!(text.contains("fg=yes"), "{text}");
    assert!(!text.contains("ctty=0 "), "{text}");
    term.pty.resize(100, 30).unwrap();
    term.until("winch-42").await;
    term.pty.write(b"\x03").await.unwrap();
    let status = timeout(DEADLINE, child.wait()).await.unwrap().unwrap();
    // The shell is killed by SIGINT: 128 + 2.
    assert_eq!(status.code(), Some(130), "{}", term.text());
}

#[tokio::test]
async fn with_tty_and_the_sandbox_disabled_the_command_owns_the_terminal_too() {
    let sb = Sandbox::new();
    sb.write_user_policy("enabled = false\n");
    let (mut child, mut term) = start(&sb, &["--tty"]);
    term.until("armed-2").await;
    let text = term.text();
    assert!(text.contains("without confinement"), "{text}");
    assert!(text.contains("fg=yes"), "{text}");
    term.pty.write(b"\x03").await.unwrap();
    let status = timeout(DEADLINE, child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(130), "{}", term.text());
}

#[tokio::test]
async fn without_tty_the_command_has_no_controlling_terminal() {
    let sb = Sandbox::new();
    let (mut child, mut term) = start(&sb, &[]);
    term.until("armed-2").await;
    let text = term.text();
    assert!(text.contains("ctty=0 fg=no"), "{text}");
    // Ctrl-C reaches oqto-sandbox, which passes SIGINT on to the command.
    term.pty.write(b"\x03").await.unwrap();
    let status = timeout(DEADLINE, child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(130), "{}", term.text());
}

#[test]
fn print_shows_no_new_session_and_the_foreground_step_only_with_tty() {
    let sb = Sandbox::new();
    let ws = sb.ws.to_str().unwrap();
    let plain = sb.run(["--print", "--workspace", ws, "--", "true"]);
    plain.assert_code(0);
    assert!(
        plain.stdout.lines().any(|l| l == "--new-session"),
        "{plain:#?}"
    );
    assert!(
        !plain.stdout.contains("--oqto-tty-foreground"),
        "{plain:#?}"
    );
    let tty = sb.run(["--print", "--tty", "--workspace", ws, "--", "true"]);
    tty.assert_code(0);
    assert!(
        !tty.stdout.lines().any(|l| l == "--new-session"),
        "{tty:#?}"
    );
    let after: Vec<&str> = tty
        .stdout
        .lines()
        .skip_while(|l| *l != "--")
        .skip(1)
        .collect();
    assert!(after[0].starts_with("/proc/self/fd/"), "{tty:#?}");
    assert_eq!(after[1], "--oqto-tty-foreground", "{tty:#?}");
    assert!(after[3].ends_with("/true"), "{tty:#?}");
}

#[test]
fn a_workspace_policy_cannot_ask_for_the_terminal() {
    let sb = Sandbox::new();
    let policy = sb.write_workspace_policy("tty = true\n");
    let run = sb.sh("true");
    run.assert_code(125);
    assert!(run.stderr.contains(policy.to_str().unwrap()), "{run:#?}");
}

#[test]
fn the_step_inside_reports_a_command_it_cannot_run() {
    let sb = Sandbox::new();
    let run = sb.run(["--oqto-tty-foreground", "99", "/nonexistent/cmd"]);
    run.assert_code(127);
    assert!(
        run.stderr.contains("cannot run /nonexistent/cmd"),
        "{run:#?}"
    );
}
