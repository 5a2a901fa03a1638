use std::process::{Output, Stdio};

use oqto_ipc::spawn::Spawn;
use oqto_testkit::TestEnv;

fn oqtoctl(env: &TestEnv, args: &[&str]) -> Output {
    let mut spawn = Spawn::new(env!("CARGO_BIN_EXE_oqtoctl"));
    for (k, v) in env.vars() {
        spawn = spawn.env(k, v);
    }
    spawn
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start oqtoctl")
        .wait_with_output()
        .expect("wait for oqtoctl")
}

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    let env = TestEnv::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef oqtoctl"),
        ("fish", "complete -c oqtoctl"),
    ] {
        let out = oqtoctl(&env, &["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        assert!(text.contains(marker), "{shell} script lacks {marker:?}");
        assert!(
            text.contains("completions"),
            "{shell} script lacks the subcommand"
        );
    }
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let env = TestEnv::new();
    let out = oqtoctl(&env, &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "usage errors print nothing on stdout"
    );
}

#[test]
fn broken_pipe_is_a_quiet_exit() {
    let env = TestEnv::new();
    let mut child = {
        let mut spawn = Spawn::new(env!("CARGO_BIN_EXE_oqtoctl"));
        for (k, v) in env.vars() {
            spawn = spawn.env(k, v);
        }
        spawn
            .args(["completions", "zsh"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oqtoctl")
    };
    // Close our end of stdout before the child writes: every write gets EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "no error message on a broken pipe: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
}
