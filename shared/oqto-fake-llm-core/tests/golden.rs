//! Golden transcripts of every wire format: the script's reply to a text, a thinking and a tool
//! turn, rendered as each API's server-sent events (`*.sse`) and whole body (`*.json`), compared
//! byte for byte with the files under `tests/golden/`. `UPDATE_GOLDEN=1` rewrites them (read the
//! diff before committing it).

use std::path::PathBuf;

use oqto_fake_llm_core::script::{self, Plan, Reply, Role, Turn};
use oqto_fake_llm_core::wire::{Api, Ctx, Request};

const CASES: &[(&str, &str)] = &[
    ("text", "hello"),
    ("think", "think hard"),
    ("tool", "tool:bash echo hi"),
];

const APIS: &[(&str, Api)] = &[
    ("chat", Api::ChatCompletions),
    ("anthropic", Api::Messages),
    ("gemini", Api::Gemini),
    ("responses", Api::Responses),
];

fn reply(prompt: &str) -> Reply {
    let turns = [
        Turn::new(Role::System, "You are a test."),
        Turn::new(Role::User, prompt),
    ];
    match script::plan(&turns) {
        Plan::Reply(r) => r,
        other => panic!("{prompt}: {other:?}"),
    }
}

fn check(name: &str, actual: &str, mismatches: &mut Vec<String>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        mismatches.push(format!(
            "{name} differs.\n--- expected\n{expected}\n--- actual\n{actual}"
        ));
    }
}

#[test]
fn every_api_renders_the_script_as_its_golden_transcript() {
    let mut mismatches = Vec::new();
    for (api_name, api) in APIS {
        for (case, prompt) in CASES {
            let reply = reply(prompt);
            let id = api.response_id(7);
            let ctx = Ctx {
                id: &id,
                model: "oqto-demo",
                created: 1_700_000_000,
            };
            let req = Request {
                include_usage: true,
                ..Request::default()
            };
            let sse: String = api
                .events(&reply, ctx, &req)
                .into_iter()
                .map(|e| e.bytes)
                .collect();
            check(&format!("{api_name}-{case}.sse"), &sse, &mut mismatches);
            let whole = serde_json::to_string_pretty(&api.whole(&reply, ctx)).unwrap() + "\n";
            check(&format!("{api_name}-{case}.json"), &whole, &mut mismatches);
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn paced_events_are_exactly_the_deltas() {
    // The configured pause goes before each delta and nowhere else, in every API.
    for (api_name, api) in APIS {
        for (case, prompt) in CASES {
            let reply = reply(prompt);
            let id = api.response_id(1);
            let ctx = Ctx {
                id: &id,
                model: "m",
                created: 0,
            };
            let paced = api
                .events(&reply, ctx, &Request::default())
                .iter()
                .filter(|e| e.paced)
                .count();
            let expected = match api {
                // One response per delta; a tool call is one part.
                Api::Gemini => reply
                    .deltas
                    .iter()
                    .filter(|d| !matches!(d, script::Delta::ToolCallArguments(_)))
                    .count(),
                // A chunk per delta.
                Api::ChatCompletions => reply.deltas.len(),
                // The tool call's start is an unpaced block start.
                Api::Messages | Api::Responses => reply
                    .deltas
                    .iter()
                    .filter(|d| !matches!(d, script::Delta::ToolCallStart { .. }))
                    .count(),
            };
            assert_eq!(paced, expected, "{api_name} {case}");
        }
    }
}
