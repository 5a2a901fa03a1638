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
