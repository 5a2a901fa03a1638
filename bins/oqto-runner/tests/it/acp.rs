//! ACP harnesses end to end: the real opencode (installed by scripts/setup into
//! `.local/agents`) against the project's fake LLM, under the real sandbox; and the scripted
//! ACP agent of `oqto-fake-agent --acp` for the faults no real agent shows on demand.

use std::path::PathBuf;
use std::time::Duration;

use oqto_fake_llm_core::{Background, Config};
use oqto_testkit::TestEnv;
use serde_json::{Value, json};

use crate::support::{Client, Runner, agents, assistant_texts, fake_agent_bin};

fn opencode_bin() -> PathBuf {
    let bin = oqto_testkit::workspace_root().join(".local/agents/bin/opencode");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/setup (it installs opencode)",
        bin.display()
    );
    bin
}

/// A runner with the real opencode as the `opencode` harness, configured through a private
/// `OPENCODE_CONFIG` file (never the user's own configuration) to use the fake LLM, with
/// `permission` as opencode's own permission rules.
struct Opencode {
    _llm: Background,
    log: PathBuf,
    runner: Runner,
}

impl Opencode {
    fn start(permission: &Value, runner_toml: &str) -> Self {
        let env = TestEnv::new();
        let log = env.root().join("llm.jsonl");
        let llm = Background::start(Config {
            slow_delay: Duration::from_millis(100),
            request_log: Some(log.clone()),
            ..Config::default()
        })
        .expect("start the fake LLM");
        let config = json!({
            "provider": {"fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake",
                "options": {"baseURL": llm.base_url(), "apiKey": "oqto-test"},
                "models": {"oqto-demo": {"name": "oqto-demo"}},
            }},
            "model": "fake/oqto-demo",
            "small_model": "fake/oqto-demo",
            "autoupdate": false,
            "share": "disabled",
            "permission": permission,
        });
        // Under HOME: the sandbox shows the home directory (read-only), not the test root.
        let file = env.write("home/opencode-test.json", config.to_string());
        std::fs::write(env.work().join("a.txt"), "contents of a\n").unwrap();
        let toml = format!(
            "[runner]\nsilence_timeout = \"60s\"\n{runner_toml}\n[harness.opencode]\ncommand = \"{}\"\n\
             env = {{ OPENCODE_CONFIG = \"{}\", OPENCODE_DISABLE_MODELS_FETCH = \"1\", \
             OPENCODE_DISABLE_AUTOUPDATE = \"1\", OPENCODE_DISABLE_LSP_DOWNLOAD = \"1\" }}\n",
            opencode_bin().display(),
            file.display()
        );
        let runner = Runner::start_in(env, &toml, Vec::new());
        Self {
            _llm: llm,
            log,
            runner,
        }
    }

    fn session(&self) -> (Client, String) {
        let mut c = self.runner.client();
        let session = c.create("opencode", &self.runner.work());
        (c, session)
    }
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn gap_free(events: &[Value]) {
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "seq gap in {seqs:?}");
    }
}

#[test]
fn opencode_text_and_tool_turns_are_stored_and_searchable() {
    let oc = Opencode::start(&json!({"bash": "allow"}), "");
    let (mut c, session) = oc.session();
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["model"]["provider"], "fake", "{info}");
    assert_eq!(info["session"]["model"]["id"], "oqto-demo");
    // Models come from opencode's `model` config option; setting one goes through
    // session/set_config_option.
    let models = c.ok(json!({"type":"get_models","session":session}));
    assert!(
        models["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["provider"] == "fake" && m["id"] == "oqto-demo"),
        "{models}"
    );
    let set = c.ok(json!({"type":"set_model","session":session,"model":"oqto-demo"}));
    assert_eq!(set["model"]["provider"], "fake", "{set}");
    let (code, _) = c.error(json!({"type":"set_model","session":session,"model":"no-such-model"}));
    assert_eq!(
        code, "bad_request",
        "as for pi: a model the harness does not offer"
    );

    let events = c.turn(&session, "hello opencode");
    gap_free(&events);
    assert_eq!(assistant_texts(&events), ["echo: hello opencode"]);
    assert!(!of(&events, "part.delta").is_empty());

    let events = c.turn(&session, "tool:bash cat a.txt");
    gap_free(&events);
    let end = of(&events, "tool.end");
    assert_eq!(end.len(), 1, "{events:#?}");
    assert_eq!(end[0]["part"]["status"], "done");
    assert_eq!(end[0]["part"]["output"], "contents of a\n");
    assert!(
        assistant_texts(&events).contains(&"done: contents of a".to_owned()),
        "{events:#?}"
    );
    // Stored as they ended, and found by search.
    let page = c.ok(json!({"type":"get_messages","session":session}));
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5, "{page}");
    let hits = c.ok(json!({"type":"history.search","query":"opencode"}));
    assert_eq!(hits["hits"][0]["session"], session.as_str(), "{hits}");
    // opencode asked for a title too: a request without tools, answered like any other.
    let requests = std::fs::read_to_string(&oc.log).unwrap();
    assert!(requests.lines().count() >= 4, "{requests}");
}

/// Waits for the next permission request and returns its id.
fn next_request(c: &mut Client) -> String {
    let events = c.events_until(|e| e["type"] == "permission.request");
    let request = events.last().unwrap();
    assert_eq!(request["tool"]["kind"], "execute", "{request}");
    c.events_until(|e| e["type"] == "state" && e["phase"] == "awaiting_permission");
    request["request"].as_str().unwrap().to_owned()
}

fn idle(c: &mut Client) -> Vec<Value> {
    c.events_until(|e| e["type"] == "state" && e["state"] == "idle")
}

#[test]
fn opencode_permissions_granted_refused_and_cancelled_by_abort() {
    let oc = Opencode::start(&json!({"bash": "ask"}), "");
    let (mut c, session) = oc.session();

    c.ok(json!({"type":"prompt","session":session,"text":"tool:bash cat a.txt"}));
    let request = next_request(&mut c);
    let (code, message) = c.error(
        json!({"type":"permission.reply","session":session,"request":request,"option":"maybe"}),
    );
    assert_eq!(code, "bad_request", "{message}");
    c.ok(json!({"type":"permission.reply","session":session,"request":request,"option":"once"}));
    let events = idle(&mut c);
    let resolved = of(&events, "permission.resolved");
    assert_eq!(resolved[0]["answered"]["by"], "user");
    assert_eq!(
        of(&events, "tool.end")[0]["part"]["output"],
        "contents of a\n"
    );

    c.ok(json!({"type":"prompt","session":session,"text":"tool:bash cat a.txt"}));
    let request = next_request(&mut c);
    c.ok(json!({"type":"permission.reply","session":session,"request":request,"option":"reject"}));
    let events = idle(&mut c);
    let end = of(&events, "tool.end");
    assert_eq!(end[0]["part"]["is_error"], true, "{events:#?}");
    // Answered already: a second reply names nothing.
    let (code, _) = c.error(
        json!({"type":"permission.reply","session":session,"request":request,"option":"once"}),
    );
    assert_eq!(code, "unknown_id");

    c.ok(json!({"type":"prompt","session":session,"text":"tool:bash cat a.txt"}));
    let request = next_request(&mut c);
    c.ok(json!({"type":"abort","session":session}));
    let events = idle(&mut c);
    let resolved = of(&events, "permission.resolved");
    assert_eq!(resolved[0]["request"], request.as_str());
    assert_eq!(resolved[0]["answered"]["by"], "abort");
    assert!(resolved[0].get("option").is_none());
    let last = of(&events, "message.end");
    assert_eq!(last.last().unwrap()["message"]["stop_reason"], "aborted");

    // The audit log has every request, its answer and who gave it, and the tool calls.
    let audit = c.ok(json!({"type":"audit.list","session":session}));
    let entries = audit["entries"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "permission.request").count(),
        3,
        "{audit}"
    );
    let answers: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["answered"]["by"].as_str())
        .collect();
    assert_eq!(answers, ["user", "user", "abort"], "{audit}");
    assert!(kinds.contains(&"tool.start") && kinds.contains(&"tool.end"));
    let found = c.ok(json!({"type":"audit.list","query":"CAT A.TXT"}));
    assert!(found["entries"].as_array().unwrap().len() >= 3, "{found}");
}

#[test]
fn opencode_policy_answers_without_asking() {
    let oc = Opencode::start(
        &json!({"bash": "ask"}),
        "[permissions]\nmode = \"ask\"\nallow = [\"execute\"]",
    );
    let (mut c, session) = oc.session();
    let events = c.turn(&session, "tool:bash cat a.txt");
    let resolved = of(&events, "permission.resolved");
    assert_eq!(resolved[0]["answered"]["by"], "policy", "{events:#?}");
    assert_eq!(resolved[0]["answered"]["rule"], "allow execute");
    assert!(
        !events.iter().any(|e| e["phase"] == "awaiting_permission"),
        "nobody was asked"
    );
    assert_eq!(
        of(&events, "tool.end")[0]["part"]["output"],
        "contents of a\n"
    );
}

#[test]
fn opencode_session_resumes_after_a_runner_restart() {
    let mut oc = Opencode::start(&json!({"bash": "allow"}), "");
    let (mut c, session) = oc.session();
    c.turn(&session, "remember the word pelican");
    assert_eq!(oc.runner.stop().code(), Some(0));
    oc.runner.spawn();
    let mut c = oc.runner.client();
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["state"], "stopped");
    c.ok(json!({"type":"session.subscribe","session":session}));
    let events = c.turn(&session, "and now");
    assert_eq!(assistant_texts(&events), ["echo: and now"], "{events:#?}");
    assert!(of(&events, "session.error").is_empty(), "{events:#?}");
    // opencode continued its own conversation: the model saw the first turn again.
    let requests = std::fs::read_to_string(&oc.log).unwrap();
    let last = requests
        .lines()
        .rev()
        .find(|l| l.contains("and now") && l.contains("\"tools\""))
        .expect("the second turn's request");
    assert!(last.contains("pelican"), "{last}");
}

/// A runner with `broken`, the scripted ACP agent, and a short silence timeout.
fn broken() -> Runner {
    Runner::start(&format!(
        "[runner]\nsilence_timeout = \"2s\"\n[harness.broken]\nkind = \"acp\"\ncommand = \"{}\"\nargs = [\"--acp\"]\n",
        fake_agent_bin().display()
    ))
}

#[test]
fn broken_acp_agents_end_in_error_with_a_reason_and_the_runner_lives() {
    let mut runner = broken();
    let mut c = runner.client();
    let work = runner.work();
    for (script, reason) in [
        ("crash", "exited with status 3"),
        ("hang", "wrote nothing for 2s"),
        ("garbage", "not ACP"),
        ("stray", "never sent"),
    ] {
        let session = c.create("broken", &work);
        let events = c.turn(&session, script);
        let state = events.last().unwrap();
        assert_eq!(state["state"], "error", "{script}: {events:#?}");
        assert!(
            state["reason"].as_str().unwrap().contains(reason),
            "{script}: {state}"
        );
        assert!(runner.exited().is_none(), "the runner died on {script}");
    }
    // The runner serves on, and a sound turn works.
    let session = c.create("broken", &work);
    let events = c.turn(&session, "still here");
    assert_eq!(assistant_texts(&events), ["echo: still here"]);
}

#[test]
fn a_scripted_permission_request_with_a_string_id_is_answered_exactly() {
    let runner = broken();
    let mut c = runner.client();
    let session = c.create("broken", &runner.work());
    c.ok(json!({"type":"prompt","session":session,"text":"ask"}));
    let events = c.events_until(|e| e["type"] == "permission.request");
    let request = events.last().unwrap()["request"]
        .as_str()
        .unwrap()
        .to_owned();
    c.ok(json!({"type":"permission.reply","session":session,"request":request,"option":"yes"}));
    let events = idle(&mut c);
    assert_eq!(assistant_texts(&events), ["granted: yes"]);
}

#[test]
fn a_workspace_permissions_file_only_tightens_and_a_bad_one_stops_the_start() {
    let runner = Runner::start(&format!(
        "[permissions]\nmode = \"ask\"\nallow = [\"edit\"]\n[harness.broken]\nkind = \"acp\"\ncommand = \"{}\"\nargs = [\"--acp\"]\n",
        fake_agent_bin().display()
    ));
    let mut c = runner.client();
    let work = PathBuf::from(runner.work());
    // The user's policy allows edits without asking.
    let session = c.create("broken", &runner.work());
    let events = c.turn(&session, "ask");
    assert_eq!(assistant_texts(&events), ["granted: yes"], "{events:#?}");
    // The workspace's file cannot allow more, but can refuse: its mode wins, its allow-list
    // is met with the user's.
    std::fs::create_dir_all(work.join(".oqto")).unwrap();
    std::fs::write(
        work.join(".oqto/permissions.toml"),
        "mode = \"reject\"\nallow = [\"read\"]\n",
    )
    .unwrap();
    let session = c.create("broken", &runner.work());
    let events = c.turn(&session, "ask");
    assert_eq!(assistant_texts(&events), ["granted: no"], "{events:#?}");
    let resolved = of(&events, "permission.resolved");
    assert_eq!(resolved[0]["answered"]["rule"], "mode reject");
    // A malformed file: the harness does not start, and the session says why.
    std::fs::write(
        work.join(".oqto/permissions.toml"),
        "mode = \"sometimes\"\n",
    )
    .unwrap();
    let result = c.request(json!({"type":"session.create","harness":"broken","cwd":runner.work()}));
    assert_eq!(result["type"], "error", "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("permissions.toml"),
        "{result}"
    );
}

/// Prompts the scripted agent's `ask` in a new session of `broken` and waits until the
/// request waits for a person; the session and the request id.
fn asking(c: &mut Client, runner: &Runner) -> (String, String) {
    let session = c.create("broken", &runner.work());
    c.ok(json!({"type":"prompt","session":session,"text":"ask"}));
    let events = c.events_until(|e| e["type"] == "state" && e["phase"] == "awaiting_permission");
    let request = of(&events, "permission.request")[0]["request"]
        .as_str()
        .unwrap()
        .to_owned();
    (session, request)
}

#[test]
fn a_pending_permission_request_is_in_the_snapshot_of_a_client_that_comes_later() {
    let runner = broken();
    let mut first = runner.client();
    let (session, request) = asking(&mut first, &runner);

    // A second client (a reloaded web page) learns of the request from the session alone.
    let mut later = runner.client();
    let info = later.ok(json!({"type":"session.get","session":session}));
    let pending = &info["session"]["permissions"];
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "{info}");
    assert_eq!(pending[0]["request"], request.as_str());
    assert_eq!(pending[0]["tool"]["call_id"], "t1");
    assert_eq!(pending[0]["tool"]["title"], "touch x");
    assert_eq!(pending[0]["tool"]["kind"], "edit");
    let options: Vec<&str> = pending[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(options, ["yes", "no"]);
    assert_eq!(info["session"]["phase"], "awaiting_permission");
    let list = later.ok(json!({"type":"session.list"}));
    assert_eq!(list["sessions"][0]["permissions"], *pending, "{list}");

    // It subscribes from now on and answers; both clients see who did.
    later.ok(json!({"type":"session.subscribe","session":session}));
    later.ok(json!({"type":"permission.reply","session":session,"request":request,"option":"yes"}));
    for c in [&mut first, &mut later] {
        let events = idle(c);
        let resolved = of(&events, "permission.resolved");
        assert_eq!(resolved[0]["request"], request.as_str(), "{events:#?}");
        assert_eq!(resolved[0]["answered"]["client"], "it/1");
        assert_eq!(assistant_texts(&events), ["granted: yes"]);
    }
    let info = later.ok(json!({"type":"session.get","session":session}));
    assert!(
        info["session"].get("permissions").is_none(),
        "answered: no longer pending: {info}"
    );
}

/// The audit entries of `session` that record a `permission.resolved`.
fn audited_resolutions(c: &mut Client, session: &str) -> Vec<Value> {
    let audit = c.ok(json!({"type":"audit.list","session":session}));
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "permission.resolved")
        .cloned()
        .collect()
}

fn assert_stopped(resolved: &Value, request: &str) {
    assert_eq!(resolved["request"], request, "{resolved}");
    assert_eq!(resolved["answered"]["by"], "stopped", "{resolved}");
    assert!(resolved.get("option").is_none(), "cancelled: {resolved}");
}

#[test]
fn a_permission_request_pending_when_the_harness_stops_is_resolved_and_audited() {
    let mut runner = broken();
    let mut c = runner.client();

    // Closed: the request is resolved before the session says it closed.
    let (session, request) = asking(&mut c, &runner);
    c.ok(json!({"type":"session.close","session":session}));
    let events = c.events_until(|e| e["type"] == "session.closed");
    let resolved = of(&events, "permission.resolved");
    assert_eq!(resolved.len(), 1, "{events:#?}");
    assert_stopped(resolved[0], &request);
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert!(info["session"].get("permissions").is_none(), "{info}");
    let audited = audited_resolutions(&mut c, &session);
    assert_eq!(audited.len(), 1, "{audited:#?}");
    assert!(
        audited[0]["summary"]
            .as_str()
            .unwrap()
            .ends_with("cancelled, answered by harness stopped"),
        "{audited:#?}"
    );

    // Deleted: the same, and the audit entry outlives the session.
    let (session, request) = asking(&mut c, &runner);
    c.ok(json!({"type":"session.delete","session":session}));
    let events = c.events_until(|e| e["type"] == "session.deleted");
    assert_stopped(of(&events, "permission.resolved")[0], &request);
    assert_eq!(audited_resolutions(&mut c, &session).len(), 1);

    // Crashed: the agent is killed while it waits.
    let (session, request) = asking(&mut c, &runner);
    for pid in agents(runner.pid()) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill the agent");
    }
    let events = c.events_until(|e| e["type"] == "state" && e["state"] == "error");
    assert_stopped(of(&events, "permission.resolved")[0], &request);
    assert_eq!(audited_resolutions(&mut c, &session).len(), 1);

    // The runner shuts down: the audit log has the answer when it comes back.
    let (session, request) = asking(&mut c, &runner);
    assert_eq!(runner.stop().code(), Some(0));
    runner.spawn();
    let mut c = runner.client();
    let audited = audited_resolutions(&mut c, &session);
    assert_eq!(audited.len(), 1, "{audited:#?}");
    assert_eq!(audited[0]["request"], request.as_str());
    assert_eq!(audited[0]["answered"]["by"], "stopped");
}
