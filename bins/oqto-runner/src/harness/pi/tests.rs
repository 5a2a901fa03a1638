//! Unit tests with hand-written pi lines (shapes from `shared/reference/pi-rpc.md`) and the
//! recorded transcripts in `tests/data/pi-*.jsonl`.

use oqto_protocol::{
    ErrorCode, EventKind, ImageInput, MessageId, ModelInfo, ModelRef, Phase, SessionId, State,
    ThinkingLevel,
};
use serde_json::{Value, json};

use super::PiAdapter;
use crate::harness::CountingIds;
use crate::harness::adapter::{
    Adapter, Done, ModelChoice, Op, OpError, Output, Ready, StartSpec, Token,
};

const FILE: &str = "/tmp/agent/sessions/--proj--/2026-11-24T10-25-06-318Z_01a2.jsonl";
const BRANCH: &str = "/tmp/agent/sessions/--proj--/2026-11-24T10-30-00-000Z_01b3.jsonl";

fn adapter() -> PiAdapter<CountingIds> {
    PiAdapter::new(SessionId::new("ses_test"), CountingIds::default())
}

fn spec(model: Option<ModelChoice>) -> StartSpec {
    StartSpec {
        cwd: "/tmp/proj".into(),
        resume: None,
        model,
        ..StartSpec::default()
    }
}

fn choice(provider: Option<&str>, model: &str) -> ModelChoice {
    ModelChoice {
        provider: provider.map(str::to_owned),
        model: model.into(),
    }
}

fn model_ref(provider: &str, id: &str) -> ModelRef {
    ModelRef {
        provider: provider.into(),
        id: id.into(),
    }
}

/// pi's full `Model` object, as `get_state`, `set_model` and `get_available_models` send it.
fn pi_model(provider: &str, id: &str) -> Value {
    json!({
        "id": id, "name": format!("Model {id}"), "api": "openai-completions",
        "provider": provider, "baseUrl": "http://127.0.0.1:9/v1", "reasoning": id.contains("think"),
        "input": ["text"], "contextWindow": 32000, "maxTokens": 4096,
    })
}

fn ok(id: &str, command: &str, data: Option<Value>) -> String {
    let mut line = json!({"id": id, "type": "response", "command": command, "success": true});
    if let Some(data) = data {
        line["data"] = data;
    }
    line.to_string()
}

fn err(id: &str, command: &str, error: &str) -> String {
    json!({"id": id, "type": "response", "command": command, "success": false, "error": error})
        .to_string()
}

fn state_data(file: Option<&str>, model: Value, level: &str, name: Option<&str>) -> Value {
    let mut data = json!({
        "thinkingLevel": level, "isStreaming": false, "isCompacting": false,
        "steeringMode": "one-at-a-time", "followUpMode": "one-at-a-time",
        "sessionId": "01a2", "autoCompactionEnabled": true, "messageCount": 0,
        "pendingMessageCount": 0,
    });
    data["model"] = model;
    if let Some(file) = file {
        data["sessionFile"] = json!(file);
    }
    if let Some(name) = name {
        data["sessionName"] = json!(name);
    }
    data
}

/// The commands among `outputs`, as JSON.
fn writes(outputs: &[Output]) -> Vec<Value> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Write(line) => Some(serde_json::from_str(line).expect("a JSON command")),
            _ => None,
        })
        .collect()
}

/// `outputs` is exactly one command; returns it.
fn one_write(outputs: &[Output]) -> Value {
    assert_eq!(outputs.len(), 1, "{outputs:#?}");
    writes(outputs).pop().expect("a write")
}

fn id_of(command: &Value) -> String {
    command["id"].as_str().expect("a string id").to_owned()
}

fn events(outputs: &[Output]) -> Vec<&EventKind> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn warnings(outputs: &[Output]) -> Vec<&str> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Warn(w) => Some(w.as_str()),
            _ => None,
        })
        .collect()
}

/// The single answer among `outputs`, for `token`.
fn done(outputs: &[Output], token: Token) -> Result<Done, OpError> {
    let answers: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Done { token: t, result } => Some((*t, result.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 1, "{outputs:#?}");
    assert_eq!(answers[0].0, token, "{outputs:#?}");
    answers[0].1.clone()
}

fn feed(a: &mut PiAdapter<CountingIds>, line: &str) -> Vec<Output> {
    a.feed(line, 1000)
}

/// An adapter past the handshake: session file [`FILE`], model `demo/oqto-demo`, level off.
fn ready() -> PiAdapter<CountingIds> {
    let mut a = adapter();
    let get_state = one_write(&a.start(&spec(None)));
    let line = ok(
        &id_of(&get_state),
        "get_state",
        Some(state_data(
            Some(FILE),
            pi_model("demo", "oqto-demo"),
            "off",
            None,
        )),
    );
    let outputs = feed(&mut a, &line);
    assert!(
        matches!(outputs.as_slice(), [Output::Ready(_)]),
        "{outputs:#?}"
    );
    a
}

/// The `model.changed` events among `outputs`.
fn model_changes(outputs: &[Output]) -> Vec<EventKind> {
    events(outputs)
        .into_iter()
        .filter(|e| matches!(e, EventKind::ModelChanged { .. }))
        .cloned()
        .collect()
}

fn model_changed(model: ModelRef, level: Option<ThinkingLevel>) -> EventKind {
    EventKind::ModelChanged {
        model,
        thinking_level: level,
    }
}

fn assistant_start(model: &str) -> String {
    json!({"type": "message_start", "message": {"role": "assistant", "content": [],
        "api": "openai-completions", "provider": "demo", "model": model, "stopReason": "stop",
        "timestamp": 1}})
    .to_string()
}

// ----- handshake ---------------------------------------------------------------------------

#[test]
fn handshake_gives_ready_with_session_file_model_level_and_title() {
    let mut a = adapter();
    let get_state = one_write(&a.start(&spec(None)));
    assert_eq!(get_state["type"], "get_state");
    assert_eq!(get_state["id"], "oqto-1");

    // An event before the answer goes through the translator as usual.
    let early = feed(
        &mut a,
        r#"{"type":"queue_update","steering":["s"],"followUp":[]}"#,
    );
    assert_eq!(
        events(&early),
        [&EventKind::QueueUpdate {
            steering: vec!["s".into()],
            follow_up: vec![],
        }]
    );

    let data = state_data(
        Some(FILE),
        pi_model("demo", "oqto-demo"),
        "low",
        Some("named"),
    );
    let outputs = feed(&mut a, &ok("oqto-1", "get_state", Some(data)));
    assert_eq!(
        outputs,
        [Output::Ready(Ready {
            resume: Some(FILE.into()),
            model: Some(model_ref("demo", "oqto-demo")),
            thinking_level: Some(ThinkingLevel::Low),
            title: Some("named".into()),
            capabilities: None,
        })]
    );

    // The translator was told the state: a failed retry while idle adds no second `idle`.
    let retry_end = feed(
        &mut a,
        r#"{"type":"auto_retry_end","success":false,"attempt":2,"finalError":"503"}"#,
    );
    assert!(
        events(&retry_end)
            .iter()
            .all(|e| !matches!(e, EventKind::State { .. })),
        "{retry_end:#?}"
    );
    // … and the model: the same model is no change, another one is.
    assert!(model_changes(&feed(&mut a, &assistant_start("oqto-demo"))).is_empty());
    assert_eq!(
        model_changes(&feed(&mut a, &assistant_start("oqto-demo-2"))),
        [model_changed(
            model_ref("demo", "oqto-demo-2"),
            Some(ThinkingLevel::Low)
        )]
    );
}

#[test]
fn handshake_without_session_file_or_model() {
    let mut a = adapter();
    one_write(&a.start(&spec(None)));
    let data = state_data(None, pi_model("unknown", "unknown"), "off", None);
    let outputs = feed(&mut a, &ok("oqto-1", "get_state", Some(data)));
    let [Output::Ready(ready)] = outputs.as_slice() else {
        panic!("{outputs:#?}")
    };
    assert_eq!(ready.resume, None);
    assert_eq!(ready.model, None, "pi's placeholder is no model");
}

#[test]
fn failed_get_state_fails_the_start() {
    let mut a = adapter();
    one_write(&a.start(&spec(None)));
    let outputs = feed(&mut a, &err("oqto-1", "get_state", "boom"));
    assert_eq!(
        outputs,
        [Output::Failed("pi get_state failed: boom".into())]
    );
}

#[test]
fn handshake_with_model_sets_it_before_ready() {
    let mut a = adapter();
    one_write(&a.start(&spec(Some(choice(Some("demo"), "oqto-demo-think")))));
    let data = state_data(Some(FILE), pi_model("demo", "oqto-demo"), "off", None);
    let set_model = one_write(&feed(&mut a, &ok("oqto-1", "get_state", Some(data))));
    assert_eq!(set_model["type"], "set_model");
    assert_eq!(set_model["provider"], "demo");
    assert_eq!(set_model["modelId"], "oqto-demo-think");

    // pi re-clamps the level on a model switch; that goes into `Ready`, not an event.
    let level = feed(
        &mut a,
        r#"{"type":"thinking_level_changed","level":"medium"}"#,
    );
    assert!(level.is_empty(), "{level:#?}");
    let outputs = feed(
        &mut a,
        &ok(
            &id_of(&set_model),
            "set_model",
            Some(pi_model("demo", "oqto-demo-think")),
        ),
    );
    assert_eq!(
        outputs,
        [Output::Ready(Ready {
            resume: Some(FILE.into()),
            model: Some(model_ref("demo", "oqto-demo-think")),
            thinking_level: Some(ThinkingLevel::Medium),
            title: None,
            capabilities: None,
        })]
    );
}

#[test]
fn handshake_with_the_current_model_is_ready_at_once() {
    let mut a = adapter();
    one_write(&a.start(&spec(Some(choice(None, "oqto-demo")))));
    let data = state_data(Some(FILE), pi_model("demo", "oqto-demo"), "off", None);
    let outputs = feed(&mut a, &ok("oqto-1", "get_state", Some(data)));
    assert!(
        matches!(outputs.as_slice(), [Output::Ready(_)]),
        "{outputs:#?}"
    );
}

/// Starts with a model named without provider; returns the `get_available_models` command.
fn start_resolving(a: &mut PiAdapter<CountingIds>, model: &str) -> Value {
    one_write(&a.start(&spec(Some(choice(None, model)))));
    let data = state_data(Some(FILE), pi_model("demo", "oqto-demo"), "off", None);
    let command = one_write(&feed(a, &ok("oqto-1", "get_state", Some(data))));
    assert_eq!(command["type"], "get_available_models");
    command
}

fn available() -> Value {
    json!({"models": [
        pi_model("demo", "oqto-demo"),
        pi_model("demo", "oqto-demo-2"),
        pi_model("other", "oqto-demo-2"),
        pi_model("other", "unique-one"),
    ]})
}

#[test]
fn handshake_model_without_provider_is_resolved() {
    let mut a = adapter();
    let list = start_resolving(&mut a, "unique-one");
    let set_model = one_write(&feed(
        &mut a,
        &ok(&id_of(&list), "get_available_models", Some(available())),
    ));
    assert_eq!(set_model["provider"], "other");
    assert_eq!(set_model["modelId"], "unique-one");
    let outputs = feed(
        &mut a,
        &ok(
            &id_of(&set_model),
            "set_model",
            Some(pi_model("other", "unique-one")),
        ),
    );
    let [Output::Ready(ready)] = outputs.as_slice() else {
        panic!("{outputs:#?}")
    };
    assert_eq!(ready.model, Some(model_ref("other", "unique-one")));
}

#[test]
fn handshake_model_unknown_or_ambiguous_fails() {
    let mut a = adapter();
    let list = start_resolving(&mut a, "nope");
    let outputs = feed(
        &mut a,
        &ok(&id_of(&list), "get_available_models", Some(available())),
    );
    let [Output::Failed(why)] = outputs.as_slice() else {
        panic!("{outputs:#?}")
    };
    assert!(why.contains("no model `nope`"), "{why}");

    let mut a = adapter();
    let list = start_resolving(&mut a, "oqto-demo-2");
    let outputs = feed(
        &mut a,
        &ok(&id_of(&list), "get_available_models", Some(available())),
    );
    let [Output::Failed(why)] = outputs.as_slice() else {
        panic!("{outputs:#?}")
    };
    assert!(why.contains("demo, other"), "{why}");

    let mut a = adapter();
    one_write(&a.start(&spec(Some(choice(Some("x"), "y")))));
    let data = state_data(Some(FILE), pi_model("demo", "oqto-demo"), "off", None);
    let set_model = one_write(&feed(&mut a, &ok("oqto-1", "get_state", Some(data))));
    let outputs = feed(
        &mut a,
        &err(&id_of(&set_model), "set_model", "Model not found: x/y"),
    );
    assert_eq!(
        outputs,
        [Output::Failed(
            "pi refused model `x/y`: Model not found: x/y".into()
        )]
    );
}

// ----- commands ----------------------------------------------------------------------------

#[test]
fn prompt_lines_with_and_without_images() {
    let mut a = ready();
    let plain = one_write(
        &a.command(
            1,
            Op::Prompt {
                text: "hi".into(),
                images: vec![],
            },
        )
        .unwrap(),
    );
    assert_eq!(plain["type"], "prompt");
    assert_eq!(plain["message"], "hi");
    assert!(plain.get("images").is_none(), "{plain}");

    let with_image = one_write(
        &a.command(
            2,
            Op::Prompt {
                text: "look".into(),
                images: vec![ImageInput {
                    mime_type: "image/png".into(),
                    data: "iVBOR".into(),
                }],
            },
        )
        .unwrap(),
    );
    assert_eq!(
        with_image["images"],
        json!([{"type": "image", "data": "iVBOR", "mimeType": "image/png"}])
    );
    assert_ne!(id_of(&plain), id_of(&with_image));
}

#[test]
fn responses_out_of_order_reach_their_tokens() {
    let mut a = ready();
    let prompt = one_write(
        &a.command(
            10,
            Op::Prompt {
                text: "hi".into(),
                images: vec![],
            },
        )
        .unwrap(),
    );
    let models = one_write(&a.command(11, Op::GetModels).unwrap());
    let rename = one_write(&a.command(12, Op::Rename { title: "t".into() }).unwrap());
    assert_eq!(rename["type"], "set_session_name");
    assert_eq!(rename["name"], "t");

    let outputs = feed(&mut a, &ok(&id_of(&rename), "set_session_name", None));
    assert_eq!(done(&outputs, 12), Ok(Done::Empty));
    let outputs = feed(
        &mut a,
        &ok(&id_of(&models), "get_available_models", Some(available())),
    );
    let Ok(Done::Models(list)) = done(&outputs, 11) else {
        panic!("{outputs:#?}")
    };
    assert_eq!(list.len(), 4);
    assert_eq!(
        list[0],
        ModelInfo {
            provider: "demo".into(),
            id: "oqto-demo".into(),
            name: Some("Model oqto-demo".into()),
            context_window: Some(32000),
            reasoning: false,
        }
    );
    let outputs = feed(&mut a, &ok(&id_of(&prompt), "prompt", None));
    assert_eq!(done(&outputs, 10), Ok(Done::Empty));
}

#[test]
fn prompt_failures_map_to_codes() {
    let mut a = ready();
    let first = one_write(
        &a.command(
            1,
            Op::Prompt {
                text: "a".into(),
                images: vec![],
            },
        )
        .unwrap(),
    );
    let second = one_write(
        &a.command(
            2,
            Op::Prompt {
                text: "b".into(),
                images: vec![],
            },
        )
        .unwrap(),
    );
    let busy = "Agent is already processing. Specify streamingBehavior ('steer' or 'followUp') \
                to queue the message.";
    let outputs = feed(&mut a, &err(&id_of(&second), "prompt", busy));
    assert_eq!(
        done(&outputs, 2),
        Err(OpError::new(ErrorCode::InvalidState, busy))
    );
    let no_key = "No API key found for the selected model.";
    let outputs = feed(&mut a, &err(&id_of(&first), "prompt", no_key));
    assert_eq!(
        done(&outputs, 1),
        Err(OpError::new(ErrorCode::HarnessFailed, no_key))
    );
}

#[test]
fn steer_follow_up_abort_and_thinking_lines() {
    let mut a = ready();
    let steer = one_write(&a.command(1, Op::Steer { text: "s".into() }).unwrap());
    assert_eq!(
        (&steer["type"], &steer["message"]),
        (&json!("steer"), &json!("s"))
    );
    let follow = one_write(&a.command(2, Op::FollowUp { text: "f".into() }).unwrap());
    assert_eq!(
        (&follow["type"], &follow["message"]),
        (&json!("follow_up"), &json!("f"))
    );
    let abort = one_write(&a.command(3, Op::Abort).unwrap());
    assert_eq!(abort["type"], "abort");
    let level = one_write(
        &a.command(4, Op::SetThinkingLevel(ThinkingLevel::Xhigh))
            .unwrap(),
    );
    assert_eq!(
        (&level["type"], &level["level"]),
        (&json!("set_thinking_level"), &json!("xhigh"))
    );
    let outputs = feed(&mut a, &err(&id_of(&steer), "steer", "nope"));
    assert_eq!(
        done(&outputs, 1),
        Err(OpError::new(ErrorCode::HarnessFailed, "nope"))
    );
    let outputs = feed(&mut a, &ok(&id_of(&abort), "abort", None));
    assert_eq!(done(&outputs, 3), Ok(Done::Empty));
}

#[test]
fn set_thinking_level_gives_one_model_changed() {
    let mut a = ready();
    let command = one_write(
        &a.command(1, Op::SetThinkingLevel(ThinkingLevel::High))
            .unwrap(),
    );
    // pi emits the change before its answer, only when the level changes.
    let outputs = feed(
        &mut a,
        r#"{"type":"thinking_level_changed","level":"high"}"#,
    );
    assert_eq!(
        events(&outputs),
        [&model_changed(
            model_ref("demo", "oqto-demo"),
            Some(ThinkingLevel::High)
        )]
    );
    let outputs = feed(&mut a, &ok(&id_of(&command), "set_thinking_level", None));
    assert_eq!(
        outputs,
        [Output::Done {
            token: 1,
            result: Ok(Done::Empty)
        }]
    );
}

#[test]
fn set_model_with_provider_answers_the_model_and_emits_model_changed() {
    let mut a = ready();
    let command = one_write(
        &a.command(7, Op::SetModel(choice(Some("demo"), "oqto-demo-2")))
            .unwrap(),
    );
    assert_eq!(
        command,
        json!({"id": id_of(&command), "type": "set_model", "provider": "demo", "modelId": "oqto-demo-2"})
    );
    let outputs = feed(
        &mut a,
        &ok(
            &id_of(&command),
            "set_model",
            Some(pi_model("demo", "oqto-demo-2")),
        ),
    );
    assert_eq!(
        events(&outputs),
        [&model_changed(
            model_ref("demo", "oqto-demo-2"),
            Some(ThinkingLevel::Off)
        )]
    );
    let Ok(Done::Model(info)) = done(&outputs, 7) else {
        panic!("{outputs:#?}")
    };
    assert_eq!(
        (info.provider.as_str(), info.id.as_str()),
        ("demo", "oqto-demo-2")
    );
    assert_eq!(info.context_window, Some(32000));

    // The translator knows the new model: a message on it is no change.
    assert!(model_changes(&feed(&mut a, &assistant_start("oqto-demo-2"))).is_empty());

    // Setting the model in use again: answered, no event.
    let again = one_write(
        &a.command(8, Op::SetModel(choice(Some("demo"), "oqto-demo-2")))
            .unwrap(),
    );
    let outputs = feed(
        &mut a,
        &ok(
            &id_of(&again),
            "set_model",
            Some(pi_model("demo", "oqto-demo-2")),
        ),
    );
    assert!(events(&outputs).is_empty(), "{outputs:#?}");
    assert!(matches!(done(&outputs, 8), Ok(Done::Model(_))));
}

#[test]
fn set_model_absorbs_pis_thinking_level_change() {
    let mut a = ready();
    let command = one_write(
        &a.command(1, Op::SetModel(choice(Some("demo"), "oqto-demo-think")))
            .unwrap(),
    );
    let level = feed(
        &mut a,
        r#"{"type":"thinking_level_changed","level":"medium"}"#,
    );
    assert!(level.is_empty(), "{level:#?}");
    let outputs = feed(
        &mut a,
        &ok(
            &id_of(&command),
            "set_model",
            Some(pi_model("demo", "oqto-demo-think")),
        ),
    );
    assert_eq!(
        events(&outputs),
        [&model_changed(
            model_ref("demo", "oqto-demo-think"),
            Some(ThinkingLevel::Medium)
        )]
    );
}

#[test]
fn set_model_without_provider_resolves_through_available_models() {
    let mut a = ready();
    let list = one_write(
        &a.command(3, Op::SetModel(choice(None, "unique-one")))
            .unwrap(),
    );
    assert_eq!(list["type"], "get_available_models");
    let set_model = one_write(&feed(
        &mut a,
        &ok(&id_of(&list), "get_available_models", Some(available())),
    ));
    assert_eq!(
        (&set_model["provider"], &set_model["modelId"]),
        (&json!("other"), &json!("unique-one"))
    );
    let outputs = feed(
        &mut a,
        &ok(
            &id_of(&set_model),
            "set_model",
            Some(pi_model("other", "unique-one")),
        ),
    );
    assert!(matches!(done(&outputs, 3), Ok(Done::Model(m)) if m.provider == "other"));
    assert_eq!(
        events(&outputs),
        [&model_changed(
            model_ref("other", "unique-one"),
            Some(ThinkingLevel::Off)
        )]
    );
}

#[test]
fn set_model_without_provider_none_or_several() {
    let mut a = ready();
    let list = one_write(&a.command(1, Op::SetModel(choice(None, "gpt-9"))).unwrap());
    let outputs = feed(
        &mut a,
        &ok(&id_of(&list), "get_available_models", Some(available())),
    );
    assert_eq!(
        done(&outputs, 1),
        Err(OpError::new(ErrorCode::BadRequest, "no model `gpt-9`"))
    );

    let list = one_write(
        &a.command(2, Op::SetModel(choice(None, "oqto-demo-2")))
            .unwrap(),
    );
    let outputs = feed(
        &mut a,
        &ok(&id_of(&list), "get_available_models", Some(available())),
    );
    let Err(error) = done(&outputs, 2) else {
        panic!("{outputs:#?}")
    };
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert!(error.message.contains("demo, other"), "{error}");
    assert!(writes(&outputs).is_empty());
}

#[test]
fn set_model_not_found_is_bad_request() {
    let mut a = ready();
    let command = one_write(&a.command(1, Op::SetModel(choice(Some("x"), "y"))).unwrap());
    let outputs = feed(
        &mut a,
        &err(&id_of(&command), "set_model", "Model not found: x/y"),
    );
    assert_eq!(
        done(&outputs, 1),
        Err(OpError::new(ErrorCode::BadRequest, "Model not found: x/y"))
    );
    let command = one_write(&a.command(2, Op::SetModel(choice(Some("x"), "z"))).unwrap());
    let outputs = feed(
        &mut a,
        &err(&id_of(&command), "set_model", "No API key for x/z"),
    );
    assert_eq!(
        done(&outputs, 2).unwrap_err().code,
        ErrorCode::HarnessFailed
    );
}

#[test]
fn compact_answers_compacted() {
    let mut a = ready();
    let plain = one_write(&a.command(1, Op::Compact { instructions: None }).unwrap());
    assert!(plain.get("customInstructions").is_none(), "{plain}");
    let with = one_write(
        &a.command(
            2,
            Op::Compact {
                instructions: Some("keep it short".into()),
            },
        )
        .unwrap(),
    );
    assert_eq!(with["customInstructions"], "keep it short");
    let data = json!({"summary": "SUMMARY: 2 messages", "firstKeptEntryId": "0dd0576e",
        "tokensBefore": 841, "details": {"readFiles": [], "modifiedFiles": []}});
    let outputs = feed(&mut a, &ok(&id_of(&plain), "compact", Some(data)));
    assert_eq!(
        done(&outputs, 1),
        Ok(Done::Compacted {
            summary: "SUMMARY: 2 messages".into(),
            tokens_before: Some(841),
        })
    );
    let outputs = feed(&mut a, &err(&id_of(&with), "compact", "Nothing to compact"));
    assert_eq!(
        done(&outputs, 2).unwrap_err().code,
        ErrorCode::HarnessFailed
    );
}

// ----- fork --------------------------------------------------------------------------------

fn fork_op(user_index: usize, text: &str) -> Op {
    Op::Fork {
        message_id: MessageId("msg_x".into()),
        user_index,
        text: text.into(),
    }
}

fn fork_messages() -> Value {
    json!({"messages": [
        {"entryId": "e0", "text": "hello"},
        {"entryId": "e1", "text": "again"},
        {"entryId": "e2", "text": "hello"},
    ]})
}

/// Runs a fork up to its `fork` command, which is returned.
fn fork_until_entry(a: &mut PiAdapter<CountingIds>, token: Token, op: Op) -> Value {
    let list = one_write(&a.command(token, op).unwrap());
    assert_eq!(list["type"], "get_fork_messages");
    let fork = one_write(&feed(
        a,
        &ok(&id_of(&list), "get_fork_messages", Some(fork_messages())),
    ));
    assert_eq!(fork["type"], "fork");
    fork
}

#[test]
fn fork_full_exchange_switches_back() {
    let mut a = ready();
    let fork = fork_until_entry(&mut a, 5, fork_op(2, "hello"));
    assert_eq!(fork["entryId"], "e2");

    // Meanwhile: a second fork is refused, a prompt waits.
    assert_eq!(
        a.command(6, fork_op(0, "hello")).unwrap_err().code,
        ErrorCode::InvalidState
    );
    let held = a
        .command(
            7,
            Op::Prompt {
                text: "later".into(),
                images: vec![],
            },
        )
        .unwrap();
    assert!(held.is_empty(), "{held:#?}");
    // What pi writes on the branch does not reach the session.
    let stray = feed(&mut a, r#"{"type":"session_info_changed","name":"branch"}"#);
    assert!(
        events(&stray).is_empty() && warnings(&stray).len() == 1,
        "{stray:#?}"
    );

    let get_state = one_write(&feed(
        &mut a,
        &ok(
            &id_of(&fork),
            "fork",
            Some(json!({"text": "hello", "cancelled": false})),
        ),
    ));
    assert_eq!(get_state["type"], "get_state");
    let data = state_data(Some(BRANCH), pi_model("demo", "oqto-demo"), "off", None);
    let switch = one_write(&feed(
        &mut a,
        &ok(&id_of(&get_state), "get_state", Some(data)),
    ));
    assert_eq!(
        (&switch["type"], &switch["sessionPath"]),
        (&json!("switch_session"), &json!(FILE))
    );
    let outputs = feed(
        &mut a,
        &ok(
            &id_of(&switch),
            "switch_session",
            Some(json!({"cancelled": false})),
        ),
    );
    assert_eq!(
        outputs[0],
        Output::Done {
            token: 5,
            result: Ok(Done::Forked {
                resume: BRANCH.into()
            }),
        }
    );
    // The held prompt goes out after the switch back.
    let rest = writes(&outputs[1..]);
    assert_eq!(outputs.len(), 2, "{outputs:#?}");
    assert_eq!(
        (&rest[0]["type"], &rest[0]["message"]),
        (&json!("prompt"), &json!("later"))
    );
    // pi's events count again.
    let back = feed(&mut a, r#"{"type":"session_info_changed","name":"mine"}"#);
    assert_eq!(back, [Output::Title("mine".into())]);
    // Another fork waits for the prompt's run to end.
    assert_eq!(
        a.command(8, fork_op(0, "hello")).unwrap_err().code,
        ErrorCode::InvalidState
    );
    let outputs = feed(&mut a, &ok(&id_of(&rest[0]), "prompt", None));
    assert_eq!(done(&outputs, 7), Ok(Done::Empty));
    feed(&mut a, r#"{"type":"agent_start"}"#);
    feed(&mut a, r#"{"type":"agent_end","messages":[]}"#);
    assert!(a.command(9, fork_op(0, "hello")).is_ok());
}

#[test]
fn fork_picks_the_first_equal_text_when_the_index_does_not_match() {
    let mut a = ready();
    // pi skips user messages without text, so the index may point elsewhere.
    let fork = fork_until_entry(&mut a, 1, fork_op(1, "hello"));
    assert_eq!(fork["entryId"], "e0");
}

#[test]
fn fork_of_an_unknown_message_is_message_not_found() {
    let mut a = ready();
    let list = one_write(&a.command(1, fork_op(0, "never said")).unwrap());
    let outputs = feed(
        &mut a,
        &ok(&id_of(&list), "get_fork_messages", Some(fork_messages())),
    );
    assert_eq!(
        done(&outputs, 1).unwrap_err().code,
        ErrorCode::MessageNotFound
    );
    assert!(writes(&outputs).is_empty());
    // Over: a new fork may start.
    assert!(a.command(2, fork_op(0, "hello")).is_ok());
}

#[test]
fn fork_step_failures_name_the_step() {
    // `fork` itself fails: pi did not switch, so nothing to switch back.
    let mut a = ready();
    let fork = fork_until_entry(&mut a, 1, fork_op(0, "hello"));
    let outputs = feed(
        &mut a,
        &err(&id_of(&fork), "fork", "Invalid entry ID for forking"),
    );
    assert!(writes(&outputs).is_empty(), "{outputs:#?}");
    assert_eq!(
        done(&outputs, 1),
        Err(OpError::new(
            ErrorCode::HarnessFailed,
            "pi fork failed: Invalid entry ID for forking"
        ))
    );

    // `get_fork_messages` fails.
    let list = one_write(&a.command(2, fork_op(0, "hello")).unwrap());
    let outputs = feed(&mut a, &err(&id_of(&list), "get_fork_messages", "boom"));
    assert_eq!(
        done(&outputs, 2),
        Err(OpError::new(
            ErrorCode::HarnessFailed,
            "pi get_fork_messages failed: boom"
        ))
    );

    // `get_state` after a successful fork fails: pi still goes back.
    let fork = fork_until_entry(&mut a, 3, fork_op(0, "hello"));
    let get_state = one_write(&feed(
        &mut a,
        &ok(
            &id_of(&fork),
            "fork",
            Some(json!({"text": "hello", "cancelled": false})),
        ),
    ));
    let switch = one_write(&feed(&mut a, &err(&id_of(&get_state), "get_state", "busy")));
    assert_eq!(switch["sessionPath"], FILE);
    let outputs = feed(
        &mut a,
        &ok(
            &id_of(&switch),
            "switch_session",
            Some(json!({"cancelled": false})),
        ),
    );
    assert_eq!(
        done(&outputs, 3),
        Err(OpError::new(
            ErrorCode::HarnessFailed,
            "pi get_state failed: busy"
        ))
    );
    assert!(!outputs.iter().any(|o| matches!(o, Output::Failed(_))));

    // The switch back fails: pi is left on the branch, so the process must go.
    let fork = fork_until_entry(&mut a, 4, fork_op(0, "hello"));
    let get_state = one_write(&feed(
        &mut a,
        &ok(
            &id_of(&fork),
            "fork",
            Some(json!({"text": "hello", "cancelled": false})),
        ),
    ));
    let data = state_data(Some(BRANCH), pi_model("demo", "oqto-demo"), "off", None);
    let switch = one_write(&feed(
        &mut a,
        &ok(&id_of(&get_state), "get_state", Some(data)),
    ));
    let outputs = feed(&mut a, &err(&id_of(&switch), "switch_session", "EACCES"));
    assert!(
        outputs.iter().any(|o| matches!(o, Output::Failed(_))),
        "{outputs:#?}"
    );
    assert_eq!(
        done(&outputs, 4),
        Err(OpError::new(
            ErrorCode::HarnessFailed,
            "pi switch_session failed: EACCES"
        ))
    );
}

#[test]
fn fork_needs_an_idle_pi_with_a_session_file() {
    let mut a = ready();
    feed(&mut a, r#"{"type":"agent_start"}"#);
    assert_eq!(
        a.command(1, fork_op(0, "hello")).unwrap_err().code,
        ErrorCode::InvalidState
    );
    feed(&mut a, r#"{"type":"agent_end","messages":[]}"#);
    assert!(a.command(2, fork_op(0, "hello")).is_ok());

    // A prompt accepted after the fork started: refused before pi switches.
    let mut a = ready();
    let list = one_write(&a.command(1, fork_op(0, "hello")).unwrap());
    feed(&mut a, r#"{"type":"agent_start"}"#);
    let outputs = feed(
        &mut a,
        &ok(&id_of(&list), "get_fork_messages", Some(fork_messages())),
    );
    assert!(writes(&outputs).is_empty(), "{outputs:#?}");
    assert_eq!(done(&outputs, 1).unwrap_err().code, ErrorCode::InvalidState);

    let mut a = adapter();
    one_write(&a.start(&spec(None)));
    let data = state_data(None, pi_model("demo", "oqto-demo"), "off", None);
    feed(&mut a, &ok("oqto-1", "get_state", Some(data)));
    assert_eq!(
        a.command(1, fork_op(0, "hello")).unwrap_err().code,
        ErrorCode::Unsupported
    );
}

// ----- odd lines ---------------------------------------------------------------------------

#[test]
fn responses_to_nothing_warn() {
    let mut a = ready();
    let outputs = feed(&mut a, &ok("oqto-99", "get_state", None));
    assert_eq!(warnings(&outputs).len(), 1, "{outputs:#?}");
    assert_eq!(outputs.len(), 1);
    // pi's answers without an id (pi-rpc.md §7).
    let parse = r#"{"type":"response","command":"parse","success":false,"error":"Failed to parse command: Unexpected token"}"#;
    let unknown = r#"{"type":"response","command":"no_such_command","success":false,"error":"Unknown command: no_such_command"}"#;
    for line in [parse, unknown] {
        let outputs = feed(&mut a, line);
        assert_eq!(warnings(&outputs).len(), 1, "{outputs:#?}");
        assert_eq!(outputs.len(), 1);
    }
}

#[test]
fn garbage_lines_warn() {
    let mut a = ready();
    for line in [
        "this is not json",
        "",
        "[1,2]",
        r#"{"no":"type"}"#,
        r#"{"type":"message_end"}"#,
        "{\"type\":\"agent_start\"",
    ] {
        let outputs = feed(&mut a, line);
        assert_eq!(warnings(&outputs).len(), 1, "{line:?}: {outputs:#?}");
        assert_eq!(outputs.len(), 1, "{line:?}: {outputs:#?}");
    }
    // An unknown event type is no error.
    assert!(feed(&mut a, r#"{"type":"extension_error","error":"x"}"#).is_empty());
}

#[test]
fn an_unreadable_response_to_a_command_fails_it() {
    let mut a = ready();
    let command = one_write(&a.command(4, Op::GetModels).unwrap());
    let line = json!({"id": id_of(&command), "type": "response", "success": "yes"}).to_string();
    let outputs = feed(&mut a, &line);
    assert_eq!(
        done(&outputs, 4).unwrap_err().code,
        ErrorCode::HarnessFailed
    );
    // An answer whose data has the wrong shape, too.
    let command = one_write(&a.command(5, Op::GetModels).unwrap());
    let outputs = feed(
        &mut a,
        &ok(&id_of(&command), "get_available_models", Some(json!([1]))),
    );
    assert_eq!(
        done(&outputs, 5).unwrap_err().code,
        ErrorCode::HarnessFailed
    );
}

// ----- stop --------------------------------------------------------------------------------

#[test]
fn stop_lines_abort_a_run() {
    let mut a = ready();
    assert!(a.stop_lines().is_empty());
    feed(&mut a, r#"{"type":"agent_start"}"#);
    let lines = a.stop_lines();
    assert_eq!(lines.len(), 1);
    let abort: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(abort["type"], "abort");
    // Its answer is expected, not a warning.
    assert!(feed(&mut a, &ok(&id_of(&abort), "abort", None)).is_empty());
    feed(&mut a, r#"{"type":"agent_end","messages":[]}"#);
    assert!(a.stop_lines().is_empty());
    // Waiting for a retry counts as running.
    feed(
        &mut a,
        r#"{"type":"auto_retry_start","attempt":1,"maxAttempts":2,"delayMs":500,"errorMessage":"503"}"#,
    );
    assert_eq!(a.stop_lines().len(), 1);
    feed(
        &mut a,
        r#"{"type":"auto_retry_end","success":false,"attempt":2,"finalError":"503"}"#,
    );
    assert!(a.stop_lines().is_empty());
}

#[test]
fn extra_args_resume_with_session() {
    let a = adapter();
    assert!(a.extra_args(&spec(None)).is_empty());
    let resume = StartSpec {
        resume: Some(FILE.into()),
        ..spec(None)
    };
    assert_eq!(a.extra_args(&resume), ["--session", FILE]);
    assert_eq!(a.capabilities().len(), 8);
}

// ----- recorded transcripts ----------------------------------------------------------------

/// Replays a recorded transcript, renaming its command ids to the adapter's in the order the
/// commands were sent; `quiet` after every line, as the actor would when pi pauses.
fn replay(name: &str, ids: &[&str], commands: Vec<Op>) -> Vec<Output> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("pi-{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut a = adapter();
    let mut sent = vec![one_write(&a.start(&spec(None)))];
    for (token, op) in commands.into_iter().enumerate() {
        sent.push(one_write(&a.command(token as Token, op).unwrap()));
    }
    let mut outputs = Vec::new();
    for line in text.lines() {
        let mut line = line.to_owned();
        for (theirs, ours) in ids.iter().zip(&sent) {
            line = line.replace(
                &format!("\"id\":\"{theirs}\""),
                &format!("\"id\":\"{}\"", id_of(ours)),
            );
        }
        outputs.extend(a.feed(&line, 1));
        outputs.extend(a.quiet(2));
    }
    outputs
}

#[test]
fn recorded_text_turn() {
    let outputs = replay(
        "text",
        &["state-1", "prompt-1"],
        vec![Op::Prompt {
            text: "hello world".into(),
            images: vec![],
        }],
    );
    assert!(warnings(&outputs).is_empty(), "{outputs:#?}");
    let Output::Ready(ready) = &outputs[0] else {
        panic!("{outputs:#?}")
    };
    assert_eq!(ready.model, Some(model_ref("demo", "oqto-demo")));
    assert_eq!(ready.resume, None, "recorded with --no-session");
    assert_eq!(done(&outputs, 0), Ok(Done::Empty));
    let events = events(&outputs);
    assert_eq!(
        events.last(),
        Some(&&EventKind::State {
            state: State::Idle,
            phase: None,
            reason: None,
        })
    );
    assert!(events.iter().any(|e| matches!(
        e,
        EventKind::State {
            state: State::Working,
            phase: Some(Phase::Generating),
            ..
        }
    )));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::ModelChanged { .. }))
    );
}

#[test]
fn recorded_compaction() {
    let outputs = replay(
        "compact",
        &["state-1", "prompt-1", "compact-1"],
        vec![
            Op::Prompt {
                text: "hello before compacting".into(),
                images: vec![],
            },
            Op::Compact { instructions: None },
        ],
    );
    assert!(warnings(&outputs).is_empty(), "{outputs:#?}");
    let answers: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Done { token, result } => Some((*token, result.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 2, "{answers:#?}");
    assert_eq!(answers[0], (0, Ok(Done::Empty)));
    let (
        1,
        Ok(Done::Compacted {
            summary,
            tokens_before,
        }),
    ) = &answers[1]
    else {
        panic!("{answers:#?}")
    };
    assert!(summary.starts_with("SUMMARY:"), "{summary}");
    assert!(tokens_before.is_some_and(|n| n > 0));
}
