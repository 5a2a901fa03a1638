//! The rest of the CLI: sessions, session show|rename|close|rm, messages, history,
//! runner start|status|stop|logs, doctor.

use serde_json::Value;

use crate::support::{Ctl, describe, json_lines};

fn one(text: &str) -> Value {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    serde_json::from_str(lines[0]).unwrap()
}

#[test]
fn sessions_can_be_listed_shown_renamed_closed_and_removed() {
    let ctl = Ctl::new();
    let a = ctl.ok(&["prompt", "-d", "alpha task"]).trim().to_owned();
    let b = ctl.ok(&["prompt", "-d", "beta task"]).trim().to_owned();
    let list = ctl.ok(&["sessions", "--json"]);
    let ids: Vec<String> = list
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    assert!(ids.contains(&a) && ids.contains(&b));
    let human = ctl.ok(&["sessions"]);
    assert!(human.starts_with("ID"), "{human}");
    assert!(
        human.contains("alpha task") && human.contains(&b),
        "{human}"
    );

    ctl.ok(&["session", "rename", &a, "renamed"]);
    let shown = one(&ctl.ok(&["session", "show", &a, "--json"]));
    assert_eq!(shown["title"], "renamed");
    assert_eq!(shown["harness"], "fake");
    // The effective sandbox policy the harness was started under.
    assert_eq!(shown["sandbox"]["version"], 1, "{shown}");
    assert_eq!(shown["sandbox"]["profile"]["name"], "development");
    let human = ctl.ok(&["session", "show", &a]);
    assert!(human.contains("title: renamed"), "{human}");
    assert!(human.contains("sandbox: development (confined)"), "{human}");
    assert!(human.contains("network: shared with the host"), "{human}");
    let hidden = human
        .lines()
        .find(|l| l.trim_start().starts_with("hidden:"))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(hidden.contains("/.ssh"), "{hidden}");

    ctl.ok(&["session", "close", &a]);
    assert_eq!(
        one(&ctl.ok(&["session", "show", &a, "--json"]))["state"],
        "stopped"
    );
    let stopped = ctl.ok(&["sessions", "--state", "stopped", "--json"]);
    assert_eq!(one(&stopped)["id"], a.as_str());
    // A closed session can be prompted again.
    assert_eq!(
        ctl.ok(&["prompt", "-s", &a, "-o", "final", "again"]),
        "echo: again\n"
    );

    ctl.ok(&["session", "rm", &a]);
    let out = ctl.run(&["session", "show", &a]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_eq!(ctl.ok(&["sessions", "--json"]).lines().count(), 1);
    let none = ctl.ok(&["sessions", "--harness", "pi"]);
    assert_eq!(none, "no sessions\n");
}

#[test]
fn messages_page_backwards() {
    let ctl = Ctl::new();
    let id = ctl.ok(&["prompt", "-d", "one"]).trim().to_owned();
    // Detached: the first turn may still be running (or not have started yet).
    assert!(
        oqto_testkit::wait_until(std::time::Duration::from_secs(30), || {
            ctl.ok(&["messages", &id, "--json"]).lines().count() == 2
                && one(&ctl.ok(&["session", "show", &id, "--json"]))["state"] == "idle"
        }),
        "the detached turn ended"
    );
    ctl.ok(&["prompt", "-s", &id, "-o", "final", "two"]);
    let newest = ctl.ok(&["messages", &id, "--json", "--limit", "2"]);
    let page: Vec<Value> = newest
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["parts"][0]["text"], "two");
    let older = ctl.ok(&[
        "messages",
        &id,
        "--json",
        "--before",
        page[0]["id"].as_str().unwrap(),
    ]);
    assert_eq!(older.lines().count(), 2, "{older}");
    let human = ctl.ok(&["messages", &id]);
    assert!(
        human.contains("you: one") && human.contains("echo: two"),
        "{human}"
    );
}

#[test]
fn history_search_finds_messages_as_a_table_or_json_lines() {
    let ctl = Ctl::new();
    ctl.ok(&["prompt", "-o", "final", "the quokka jumps"]);
    ctl.ok(&["prompt", "-o", "final", "nothing to see"]);
    let out = ctl.run(&["history", "search", "quokka", "--json"]);
    let hits = json_lines(&out);
    assert_eq!(hits.len(), 2, "{}", describe(&out));
    assert!(
        hits.iter()
            .all(|h| h["snippet"].as_str().unwrap().contains("[quokka]"))
    );
    let only_user = ctl.ok(&["history", "search", "quokka", "--role", "user", "--json"]);
    assert_eq!(only_user.lines().count(), 1);
    let table = ctl.ok(&["history", "search", "quok*"]);
    assert!(table.starts_with("WHEN"), "{table}");
    assert!(table.contains("[quokka]"), "{table}");
    assert_eq!(ctl.ok(&["history", "search", "zebra"]), "no matches\n");
    let out = ctl.run(&["history", "search", "\"unbalanced"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

/// A pi agent directory `name` under the test's root holding one session file that is not
/// a session.
fn pi_dir_with_one_broken_file(ctl: &Ctl, name: &str) -> std::path::PathBuf {
    let dir = ctl.env.root().join(name);
    let sessions = dir.join("sessions/--work--");
    std::fs::create_dir_all(&sessions).unwrap();
    std::fs::write(sessions.join("broken.jsonl"), "not json\n").unwrap();
    dir
}

#[test]
fn history_import_reads_a_pi_directory() {
    let ctl = Ctl::new();
    let dir = pi_dir_with_one_broken_file(&ctl, "pi-agent");
    let out = ctl.ok(&["history", "import", "pi", dir.to_str().unwrap()]);
    assert!(out.starts_with("1 file(s): 0 new session(s)"), "{out}");
    assert!(out.contains("skipped"), "{out}");
    let json = one(&ctl.ok(&["history", "import", "pi", dir.to_str().unwrap(), "--json"]));
    assert_eq!(json["type"], "imported");
    assert_eq!(json["files"], 1);
    // A DIR that is not a directory is a usage error that names it as such.
    let out = ctl.run(&["history", "import", "pi", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("pi directory /etc/passwd: not a directory"),
        "{said}"
    );
}

#[test]
fn history_import_defaults_to_the_agent_directory_pi_runs_with() {
    let ctl = Ctl::new();
    // pi's agent directory is set for the harness in runner.toml, not in the environment.
    let dir = pi_dir_with_one_broken_file(&ctl, "configured-agent");
    let config = ctl.env.root().join("config/oqto/runner.toml");
    let text = std::fs::read_to_string(&config).unwrap()
        + &format!(
            "[harness.pi]\nenv = {{ PI_CODING_AGENT_DIR = \"{}\" }}\n",
            dir.display()
        );
    std::fs::write(&config, text).unwrap();
    let json = one(&ctl.ok(&["history", "import", "pi", "--json"]));
    assert_eq!(json["files"], 1, "{json}");
    let skipped = json["skipped"][0]["path"].as_str().unwrap();
    assert!(skipped.starts_with(dir.to_str().unwrap()), "{json}");
}

#[test]
fn runner_start_status_stop_and_logs() {
    let ctl = Ctl::new();
    let out = ctl.run(&["--no-autostart", "runner", "status"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let out = ctl.run(&["runner", "start"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("started oqto-runner"));
    let out = ctl.run(&["runner", "start"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already answers"));
    let status = one(&ctl.ok(&["runner", "status", "--json"]));
    assert_eq!(status["sessions"], 0);
    let human = ctl.ok(&["runner", "status"]);
    assert!(human.contains("pid:"), "{human}");
    let logs = ctl.ok(&["runner", "logs"]);
    assert!(logs.contains("oqto-runner listening"), "{logs}");
    assert_eq!(ctl.ok(&["runner", "logs", "-n", "1"]).lines().count(), 1);
    let out = ctl.run(&["runner", "stop"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = ctl.run(&["--no-autostart", "sessions"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));
}

#[test]
fn doctor_reports_each_check() {
    let ctl = Ctl::new();
    let out = ctl.run(&["doctor", "--json"]);
    let checks = json_lines(&out);
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "config", "pi", "claude", "codex", "gemini", "opencode", "sandbox", "socket", "runner",
            "model", "relay"
        ],
        "{}",
        describe(&out)
    );
    // No key in this environment: demo mode, said as a warning with a fix.
    let model = &checks[9];
    // The ACP agents scripts/setup installs into .local/agents are found, with their versions
    // (from `--version`, or the npm package for the adapters that have no such flag).
    for (check, program, version) in [
        (&checks[2], "claude-agent-acp", "0.23.1"),
        (&checks[3], "codex-acp", "0.16.0"),
        (&checks[4], "gemini", "0.61.0"),
        (&checks[5], "opencode", "1.18.33"),
    ] {
        assert_eq!(check["status"], "ok", "{check}");
        let detail = check["detail"].as_str().unwrap();
        assert!(
            detail.contains(version) && detail.contains(program),
            "{check}"
        );
    }
    assert_eq!(model["status"], "warn");
    assert!(model["detail"].as_str().unwrap().contains("DEMO"));
    assert!(model["hint"].is_string());
    // With a key it is not demo mode.
    let mut ctl = ctl;
    ctl.vars
        .push(("ANTHROPIC_API_KEY".into(), "sk-test".into()));
    let checks = json_lines(&ctl.run(&["doctor", "--json"]));
    assert_eq!(checks[9]["status"], "ok");
    assert!(
        checks[9]["detail"]
            .as_str()
            .unwrap()
            .contains("ANTHROPIC_API_KEY")
    );
    let human = String::from_utf8(ctl.run(&["doctor"]).stdout).unwrap();
    assert!(human.contains("[ok  ] model"), "{human}");
    assert!(human.contains("[ok  ] pi"), "{human}");
    // A disabled agent is not checked.
    ctl.env.write(
        "config/oqto/runner.toml",
        format!(
            "[runner]\ndefault_harness = \"fake\"\n[harness.fake]\ncommand = \"{}\"\n[harness.gemini]\nenabled = false\n",
            crate::support::sibling("oqto-fake-agent").display()
        ),
    );
    let checks = json_lines(&ctl.run(&["doctor", "--json"]));
    assert!(checks.iter().all(|c| c["name"] != "gemini"), "{checks:?}");
    assert!(checks.iter().any(|c| c["name"] == "codex"));
}

#[test]
fn steer_and_follow_up_reach_a_running_turn() {
    use std::io::{BufRead, BufReader};
    let ctl = Ctl::new();
    let mut child = ctl.spawn(&["prompt", "slow"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let id = first["session"].as_str().unwrap().to_owned();
    for line in lines.by_ref() {
        if line.unwrap().contains("part.delta") {
            break;
        }
    }
    ctl.ok(&["follow-up", &id, "and then this"]);
    let out = ctl.run_input(&["steer", &id, "-"], "turn left");
    assert!(out.status.success(), "{}", describe(&out));
    let rest: Vec<Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let texts: Vec<&str> = rest
        .iter()
        .filter(|e| e["type"] == "message.end" && e["message"]["role"] == "assistant")
        .filter_map(|e| e["message"]["parts"][0]["text"].as_str())
        .collect();
    assert!(texts.contains(&"echo: turn left"), "{texts:?}");
    assert_eq!(texts.last(), Some(&"echo: and then this"), "{texts:?}");
    let out = ctl.run(&["steer", "ses_nope", "x"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
}

#[test]
fn models_lists_what_the_harness_offers() {
    let ctl = Ctl::new();
    let models = json_lines(&ctl.run(&["models", "--harness", "fake", "--json"]));
    assert!(!models.is_empty());
    assert!(
        models
            .iter()
            .all(|m| m["provider"].is_string() && m["id"].is_string())
    );
    // The short-lived session is gone again.
    assert_eq!(ctl.ok(&["sessions", "--json"]), "");
    let id = ctl.ok(&["prompt", "-d", "hi"]).trim().to_owned();
    let table = ctl.ok(&["models", "--session", &id]);
    assert!(table.starts_with("MODEL"), "{table}");
    assert_eq!(table.lines().count(), models.len() + 1);
}

/// Another user's runner: exit 8 with a clear message. Needs root (to act as `nobody`
/// with `setpriv`); CI runs as root.
#[test]
fn another_users_runner_is_permission_denied_exit_8() {
    if oqto_ipc::socket::current_uid() != 0 {
        eprintln!("skipped: needs root to act as another user");
        return;
    }
    let ctl = Ctl::new();
    ctl.ok(&["runner", "start"]);
    let socket = ctl.env.runtime_dir().join("oqto/runner.sock");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let out = oqto_ipc::spawn::Spawn::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(crate::support::oqtoctl_bin())
        .args(["--no-autostart", "--socket"])
        .arg(&socket)
        .arg("sessions")
        .env("HOME", "/nonexistent")
        .env("PATH", path)
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run setpriv")
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        describe(&out)
    );
}
