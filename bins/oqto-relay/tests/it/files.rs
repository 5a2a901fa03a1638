//! The `files` channel: the runner's `oqto-files` for a session's working directory, file
//! bytes as binary frames both ways.

use serde_json::{Value, json};

use crate::support::{Relay, Ws, create_session};

/// The next text frame on the files channel.
async fn files_msg(ws: &mut Ws) -> Value {
    let frame = ws.next_any().await.expect("a text frame");
    assert_eq!(frame["ch"], "files", "{frame}");
    frame["msg"].clone()
}

#[tokio::test]
async fn files_of_a_session_are_listed_read_and_uploaded_with_binary_frames() {
    let relay = Relay::start();
    relay.env.write("work/hello.txt", "hello relay");
    let cwd = relay.env.work().display().to_string();
    let mut ws = relay.browser().await;
    let welcome = ws.hello().await;
    assert_eq!(
        welcome["channels"],
        json!(["relay", "agent", "files", "terminal"])
    );
    let session = create_session(&mut ws, &cwd).await;
    let files = |msg: Value| json!({"ch":"files","root":session,"msg":msg});

    ws.send(&files(json!({"id":"f1","type":"list","path":""})))
        .await;
    let hello = files_msg(&mut ws).await;
    assert_eq!(
        hello["type"], "welcome",
        "the file server's welcome first: {hello}"
    );
    let list = files_msg(&mut ws).await;
    assert_eq!(list["id"], "f1", "{list}");
    let names: Vec<&str> = list["result"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.contains(&"hello.txt"), "{list}");

    ws.send(&files(json!({"id":"f2","type":"read","path":"hello.txt"})))
        .await;
    let header = files_msg(&mut ws).await;
    assert_eq!(header["type"], "data", "{header}");
    assert_eq!(header["len"], 11);
    let bytes = ws.next_any().await.expect_err("a binary frame");
    assert_eq!(bytes, b"hello relay");
    let reply = files_msg(&mut ws).await;
    assert_eq!(reply["id"], "f2");
    assert_eq!(reply["type"], "ok", "{reply}");

    ws.send(&files(
        json!({"id":"u1","type":"upload.start","path":"up/new.bin","create_parents":true}),
    ))
    .await;
    let started = files_msg(&mut ws).await;
    let upload = started["result"]["upload"]
        .as_str()
        .expect("an upload id")
        .to_owned();
    let payload: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    ws.send(&files(
        json!({"id":"u2","type":"upload.chunk","upload":upload,"offset":0,"len":payload.len()}),
    ))
    .await;
    ws.send_binary(payload.clone()).await;
    let chunk = files_msg(&mut ws).await;
    assert_eq!(chunk["type"], "ok", "{chunk}");
    ws.send(&files(
        json!({"id":"u3","type":"upload.finish","upload":upload}),
    ))
    .await;
    let finished = files_msg(&mut ws).await;
    assert_eq!(finished["type"], "ok", "{finished}");
    let written = std::fs::read(relay.env.work().join("up/new.bin")).unwrap();
    assert_eq!(written, payload, "byte for byte");

    // The file server is the runner's child, not the relay's, and a second tab shares it.
    let runner = i32::try_from(relay.runner_pid().expect("a runner")).unwrap();
    let servers = |pid: i32| -> Vec<i32> {
        oqto_ipc::spawn::children(pid)
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim_end() == "oqto-files")
            })
            .collect()
    };
    assert_eq!(servers(runner).len(), 1, "one file server, the runner's");
    assert!(servers(i32::try_from(relay.pid()).unwrap()).is_empty());
    let mut second = relay.browser().await;
    second.hello().await;
    second
        .send(&json!({"ch":"files","root":session,"msg":{"id":"g1","type":"stat","path":"hello.txt"}}))
        .await;
    assert_eq!(files_msg(&mut second).await["type"], "welcome");
    let stat = files_msg(&mut second).await;
    assert_eq!(stat["type"], "ok", "{stat}");
    assert_eq!(servers(runner).len(), 1, "shared by both tabs");
}

#[tokio::test]
async fn files_errors_are_typed_and_the_connection_lives() {
    let relay = Relay::start();
    let mut ws = relay.browser().await;
    // Before the hello, a files frame is refused like an agent one.
    ws.send(&json!({"ch":"files","root":"ses_x","msg":{"id":"f1","type":"list","path":""}}))
        .await;
    let frame = ws.frame().await;
    assert_eq!(frame["msg"]["code"], "bad_request", "{frame}");
    ws.hello().await;
    ws.send(&json!({"ch":"files","msg":{"id":"f1","type":"list","path":""}}))
        .await;
    let frame = ws.frame().await;
    assert_eq!(frame["ch"], "relay");
    assert_eq!(frame["msg"]["code"], "bad_request", "no root: {frame}");
    ws.send(&json!({"ch":"files","root":"ses_nope","msg":{"id":"f2","type":"list","path":""}}))
        .await;
    let frame = ws.frame().await;
    assert_eq!(frame["ch"], "files", "{frame}");
    assert_eq!(frame["root"], "ses_nope");
    assert_eq!(frame["msg"]["id"], "f2");
    assert_eq!(frame["msg"]["code"], "session_not_found", "{frame}");
    // Bytes nobody announced.
    ws.send_binary(vec![1, 2, 3]).await;
    let frame = ws.frame().await;
    assert_eq!(frame["msg"]["code"], "bad_request", "{frame}");
    let mut events = Vec::new();
    let reply = ws
        .request(json!({"id":"alive","type":"session.list"}), &mut events)
        .await;
    assert_eq!(reply["type"], "ok");
}

#[tokio::test]
async fn a_file_server_reaped_when_idle_is_started_again_for_the_next_tab() {
    let relay = Relay::start_with_runner("", "files_idle_timeout = \"1s\"");
    relay.env.write("work/a.txt", "a");
    let cwd = relay.env.work().display().to_string();
    let mut ws = relay.browser().await;
    ws.hello().await;
    let session = create_session(&mut ws, &cwd).await;
    let stat = json!({"ch":"files","root":session,"msg":{"id":"s1","type":"stat","path":"a.txt"}});
    ws.send(&stat).await;
    assert_eq!(files_msg(&mut ws).await["type"], "welcome");
    assert_eq!(files_msg(&mut ws).await["type"], "ok");
    let sockets = relay.env.runtime_dir().join("oqto/files");
    let first: Vec<_> = std::fs::read_dir(&sockets)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(first.len(), 1, "{first:?}");
    // The tab goes; with no client left the server exits after its idle time.
    ws.close().await;
    assert!(
        oqto_testkit::wait_until(crate::support::WAIT, || !first[0].exists()),
        "the idle file server did not go"
    );
    let mut next = relay.browser().await;
    next.hello().await;
    next.send(&stat).await;
    assert_eq!(files_msg(&mut next).await["type"], "welcome");
    let reply = files_msg(&mut next).await;
    assert_eq!(reply["type"], "ok", "{reply}");
}
