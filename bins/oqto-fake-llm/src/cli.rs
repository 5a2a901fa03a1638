//! Raw command-line arguments, as clap parses them. [`crate::config`] validates them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use oqto_cli::LogArgs;

const AFTER_LONG_HELP: &str = "\
The reply is decided by the last message of each request:
  a tool result                      done: <first line of the tool output>
  a compaction request               SUMMARY: <N> messages summarised by oqto-fake-llm.
  tool:bash <command>                a `bash` tool call running <command>
  tool:<name> <json>                 a `<name>` tool call with the JSON arguments
  fail:<status>                      that HTTP error status (400-599)
  flaky:<status>                     that error the first time the exact text is sent, then echo
  slow or slow:<N>                   N (default 40) words, one per --slow-delay-ms
  think                              reasoning deltas, then echo
  anything else                      echo: <text>

The same script answers every API: OpenAI chat completions (pi, opencode), Anthropic
Messages (Claude Code), Gemini generateContent (Gemini CLI) and OpenAI Responses (Codex).

Examples:
  oqto-fake-llm --port 0 --port-file /tmp/llm.port
  oqto-fake-llm pi-config --base-url http://127.0.0.1:41235/v1 > ~/.pi/agent/models.json
  oqto-fake-llm agent-env claude --base-url http://127.0.0.1:41235/v1 --home /tmp/claude-home
  oqto-fake-llm agent-config codex --base-url http://127.0.0.1:41235/v1 > /tmp/codex-home/.codex/config.toml";

/// Serves `POST /v1/chat/completions`, `/v1/messages`, `/v1/responses` and
/// `/v1beta/models/MODEL:generateContent` (streaming or not), `GET /v1/models`, `GET /health` and
/// `GET /stats` on a loopback address until SIGTERM or SIGINT. It prints its base URL (for
/// example `http://127.0.0.1:41235/v1`) as the only line on stdout once it listens. Replies are
/// scripted from the last message, so tests and demos get the same answer every time.
#[derive(Debug, Parser)]
#[command(
    name = "oqto-fake-llm",
    version,
    about = "A deterministic fake LLM provider speaking the OpenAI, Anthropic and Gemini APIs",
    args_conflicts_with_subcommands = true,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub log: LogArgs,
}

/// The flags of the server (the default command).
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: a loopback address (127.0.0.0/8, the IPv6 loopback, or localhost)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks any free port)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port: u16,

    /// Once listening, write the port number to this file (atomically: temp file and rename)
    #[arg(long, value_name = "PATH")]
    pub port_file: Option<PathBuf>,

    /// Append each chat-completion request body to FILE, one JSON object per line
    #[arg(long = "log", value_name = "FILE")]
    pub request_log: Option<PathBuf>,

    /// Pause before each streamed delta, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delay_ms: u64,

    /// Pause before each word of a `slow` reply, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub slow_delay_ms: u64,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the pi `models.json` that points pi's `demo` provider at a running server
    PiConfig {
        /// The server's base URL, the line it prints on stdout when it starts
        #[arg(long, value_name = "URL")]
        base_url: String,
    },

    /// Print the environment (NAME=VALUE lines) that points an agent at a running server
    ///
    /// The agent keeps its configuration and state under DIR, never in the user's own
    /// (`CLAUDE_CONFIG_DIR=DIR/.claude`, `GEMINI_CLI_HOME=DIR`, `CODEX_HOME=DIR/.codex`). Gemini
    /// CLI and Codex also read a file there: `agent-config` prints it.
    AgentEnv {
        /// The agent
        #[arg(value_enum)]
        agent: AgentName,

        /// The server's base URL, the line it prints on stdout when it starts
        #[arg(long, value_name = "URL")]
        base_url: String,

        /// The agent's private home directory
        #[arg(long, value_name = "DIR")]
        home: PathBuf,
    },

    /// Print the configuration file an agent reads: Gemini CLI's settings.json
    /// (`$GEMINI_CLI_HOME/.gemini/settings.json`) or Codex's config.toml
    /// (`$CODEX_HOME/config.toml`); Claude Code needs none
    AgentConfig {
        /// The agent: gemini or codex
        #[arg(value_enum)]
        agent: AgentName,

        /// The server's base URL, the line it prints on stdout when it starts
        #[arg(long, value_name = "URL")]
        base_url: String,
    },
}

/// An agent `agent-env` and `agent-config` know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentName {
    /// Claude Code via claude-agent-acp (Anthropic Messages API)
    Claude,
    /// Gemini CLI (Gemini API)
    Gemini,
    #[value(help = "Codex via codex-acp (OpenAI Responses API)")]
    Codex,
}
