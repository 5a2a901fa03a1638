//! Oqto's own fake LLM provider, as a library: the `oqto-fake-llm` program serves it, the
//! runner serves it in-process as the bundled demo model, and tests start it in the
//! background.
//!
//! A small HTTP server speaking four model APIs, whose answers are scripted, so the same request
//! always gets the same reply. One script ([`script`]) decides every reply; each wire module
//! ([`openai`], [`anthropic`], [`gemini`], [`responses`]) only reduces its request to a
//! conversation and renders the reply in its shape ([`wire`]). The tests drive the real `pi` coding agent with it, and a first-time user
//! without an API key gets it as the bundled **demo** model: `oqto-fake-llm pi-config` (or
//! [`pi_models_json`]) prints the pi `models.json` that points pi's `demo` provider at it.
//!
//! It listens on a loopback address only and serves:
//!
//! | Route | Answer |
//! |---|---|
//! | `POST /v1/chat/completions` | a scripted reply: SSE `chat.completion.chunk` events when `stream` is true (ending with a usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`), else one `chat.completion` object |
//! | `POST /v1/messages` | Anthropic Messages: named SSE events (`message_start`, `content_block_*` with `text_delta`, `thinking_delta`, `input_json_delta`, `message_delta`, `message_stop`) when `stream` is true, else one `message` |
//! | `POST /v1/messages/count_tokens` | `{"input_tokens": N}` |
//! | `POST /v1beta/models/<model>:generateContent` | Gemini: one `GenerateContentResponse` |
//! | `POST /v1beta/models/<model>:streamGenerateContent` | Gemini: one response per delta, as SSE `data:` lines with `?alt=sse`, else a JSON array |
//! | `POST /v1beta/models/<model>:countTokens` | `{"totalTokens": N}` |
//! | `POST /v1/responses` | `OpenAI` Responses: named SSE events (`response.created` … `response.completed`) when `stream` is true, else one `response` |
//! | `GET /v1/models` | the models in [`MODELS`] |
//! | `GET /health` | `ok` |
//! | `GET /stats` | counters: `chat_requests` (model requests of every API), `scripted_failures`, `active_streams`, `completed_streams`, `cancelled_streams` |
//!
//! A body that is not JSON, or not a request of that API, gets HTTP 400 with that API's error
//! body (`OpenAI`: `{"error":{"message":…,"type":"invalid_request_error"}}`; Anthropic:
//! `{"type":"error","error":{…}}`; Gemini: `{"error":{"code":…,"message":…,"status":…}}`). Any
//! model id is answered.
//!
//! # The script
//!
//! The reply is decided by the **last message** of the request; user content may be a string or
//! an array of text parts (parts wholly wrapped in a tag, like Claude Code's
//! `<system-reminder>…</system-reminder>`, are left out when there are others). The first rule
//! that matches wins:
//!
//! 1. The last message is a tool result (role `tool`, an Anthropic `tool_result`, a Gemini
//!    `functionResponse`, a Responses `function_call_output`): the text `done: <first line of
//!    the tool output>`, which ends the agent's tool turn. Output wrapped in one tag is
//!    unwrapped, and output framed with an `Output:` line (Codex, Gemini CLI) is quoted from
//!    there.
//! 2. A compaction request (the system prompt starts with "You are a context summarization
//!    assistant", or the last user text contains `<conversation>`): the text
//!    `SUMMARY: <N> messages summarised by oqto-fake-llm.`, N being the number of non-system
//!    messages.
//! 3. `tool:bash <command>` at the start of a word: a call of the tool `bash` with the arguments
//!    `{"command": "<rest of that line>"}`. `tool:<name> <json>` calls `<name>` with that JSON
//!    object as its arguments (`{}` when there is none; invalid JSON gets a text reply saying
//!    so). Tool-call ids are `call_` and 12 hex digits, a hash of the call and the conversation.
//!    The arguments are streamed in several pieces.
//! 4. The word `fail:<status>` (400-599): that HTTP status with the body
//!    `{"error":{"message":"oqto-fake-llm scripted failure <status>","type":"server_error"}}`.
//!    The word `flaky:<status>` fails like that the *first* time this server sees that exact
//!    text, and answers like rule 7 afterwards: a client's retry succeeds.
//! 5. The word `slow` or `slow:<N>`: N words (default 40) `word1 word2 …`, one delta each,
//!    each after `--slow-delay-ms` (default 50 ms). The stream stops as soon as the client
//!    disconnects, so it is what abort tests use.
//! 6. The word `think`: reasoning deltas (`delta.reasoning_content`: `Thinking about: <text>`)
//!    first, then the rule 7 text.
//! 7. Anything else: `echo: <text>`, in about five deltas with `--delay-ms` (default 0) before
//!    each.
//!
//! Usage is reported as about a quarter of the characters: `prompt_tokens` from all messages,
//! `completion_tokens` from the reply, each at least 1.
//!
//! # Embedding
//!
//! [`serve`] runs the server on a listener the caller binds (tests use `127.0.0.1:0`) until a
//! shutdown future completes. `--log FILE` ([`Config::request_log`]) appends every request body
//! as one JSON line, for tests that assert what the client sent.

pub mod agents;
pub mod anthropic;
mod background;
mod config;
pub mod gemini;
mod http;
pub mod openai;
pub mod responses;
pub mod script;
pub mod wire;

use std::net::SocketAddr;

pub use background::{Background, pi_settings_json, write_pi_agent_dir};
pub use config::Config;
pub use http::serve;

/// The pi provider name in [`pi_models_json`].
pub const PROVIDER: &str = "demo";
/// The model pi uses by default in demo mode.
pub const DEFAULT_MODEL: &str = "oqto-demo";
/// The API key written into the pi configuration. The server accepts any key.
pub const API_KEY: &str = "oqto-demo-key";

/// One model this server offers.
#[derive(Clone, Copy, Debug)]
pub struct ModelInfo {
    /// The model id clients send.
    pub id: &'static str,
    /// The display name in pi.
    pub name: &'static str,
    /// Whether pi treats it as a reasoning ("thinking") model.
    pub reasoning: bool,
}

/// The models `GET /v1/models` lists and [`pi_models_json`] configures. All of them answer with
/// the same script.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        id: "oqto-demo",
        name: "Oqto demo (fake LLM)",
        reasoning: false,
    },
    ModelInfo {
        id: "oqto-demo-2",
        name: "Oqto demo 2 (fake LLM)",
        reasoning: false,
    },
    ModelInfo {
        id: "oqto-demo-think",
        name: "Oqto demo with thinking (fake LLM)",
        reasoning: true,
    },
];

/// The pi `models.json` (for `$PI_CODING_AGENT_DIR/models.json`) that defines the provider
/// [`PROVIDER`] with the [`MODELS`] of a server at `base_url` (e.g. `http://127.0.0.1:41235/v1`).
pub fn pi_models_json(base_url: &str) -> serde_json::Value {
    let models: Vec<serde_json::Value> = MODELS
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id,
                "name": m.name,
                "reasoning": m.reasoning,
                "input": ["text"],
                "contextWindow": 32_000,
                "maxTokens": 4096,
                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
            })
        })
        .collect();
    serde_json::json!({
        "providers": {
            PROVIDER: {
                "baseUrl": base_url,
                "api": "openai-completions",
                "apiKey": API_KEY,
                "compat": {"supportsDeveloperRole": false, "supportsReasoningEffort": false},
                "models": models,
            }
        }
    })
}

/// The base URL clients use for a server listening on `addr`: `http://<addr>/v1`.
pub fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}/v1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi_config_names_the_models_and_the_url() {
        let v = pi_models_json("http://127.0.0.1:1234/v1");
        let demo = &v["providers"]["demo"];
        assert_eq!(demo["baseUrl"], "http://127.0.0.1:1234/v1");
        assert_eq!(demo["api"], "openai-completions");
        assert_eq!(demo["compat"]["supportsDeveloperRole"], false);
        let ids: Vec<&str> = demo["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["oqto-demo", "oqto-demo-2", "oqto-demo-think"]);
        assert_eq!(demo["models"][0]["name"], "Oqto demo (fake LLM)");
        assert_eq!(demo["models"][2]["reasoning"], true);
    }

    #[test]
    fn base_url_brackets_ipv6() {
        assert_eq!(
            base_url("127.0.0.1:80".parse().unwrap()),
            "http://127.0.0.1:80/v1"
        );
        assert_eq!(base_url("[::1]:80".parse().unwrap()), "http://[::1]:80/v1");
    }
}
