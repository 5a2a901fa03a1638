//! The relay's life: health, the UI page, the runner killed under it, SIGTERM.

use nix::sys::signal::Signal;
use serde_json::json;

use crate::support::{Relay, create_session, seqs, signal, subscribe_and_prompt};

#[tokio::test]
async fn healthz_says_whether_the_runner_answers_and_the_ui_page_is_served() {
    let relay = Relay::start();
    let before = relay.get("/healthz", &[]).await;
    assert!(
        before.starts_with("HTTP/1.1 503"),
        "no runner yet: {before}"
    );
    assert!(before.contains("\"runner\":false"), "{before}");
    // A WebSocket starts the runner on demand.
    let mut ws = relay.browser().await;
    ws.hello().await;
    let after = relay.get("/healthz", &[]).await;
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
    assert!(after.contains("\"runner\":true"), "{after}");
    let page = relay.get("/", &[]).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<title>Oqto"), "{page}");
    let missing = relay.get("/assets/nothing.js", &[]).await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

#[tokio::test]
async fn a_killed_runner_is_reported_and_the_relay_reconnects_to_a_new_one() {
    let relay = Relay::start();
    let mut ws = relay.browser().await;
    let welcome = ws.hello().await;
    assert_eq!(welcome["runner"]["server"], "oqto-runner");
    // A finished turn the client saw, up to `last`.
    let cwd = relay.env.work().display().to_string();
    let session = create_session(&mut ws, &cwd).await;
    let mut seen = Vec::new();
    subscribe_and_prompt(&mut ws, &session, "stream:3", &mut seen).await;
    ws.until_idle(&session, false, &mut seen).await;
    let last = *seqs(&seen).last().unwrap();

    let pid = relay
        .runner_pid()
        .expect("a runner holds the data directory");
    signal(pid, Signal::SIGKILL);
    let error = ws.frame().await;
    assert_eq!(error["ch"], "relay", "{error}");
    assert_eq!(error["msg"]["code"], "runner_unavailable", "{error}");
    // The relay starts a runner again and welcomes the client anew.
    let mut again = ws.frame().await;
    while again["msg"]["type"] == "error" {
        assert_eq!(again["msg"]["code"], "runner_unavailable", "{again}");
        again = ws.frame().await;
    }
    assert_eq!(again["msg"]["type"], "welcome", "{again}");
    assert_ne!(relay.runner_pid(), Some(pid));
    let mut events = Vec::new();
    let reply = ws
        .request(json!({"id":"back","type":"session.list"}), &mut events)
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    // Resuming after `last` repeats nothing: the new runner cannot replay the killed one's
    // ring, so it sends a snapshot (`resync`) with seqs past the old ones.
    let reply = ws
        .request(
            json!({"id":"again","type":"session.subscribe","session":session,"after_seq":last}),
            &mut events,
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let resync = loop {
        if let Some(e) = events.iter().find(|e| e["session"] == session.as_str()) {
            break e.clone();
        }
        let frame = ws.frame().await;
        if frame["ch"] == "agent" {
            events.push(frame["msg"].clone());
        }
    };
    assert_eq!(resync["type"], "resync", "{resync}");
    assert!(resync["seq"].as_u64().unwrap() > last, "{resync}");
}

#[tokio::test]
async fn sigterm_closes_every_socket_and_exits_0() {
    let mut relay = Relay::start();
    let mut ws = relay.browser().await;
    ws.hello().await;
    let state_file = relay.state_file();
    assert!(state_file.exists());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&state_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let status = relay.terminate();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        ws.next().await.err(),
        Some(Some(1001)),
        "a clean close, going away"
    );
    assert!(!state_file.exists(), "relay.json is removed");
}

#[tokio::test]
async fn a_bad_relay_toml_is_reported_with_file_and_line() {
    let relay = Relay::start();
    relay
        .env
        .write("config/oqto/relay.toml", "[relay]\nmax_frame = 3\n");
    let out = relay.run(&["--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("relay.toml:2:13: relay.max_frame: must be between 1KiB and 64MiB"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_in_process_stops_when_its_shutdown_future_completes() {
    let env = oqto_testkit::TestEnv::new();
    let mut environment = oqto_config::Environment::empty(nix::unistd::getuid().as_raw());
    for (name, value) in env.vars() {
        environment = environment.with_var(name, value);
    }
    // No autostart: /healthz must say the runner is absent, not start one.
    let runner = oqto_client::Runner::with_env(environment, None, false, "relay-test/1").unwrap();
    let state_file = env.runtime_dir().join("oqto/relay.json");
    let setup = oqto_relay::Setup {
        config: oqto_relay::RelayConfig::default(),
        runner,
        store: env.data_dir().join("oqto/relay.db"),
        state_file: state_file.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(oqto_relay::serve(
        listener,
        async move {
            let _ = stopped.await;
        },
        setup,
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stream,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut response = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response)
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(state_file.exists());
    stop.send(()).unwrap();
    let result = tokio::time::timeout(crate::support::WAIT, server)
        .await
        .expect("serve returns")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(!state_file.exists());
}
