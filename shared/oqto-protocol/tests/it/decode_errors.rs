//! Malformed input: every decoder returns an error (never panics), and the runner-side
//! decoders return the exact `error` reply to send, with the request id when it was readable.

use oqto_protocol::{
    AgentMessage, AgentRequest, ClientMessage, ErrorCode, ErrorResponse, RequestId, ServerMessage,
};

use crate::support;

const SES: &str = "ses_01jd8x4k2m9q";

#[track_caller]
fn client_err(line: &str) -> ErrorResponse {
    match ClientMessage::parse(line) {
        Ok(msg) => panic!("accepted {line}: {msg:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn agent_err(line: &str) -> ErrorResponse {
    match AgentRequest::parse(line) {
        Ok(msg) => panic!("accepted {line}: {msg:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_error(e: &ErrorResponse, code: ErrorCode, id: Option<&str>, message_has: &str) {
    assert_eq!(e.code, code, "{e:?}");
    assert_eq!(e.id, id.map(RequestId::from), "{e:?}");
    assert!(
        e.message.contains(message_has),
        "message {:?} lacks {message_has:?}",
        e.message
    );
}

fn deeply_nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn invalid_json_is_bad_request_without_id() {
    for line in [
        "",
        " ",
        "{",
        "{\"type\":\"prompt\",\"id\":\"1\"",
        "{'type':'hello'}",
        "{\"type\":\"hello\"} trailing",
        "NaN",
        "\u{feff}{\"type\":\"hello\",\"protocol\":1,\"client\":\"x\"}",
        "{\"type\":\"prompt\",\"id\":\"1\",\"session\":\"s\",\"text\":\"\\ud800\"}",
    ] {
        let e = client_err(line);
        assert_error(&e, ErrorCode::BadRequest, None, "invalid JSON");
    }
}

#[test]
fn non_objects_are_bad_request() {
    for (line, kind) in [
        ("[]", "an array"),
        ("[{\"type\":\"runner.status\",\"id\":\"1\"}]", "an array"),
        ("\"hello\"", "a string"),
        ("42", "a number"),
        ("-1.5e3", "a number"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        let e = client_err(line);
        assert_error(&e, ErrorCode::BadRequest, None, kind);
        assert!(e.message.starts_with("expected a JSON object"), "{e:?}");
    }
}

#[test]
fn missing_or_non_string_type_is_bad_request() {
    let e = client_err("{}");
    assert_error(&e, ErrorCode::BadRequest, None, "missing field `type`");
    // The id is readable here, so the error echoes it.
    let e = client_err(&format!(r#"{{"id":"7","session":"{SES}"}}"#));
    assert_error(&e, ErrorCode::BadRequest, Some("7"), "missing field `type`");
    for ty in ["7", "null", "[\"prompt\"]", "{\"name\":\"prompt\"}", "true"] {
        let e = client_err(&format!(r#"{{"type":{ty},"id":"7"}}"#));
        assert_eq!(e.code, ErrorCode::BadRequest, "{e:?}");
        assert_eq!(
            e.id.as_ref().map(oqto_protocol::RequestId::as_str),
            Some("7"),
            "{e:?}"
        );
        assert!(e.message.contains("`type` must be a string"), "{e:?}");
    }
}

#[test]
fn unknown_type_is_unknown_command_and_echoes_the_id() {
    let e = client_err(r#"{"type":"session.frobnicate","id":"31"}"#);
    assert_error(
        &e,
        ErrorCode::UnknownCommand,
        Some("31"),
        "`session.frobnicate`",
    );
    // Names are case-sensitive and exact.
    let e = client_err(r#"{"type":"Prompt","id":"8","session":"s","text":"x"}"#);
    assert_error(&e, ErrorCode::UnknownCommand, Some("8"), "`Prompt`");
    // Server-to-client types are not commands.
    for ty in ["welcome", "ok", "error", "state", "session.created"] {
        let e = client_err(&format!(r#"{{"type":"{ty}","id":"9"}}"#));
        assert_error(&e, ErrorCode::UnknownCommand, Some("9"), ty);
    }
    // Without an id it is still unknown_command, with a null id.
    let e = client_err(r#"{"type":"session.frobnicate"}"#);
    assert_error(&e, ErrorCode::UnknownCommand, None, "`session.frobnicate`");
}

#[test]
fn known_command_without_id_is_bad_request() {
    let e = client_err(&format!(r#"{{"type":"session.get","session":"{SES}"}}"#));
    assert_error(&e, ErrorCode::BadRequest, None, "without an `id`");
    let e = client_err(r#"{"type":"runner.status"}"#);
    assert_error(&e, ErrorCode::BadRequest, None, "`runner.status`");
}

#[test]
fn non_string_id_is_bad_request() {
    for id in ["5", "null", "true", "[\"5\"]", "{\"n\":5}", "5.0"] {
        let e = client_err(&format!(r#"{{"type":"runner.status","id":{id}}}"#));
        assert_error(
            &e,
            ErrorCode::BadRequest,
            None,
            "field `id` must be a string",
        );
    }
}

#[test]
fn missing_required_field_names_it_and_echoes_the_id() {
    let e = client_err(r#"{"type":"session.create","id":"30","harness":"pi"}"#);
    assert_error(&e, ErrorCode::BadRequest, Some("30"), "missing field `cwd`");
    let e = client_err(r#"{"type":"session.get","id":"5"}"#);
    assert_error(
        &e,
        ErrorCode::BadRequest,
        Some("5"),
        "missing field `session`",
    );
    let e = client_err(&format!(
        r#"{{"type":"prompt","id":"8","session":"{SES}"}}"#
    ));
    assert_error(&e, ErrorCode::BadRequest, Some("8"), "missing field `text`");
    let e = client_err(&format!(r#"{{"type":"fork","id":"19","session":"{SES}"}}"#));
    assert_error(
        &e,
        ErrorCode::BadRequest,
        Some("19"),
        "missing field `message_id`",
    );
    // Nested: an image without its data.
    let line = format!(
        r#"{{"type":"prompt","id":"9","session":"{SES}","text":"x","images":[{{"mime_type":"image/png"}}]}}"#
    );
    let e = client_err(&line);
    assert_error(&e, ErrorCode::BadRequest, Some("9"), "missing field `data`");
    // The message starts with the command, so a log line says what failed.
    assert!(e.message.starts_with("prompt: "), "{e:?}");
}

#[test]
fn unknown_fields_in_commands_are_bad_request() {
    let cases = [
        // a typo of `session`
        (
            r#"{"type":"session.get","id":"5","sesion":"ses_01jd8x4k2m9q"}"#,
            "`sesion`",
        ),
        (
            r#"{"type":"session.get","id":"5","session":"ses_01jd8x4k2m9q","verbose":true}"#,
            "`verbose`",
        ),
        (r#"{"type":"runner.status","id":"28","all":true}"#, "`all`"),
        (
            r#"{"type":"runner.shutdown","id":"29","force":true}"#,
            "`force`",
        ),
        (
            r#"{"type":"prompt","id":"9","session":"s","text":"x","images":[{"mime_type":"image/png","data":"AA==","name":"a.png"}]}"#,
            "`name`",
        ),
        (
            r#"{"type":"history.search","id":"23","query":"x","filters":{"project":"a"}}"#,
            "`project`",
        ),
    ];
    for (line, field) in cases {
        let e = client_err(line);
        assert_eq!(e.code, ErrorCode::BadRequest, "{line}: {e:?}");
        assert!(e.id.is_some(), "{line}: id not echoed");
        assert!(e.message.contains("unknown field"), "{line}: {e:?}");
        assert!(e.message.contains(field), "{line}: {e:?}");
    }
}

#[test]
fn wrong_field_types_are_bad_request() {
    let cases = [
        format!(r#"{{"type":"get_messages","id":"21","session":"{SES}","limit":"ten"}}"#),
        format!(r#"{{"type":"get_messages","id":"21","session":"{SES}","limit":-1}}"#),
        format!(r#"{{"type":"get_messages","id":"21","session":"{SES}","limit":4294967296}}"#),
        format!(r#"{{"type":"session.subscribe","id":"7","session":"{SES}","after_seq":1.5}}"#),
        format!(r#"{{"type":"prompt","id":"8","session":"{SES}","text":42}}"#),
        format!(r#"{{"type":"prompt","id":"8","session":"{SES}","text":"x","images":{{}}}}"#),
        format!(r#"{{"type":"set_thinking_level","id":"16","session":"{SES}","level":"max"}}"#),
        r#"{"type":"session.list","id":"4","state":"busy"}"#.to_owned(),
        r#"{"type":"session.get","id":"5","session":null}"#.to_owned(),
        r#"{"type":"session.get","id":"5","session":7}"#.to_owned(),
        r#"{"type":"history.search","id":"23","query":"x","filters":{"role":"robot"}}"#.to_owned(),
        r#"{"type":"history.search","id":"23","query":"x","filters":"pi"}"#.to_owned(),
    ];
    for line in &cases {
        let e = client_err(line);
        assert_eq!(e.code, ErrorCode::BadRequest, "{line}: {e:?}");
        assert!(e.id.is_some(), "{line}: id not echoed");
    }
}

#[test]
fn malformed_hello_is_bad_request() {
    for (line, has) in [
        (r#"{"type":"hello","protocol":1}"#, "missing field `client`"),
        (
            r#"{"type":"hello","client":"oqtoctl/0.1.0"}"#,
            "missing field `protocol`",
        ),
        (
            r#"{"type":"hello","protocol":"1","client":"x"}"#,
            "invalid type",
        ),
        (
            r#"{"type":"hello","protocol":-1,"client":"x"}"#,
            "invalid value",
        ),
        (
            r#"{"type":"hello","protocol":1,"client":"x","token":"s3cret"}"#,
            "unknown field",
        ),
        (
            r#"{"type":"hello","id":"1","protocol":1,"client":"x"}"#,
            "unknown field `id`",
        ),
    ] {
        let e = client_err(line);
        assert_error(&e, ErrorCode::BadRequest, None, has);
        assert!(e.message.starts_with("hello: "), "{e:?}");
    }
}

/// `serde_json` stops at 128 levels of nesting; the decoders return an error, not a stack
/// overflow.
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for depth in [129, 10_000, 1_000_000] {
        let nested = deeply_nested(depth);
        let e = client_err(&nested);
        assert_error(&e, ErrorCode::BadRequest, None, "recursion limit exceeded");
        let inside = format!(r#"{{"type":"prompt","id":"8","session":"{SES}","text":{nested}}}"#);
        let e = client_err(&inside);
        assert_error(&e, ErrorCode::BadRequest, None, "recursion limit exceeded");
        let e = agent_err(&inside);
        assert_error(&e, ErrorCode::BadRequest, None, "recursion limit exceeded");
        ServerMessage::parse(&nested).expect_err("nested array");
        AgentMessage::parse(&nested).expect_err("nested array");
        let event =
            format!(r#"{{"type":"state","state":{nested},"session":"{SES}","seq":1,"ts":2}}"#);
        let err = ServerMessage::parse(&event).expect_err("nested state");
        assert!(
            err.to_string().contains("recursion limit exceeded"),
            "{err}"
        );
        let event = format!(
            r#"{{"type":"tool.start","message_id":"m1","part_id":"p1","call_id":"c","name":"bash","input":{nested}}}"#
        );
        let err = AgentMessage::parse(&event).expect_err("nested input");
        assert!(
            err.to_string().contains("recursion limit exceeded"),
            "{err}"
        );
    }
    // Well within the limit, deep tool input is fine.
    let ok = format!(
        r#"{{"type":"tool.start","message_id":"m1","part_id":"p1","call_id":"c","name":"bash","input":{}}}"#,
        deeply_nested(100)
    );
    AgentMessage::parse(&ok).expect("100 levels parse");
}

/// Junk a client, the runner or an agent might read from a broken or hostile peer: no
/// decoder accepts any of it.
fn junk() -> Vec<String> {
    let mut lines: Vec<String> = [
        "",
        "{",
        "[]",
        "null",
        "42",
        "\"ok\"",
        "{}",
        r#"{"type":7}"#,
        r#"{"type":"ok"}"#,
        r#"{"type":"ok","id":"1"}"#,
        r#"{"type":"ok","id":"1","result":{}}"#,
        r#"{"type":"ok","id":"1","result":{"type":"nope"}}"#,
        r#"{"type":"ok","id":"1","result":null}"#,
        r#"{"type":"ok","id":1,"result":{"type":"empty"}}"#,
        r#"{"type":"error"}"#,
        r#"{"type":"error","id":"1","code":5,"message":"x"}"#,
        r#"{"type":"error","id":"1","code":"internal"}"#,
        r#"{"type":"welcome"}"#,
        r#"{"type":"state"}"#,
        r#"{"type":"state","session":"s","seq":1,"ts":2}"#,
        r#"{"type":"state","state":"napping","session":"s","seq":1,"ts":2}"#,
        r#"{"type":"state","state":"idle","session":"s","seq":1,"ts":1e400}"#,
        r#"{"type":"part.start","message_id":"m1","part":{"type":"hologram","id":"p1"}}"#,
        r#"{"type":"part.start","message_id":"m1","part":{"type":"tool_call","id":"p1"}}"#,
        r#"{"type":"message.end","message":{"id":"m1"}}"#,
        r#"{"type":"nonsense","session":"s","seq":1,"ts":2}"#,
        r#"{"type":"resync","session":"s","seq":1,"ts":2,"reason":"too_far_behind"}"#,
        "{\"type\":\"state\",\"state\":\"idle\",\"session\":\"\\udc00\",\"seq\":1,\"ts\":2}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    lines.push(deeply_nested(100_000));
    lines.push(format!(
        "{{\"type\":\"ok\",\"id\":\"{}\"",
        "x".repeat(1 << 20)
    ));
    lines
}

#[test]
fn decoders_reject_junk_without_panicking() {
    for line in junk() {
        let short: String = line.chars().take(80).collect();
        assert!(
            ServerMessage::parse(&line).is_err(),
            "ServerMessage accepted {short}"
        );
        assert!(
            AgentMessage::parse(&line).is_err(),
            "AgentMessage accepted {short}"
        );
        assert!(
            ClientMessage::parse(&line).is_err(),
            "ClientMessage accepted {short}"
        );
        assert!(
            AgentRequest::parse(&line).is_err(),
            "AgentRequest accepted {short}"
        );
    }
}

/// Events from the runner need a valid `session`, `seq` and `ts`; an agent's events carry
/// none (extra fields in them are ignored, like in every inbound message of a client).
#[test]
fn server_events_need_a_valid_envelope() {
    for line in [
        r#"{"type":"state","state":"idle"}"#,
        r#"{"type":"state","state":"idle","seq":1,"ts":2}"#,
        r#"{"type":"state","state":"idle","session":"s","ts":2}"#,
        r#"{"type":"state","state":"idle","session":"s","seq":1}"#,
        r#"{"type":"state","state":"idle","session":"s","seq":-1,"ts":2}"#,
        r#"{"type":"state","state":"idle","session":"s","seq":"1","ts":2}"#,
        r#"{"type":"state","state":"idle","session":"s","seq":1,"ts":2.5}"#,
        r#"{"type":"state","state":"idle","session":1,"seq":1,"ts":2}"#,
        r#"{"type":"state","state":"idle","session":null,"seq":1,"ts":2}"#,
    ] {
        let err = ServerMessage::parse(line).expect_err(line);
        assert!(!err.to_string().is_empty());
    }
    let e = ServerMessage::parse(r#"{"type":"state","state":"idle","seq":1,"ts":2}"#).unwrap_err();
    assert!(e.to_string().contains("event without `session`"), "{e}");
    AgentMessage::parse(r#"{"type":"state","state":"idle"}"#).expect("agent event");
}

#[test]
fn agent_request_errors() {
    let e = agent_err("{\"type\":\"init\"");
    assert_error(&e, ErrorCode::BadRequest, None, "invalid JSON");
    let e = agent_err("[1]");
    assert_error(&e, ErrorCode::BadRequest, None, "an array");
    let e = agent_err(r#"{"id":"1","protocol":1}"#);
    assert_error(&e, ErrorCode::BadRequest, Some("1"), "missing field `type`");
    let e = agent_err(r#"{"type":"teleport","id":"3"}"#);
    assert_error(&e, ErrorCode::UnknownCommand, Some("3"), "`teleport`");
    // Client commands are not agent commands.
    let e = agent_err(&format!(
        r#"{{"type":"session.get","id":"4","session":"{SES}"}}"#
    ));
    assert_error(&e, ErrorCode::UnknownCommand, Some("4"), "`session.get`");
    let e = agent_err(r#"{"type":"abort"}"#);
    assert_error(&e, ErrorCode::BadRequest, None, "without an `id`");
    let e = agent_err(r#"{"type":"abort","id":6}"#);
    assert_error(
        &e,
        ErrorCode::BadRequest,
        None,
        "field `id` must be a string",
    );
    let e = agent_err(r#"{"type":"init","id":"1","protocol":1,"cwd":"/home/ada/proj"}"#);
    assert_error(
        &e,
        ErrorCode::BadRequest,
        Some("1"),
        "missing field `session`",
    );
    let e = agent_err(r#"{"type":"set_thinking_level","id":"10","level":"max"}"#);
    assert_error(
        &e,
        ErrorCode::BadRequest,
        Some("10"),
        "set_thinking_level: ",
    );
    let e = agent_err(r#"{"type":"steer","id":"4","text":["a"]}"#);
    assert_error(&e, ErrorCode::BadRequest, Some("4"), "invalid type");
}

/// Unlike client commands, agent commands tolerate unknown fields, so a newer runner can add
/// optional arguments without breaking older agents.
#[test]
fn agent_commands_ignore_unknown_fields() {
    let req = AgentRequest::parse(r#"{"id":"6","type":"abort","reason":"user"}"#)
        .expect("unknown field ignored");
    assert_eq!(req.to_line(), r#"{"id":"6","type":"abort"}"#);
}

#[test]
fn unknown_error_codes_parse_as_other() {
    let code: ErrorCode = serde_json::from_str("\"quota_exceeded\"").unwrap();
    assert_eq!(code, ErrorCode::Other);
    let line =
        r#"{"type":"error","id":"3","code":"quota_exceeded","message":"monthly quota used up"}"#;
    let ServerMessage::Error(e) = ServerMessage::parse(line).unwrap() else {
        panic!("not an error: {line}");
    };
    assert_eq!(e.code, ErrorCode::Other);
    assert_eq!(e.id, Some(RequestId::from("3")));
    assert_eq!(e.message, "monthly quota used up");
    let AgentMessage::Error(e) = AgentMessage::parse(line).unwrap() else {
        panic!("not an error: {line}");
    };
    assert_eq!(e.code, ErrorCode::Other);
    // Known codes keep their identity.
    let code: ErrorCode = serde_json::from_str("\"too_large\"").unwrap();
    assert_eq!(code, ErrorCode::TooLarge);
}

/// Clients ignore fields they do not know in server messages, so the runner can add
/// optional fields without a protocol bump.
#[test]
fn unknown_fields_in_server_messages_are_ignored() {
    let cases = [
        r#"{"type":"welcome","protocol":1,"server":"oqto-runner","version":"0.2.0","capabilities":[],"harnesses":[],"motd":"hi"}"#,
        r#"{"type":"ok","id":"8","result":{"type":"empty","queued":true},"elapsed_ms":3}"#,
        r#"{"type":"error","id":"5","code":"session_not_found","message":"no session","hint":"oqtoctl sessions"}"#,
        r#"{"type":"state","state":"idle","since":1795515907038,"session":"ses_01jd8x4k2m9q","seq":2,"ts":1795515908878}"#,
        r#"{"type":"part.start","message_id":"msg_01jd8x4m7f2a","part":{"type":"text","id":"prt_01jd8x4m7f2c","text":"","lang":"en"},"session":"ses_01jd8x4k2m9q","seq":15,"ts":1795515913430}"#,
    ];
    for line in cases {
        let msg = ServerMessage::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_ne!(
            msg.to_line(),
            line,
            "the unknown field is dropped on re-serializing"
        );
    }
}

/// The decode errors shown in `server.jsonl` are exactly what the decoder produces.
#[test]
fn golden_decode_errors_are_what_the_decoder_says() {
    let golden: Vec<String> = support::lines("server.jsonl")
        .into_iter()
        .map(|l| l.text)
        .collect();
    for input in [
        r#"{"type":"session.create","id":"30","harness":"pi"}"#,
        r#"{"type":"session.frobnicate","id":"31"}"#,
        r#"{"type":"prompt","id":"41","session":"ses_01jd8x4k2m9q","text":"hi""#,
    ] {
        let reply = ServerMessage::Error(client_err(input)).to_line();
        assert!(
            golden.contains(&reply),
            "server.jsonl lacks the reply to {input}: {reply}"
        );
    }
}

#[test]
fn unknown_capabilities_in_ready_are_skipped_not_fatal() {
    let line = r#"{"type":"ok","id":"1","result":{"type":"ready","agent":"newer/2.0","capabilities":["steer","teleport","images"]}}"#;
    let parsed = AgentMessage::parse(line).expect("a newer agent's ready parses");
    let text = format!("{parsed:?}");
    assert!(text.contains("Steer") && text.contains("Images"), "{text}");
    assert!(!text.contains("teleport"), "{text}");
    let bad = r#"{"type":"ok","id":"1","result":{"type":"ready","agent":"x","capabilities":[7]}}"#;
    AgentMessage::parse(bad).expect_err("a non-string capability is an error");
}
