//! `oqtoctl web`, `token` and `password`: they run `oqto-relay` (built next to oqtoctl).

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oqto_testkit::wait_until;
use serde_json::Value;

use crate::support::{Ctl, describe, sibling};

/// Stops the relay `oqtoctl web` started, from its `relay.json`, even when a test fails.
struct RelayGuard(PathBuf);

impl RelayGuard {
    fn pid(&self) -> Option<Pid> {
        let text = std::fs::read_to_string(&self.0).ok()?;
        let json: Value = serde_json::from_str(&text).ok()?;
        Some(Pid::from_raw(i32::try_from(json["pid"].as_i64()?).ok()?))
    }
}

impl Drop for RelayGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = kill(pid, Signal::SIGTERM);
            wait_until(Duration::from_secs(30), || kill(pid, None).is_err());
        }
    }
}

fn ctl_with_relay() -> (Ctl, RelayGuard) {
    let mut ctl = Ctl::new();
    ctl.env.write(
        "config/oqto/relay.toml",
        "[relay]\nlisten = \"127.0.0.1:0\"\n",
    );
    ctl.vars
        .push(("OQTO_RELAY_BIN".into(), sibling("oqto-relay").into()));
    let guard = RelayGuard(ctl.env.runtime_dir().join("oqto/relay.json"));
    (ctl, guard)
}

#[test]
fn web_starts_a_relay_once_and_prints_a_fresh_link_each_time() {
    let (ctl, guard) = ctl_with_relay();
    let first = ctl.ok(&["web"]);
    let first = first.trim();
    assert!(first.starts_with("http://127.0.0.1:"), "{first}");
    let (url, token) = first.split_once("/login?token=").expect("a login link");
    assert_eq!(token.len(), 64, "{first}");
    let pid = guard.pid().expect("relay.json names the relay");
    let second = ctl.ok(&["web"]);
    let second = second.trim();
    assert_ne!(first, second, "each link is new");
    assert!(
        second.starts_with(&format!("{url}/login?token=")),
        "{second}"
    );
    assert_eq!(guard.pid(), Some(pid), "the running relay was reused");
    // doctor finds it; no runner answers it yet (the relay starts one for a WebSocket).
    let checks = crate::support::json_lines(&ctl.run(&["--no-autostart", "doctor", "--json"]));
    let relay = checks
        .iter()
        .find(|c| c["name"] == "relay")
        .expect("a relay check");
    assert_eq!(relay["status"], "warn", "{relay}");
    assert!(
        relay["detail"].as_str().unwrap().starts_with(url),
        "{relay}"
    );
}

#[test]
fn token_create_list_revoke() {
    let (ctl, _guard) = ctl_with_relay();
    let token = ctl.ok(&["token", "create", "--name", "ci"]);
    assert!(token.trim().starts_with("oqto_"), "{token}");
    let list = ctl.ok(&["token", "list", "--json"]);
    let line: Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    assert_eq!(line["name"], "ci", "{list}");
    assert!(!list.contains(token.trim()), "no secret in the list");
    ctl.ok(&["token", "revoke", "ci"]);
    let again = ctl.run(&["token", "revoke", "ci"]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    let bad = ctl.run(&["token", "create", "--expires", "soon"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
}

#[test]
fn password_runs_the_relays_with_stdin() {
    let (ctl, _guard) = ctl_with_relay();
    let set = ctl.run_input(&["password"], "long enough password\n");
    assert!(set.status.success(), "{}", describe(&set));
    assert!(
        String::from_utf8_lossy(&set.stderr).contains("password set for"),
        "{}",
        describe(&set)
    );
    let again = ctl.run_input(&["password"], "another long password\n");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("password changed for"),
        "{}",
        describe(&again)
    );
    let short = ctl.run_input(&["password"], "short\n");
    assert_eq!(short.status.code(), Some(2), "{}", describe(&short));
    let stranger = ctl.run_input(&["password", "--name", "someone-else"], "long enough\n");
    assert_eq!(stranger.status.code(), Some(2), "{}", describe(&stranger));
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {checks:?}"))
}

#[test]
fn doctor_checks_a_tls_relay_with_its_own_certificate_and_lists_the_origins() {
    let (ctl, _guard) = ctl_with_relay();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = ctl.env.write("tls/cert.pem", made.cert.pem());
    let key = ctl
        .env
        .write("tls/key.pem", made.signing_key.serialize_pem());
    ctl.env.write(
        "config/oqto/relay.toml",
        format!(
            "[relay]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nallowed_origins = [\"https://oqto.example.com\", \"http://lan.example:8420\"]\n",
            cert.display(),
            key.display()
        ),
    );
    let link = ctl.ok(&["web"]);
    assert!(link.trim().starts_with("https://127.0.0.1:"), "{link}");
    // With a runner up, /healthz over TLS (pinned to the announced certificate) says 200.
    ctl.ok(&["runner", "start"]);
    let checks = crate::support::json_lines(&ctl.run(&["doctor", "--json"]));
    let relay = check(&checks, "relay");
    assert_eq!(relay["status"], "ok", "{relay}");
    assert!(
        relay["detail"].as_str().unwrap().starts_with("https://"),
        "{relay}"
    );
    let tls = check(&checks, "tls");
    assert_eq!(tls["status"], "ok", "{tls}");
    assert!(
        tls["detail"]
            .as_str()
            .unwrap()
            .contains(&cert.display().to_string()),
        "{tls}"
    );
    let origins = check(&checks, "origins");
    assert_eq!(
        origins["status"], "warn",
        "an http origin off loopback: {origins}"
    );
    let detail = origins["detail"].as_str().unwrap();
    assert!(
        detail.contains("https://oqto.example.com") && detail.contains("http://lan.example:8420"),
        "{origins}"
    );

    // A certificate file that no longer matches what the relay serves is found out.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    ctl.env.write("tls/cert.pem", other.cert.pem());
    let checks = crate::support::json_lines(&ctl.run(&["doctor", "--json"]));
    let relay = check(&checks, "relay");
    assert_eq!(relay["status"], "fail", "{relay}");
    assert!(
        relay["detail"]
            .as_str()
            .unwrap()
            .contains("another certificate"),
        "{relay}"
    );
    ctl.ok(&["runner", "stop"]);
}

#[test]
fn doctor_warns_about_plain_http_off_loopback() {
    let (ctl, _guard) = ctl_with_relay();
    ctl.env.write(
        "config/oqto/relay.toml",
        "[relay]\nlisten = \"0.0.0.0:0\"\n",
    );
    ctl.ok(&["web"]);
    let checks = crate::support::json_lines(&ctl.run(&["--no-autostart", "doctor", "--json"]));
    let tls = check(&checks, "tls");
    assert_eq!(tls["status"], "warn", "{tls}");
    let detail = tls["detail"].as_str().unwrap();
    assert!(
        detail.contains("not loopback") && detail.contains("unencrypted"),
        "{tls}"
    );
    assert!(
        tls["hint"].as_str().unwrap().contains("--tls-cert"),
        "{tls}"
    );
    let origins = check(&checks, "origins");
    assert_eq!(origins["status"], "ok", "{origins}");
    assert!(
        origins["detail"]
            .as_str()
            .unwrap()
            .contains("none configured"),
        "{origins}"
    );
    // On loopback (the default of these tests) plain HTTP is fine.
    let (local, _guard) = ctl_with_relay();
    local.ok(&["web"]);
    let checks = crate::support::json_lines(&local.run(&["--no-autostart", "doctor", "--json"]));
    assert_eq!(check(&checks, "tls")["status"], "ok");
}
