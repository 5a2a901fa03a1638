//! `oqtoctl --relay`: the real relay in front of the real runner, pi against the fake LLM,
//! and `oqtoctl` run as from another machine (its own empty environment, so nothing can
//! reach the runner but the relay).

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oqto_fake_llm_core::{Background, Config};
use oqto_ipc::spawn::Spawn;
use oqto_testkit::{TestEnv, wait_until};
use serde_json::Value;

use crate::shell::{read_until, write};
use crate::support::{Ctl, WAIT, describe, finish, json_lines, oqtoctl_bin, sibling};

/// A server (runner + relay, pi against the fake LLM) and a laptop (an empty environment).
struct Remote {
    ctl: Ctl,
    _llm: Background,
    llm_log: PathBuf,
    relay: Option<Child>,
    port: u16,
    url: String,
    token: String,
    laptop: TestEnv,
}

impl Remote {
    fn start() -> Self {
        let mut ctl = Ctl::new();
        let llm_log = ctl.env.root().join("llm-requests.jsonl");
        let llm = Background::start(Config {
            slow_delay: Duration::from_millis(40),
            request_log: Some(llm_log.clone()),
            ..Config::default()
        })
        .expect("start the fake LLM");
        let agent_dir = ctl.env.root().join("pi-agent");
        oqto_fake_llm_core::write_pi_agent_dir(&agent_dir, &llm.base_url()).unwrap();
        ctl.env.write(
            "config/oqto/runner.toml",
            format!(
                "[runner]\ndefault_harness = \"pi\"\n[harness.pi]\ncommand = \"{}\"\nenv = {{ PI_CODING_AGENT_DIR = \"{}\", PI_OFFLINE = \"1\" }}\n",
                oqto_testkit::pi_bin().display(),
                agent_dir.display()
            ),
        );
        ctl.vars
            .push(("OQTO_RELAY_BIN".into(), sibling("oqto-relay").into()));
        let port = free_port();
        let mut remote = Self {
            ctl,
            _llm: llm,
            llm_log,
            relay: None,
            port,
            url: String::new(),
            token: String::new(),
            laptop: TestEnv::new(),
        };
        remote.launch_relay();
        let token = remote.ctl.ok(&["token", "create", "--name", "laptop"]);
        token.trim().clone_into(&mut remote.token);
        assert!(!remote.token.is_empty());
        remote
    }

    /// Starts `oqto-relay` (again) on the same port and waits for its `relay.json`.
    fn launch_relay(&mut self) {
        let state = self.ctl.env.runtime_dir().join("oqto/relay.json");
        let _ = std::fs::remove_file(&state);
        let listen = format!("127.0.0.1:{}", self.port);
        let child = Spawn::new(sibling("oqto-relay"))
            .envs(self.ctl.vars.clone())
            .current_dir(self.ctl.env.work())
            .args(["--listen", &listen])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start oqto-relay");
        self.relay = Some(child);
        let mut url = None;
        assert!(
            wait_until(WAIT, || {
                url = std::fs::read_to_string(&state)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .and_then(|v| v["url"].as_str().map(str::to_owned));
                url.is_some()
            }),
            "the relay did not start"
        );
        self.url = url.unwrap();
    }

    fn stop_relay(&mut self) {
        if let Some(mut child) = self.relay.take() {
            let _ = kill(pid_of(&child), Signal::SIGTERM);
            let _ = child.wait();
        }
    }

    /// `oqtoctl` on the laptop, through the relay with the token in `OQTO_TOKEN`.
    fn laptop_command(&self, args: &[&str], token: &str) -> Spawn {
        let mut vars = self.laptop.vars();
        vars.push(("OQTO_RELAY".into(), self.url.clone().into()));
        vars.push(("OQTO_TOKEN".into(), OsString::from(token)));
        Spawn::new(oqtoctl_bin())
            .envs(vars)
            .current_dir(self.laptop.work())
            .args(args)
    }

    fn laptop_run_with(&self, args: &[&str], token: &str) -> Output {
        finish(self.laptop_command(args, token))
    }

    fn laptop_run(&self, args: &[&str]) -> Output {
        self.laptop_run_with(args, &self.token)
    }

    /// The server's workspace, as an absolute path on the server.
    fn work(&self) -> String {
        self.ctl.env.work().to_string_lossy().into_owned()
    }

    /// How many chat completions the fake LLM was asked for.
    fn llm_requests(&self) -> usize {
        std::fs::read_to_string(&self.llm_log).map_or(0, |t| t.lines().count())
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.stop_relay();
    }
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A JSON line with what differs between two runs of the same turn (ids, times, seqs
/// numbering) replaced by placeholders.
fn normalized(line: &Value) -> Value {
    match line {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "id" | "session" | "message" | "part" | "ts" | "created_at"
                        | "updated_at" | "started_at" | "ended_at" | "last_activity"
                        | "duration_ms" | "client_msg_id" | "tool_call_id" | "title"
                            if !v.is_object() && !v.is_array() =>
                        {
                            Value::String("*".into())
                        }
                        _ => normalized(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::String(s) if ["ses_", "msg_", "prt_"].iter().any(|p| s.starts_with(p)) => {
            Value::String("*".into())
        }
        other => other.clone(),
    }
}

#[test]
fn a_prompt_through_the_relay_prints_what_a_local_one_prints() {
    let remote = Remote::start();
    let work = remote.work();
    let local = remote
        .ctl
        .run(&["prompt", "--cwd", &work, "--title", "t", "hello relay"]);
    assert_eq!(local.status.code(), Some(0), "{}", describe(&local));
    let far = remote.laptop_run(&["prompt", "--cwd", &work, "--title", "t", "hello relay"]);
    assert_eq!(far.status.code(), Some(0), "{}", describe(&far));
    let local_lines: Vec<Value> = json_lines(&local).iter().map(normalized).collect();
    let far_lines: Vec<Value> = json_lines(&far).iter().map(normalized).collect();
    assert!(
        far_lines
            .iter()
            .any(|l| l["type"] == "message.end" && l.to_string().contains("echo: hello relay")),
        "{}",
        describe(&far)
    );
    assert_eq!(local_lines, far_lines);

    // The session list and its messages, as the runner's machine sees them.
    let sessions = remote.laptop_run(&["sessions", "--json"]);
    assert_eq!(sessions.status.code(), Some(0), "{}", describe(&sessions));
    let listed = json_lines(&sessions);
    assert_eq!(listed.len(), 2, "{}", describe(&sessions));
    assert_eq!(
        String::from_utf8_lossy(&sessions.stdout),
        remote.ctl.ok(&["sessions", "--json"])
    );
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let messages = remote.laptop_run(&["messages", &id, "--json"]);
    assert_eq!(messages.status.code(), Some(0), "{}", describe(&messages));
    assert_eq!(
        String::from_utf8_lossy(&messages.stdout),
        remote.ctl.ok(&["messages", &id, "--json"])
    );
    // A missing session: the same exit code (4) as here.
    let missing = remote.laptop_run(&["messages", "ses_nothere"]);
    assert_eq!(missing.status.code(), Some(4), "{}", describe(&missing));
    let status = remote.laptop_run(&["runner", "status", "--json"]);
    assert_eq!(status.status.code(), Some(0), "{}", describe(&status));
}

#[test]
fn tokens_urls_and_local_commands_fail_clearly_with_their_exit_codes() {
    let remote = Remote::start();
    // A wrong token, then a revoked one: 403, exit 8, said as such.
    let wrong = remote.laptop_run_with(&["sessions"], "oqto_not_a_token");
    assert_eq!(wrong.status.code(), Some(8), "{}", describe(&wrong));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("refused the connection (HTTP 403)") && stderr.contains("revoked"),
        "{stderr}"
    );

    // No token at all: a usage error before any connection.
    let mut vars = remote.laptop.vars();
    vars.push(("OQTO_RELAY".into(), remote.url.clone().into()));
    let none = finish(Spawn::new(oqtoctl_bin()).envs(vars).args(["sessions"]));
    assert_eq!(none.status.code(), Some(2), "{}", describe(&none));
    assert!(String::from_utf8_lossy(&none.stderr).contains("OQTO_TOKEN"));
    // …except for what never goes through a relay: that is said first.
    let mut vars = remote.laptop.vars();
    vars.push(("OQTO_RELAY".into(), remote.url.clone().into()));
    let web = finish(Spawn::new(oqtoctl_bin()).envs(vars).args(["web"]));
    assert_eq!(web.status.code(), Some(2), "{}", describe(&web));
    assert!(String::from_utf8_lossy(&web.stderr).contains("not through a relay"));

    // A bad URL (2), and a relay that does not answer (3).
    let bad = remote.laptop_run(&["--relay", "oqto.example.com", "sessions"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad relay URL"));
    let closed = format!("http://127.0.0.1:{}", free_port());
    let gone = remote.laptop_run(&["--relay", &closed, "sessions"]);
    assert_eq!(gone.status.code(), Some(3), "{}", describe(&gone));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("cannot reach the relay"));

    // What only works on the runner's machine says so (2).
    for args in [
        &["runner", "start"][..],
        &["runner", "logs"],
        &["web"],
        &["token", "list"],
    ] {
        let out = remote.laptop_run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not through a relay"),
            "{args:?}: {}",
            describe(&out)
        );
    }
    // A relative --cwd means nothing on another machine.
    let relative = remote.laptop_run(&["prompt", "--cwd", ".", "hi"]);
    assert_eq!(relative.status.code(), Some(2), "{}", describe(&relative));

    // The token works until it is revoked.
    assert_eq!(remote.laptop_run(&["sessions"]).status.code(), Some(0));
    remote.ctl.ok(&["token", "revoke", "laptop"]);
    let revoked = remote.laptop_run(&["sessions"]);
    assert_eq!(revoked.status.code(), Some(8), "{}", describe(&revoked));
    assert!(String::from_utf8_lossy(&revoked.stderr).contains("HTTP 403"));
}

#[test]
fn doctor_checks_the_relay_and_the_runner_behind_it() {
    let remote = Remote::start();
    let out = remote.laptop_run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let checks = json_lines(&out);
    let relay = checks.iter().find(|c| c["name"] == "relay").unwrap();
    assert_eq!(relay["status"], "ok", "{relay}");
    assert!(
        relay["detail"]
            .as_str()
            .unwrap()
            .contains("token accepted (loopback)"),
        "{relay}"
    );
    let runner = checks.iter().find(|c| c["name"] == "runner").unwrap();
    assert_eq!(runner["status"], "ok", "{runner}");
    let refused = remote.laptop_run_with(&["doctor"], "oqto_wrong");
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(
        text.contains("[FAIL] relay") && text.contains("403"),
        "{text}"
    );
}

/// `oqtoctl shell` and `terminals` through the relay's `terminal` channel: a shell under a
/// real pseudo-terminal on the laptop, detached, listed, attached again with its
/// scrollback, and its exit code passed through; then a shell on a pipe.
#[test]
fn shell_and_terminals_through_the_relay() {
    let remote = Remote::start();
    let work = remote.work();
    let token = remote.token.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (mut child, pty) = remote
            .laptop_command(&["shell", "--cwd", &work, "--", "/bin/sh"], &token)
            .spawn_pty(80, 24)
            .unwrap();
        let mut seen = Vec::new();
        write(&pty, b"echo far-$((40+2))\r").await;
        read_until(&pty, &mut seen, "far-42").await;
        pty.resize(100, 30).unwrap();
        write(&pty, b"stty size\r").await;
        read_until(&pty, &mut seen, "30 100").await;
        write(&pty, b"\x1dd").await;
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(0));
    });
    let listed = remote.laptop_run(&["terminals", "--json"]);
    assert_eq!(listed.status.code(), Some(0), "{}", describe(&listed));
    let listed = json_lines(&listed);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["cwd"].as_str(), Some(work.as_str()));
    runtime.block_on(async {
        let (mut child, pty) = remote
            .laptop_command(&["shell", "--attach", &id], &token)
            .spawn_pty(100, 30)
            .unwrap();
        let mut seen = Vec::new();
        read_until(&pty, &mut seen, "far-42").await;
        write(&pty, b"exit 7\r").await;
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(7), "{}", String::from_utf8_lossy(&seen));
    });
    assert!(remote.ctl.ok(&["terminals", "--json"]).is_empty());

    let piped = finish_input(
        remote.laptop_command(
            &[
                "shell",
                "--cwd",
                &work,
                "--",
                "/bin/sh",
                "-c",
                "read x; echo got-$x; exit 3",
            ],
            &token,
        ),
        "abc\n",
    );
    assert_eq!(piped.status.code(), Some(3), "{}", describe(&piped));
    assert!(String::from_utf8_lossy(&piped.stdout).contains("got-abc"));
}

/// Runs `spawn` to the end with `input` on stdin.
fn finish_input(spawn: Spawn, input: &str) -> Output {
    let mut child = spawn
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start oqtoctl");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    child.wait_with_output().expect("wait for oqtoctl")
}

/// The relay restarts in the middle of a turn: `oqtoctl prompt` reconnects, resumes after
/// the last seq it printed and sends the prompt again with the same `client_msg_id`; the
/// runner answers the repeat without running it, so the turn runs once and the output has
/// every event once.
#[test]
fn a_prompt_survives_a_relay_restart_and_runs_once() {
    let mut remote = Remote::start();
    let work = remote.work();
    let mut child = remote
        .laptop_command(
            &["prompt", "--cwd", &work, "slow:60"],
            &remote.token.clone(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start oqtoctl");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let delta = line.contains("part.delta");
        out.push(line);
        if delta {
            break;
        }
    }
    remote.stop_relay();
    remote.launch_relay();
    out.extend(lines.map(Result::unwrap));
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}\n{}", out.join("\n"));
    assert!(stderr.contains("reconnecting"), "{stderr}");

    let events: Vec<Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs repeat or go back: {seqs:?}"
    );
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "part.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert!(text.contains("word60"), "every word arrived once: {text}");

    // One user message, one answer, one request to the model.
    let session = events[0]["session"].as_str().unwrap().to_owned();
    let messages = remote.ctl.ok(&["messages", &session, "--json"]);
    let roles: Vec<String> = messages
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["role"].to_string())
        .collect();
    assert_eq!(roles, ["\"user\"", "\"assistant\""], "{messages}");
    assert_eq!(remote.llm_requests(), 1);
}

/// A private CA and a certificate for `localhost` / 127.0.0.1 signed by it, made with
/// `openssl` in `dir`: the CA's PEM, the leaf's and its key's.
fn private_ca(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &str| {
        let out = finish(
            Spawn::new("openssl")
                .current_dir(dir)
                .args(args.split_whitespace()),
        );
        assert!(out.status.success(), "openssl {args}: {}", describe(&out));
    };
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(&format!(
        "req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj /CN=oqto-test-CA"
    ));
    openssl(&format!(
        "req {key} -keyout leaf.key -out leaf.csr -subj /CN=localhost"
    ));
    openssl(
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile leaf.ext",
    );
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

/// A TLS terminator on a free port in front of `backend` (as nginx or Caddy would be in
/// front of the relay), serving `cert`/`key`; runs until the test ends.
fn tls_proxy(backend: String, cert: &std::path::Path, key: &std::path::Path) -> u16 {
    use rustls_pki_types::pem::PemObject as _;
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(key).unwrap();
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let backend = backend.clone();
                tokio::spawn(async move {
                    // A refused handshake (an untrusted certificate) just ends here.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
    port
}

/// `https://` end to end: the relay behind a TLS terminator whose certificate a private CA
/// signed. With that CA in `OQTO_RELAY_CA` the commands work (and doctor says TLS); without
/// it the certificate is not trusted and nothing is sent.
#[test]
fn https_with_a_private_ca_works_and_without_it_is_refused() {
    let remote = Remote::start();
    let (ca, cert, key) = private_ca(remote.ctl.env.root());
    let backend = remote.url.trim_start_matches("http://").to_owned();
    let port = tls_proxy(backend, &cert, &key);
    let url = format!("https://localhost:{port}");
    let ca_arg = ca.to_string_lossy().into_owned();
    let sessions =
        remote.laptop_run(&["--relay", &url, "--relay-ca", &ca_arg, "sessions", "--json"]);
    assert_eq!(sessions.status.code(), Some(0), "{}", describe(&sessions));
    let doctor = remote.laptop_run(&["--relay", &url, "--relay-ca", &ca_arg, "doctor"]);
    assert_eq!(doctor.status.code(), Some(0), "{}", describe(&doctor));
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.contains("wss://localhost:") && text.contains("token accepted (TLS)"),
        "{text}"
    );
    let untrusted = remote.laptop_run(&["--relay", &url, "sessions"]);
    assert_eq!(untrusted.status.code(), Some(3), "{}", describe(&untrusted));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(
        stderr.contains("cannot reach the relay") && stderr.contains("certificate"),
        "{stderr}"
    );
    // A CA file that holds no certificate is a usage error.
    let bogus = remote.ctl.env.write("bogus.pem", "not a certificate\n");
    let bad = remote.laptop_run(&[
        "--relay",
        &url,
        "--relay-ca",
        &bogus.to_string_lossy(),
        "sessions",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
}
