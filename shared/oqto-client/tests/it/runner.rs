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
