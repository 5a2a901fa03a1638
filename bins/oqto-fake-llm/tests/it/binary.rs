//! The `oqto-fake-llm` binary as a real process.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oqto_ipc::spawn::{Spawn, terminate_blocking};
use oqto_testkit::{TestEnv, wait_until};
use serde_json::Value;

use crate::support::{DEADLINE, http};

const BIN: &str = env!("CARGO_BIN_EXE_oqto-fake-llm");

fn spawn(env: &TestEnv, args: &[&str]) -> Child {
    Spawn::new(BIN)
        .args(args)
        .envs(env.vars())
        .current_dir(env.work())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oqto-fake-llm")
}

/// Waits (with the deadline) for the child to exit and returns its status.
fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let mut status = None;
    let exited = wait_until(DEADLINE, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    if !exited {
        let _ = terminate_blocking(child, Duration::from_secs(1));
        panic!("oqto-fake-llm did not exit");
    }
    status.expect("exited")
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

#[test]
fn binary_announces_its_url_serves_and_exits_0_on_sigterm() {
    let env = TestEnv::new();
    let port_file = env.root().join("run/llm.port");
    std::fs::create_dir_all(port_file.parent().unwrap()).unwrap();
    let mut child = spawn(
        &env,
        &[
            "--port",
            "0",
            "--port-file",
            port_file.to_str().unwrap(),
            "-v",
        ],
    );

    // The first stdout line is the base URL, printed once the socket listens.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the URL line");
    let url = line.trim_end();
    let addr: SocketAddr = url
        .strip_prefix("http://")
        .and_then(|s| s.strip_suffix("/v1"))
        .unwrap_or_else(|| panic!("unexpected URL line {line:?}"))
        .parse()
        .expect("host:port");
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    assert!(
        wait_until(DEADLINE, || port_file.exists()),
        "port file written"
    );
    let port = std::fs::read_to_string(&port_file).unwrap();
    assert_eq!(port.trim(), addr.port().to_string());

    let health = http(addr, "GET", "/health", None);
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
    let reply = http(
        addr,
        "POST",
        "/v1/chat/completions",
        Some(br#"{"model":"oqto-demo","messages":[{"role":"user","content":"hi"}]}"#),
    );
    assert_eq!(reply.json()["choices"][0]["message"]["content"], "echo: hi");

    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let status = wait_exit(&mut child);
    let stderr = stderr_of(&mut child);
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status:?}; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("SIGTERM"),
        "logs the signal with -v:\n{stderr}"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "exactly one line on stdout");
    assert!(!port_file.exists(), "port file removed on exit");
}

#[test]
fn binary_refuses_a_non_loopback_host() {
    let env = TestEnv::new();
    let mut child = spawn(&env, &["--host", "0.0.0.0", "--port", "0"]);
    let status = wait_exit(&mut child);
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(2), "usage error; stderr:\n{stderr}");
    assert!(
        stderr.contains("oqto-fake-llm: error: refusing to listen on 0.0.0.0"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn pi_config_prints_the_models_json() {
    let env = TestEnv::new();
    let (code, out, err) = run_to_end(
        &env,
        &["pi-config", "--base-url", "http://127.0.0.1:4000/v1"],
    );
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).expect("pi-config prints JSON");
    assert_eq!(v, oqto_fake_llm::pi_models_json("http://127.0.0.1:4000/v1"));
    let demo = &v["providers"]["demo"];
    assert_eq!(demo["baseUrl"], "http://127.0.0.1:4000/v1");
    let ids: Vec<&str> = demo["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["oqto-demo", "oqto-demo-2", "oqto-demo-think"]);
}

/// Runs the binary to its end: (exit code, stdout, stderr).
fn run_to_end(env: &TestEnv, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = spawn(env, args);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = wait_exit(&mut child);
    (status.code(), out, stderr_of(&mut child))
}

#[test]
fn agent_env_prints_shell_assignments_for_a_private_home() {
    let env = TestEnv::new();
    let url = "http://127.0.0.1:4000/v1";
    let (code, out, err) = run_to_end(
        &env,
        &[
            "agent-env",
            "claude",
            "--base-url",
            url,
            "--home",
            "/tmp/a home",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"ANTHROPIC_BASE_URL=http://127.0.0.1:4000"),
        "{out}"
    );
    assert!(
        lines.contains(&"CLAUDE_CONFIG_DIR='/tmp/a home/.claude'"),
        "{out}"
    );
    let (code, out, _) = run_to_end(
        &env,
        &["agent-env", "gemini", "--base-url", url, "--home", "/h"],
    );
    assert_eq!(code, Some(0));
    assert!(
        out.contains("GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:4000\n"),
        "{out}"
    );
    assert!(out.contains("GEMINI_CLI_HOME=/h\n"), "{out}");
    let (code, out, _) = run_to_end(
        &env,
        &["agent-env", "codex", "--base-url", url, "--home", "/h"],
    );
    assert_eq!(code, Some(0));
    assert_eq!(out, "CODEX_HOME=/h/.codex\n");
    let (code, _, err) = run_to_end(
        &env,
        &["agent-env", "pi", "--base-url", url, "--home", "/h"],
    );
    assert_eq!(code, Some(2), "an unknown agent is a usage error");
    assert!(err.contains("claude") && err.contains("codex"), "{err}");
}

#[test]
fn agent_config_prints_the_file_each_agent_reads() {
    let env = TestEnv::new();
    let url = "http://127.0.0.1:4000/v1";
    let (code, out, err) = run_to_end(&env, &["agent-config", "codex", "--base-url", url]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, oqto_fake_llm::agents::codex_config_toml(url));
    assert!(
        out.contains("base_url = \"http://127.0.0.1:4000/v1\""),
        "{out}"
    );
    let (code, out, _) = run_to_end(&env, &["agent-config", "gemini", "--base-url", url]);
    assert_eq!(code, Some(0));
    let settings: Value = serde_json::from_str(&out).expect("settings.json");
    assert_eq!(settings["model"]["name"], "oqto-demo");
    let (code, out, err) = run_to_end(&env, &["agent-config", "claude", "--base-url", url]);
    assert_eq!(code, Some(2), "{out}");
    assert!(err.contains("agent-env claude"), "{err}");
}
