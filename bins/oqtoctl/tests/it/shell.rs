//! `oqtoctl shell` under a real pseudo-terminal, against a real runner and sandbox.

use oqto_ipc::pty::Pty;
use oqto_ipc::spawn::Spawn;
use serde_json::Value;

use crate::support::{Ctl, WAIT, oqtoctl_bin};

/// Reads from `pty` until `want` shows up in what was read since `seen` was last cleared.
pub async fn read_until(pty: &Pty, seen: &mut Vec<u8>, want: &str) {
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(want) {
        let n = tokio::time::timeout(WAIT, pty.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {want:?} within {WAIT:?}; got {:?}",
                    String::from_utf8_lossy(seen)
                )
            })
            .unwrap();
        assert!(
            n > 0,
            "the terminal ended before {want:?}: {:?}",
            String::from_utf8_lossy(seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

pub async fn write(pty: &Pty, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let n = pty.write(bytes).await.unwrap();
        bytes = &bytes[n..];
    }
}

fn terminals(ctl: &Ctl) -> Vec<Value> {
    ctl.ok(&["terminals", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn shell_attaches_this_terminal_detaches_and_comes_back() {
    let ctl = Ctl::new();
    let work = ctl.env.work();
    // A wrapper shell reports this terminal's mode after oqtoctl is gone.
    let script = format!(
        "'{}' shell --cwd '{}' -- /bin/sh; echo EXIT=$?; stty -a",
        oqtoctl_bin().display(),
        work.display()
    );
    let (mut child, pty) = Spawn::new("/bin/sh")
        .envs(ctl.vars.clone())
        .current_dir(&work)
        .args(["-c", &script])
        .spawn_pty(80, 24)
        .unwrap();
    let mut seen = Vec::new();
    write(&pty, b"echo hi-$((1+2))\r").await;
    read_until(&pty, &mut seen, "hi-3").await;
    // The window grows: oqtoctl gets SIGWINCH and resizes the runner's terminal.
    pty.resize(100, 30).unwrap();
    write(&pty, b"stty size\r").await;
    read_until(&pty, &mut seen, "30 100").await;
    // Ctrl-] d: detached, the terminal restored (canonical mode and echo back on).
    write(&pty, b"\x1dd").await;
    read_until(&pty, &mut seen, "EXIT=0").await;
    read_until(&pty, &mut seen, "echoctl").await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.contains("detached from term_"), "{text}");
    let mode = &text[text.find("EXIT=0").unwrap()..];
    assert!(
        mode.contains(" icanon") && !mode.contains("-icanon") && !mode.contains("-echo "),
        "left in raw mode: {mode}"
    );
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());

    // The shell goes on; `oqtoctl terminals` lists it.
    let listed = terminals(&ctl);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["clients"], 0);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert!(ctl.ok(&["terminals"]).contains(&id));

    // Come back: the scrollback shows what was there, and the shell's exit ends it.
    let (mut child, pty) = ctl
        .command(&["shell", "--attach", &id])
        .spawn_pty(100, 30)
        .unwrap();
    let mut seen = Vec::new();
    read_until(&pty, &mut seen, "hi-3").await;
    write(&pty, b"exit 7\r").await;
    read_until(&pty, &mut seen, "exit status 7").await;
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    // oqtoctl ends as the shell did.
    assert_eq!(status.code(), Some(7));
    assert!(terminals(&ctl).is_empty());
}

#[tokio::test]
async fn shell_ends_with_the_program_s_code_or_128_plus_its_signal() {
    let ctl = Ctl::new();
    let work = ctl.env.work().display().to_string();
    for (program, want) in [
        ("echo ready; exit 42", 42),
        ("echo ready; kill -9 $$", 128 + 9),
        ("echo ready; kill -TERM $$", 128 + 15),
        ("echo ready; exit 0", 0),
    ] {
        let (mut child, pty) = ctl
            .command(&["shell", "--cwd", &work, "--", "/bin/sh", "-c", program])
            .spawn_pty(80, 24)
            .unwrap();
        let mut seen = Vec::new();
        read_until(&pty, &mut seen, "ready").await;
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(want), "{program}");
    }
    assert!(terminals(&ctl).is_empty());
}

#[tokio::test]
async fn ctrl_c_in_the_shell_interrupts_the_foreground_command_only() {
    let ctl = Ctl::new();
    let work = ctl.env.work();
    let (mut child, pty) = ctl
        .command(&[
            "shell",
            "--cwd",
            work.to_str().unwrap(),
            "--",
            "/bin/bash",
            "--norc",
            "--noprofile",
            "-i",
        ])
        .spawn_pty(80, 24)
        .unwrap();
    let mut seen = Vec::new();
    // Typed through oqtoctl in raw mode: Ctrl-C is the byte 0x03 on the runner's terminal.
    write(&pty, b"sleep 2719; echo not-$((1+1))-interrupted\r").await;
    let running = oqto_testkit::wait_until(WAIT, || {
        std::fs::read_dir("/proc").unwrap().any(|e| {
            std::fs::read(e.unwrap().path().join("cmdline"))
                .is_ok_and(|c| c == b"sleep\x002719\x00")
        })
    });
    assert!(
        running,
        "sleep never ran: {:?}",
        String::from_utf8_lossy(&seen)
    );
    write(&pty, b"\x03").await;
    read_until(&pty, &mut seen, "^C").await;
    write(&pty, b"echo status-$?\r").await;
    read_until(&pty, &mut seen, "status-130").await;
    write(&pty, b"exit 0\r").await;
    read_until(&pty, &mut seen, "exit").await;
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(!text.contains("not-2-interrupted"), "{text}");
    assert!(!text.contains("no job control"), "{text}");
}

#[tokio::test]
async fn shell_on_a_pipe_runs_the_input_and_ends_with_the_program() {
    let ctl = Ctl::new();
    let out = ctl.run_input(
        &[
            "shell",
            "--",
            "/bin/sh",
            "-c",
            "read x; echo got-$x; exit 0",
        ],
        "abc\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("got-abc"), "{stdout}");
}

#[test]
fn attaching_to_a_terminal_that_does_not_exist_fails() {
    let ctl = Ctl::new();
    let out = ctl.run(&["shell", "--attach", "term_0_1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("terminal_not_found"), "{stderr}");
    assert!(stderr.contains("oqtoctl terminals"), "{stderr}");
}
