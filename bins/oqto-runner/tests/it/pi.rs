//! End to end with the real pi (`pi --mode rpc`, installed by scripts/setup) against the
//! project's fake LLM: the runner's pi adapter, its process handling and its store.

use std::time::Duration;

use oqto_fake_llm_core::{Background, Config};
use oqto_testkit::TestEnv;
use serde_json::{Value, json};

use crate::support::{Client, Runner, WAIT, alive, assistant_texts};

/// A runner whose `pi` harness is the real pi, with a private agent directory
/// (`<root>/pi-agent`) pointing at the fake LLM.
pub struct Pi {
    _llm: Background,
    pub runner: Runner,
}

impl Pi {
    pub fn start() -> Self {
        Self::start_with(TestEnv::new(), "", Vec::new())
    }

    /// Like [`Pi::start`] in `env`, with more `runner.toml` text and variables.
    pub fn start_with(
        env: TestEnv,
        config: &str,
        extra_env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    ) -> Self {
        let llm = Background::start(Config {
            slow_delay: Duration::from_millis(50),
            ..Config::default()
        })
        .expect("start the fake LLM");
        let agent_dir = env.root().join("pi-agent");
        oqto_fake_llm_core::write_pi_agent_dir(&agent_dir, &llm.base_url()).unwrap();
        let config = format!(
            "{config}\n[harness.pi]\ncommand = \"{}\"\nenv = {{ PI_CODING_AGENT_DIR = \"{}\", PI_OFFLINE = \"1\" }}\n",
            oqto_testkit::pi_bin().display(),
            agent_dir.display()
        );
        let runner = Runner::start_in(env, &config, extra_env);
        Self { _llm: llm, runner }
    }

    pub fn session(&self) -> (Client, String) {
        let mut c = self.runner.client();
        let work = self.runner.work();
        let session = c.create("pi", &work);
        (c, session)
    }
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn pi_text_and_tool_turns() {
    let pi = Pi::start();
    let (mut c, session) = pi.session();
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["state"], "idle");
    assert_eq!(info["session"]["model"]["provider"], "demo", "{info}");

    let events = c.turn(&session, "hello pi");
    assert_eq!(assistant_texts(&events), ["echo: hello pi"]);
    assert!(!of(&events, "part.delta").is_empty());

    let events = c.turn(&session, "tool:bash echo hi-from-the-tool");
    let end = of(&events, "tool.end");
    assert_eq!(end.len(), 1, "{events:#?}");
    assert_eq!(end[0]["part"]["status"], "done");
    assert!(
        end[0]["part"]["output"]
            .as_str()
            .unwrap()
            .contains("hi-from-the-tool")
    );
    assert!(
        assistant_texts(&events).contains(&"done: hi-from-the-tool".to_owned()),
        "{events:#?}"
    );
    // Stored as streamed: the tool call's final state is in the stored message.
    let page = c.ok(json!({"type":"get_messages","session":session}));
    let stored = page["messages"].to_string();
    assert!(
        stored.contains("hi-from-the-tool") && stored.contains("\"status\":\"done\""),
        "{page}"
    );
}

#[test]
fn pi_abort_steer_and_follow_up() {
    let pi = Pi::start();
    let (mut c, session) = pi.session();
    c.ok(json!({"type":"prompt","session":session,"text":"slow:200"}));
    c.events_until(|e| e["type"] == "part.delta");
    c.ok(json!({"type":"abort","session":session}));
    let events = c.events_until(|e| e["type"] == "state" && e["state"] == "idle");
    let end = of(&events, "message.end");
    assert_eq!(
        end.last().unwrap()["message"]["stop_reason"],
        "aborted",
        "{events:#?}"
    );

    c.ok(json!({"type":"prompt","session":session,"text":"slow:30"}));
    c.events_until(|e| e["type"] == "part.delta");
    c.ok(json!({"type":"follow_up","session":session,"text":"the follow-up"}));
    c.ok(json!({"type":"steer","session":session,"text":"the steer"}));
    let events = c.events_until(|e| e["type"] == "state" && e["state"] == "idle");
    let texts = assistant_texts(&events);
    assert!(texts.contains(&"echo: the steer".to_owned()), "{texts:?}");
    assert!(
        texts.contains(&"echo: the follow-up".to_owned()),
        "{texts:?}"
    );
    assert!(!of(&events, "queue.update").is_empty());
}

#[test]
fn pi_models_compaction_and_fork() {
    let pi = Pi::start();
    let (mut c, session) = pi.session();
    let models = c.ok(json!({"type":"get_models","session":session}));
    let ids: Vec<&str> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"oqto-demo") && ids.contains(&"oqto-demo-2"),
        "{ids:?}"
    );
    let model = c.ok(json!({"type":"set_model","session":session,"model":"oqto-demo-2"}));
    assert_eq!(model["model"]["id"], "oqto-demo-2");
    c.events_until(|e| e["type"] == "model.changed" && e["model"]["id"] == "oqto-demo-2");

    c.turn(&session, "first question");
    c.turn(&session, "second question");
    let compacted = c.ok(json!({"type":"compact","session":session}));
    assert!(
        compacted["summary"].as_str().unwrap().contains("SUMMARY"),
        "{compacted}"
    );

    let page = c.ok(json!({"type":"get_messages","session":session}));
    let second = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user" && m["parts"][0]["text"] == "second question")
        .expect("second prompt stored")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let forked = c.ok(json!({"type":"fork","session":session,"message_id":second}));
    let child = forked["session"]["id"].as_str().unwrap().to_owned();
    assert_eq!(forked["session"]["parent"], session.as_str());
    let copied = c.ok(json!({"type":"get_messages","session":child}));
    let texts: Vec<&Value> = copied["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["parts"][0]["text"])
        .collect();
    assert_eq!(
        texts,
        [&json!("first question"), &json!("echo: first question")]
    );
    c.ok(json!({"type":"session.subscribe","session":child}));
    let events = c.turn(&child, "in the fork");
    assert_eq!(assistant_texts(&events), ["echo: in the fork"]);
    // The original goes on with its own conversation.
    let events = c.turn(&session, "still the original");
    assert_eq!(assistant_texts(&events), ["echo: still the original"]);
}

#[test]
fn pi_session_resumes_after_a_runner_restart() {
    let mut pi = Pi::start();
    let (mut c, session) = pi.session();
    c.turn(&session, "remember this");
    let status = pi.runner.stop();
    assert_eq!(status.code(), Some(0));
    pi.runner.spawn();
    let mut c = pi.runner.client();
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["state"], "stopped");
    c.ok(json!({"type":"session.subscribe","session":session}));
    let events = c.turn(&session, "and now");
    assert_eq!(assistant_texts(&events), ["echo: and now"]);
    // pi resumed its own session file: both turns are in one file.
    let mut files = Vec::new();
    let mut dirs = vec![pi.runner.env.root().join("pi-agent/sessions")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    assert_eq!(files.len(), 1, "one pi session file");
    assert!(files[0].contains("remember this") && files[0].contains("and now"));
}

#[test]
fn closing_a_pi_session_leaves_no_tool_process_behind() {
    let pi = Pi::start();
    let (mut c, session) = pi.session();
    c.ok(json!({"type":"prompt","session":session,"text":"tool:bash sleep 4711"}));
    c.events_until(|e| e["type"] == "tool.start");
    let find = || -> Vec<i32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    String::from_utf8_lossy(&c).contains("sleep\u{0}4711")
                        || String::from_utf8_lossy(&c).contains("sleep 4711")
                })
            })
            .filter(|pid| alive(*pid))
            .collect()
    };
    assert!(
        oqto_testkit::wait_until(WAIT, || !find().is_empty()),
        "the tool runs"
    );
    c.ok(json!({"type":"session.close","session":session}));
    assert!(
        oqto_testkit::wait_until(WAIT, || find().is_empty()),
        "left behind: {:?}",
        find()
    );
}
