//! `history.import`: pi's own session files become stopped sessions the runner lists,
//! searches and resumes; importing again adds nothing.

use std::path::{Path, PathBuf};

use oqto_testkit::TestEnv;
use serde_json::{Value, json};

use crate::pi::Pi;
use crate::support::{Runner, assistant_texts};

/// The session files the real pi wrote, kept with the importer's own tests.
fn session_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/oqto-history/tests/data/pi-sessions");
    let mut files = jsonl_files(&dir);
    files.retain(|f| {
        f.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("pi-session-")
    });
    assert_eq!(files.len(), 4, "{files:?}");
    files
}

/// This crate's recorded pi transcripts (`tests/data/pi-*.jsonl`): pi's stdout in RPC mode,
/// not session files.
fn transcripts() -> Vec<PathBuf> {
    let mut files = jsonl_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"));
    files.retain(|f| f.file_name().unwrap().to_str().unwrap().starts_with("pi-"));
    assert!(files.len() >= 7, "{files:?}");
    files
}

fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// Copies `files` into `<agent>/sessions/--x--/`.
fn fill_agent_dir(agent: &Path, files: &[PathBuf]) -> PathBuf {
    let project = agent.join("sessions/--x--");
    std::fs::create_dir_all(&project).unwrap();
    for file in files {
        std::fs::copy(file, project.join(file.file_name().unwrap())).unwrap();
    }
    project
}

fn pi_sessions(list: &Value) -> Vec<&Value> {
    list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["harness"] == "pi")
        .collect()
}

#[test]
fn imported_pi_sessions_are_listed_searched_and_not_imported_twice() {
    let mut runner = Runner::start("");
    let agent = runner.env.root().join("pi-agent");
    let transcripts = transcripts();
    fill_agent_dir(&agent, &transcripts);
    fill_agent_dir(&agent, &session_files());
    let mut c = runner.client();

    let first = c.ok(json!({"type":"history.import","source":"pi","dir":agent}));
    assert_eq!(first["type"], "imported");
    assert_eq!(first["files"], transcripts.len() + 4, "{first}");
    assert_eq!(first["sessions_new"], 4, "{first}");
    assert_eq!(first["sessions_updated"], 0, "{first}");
    assert_eq!(first["sessions_unchanged"], 0, "{first}");
    assert!(first["messages"].as_u64().unwrap() >= 30, "{first}");
    // The RPC transcripts are not session files: each is skipped, with the reason.
    let skipped = first["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), transcripts.len(), "{first}");
    for s in skipped {
        assert!(
            s["path"].as_str().unwrap().contains("/sessions/--x--/pi-")
                && s["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("not a pi session file"),
            "{s}"
        );
    }

    // Listed at once, without a restart: stopped pi sessions.
    let list = c.ok(json!({"type":"session.list"}));
    let sessions = pi_sessions(&list);
    assert_eq!(sessions.len(), 4, "{list}");
    for s in &sessions {
        assert_eq!(s["state"], "stopped", "{s}");
        assert_eq!(s["reason"], "imported from pi", "{s}");
        assert_eq!(s["cwd"], "/tmp/pi-capture/work/proj", "{s}");
        assert_eq!(
            s["model"],
            json!({"provider":"demo","id":"oqto-demo"}),
            "{s}"
        );
    }
    let mut titles: Vec<&str> = sessions
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        [
            "fail:400 please",
            "hello before compacting",
            "please run tool:bash echo hi-from-bash && cat hello.txt",
            "probe session"
        ]
    );
    let stopped = c.ok(json!({"type":"session.list","state":"stopped","harness":"pi"}));
    assert_eq!(pi_sessions(&stopped).len(), 4);

    // Searchable, and readable page by page.
    let hits = c.ok(json!({"type":"history.search","query":"hi-from-bash"}));
    let hits = hits["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    let tool_session = hits[0]["session"].as_str().unwrap().to_owned();
    assert!(
        hits.iter()
            .all(|h| h["session"] == tool_session.as_str() && h["harness"] == "pi")
    );
    let page = c.ok(json!({"type":"get_messages","session":tool_session}));
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 10, "{page}");
    assert_eq!(messages[1]["parts"][0]["type"], "tool_call");
    assert_eq!(messages[1]["parts"][0]["status"], "done");

    // A second import finds nothing new.
    let second = c.ok(json!({"type":"history.import","source":"pi","dir":agent}));
    assert_eq!(second["sessions_new"], 0, "{second}");
    assert_eq!(second["sessions_updated"], 0, "{second}");
    assert_eq!(second["sessions_unchanged"], 4, "{second}");
    assert_eq!(second["messages"], 0, "{second}");
    let list = c.ok(json!({"type":"session.list"}));
    assert_eq!(pi_sessions(&list).len(), 4);

    // They are stored sessions like any other: still there after a restart.
    drop(c);
    runner.stop();
    runner.spawn();
    let mut c = runner.client();
    let list = c.ok(json!({"type":"session.list","harness":"pi"}));
    assert_eq!(pi_sessions(&list).len(), 4, "{list}");
}

#[test]
fn import_looks_where_pi_looks() {
    // PI_CODING_AGENT_DIR of the runner's environment first...
    let env = TestEnv::new();
    let agent = env.root().join("custom-agent");
    fill_agent_dir(&agent, &session_files()[..1]);
    let runner = Runner::start_in(
        env,
        "",
        vec![("PI_CODING_AGENT_DIR".into(), agent.clone().into())],
    );
    let mut c = runner.client();
    let report = c.ok(json!({"type":"history.import","source":"pi"}));
    assert_eq!(report["sessions_new"], 1, "{report}");
    assert_eq!(report["skipped"], json!([]), "{report}");

    // ...else ~/.pi/agent.
    let runner = Runner::start("");
    fill_agent_dir(&runner.env.home().join(".pi/agent"), &session_files()[1..]);
    let mut c = runner.client();
    let report = c.ok(json!({"type":"history.import","source":"pi"}));
    assert_eq!(report["sessions_new"], 3, "{report}");

    // Nothing there is not an error: the directory is reported as skipped.
    let empty = runner.env.root().join("no-pi-here");
    let report = c.ok(json!({"type":"history.import","source":"pi","dir":empty}));
    assert_eq!(report["files"], 0, "{report}");
    assert_eq!(
        report["skipped"][0]["path"],
        empty.join("sessions").to_str().unwrap()
    );

    let (code, message) =
        c.error(json!({"type":"history.import","source":"pi","dir":"relative/agent"}));
    assert_eq!(code, "bad_request", "{message}");
    assert!(message.contains("absolute"), "{message}");
    let (code, message) = c.error(json!({"type":"history.import","source":"codex"}));
    assert_eq!(code, "bad_request", "{message}");
}

/// The text of a pi session file with `from` replaced by `to` everywhere.
fn rewrite(file: &Path, from: &str, to: &str) -> String {
    std::fs::read_to_string(file).unwrap().replace(from, to)
}

#[test]
fn an_imported_session_resumes_in_pi_and_is_not_imported_twice() {
    let pi = Pi::start();
    let work = pi.runner.work();
    let agent = pi.runner.env.root().join("pi-agent");
    let text = session_files()
        .into_iter()
        .find(|f| f.ends_with("pi-session-text.jsonl"))
        .unwrap();
    // The captured conversation, as if it had been held in this test's work directory.
    let file = agent.join("sessions/--work--/2026-11-24T14-40-32-815Z_text.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, rewrite(&text, "/tmp/pi-capture/work/proj", &work)).unwrap();

    let mut c = pi.runner.client();
    let report = c.ok(json!({"type":"history.import","source":"pi","dir":agent}));
    assert_eq!(report["sessions_new"], 1, "{report}");
    let list = c.ok(json!({"type":"session.list","harness":"pi"}));
    let session = pi_sessions(&list)[0]["id"].as_str().unwrap().to_owned();

    // Prompting it starts pi on the imported file, which goes on with that conversation.
    c.ok(json!({"type":"session.subscribe","session":session}));
    let events = c.turn(&session, "and after the import");
    assert_eq!(assistant_texts(&events), ["echo: and after the import"]);
    let grown = std::fs::read_to_string(&file).unwrap();
    assert!(grown.contains("hello world") && grown.contains("and after the import"));
    let page = c.ok(json!({"type":"get_messages","session":session}));
    assert_eq!(page["messages"].as_array().unwrap().len(), 6, "{page}");

    // The runner stored the new turn itself: importing again does not add it twice.
    let again = c.ok(json!({"type":"history.import","source":"pi","dir":agent}));
    assert_eq!(again["sessions_new"], 0, "{again}");
    assert_eq!(again["messages"], 0, "{again}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 1, "{again}");
    assert!(
        again["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("was continued in oqto since it was imported"),
        "{again}"
    );
    let page = c.ok(json!({"type":"get_messages","session":session}));
    assert_eq!(page["messages"].as_array().unwrap().len(), 6, "{page}");
}

#[test]
fn files_of_sessions_oqto_runs_pi_on_are_not_imported() {
    let pi = Pi::start();
    let (mut c, session) = pi.session();
    c.turn(&session, "a session oqto started");
    let agent = pi.runner.env.root().join("pi-agent");
    let report = c.ok(json!({"type":"history.import","source":"pi","dir":agent}));
    assert_eq!(report["files"], 1, "{report}");
    assert_eq!(report["sessions_new"], 0, "{report}");
    let reason = report["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("already in the history as session `{session}`")),
        "{report}"
    );
    let list = c.ok(json!({"type":"session.list"}));
    assert_eq!(pi_sessions(&list).len(), 1, "{list}");
}
