//! `oqto-fake-llm`: Oqto's own fake LLM provider.
//!
//! A small OpenAI-compatible HTTP server whose answers are scripted, so the same request always
//! gets the same reply. The tests drive the real `pi` coding agent with it, and a first-time user
//! without an API key gets it as the bundled **demo** model: `oqto-fake-llm pi-config` (or
//! [`pi_models_json`]) prints the pi `models.json` that points pi's `demo` provider at it.
//!
//! It listens on a loopback address only and serves:
//!
//! | Route | Answer |
//! |---|---|
//! | `POST /v1/chat/completions` | a scripted reply: SSE `chat.completion.chunk` events when `stream` is true (ending with a usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`), else one `chat.completion` object |
//! | `GET /v1/models` | the models in [`MODELS`] |
//! | `GET /health` | `ok` |
//! | `GET /stats` | counters: `chat_requests`, `scripted_failures`, `active_streams`, `completed_streams`, `cancelled_streams` |
//!
//! A body that is not JSON, or not a chat request, gets HTTP 400 with an OpenAI-style
//! `{"error":{"message":…,"type":"invalid_request_error"}}`. Any model id is answered (an unknown
//! one is logged as a warning).
//!
//! # The script
//!
//! The reply is decided by the **last message** of the request; user content may be a string or
//! an array of `{"type":"text","text":…}` parts. The first rule that matches wins:
//!
//! 1. The last message is a tool result (role `tool`): the text `done: <first line of the tool
//!    output>`, which ends the agent's tool turn.
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

mod background;
mod cli;
mod config;
mod http;
pub mod openai;
pub mod script;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;
use oqto_cli::{Exit, ManExtra};
use tokio::net::TcpListener;
use tracing::info;

pub use background::{Background, pi_settings_json, write_pi_agent_dir};
pub use cli::{Cli, Command, ServeArgs};
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

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Man page sections beyond the clap definition.
pub const MAN: ManExtra = ManExtra {
    environment: &[],
    files: &[],
    see_also: &["oqto-runner(1)", "oqtoctl(1)"],
};

/// Runs the program: serves until SIGTERM or SIGINT, or prints the pi configuration.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Some(Command::PiConfig { base_url }) => {
            let json = serde_json::to_string_pretty(&pi_models_json(&base_url))?;
            writeln!(std::io::stdout().lock(), "{json}").context("writing to stdout")?;
            Ok(Exit::Ok)
        }
        None => run_server(cli.serve),
    }
}

fn run_server(args: ServeArgs) -> anyhow::Result<Exit> {
    let (listen, config) = config::resolve(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind(listen.addr)
            .await
            .with_context(|| format!("cannot listen on {}", listen.addr))?;
        let addr = listener
            .local_addr()
            .context("reading the listening address")?;
        // Handlers go in before the URL is announced: a parent may signal right after reading it.
        let shutdown = shutdown_signal()?;
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", base_url(addr)).context("writing the base URL to stdout")?;
            stdout.flush().context("writing the base URL to stdout")?;
        }
        if let Some(path) = &listen.port_file {
            write_atomically(path, &format!("{}\n", addr.port()))
                .await
                .with_context(|| format!("writing the port file {}", path.display()))?;
        }
        info!(%addr, "listening");
        let served = serve(listener, config, shutdown).await;
        if let Some(path) = &listen.port_file {
            let _ = tokio::fs::remove_file(path).await;
        }
        served.map(|()| Exit::Ok)
    })
}

/// Completes on the first SIGTERM or SIGINT. The handlers are installed when this is called.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = int.recv() => info!("SIGINT received"),
        }
    })
}

/// Writes `contents` to a temporary file beside `path`, then renames it into place, so a
/// reader sees either no file or the whole content.
async fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    tokio::fs::write(&tmp, contents).await?;
    if let Err(err) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(err);
    }
    Ok(())
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

    #[test]
    fn command_is_consistent() {
        command().debug_assert();
    }

    #[tokio::test]
    async fn port_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("port");
        write_atomically(&path, "1\n").await.unwrap();
        write_atomically(&path, "4242\n").await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4242\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
