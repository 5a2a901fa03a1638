//! Bad input and crashes: typed errors, a connection that lives on, files never torn.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::Stdio;

use oqto_protocol::{ErrorCode, FilesReply};
use oqto_testkit::{TestEnv, wait_until};
use serde_json::json;

use crate::support::{Client, WAIT};

/// Says hello and asks for `big.bin` on `w`, then reads from `r` until the first bytes of
/// the file have come.
fn start_a_read(mut w: impl Write, r: impl Read) {
    w.write_all(b"{\"type\":\"hello\",\"protocol\":1,\"client\":\"it\"}\n")
        .unwrap();
    w.write_all(b"{\"id\":\"big\",\"type\":\"read\",\"path\":\"big.bin\"}\n")
        .unwrap();
    w.flush().unwrap();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("welcome"), "{line}");
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"data\""), "{line}");
    let mut some = [0u8; 4096];
    r.read_exact(&mut some).unwrap();
}

#[test]
fn a_reader_that_goes_away_mid_read_does_not_hurt_the_server() {
    let env = TestEnv::new();
    let data: Vec<u8> = (0..32u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(env.work().join("big.bin"), &data).unwrap();

    // stdio: the client closes the pipe it reads while the server is sending into it. The
    // server neither dies of SIGPIPE nor hangs: it exits 0 when its input closes.
    let mut child = oqto_ipc::Spawn::new(crate::support::bin())
        .arg("--root")
        .arg(env.work())
        .arg("--stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let pipe = stdout.as_fd().try_clone_to_owned().unwrap();
    start_a_read(&mut stdin, stdout);
    // The server grew its stdout pipe to one 1 MiB frame (the default pipe-max-size).
    let size = nix::fcntl::fcntl(&pipe, nix::fcntl::FcntlArg::F_GETPIPE_SZ).unwrap();
    assert_eq!(size, 1 << 20);
    drop(pipe);
    // The read end is closed now; a request after that goes nowhere, quietly.
    stdin
        .write_all(b"{\"id\":\"s\",\"type\":\"stat\",\"path\":\"big.bin\"}\n")
        .unwrap();
    drop(stdin);
    let mut status = None;
    assert!(
        wait_until(WAIT, || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "oqto-files did not exit"
    );
    assert_eq!(status.unwrap().code(), Some(0), "{status:?}");

    // Socket: a client drops its connection mid-read; the server serves the next one.
    let server = crate::support::Server::start(&env, &[]);
    for _ in 0..3 {
        let stream = UnixStream::connect(&server.socket).unwrap();
        start_a_read(&stream, stream.try_clone().unwrap());
        drop(stream);
    }
    let mut c = Client::connect(&server.socket);
    let all = c.call(json!({"type":"read","path":"big.bin"}));
    assert!(all.bytes() == data, "the bytes differ");
    all.ok();
    let mut server = server;
    assert!(server.child.try_wait().unwrap().is_none());
}

#[test]
fn bad_input_gets_typed_errors_and_the_connection_lives_on() {
    let env = TestEnv::new();
    env.write("work/a.txt", "a");
    let mut c = Client::stdio(&env, &["--max-line", "4096"]);
    c.send_line("this is not json");
    assert_eq!(c.anonymous_error().code, ErrorCode::BadRequest);
    c.send_line(r#"{"id":"u","type":"frobnicate","path":""}"#);
    c.answer("u").err(ErrorCode::UnknownCommand);
    c.send_line(r#"{"id":"m","type":"read"}"#);
    let e = c.answer("m").err(ErrorCode::BadRequest);
    assert!(e.message.contains("missing field `path`"), "{e:?}");
    c.send_line(r#"{"id":"t","type":"read","path":7}"#);
    c.answer("t").err(ErrorCode::BadRequest);
    c.send_line(r#"{"id":"x","type":"list","path":"","bogus":1}"#);
    c.answer("x").err(ErrorCode::BadRequest);
    c.send_line(&format!(
        r#"{{"id":"long","type":"write","path":"b","content":"{}"}}"#,
        "x".repeat(10_000)
    ));
    let e = c.anonymous_error();
    assert_eq!(e.code, ErrorCode::TooLarge);
    c.send_raw(b"\xff\xfe\n");
    assert_eq!(c.anonymous_error().code, ErrorCode::BadRequest);
    c.send_line(r#"{"type":"hello","protocol":1,"client":"again"}"#);
    assert_eq!(c.anonymous_error().code, ErrorCode::BadRequest);
    assert!(!env.work().join("b").exists());
    assert_eq!(c.call(json!({"type":"read","path":"a.txt"})).bytes(), b"a");
    assert_eq!(c.finish(), Some(0));
}

#[test]
fn requests_before_hello_and_a_wrong_protocol() {
    let env = TestEnv::new();
    let mut c = Client::stdio_no_hello(&env, &[]);
    c.send_line(r#"{"id":"early","type":"stat","path":""}"#);
    c.answer("early").err(ErrorCode::BadRequest);
    c.send_line(r#"{"type":"hello","protocol":99,"client":"future"}"#);
    assert_eq!(c.anonymous_error().code, ErrorCode::ProtocolMismatch);
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
