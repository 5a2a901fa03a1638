//! Who may connect to a socket server: its own user, plus `--allow-uid` / `--allow-group`;
//! root only when it is the server's user or listed.
//!
//! Needs root (to act as another user with `setpriv`), as the runner's access test does; CI
//! runs as root. The other user's client is a few lines of perl, which every Debian system
//! has.

use oqto_ipc::Spawn;
use oqto_testkit::{TestEnv, other_user};
use serde_json::json;

use crate::support::{Client, Server, bin};

/// What a client running as `nobody`, with `groups` as its supplementary groups, reads
/// first from the server.
fn first_line_as_nobody(env: &TestEnv, server: &Server, groups: &[u32]) -> String {
    other_user::first_line_as_nobody(env, &server.socket, groups)
}

#[test]
fn another_user_is_refused_unless_allowed() {
    if !other_user::available() {
        eprintln!("skipped: needs root and /usr/bin/perl to act as another user");
        return;
    }
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let line = first_line_as_nobody(&env, &server, &[]);
    assert!(line.contains("\"permission_denied\""), "{line}");
    assert!(
        line.contains("uid 65534 may not use this file server"),
        "{line}"
    );
    assert!(line.contains("\"id\":null"), "{line}");
    // The server serves its own user as before.
    let mut c = Client::connect(&server.socket);
    c.call(json!({"type":"stat","path":""})).ok();
    drop(c);
    drop(server);

    for (args, groups) in [
        (&["--allow-uid", "65534"][..], &[][..]),
        (&["--allow-group", "65534"][..], &[][..]),
        // A supplementary group, given by name.
        (&["--allow-group", "daemon"][..], &[1][..]),
    ] {
        let env = TestEnv::new();
        let server = Server::start(&env, args);
        let line = first_line_as_nobody(&env, &server, groups);
        assert!(line.contains("\"welcome\""), "{args:?}: {line}");
    }
    // Another uid and a group the client is not in are still refused.
    let env = TestEnv::new();
    let server = Server::start(&env, &["--allow-uid", "1", "--allow-group", "daemon"]);
    let line = first_line_as_nobody(&env, &server, &[]);
    assert!(line.contains("\"permission_denied\""), "{line}");
}

#[test]
fn access_flags_are_checked() {
    let env = TestEnv::new();
    let run = |args: &[&str]| {
        Spawn::new(bin())
            .arg("--root")
            .arg(env.work())
            .args(args)
            .std_command()
            .output()
            .unwrap()
    };
    let out = run(&["--socket", "x.sock", "--allow-group", "no-such-group-here"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown group `no-such-group-here`"), "{err}");
    let out = run(&["--socket", "x.sock", "--allow-uid", "-1"]);
    assert_eq!(out.status.code(), Some(2));
    // Only a socket has peers to admit.
    for args in [
        &["--stdio", "--allow-uid", "1000"][..],
        &["--allow-group", "1000"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--allow-"), "{args:?}: {err}");
    }
}
