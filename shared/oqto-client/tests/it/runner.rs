use std::time::Duration;

use oqto_client::{Client, Error, Incoming, RawClient};
use oqto_protocol::{Command, ErrorCode, EventKind, Reply, ServerMessage, SessionId};

use crate::support::{Fixture, WAIT, seqs, until_idle};

async fn create(client: &mut Client, cwd: &str) -> SessionId {
    let harness = client
        .welcome
        .default_harness
        .clone()
        .expect("a default harness");
    let reply = client
        .request(Command::SessionCreate {
            harness,
            cwd: cwd.to_owned(),
            model: None,
            provider: None,
            sandbox_profile: None,
            title: None,
        })
        .await
        .expect("session.create");
    match reply {
        Reply::Session { session, .. } => session.id,
        other => panic!("unexpected reply {other:?}"),
    }
}

async fn prompt(client: &mut Client, session: &SessionId, text: &str) {
    let reply = client
        .request(Command::Prompt {
            session: session.clone(),
            text: text.to_owned(),
            images: Vec::new(),
            client_msg_id: None,
        })
        .await
        .expect("prompt");
    assert!(matches!(reply, Reply::Empty), "{reply:?}");
}

#[tokio::test]
async fn starts_the_runner_on_demand_and_streams_a_turn_with_replies_in_between() {
    let f = Fixture::new();
    assert!(f.runner.connect_existing().await.unwrap().is_none());
    let mut client = f.runner.connect().await.expect("started on demand");
    assert_eq!(client.welcome.server, "oqto-runner");
    assert_eq!(client.welcome.default_harness.as_deref(), Some("fake"));
    assert_eq!(client.welcome.default_harness_note, None);
    let session = create(&mut client, &f.work()).await;
    client.subscribe(session.clone(), Some(0)).await.unwrap();
    prompt(&mut client, &session, "stream:20").await;
    // A request in the middle of the stream gets its own reply; the events that arrived
    // meanwhile are kept, in order, for `next`.
    let reply = client
        .request(Command::SessionGet {
            session: session.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(reply, Reply::Session { .. }));
    let events = until_idle(&mut client, &session).await;
    let seqs = seqs(&events);
    assert_eq!(seqs.first(), Some(&1), "replayed from the start: {seqs:?}");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap, no repeat: {seqs:?}"
    );
    let deltas = events
        .iter()
        .filter(|(e, _)| matches!(e.kind, EventKind::PartDelta { .. }))
        .count();
    assert!(deltas >= 20, "{deltas} deltas");
    // The raw line is the runner's, and decodes to the same event.
    let (event, raw) = &events[events.len() - 1];
    match ServerMessage::parse(raw).unwrap() {
        ServerMessage::Event(again) => assert_eq!(&again, event),
        other => panic!("{other:?}"),
    }
    // A second connect finds the same runner instead of starting another.
    let mut again = f.runner.connect().await.unwrap();
    let Reply::Status { status: one } = client.request(Command::RunnerStatus {}).await.unwrap()
    else {
        panic!("status")
    };
    let Reply::Status { status: two } = again.request(Command::RunnerStatus {}).await.unwrap()
    else {
        panic!("status")
    };
    assert_eq!(one.pid, two.pid);
}

#[tokio::test]
async fn an_error_reply_carries_the_protocol_code() {
    let f = Fixture::new();
    let mut client = f.runner.connect().await.unwrap();
    let err = client
        .request(Command::SessionGet {
            session: SessionId("ses_nope".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::SessionNotFound), "{err}");
    assert!(err.to_string().ends_with("(session_not_found)"), "{err}");
    // The connection goes on.
    assert!(client.request(Command::RunnerStatus {}).await.is_ok());
}

#[tokio::test]
async fn resumes_after_a_seq_and_after_a_runner_restart_without_gaps_or_repeats() {
    let f = Fixture::new();
    let mut client = f.runner.connect().await.unwrap();
    let session = create(&mut client, &f.work()).await;
    client.subscribe(session.clone(), Some(0)).await.unwrap();
    prompt(&mut client, &session, "stream:5").await;
    let first = until_idle(&mut client, &session).await;
    let seen = *seqs(&first).last().unwrap();

    // A second client resumes after a seq in the middle: exactly the rest.
    let mut other = f.runner.connect().await.unwrap();
    let middle = seen / 2;
    let Reply::Subscribed { last_seq, .. } = other
        .subscribe(session.clone(), Some(middle))
        .await
        .unwrap()
    else {
        panic!("subscribed")
    };
    assert_eq!(last_seq, seen);
    let mut replayed = Vec::new();
    while replayed.last() != Some(&seen) {
        match tokio::time::timeout(WAIT, other.next())
            .await
            .expect("replay")
        {
            Incoming::Event(e, _) => replayed.push(e.seq),
            Incoming::Closed(why) => panic!("closed: {why:?}"),
            Incoming::Reply(..) | Incoming::Error(_) | Incoming::Terminal(..) => {}
        }
    }
    assert_eq!(replayed, ((middle + 1)..=seen).collect::<Vec<_>>());

    // The runner goes away; the client sees the end, reconnects and resumes.
    f.stop_runner().await;
    let end = tokio::time::timeout(WAIT, async {
        loop {
            if let Incoming::Closed(_) = client.next().await {
                return;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the end of the connection is seen");
    let mut client = f.runner.reconnect(WAIT).await.expect("reconnected");
    client.subscribe(session.clone(), Some(seen)).await.unwrap();
    prompt(&mut client, &session, "after restart").await;
    let next = until_idle(&mut client, &session).await;
    let after: Vec<_> = seqs(&next);
    assert!(after.iter().all(|s| *s > seen), "{after:?} after {seen}");
    assert!(after.windows(2).all(|w| w[1] == w[0] + 1), "{after:?}");
}

#[tokio::test]
async fn the_raw_client_forwards_lines_with_their_ids() {
    let f = Fixture::new();
    f.runner.start().await.unwrap();
    let raw = RawClient::connect(f.runner.socket(), "relay-test/1")
        .await
        .unwrap();
    assert!(
        raw.welcome.starts_with(r#"{"type":"welcome""#),
        "{}",
        raw.welcome
    );
    let RawClient {
        mut sender,
        mut receiver,
        ..
    } = raw;
    sender
        .send_line(r#"{"id":"tab7:42","type":"runner.status"}"#)
        .await
        .unwrap();
    let line = tokio::time::timeout(WAIT, receiver.next_line())
        .await
        .unwrap()
        .unwrap()
        .expect("a reply");
    assert!(line.contains(r#""id":"tab7:42""#), "{line}");
    // A malformed line is the runner's to answer, and the connection goes on.
    sender
        .send_line(r#"{"id":"tab7:43","type":"nope"}"#)
        .await
        .unwrap();
    let line = receiver.next_line().await.unwrap().unwrap();
    assert!(
        line.contains(r#""id":"tab7:43""#) && line.contains("unknown_command"),
        "{line}"
    );
    // A line with a newline inside would reach the runner as two: refused here.
    let err = sender.send_line("{}\n{}").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn without_autostart_an_absent_runner_is_an_absent_error() {
    let mut f = Fixture::new();
    f.runner.autostart = false;
    let err = f.runner.connect().await.unwrap_err();
    assert!(matches!(err, Error::Absent { .. }), "{err:?}");
    let err = f
        .runner
        .reconnect(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(err.is_absent(), "{err:?}");
}

/// A terminal through `Client`: raw input frames out, output frames (with their bytes,
/// any bytes) in, and the end; and the same through `RawClient`, as the relay uses it.
#[tokio::test]
async fn a_terminal_round_trips_raw_bytes_through_both_clients() {
    use oqto_protocol::{TerminalEvent, TerminalId};
    let f = Fixture::new();
    let mut client = f.runner.connect().await.unwrap();
    let reply = client
        .request(Command::TerminalOpen {
            session: None,
            cwd: Some(f.work()),
            cols: 80,
            rows: 24,
            command: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "stty -echo; echo go; head -c 3 | od -An -tx1; printf 'A\\377\\000B'".into(),
            ]),
        })
        .await
        .unwrap();
    let Reply::Terminal { terminal } = reply else {
        panic!("{reply:?}")
    };
    let id: TerminalId = terminal.id;
    client
        .request(Command::TerminalAttach {
            terminal: id.clone(),
            after_offset: Some(0),
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    let mut sent = false;
    loop {
        match tokio::time::timeout(WAIT, client.next())
            .await
            .expect("output")
        {
            Incoming::Terminal(TerminalEvent::Output { offset, len, .. }, bytes) => {
                assert_eq!(offset, out.len() as u64);
                assert_eq!(len, bytes.len() as u64);
                out.extend_from_slice(&bytes);
                if !sent && out.windows(2).any(|w| w == b"go") {
                    client
                        .terminal_input(id.clone(), b"\xfe\x00\n")
                        .await
                        .unwrap();
                    sent = true;
                }
            }
            Incoming::Terminal(TerminalEvent::Closed { .. }, _) => break,
            Incoming::Closed(why) => panic!("closed: {why:?}"),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("fe 00 0a"), "{text}");
    assert!(out.ends_with(b"A\xff\x00B"), "{out:?}");

    // The raw pass-through: a frame out, a header line in, then its bytes.
    let mut raw = RawClient::connect(f.runner.socket(), "it/raw")
        .await
        .unwrap();
    let open = r#"{"id":"o1","type":"terminal.open","cwd":"CWD","cols":80,"rows":24,"command":["/bin/cat"]}"#
        .replace("CWD", &f.work());
    raw.sender.send_line(&open).await.unwrap();
    let line = raw.receiver.next_line().await.unwrap().unwrap();
    let Ok(ServerMessage::Ok(ok)) = ServerMessage::parse(&line) else {
        panic!("{line}")
    };
    let Reply::Terminal { terminal } = ok.result else {
        panic!("{line}")
    };
    let attach = format!(
        r#"{{"id":"a1","type":"terminal.attach","terminal":"{}"}}"#,
        terminal.id
    );
    raw.sender.send_line(&attach).await.unwrap();
    let input = format!(
        r#"{{"id":"i1","type":"terminal.input","terminal":"{}","len":4}}"#,
        terminal.id
    );
    raw.sender.send_frame(&input, b"\xffz\x00\n").await.unwrap();
    let mut got = Vec::new();
    while !got.windows(3).any(|w| w == b"\xffz\x00") {
        let line = tokio::time::timeout(WAIT, raw.receiver.next_line())
            .await
            .expect("a line")
            .unwrap()
            .expect("open");
        if let Ok(ServerMessage::Terminal(event)) = ServerMessage::parse(&line) {
            got.extend(raw.receiver.next_bytes(event.frame_len()).await.unwrap());
        }
    }
}
