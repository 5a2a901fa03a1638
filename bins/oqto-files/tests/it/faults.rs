//! Bad input and crashes: typed errors, a connection that lives on, files never torn.

use oqto_protocol::{FilesErrorCode, FilesReply};
use oqto_testkit::{TestEnv, wait_until};
use serde_json::json;

use crate::support::{Client, WAIT};

#[test]
fn bad_input_gets_typed_errors_and_the_connection_lives_on() {
    let env = TestEnv::new();
    env.write("work/a.txt", "a");
    let mut c = Client::stdio(&env, &["--max-line", "4096"]);
    c.send_line("this is not json");
    assert_eq!(c.anonymous_error().code, FilesErrorCode::BadRequest);
    c.send_line(r#"{"id":"u","type":"frobnicate","path":""}"#);
    c.answer("u").err(FilesErrorCode::UnknownCommand);
    c.send_line(r#"{"id":"m","type":"read"}"#);
    let e = c.answer("m").err(FilesErrorCode::BadRequest);
    assert!(e.message.contains("missing field `path`"), "{e:?}");
    c.send_line(r#"{"id":"t","type":"read","path":7}"#);
    c.answer("t").err(FilesErrorCode::BadRequest);
    c.send_line(r#"{"id":"x","type":"list","path":"","bogus":1}"#);
    c.answer("x").err(FilesErrorCode::BadRequest);
    c.send_line(&format!(
        r#"{{"id":"long","type":"write","path":"b","content":"{}"}}"#,
        "x".repeat(10_000)
    ));
    let e = c.anonymous_error();
    assert_eq!(e.code, FilesErrorCode::TooLarge);
    c.send_raw(b"\xff\xfe\n");
    assert_eq!(c.anonymous_error().code, FilesErrorCode::BadRequest);
    c.send_line(r#"{"type":"hello","protocol":1,"client":"again"}"#);
    assert_eq!(c.anonymous_error().code, FilesErrorCode::BadRequest);
    assert!(!env.work().join("b").exists());
    assert_eq!(c.call(json!({"type":"read","path":"a.txt"})).bytes(), b"a");
    assert_eq!(c.finish(), Some(0));
}

#[test]
fn requests_before_hello_and_a_wrong_protocol() {
    let env = TestEnv::new();
    let mut c = Client::stdio_no_hello(&env, &[]);
    c.send_line(r#"{"id":"early","type":"stat","path":""}"#);
    c.answer("early").err(FilesErrorCode::BadRequest);
    c.send_line(r#"{"type":"hello","protocol":99,"client":"future"}"#);
    assert_eq!(c.anonymous_error().code, FilesErrorCode::ProtocolMismatch);
    assert_eq!(c.finish(), Some(0));
}

#[test]
fn a_write_killed_mid_way_leaves_the_old_or_the_new_file() {
    let env = TestEnv::new();
    let old = "old\n".repeat(1 << 20);
    let new = "new\n".repeat(3 << 20);
    env.write("work/data.txt", &old);
    for round in 0..3 {
        let mut c = Client::stdio(&env, &["--max-line", "33554432"]);
        c.send_line(&json!({"id":"w","type":"write","path":"data.txt","content":new}).to_string());
        // Kill as soon as the write is under way (its temporary file exists), or done.
        let work = env.work();
        let started = wait_until(WAIT, || {
            std::fs::read_dir(&work).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".oqto-write")
            }) || std::fs::metadata(work.join("data.txt")).unwrap().len() == new.len() as u64
        });
        assert!(started, "round {round}: the write never started");
        let mut child = c.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let now = std::fs::read_to_string(env.work().join("data.txt")).unwrap();
        assert!(
            now == old || now == new,
            "round {round}: torn file of {} bytes",
            now.len()
        );
    }
}

#[test]
fn a_second_server_on_a_live_socket_is_refused() {
    let env = TestEnv::new();
    let server = crate::support::Server::start(&env, &[]);
    let out = oqto_ipc::Spawn::new(crate::support::bin())
        .arg("--root")
        .arg(env.work())
        .arg("--socket")
        .arg(&server.socket)
        .std_command()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already listening"));
    let mut c = Client::connect(&server.socket);
    let FilesReply::Entries { total, .. } = c.call(json!({"type":"list","path":""})).ok() else {
        panic!()
    };
    assert_eq!(total, 0);
}

#[test]
fn a_missing_root_is_a_clear_error() {
    let env = TestEnv::new();
    let out = oqto_ipc::Spawn::new(crate::support::bin())
        .arg("--root")
        .arg(env.root().join("nope"))
        .arg("--stdio")
        .std_command()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("oqto-files: error: cannot open root directory"),
        "{err}"
    );
}
