//! Every harness runs through `oqto-sandbox`: the policy is enforced on what the agent's
//! tools do, stored with the session, and there is no unconfined fallback.

use oqto_testkit::TestEnv;
use serde_json::{Value, json};

use crate::pi::Pi;
use crate::support::{Runner, agents, assistant_texts, runner_bin};

const SECRET: &str = "SECRET-KEY-MATERIAL-0815";

/// The rules of one list in the stored policy, with the levels they came from.
fn rules(policy: &Value, list: &str) -> Vec<(String, Vec<String>)> {
    policy[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} in {policy}"))
        .iter()
        .map(|r| {
            let levels = r["from"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["level"].as_str().unwrap().to_owned())
                .collect();
            (r["rule"].as_str().unwrap().to_owned(), levels)
        })
        .collect()
}

fn tool_output(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "tool.end")
        .map(|e| e["part"]["output"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn pi_tools_run_confined_and_session_get_shows_the_policy() {
    let env = TestEnv::new();
    let home = env.home();
    env.write("home/.ssh/id_ed25519", SECRET);
    // The runner's state under home (where it is by default): hidden from the agent.
    let state = home.join(".local/state");
    std::fs::create_dir_all(state.join("oqto")).unwrap();
    std::fs::write(state.join("oqto/runner.log"), "runner log line").unwrap();
    let pi = Pi::start_with(
        env,
        "",
        vec![("XDG_STATE_HOME".into(), state.clone().into_os_string())],
    );
    let mut c = pi.runner.client();
    let work = pi.runner.work();
    let session = c.create("pi", &work);

    let script = format!(
        "tool:bash cat {home}/.ssh/id_ed25519; cat {state}/oqto/runner.log; \
         echo planted > {home}/planted; echo inside > {work}/made-inside; echo finished",
        home = home.display(),
        state = state.display(),
    );
    let events = c.turn(&session, &script);
    let output = tool_output(&events);
    assert!(output.contains("finished"), "{events:#?}");
    assert!(!output.contains(SECRET), "the ssh key was read: {output}");
    assert!(
        !output.contains("runner log line"),
        "runner state read: {output}"
    );
    assert!(!home.join("planted").exists(), "home was written");
    assert_eq!(
        std::fs::read_to_string(format!("{work}/made-inside")).unwrap(),
        "inside\n",
        "the workspace is writable"
    );

    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["sandbox_profile"], "development");
    let policy = &info["sandbox"];
    assert_eq!(policy["version"], 1, "{info}");
    assert_eq!(policy["enabled"], true);
    assert_eq!(policy["profile"]["name"], "development");
    assert_eq!(
        policy["workspace"].as_str().unwrap(),
        std::fs::canonicalize(&work).unwrap().to_str().unwrap()
    );
    // pi's install prefix (outside home and /usr) is exposed by the runner, as the caller.
    let pi_prefix = oqto_testkit::pi_bin()
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap()
        .to_owned();
    let reads = rules(policy, "allow_read");
    assert!(
        reads
            .iter()
            .any(|(rule, from)| *rule == pi_prefix.to_str().unwrap() && from == &["caller"]),
        "{reads:?}"
    );
    let denies = rules(policy, "deny_read");
    assert!(
        denies.iter().any(
            |(rule, from)| *rule == state.join("oqto").to_str().unwrap() && from == &["caller"]
        ),
        "{denies:?}"
    );
    // The session list stays small: the policy is only in `session.get`.
    let list = c.ok(json!({"type":"session.list"}));
    assert!(list.get("sandbox").is_none() && list["sessions"][0].get("sandbox").is_none());
}

#[test]
fn a_session_profile_is_enforced_and_an_unknown_one_fails_clearly() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let strict = c.ok(json!({
        "type":"session.create","harness":"fake","cwd":work,"sandbox_profile":"strict"
    }));
    let id = strict["session"]["id"].as_str().unwrap().to_owned();
    c.ok(json!({"type":"session.subscribe","session":id}));
    let events = c.turn(&id, "hello");
    assert_eq!(assistant_texts(&events), ["echo: hello"]);
    let info = c.ok(json!({"type":"session.get","session":id}));
    assert_eq!(info["sandbox"]["profile"]["name"], "strict");
    assert_eq!(info["sandbox"]["isolate_network"]["value"], true, "{info}");
    // A harness never gets the terminal option: its command runs in a new session.
    assert_eq!(info["sandbox"]["fixed"]["new_session"], true, "{info}");

    let (code, message) = c.error(json!({
        "type":"session.create","harness":"fake","cwd":work,"sandbox_profile":"nope"
    }));
    assert_eq!(code, "harness_failed");
    assert!(message.contains("no such profile"), "{message}");
}

#[test]
fn without_oqto_sandbox_no_harness_starts() {
    let runner = Runner::start("[runner]\nsandbox_command = \"/nonexistent/oqto-sandbox\"\n");
    let mut c = runner.client();
    let features = c.welcome["capabilities"].as_array().unwrap();
    assert!(!features.contains(&"sandbox".into()), "{features:?}");
    let work = runner.work();
    let (code, message) = c.error(json!({"type":"session.create","harness":"fake","cwd":work}));
    assert_eq!(code, "harness_failed");
    assert!(
        message.contains("cannot start the harness confined")
            && message.contains("/nonexistent/oqto-sandbox"),
        "{message}"
    );
    assert!(agents(runner.pid()).is_empty(), "nothing ran unconfined");
}

#[test]
fn an_oqto_sandbox_that_appears_later_is_found_at_the_next_session_start() {
    let env = TestEnv::new();
    let later = env.root().join("later/oqto-sandbox");
    let config = format!("[runner]\nsandbox_command = \"{}\"\n", later.display());
    let runner = Runner::start_in(env, &config, Vec::new());
    let mut c = runner.client();
    let work = runner.work();
    let (code, message) = c.error(json!({"type":"session.create","harness":"fake","cwd":work}));
    assert_eq!(code, "harness_failed");
    assert!(
        message.contains("cannot start the harness confined"),
        "{message}"
    );

    // Built (or installed) while the runner runs: no restart needed.
    let built = runner_bin().with_file_name("oqto-sandbox");
    std::fs::create_dir_all(later.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&built, &later).unwrap();
    let session = c.create("fake", &work);
    let events = c.turn(&session, "now confined");
    assert_eq!(assistant_texts(&events), ["echo: now confined"]);
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["sandbox"]["version"], 1, "{info}");
    let features = runner.client().welcome["capabilities"].clone();
    assert!(
        features.as_array().unwrap().contains(&"sandbox".into()),
        "{features}"
    );
}

#[test]
fn a_disabled_sandbox_is_recorded_with_the_session() {
    let env = TestEnv::new();
    env.write("config/oqto/sandbox.toml", "enabled = false\n");
    let runner = Runner::start_in(env, "", Vec::new());
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["sandbox"]["enabled"], false, "{info}");
    assert_eq!(info["sandbox"]["enabled_from"]["level"], "user", "{info}");
    let events = c.turn(&session, "still works");
    assert_eq!(assistant_texts(&events), ["echo: still works"]);
}

#[test]
fn the_policy_is_kept_across_a_runner_restart() {
    let mut runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    let before = c.ok(json!({"type":"session.get","session":session}))["sandbox"].clone();
    assert_eq!(before["version"], 1, "{before}");
    drop(c);
    assert_eq!(runner.stop().code(), Some(0));
    runner.spawn();
    let mut c = runner.client();
    let after = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(after["session"]["state"], "stopped", "{after}");
    assert_eq!(
        after["sandbox"], before,
        "the stored policy, before any new start"
    );
}
