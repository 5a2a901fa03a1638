//! Raw command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use oqto_cli::{LogArgs, PasswordArgs, TokenCommand};

use crate::render::{ColorChoice, Output};

/// The Oqto command line: run agents from a shell, a pipe or cron
#[derive(Debug, Parser)]
#[command(
    name = "oqtoctl",
    version,
    arg_required_else_help = true,
    long_about = "The Oqto command line: run coding agents from a shell, a pipe or cron.\n\nEvery command talks to the per-user oqto-runner over its Unix socket. When no runner answers, oqtoctl starts one in the background (its log goes to $XDG_STATE_HOME/oqto/runner.log) unless --no-autostart is given.\n\nWith --relay URL (or OQTO_RELAY) and an API token (OQTO_TOKEN, or --token-file), the same commands talk to a runner on another machine through its oqto-relay, with the same output and exit codes; commands that manage local programs (runner start|stop|logs, web, token) say they cannot.\n\nOn a pipe, `prompt` and `attach` print canonical events as JSON lines (one object per line, flushed as they happen); on a terminal they print a rendering for people."
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Talk to the runner on this socket (default: as the runner resolves it)
    #[arg(long, global = true, value_name = "PATH", env = "OQTO_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Fail (exit 3) instead of starting a runner when none answers
    #[arg(long, global = true)]
    pub no_autostart: bool,
    // The help texts name URLs and variables as they are typed (not as rustdoc wants).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "OQTO_RELAY",
        help = "Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file"
    )]
    pub relay: Option<String>,
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "OQTO_TOKEN_FILE",
        help = "With --relay: read the API token from this file (instead of OQTO_TOKEN)"
    )]
    pub token_file: Option<PathBuf>,
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "OQTO_RELAY_CA",
        help = "With --relay over https/wss: also trust the CA certificates in this PEM file"
    )]
    pub relay_ca: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send a prompt to an agent and follow the turn until it ends
    Prompt(PromptArgs),
    /// List sessions, newest activity first
    #[command(visible_alias = "ls")]
    Sessions(SessionsArgs),
    /// Show, delete, rename or close one session
    #[command(subcommand)]
    Session(SessionCommand),
    /// Follow a session's events live (reconnecting across runner restarts)
    Attach(AttachArgs),
    /// Stop the session's running turn
    Abort(IdArg),
    /// Redirect the running turn: delivered after the current tool calls finish
    Steer(IdText),
    /// Queue a message for when the agent would otherwise stop
    #[command(name = "follow-up")]
    FollowUp(IdText),
    /// Print a session's stored messages
    Messages(MessagesArgs),
    /// Search and import the conversation history
    #[command(subcommand)]
    History(HistoryCommand),
    /// List the models a harness can use
    Models(ModelsArgs),
    /// The audit log: permissions asked and who answered them, tool calls started and ended
    Audit(AuditArgs),
    /// Start, stop and inspect the runner
    #[command(subcommand)]
    Runner(RunnerCommand),
    /// Check the set-up: pi, bubblewrap, the socket, the runner, the model
    Doctor(JsonArg),
    /// Open a shell on a terminal the runner owns (sandboxed like the agent), or attach to one
    #[command(
        long_about = "Open a shell on a terminal the runner owns, in a session's workspace (with its sandbox policy) or in a directory (the default policy), and attach this terminal to it.\n\nWhile attached, this terminal is in raw mode; its size follows the window. Ctrl-] then d detaches and leaves the shell running (Ctrl-] twice sends one Ctrl-]); `oqtoctl shell --attach ID` comes back to it, with its scrollback. The shell ends when it exits, on `terminal.close`, or when the runner stops.\n\nExits 0 when the program exited 0 or after a detach, 1 when it exited otherwise."
    )]
    Shell(ShellArgs),
    /// List the runner's terminals
    Terminals(JsonArg),
    /// Print a shell completion script to stdout
    Completions(crate::cmd::completions::Args),
    /// Print a one-time login link for the web UI (starting oqto-relay if none runs)
    Web(WebArgs),
    /// Create, list and revoke API tokens for the relay
    #[command(subcommand)]
    Token(TokenCommand),
    /// Set the password of the relay's login page (read twice from the terminal, or one line of stdin)
    Password(PasswordArgs),
}

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Also open the link in a browser (xdg-open)
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Args)]
pub struct PromptArgs {
    /// The prompt; `-` (or nothing, with stdin not a terminal) reads it from stdin
    #[arg(value_name = "TEXT", conflicts_with = "file")]
    pub text: Option<String>,
    /// Read the prompt from this file
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Continue this session instead of starting a new one
    #[arg(long, short = 's', value_name = "ID", conflicts_with = "new")]
    pub session: Option<String>,
    /// Start a new session (the default)
    #[arg(long)]
    pub new: bool,
    /// The agent's working directory for a new session
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub cwd: PathBuf,
    /// The harness for a new session (default: the runner's; `demo` when pi has no model configured)
    #[arg(long, value_name = "NAME")]
    pub harness: Option<String>,
    /// The model for a new session: `ID` or `PROVIDER/ID`
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: Option<String>,
    /// The sandbox profile for a new session
    #[arg(long, value_name = "PROFILE")]
    pub sandbox: Option<String>,
    /// A title for a new session (default: from the prompt)
    #[arg(long, value_name = "TITLE")]
    pub title: Option<String>,
    /// Give up after this long (e.g. `90s`, `10m`): the turn is aborted, exit 6
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,
    /// What to print (default: `events` on a pipe, `human` on a terminal)
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Output>,
    /// Colour in human output
    #[arg(long, value_enum, default_value_t)]
    pub color: ColorChoice,
    /// Print the session id and return; the turn goes on in the runner
    #[arg(long, short = 'd', conflicts_with_all = ["output", "timeout", "approve"])]
    pub detach: bool,
    /// How to answer the agent's permission requests without asking (default: ask on a
    /// terminal; refuse on a pipe, with an error naming this flag)
    #[arg(long, value_enum, value_name = "WHICH")]
    pub approve: Option<crate::cmd::approve::Approve>,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Only sessions in this state
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
    /// Only sessions of this harness
    #[arg(long, value_name = "NAME")]
    pub harness: Option<String>,
    /// Only sessions whose directory is this one or below it
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// One JSON object per line
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum StateArg {
    Starting,
    Idle,
    Working,
    Error,
    Stopped,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Everything the runner knows of a session
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete sessions with their history (their harnesses are stopped)
    #[command(visible_alias = "delete")]
    Rm {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Give a session a new title
    Rename { id: String, title: String },
    /// Stop a session's harness; the session and its history stay
    Close { id: String },
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    pub id: String,
    /// First replay every event after this seq
    #[arg(long, value_name = "N")]
    pub after_seq: Option<u64>,
    /// What to print (default: `events` on a pipe, `human` on a terminal)
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Output>,
    /// Colour in human output
    #[arg(long, value_enum, default_value_t)]
    pub color: ColorChoice,
    /// Exit once the session is at rest (when the running turn ends, or at once if none runs), with the status `prompt` gives for its last turn (5 failed, 7 aborted)
    #[arg(long)]
    pub until_idle: bool,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Open it in this session's workspace, under the session's sandbox policy
    #[arg(value_name = "SESSION", conflicts_with_all = ["cwd", "attach"])]
    pub session: Option<String>,
    /// Open it in this directory, under the default sandbox policy (default: the current one)
    #[arg(long, value_name = "DIR", conflicts_with = "attach")]
    pub cwd: Option<std::path::PathBuf>,
    /// Attach to this running terminal instead of opening one (see `oqtoctl terminals`)
    #[arg(long, value_name = "ID")]
    pub attach: Option<String>,
    /// The program to run instead of the user's shell, after `--`
    #[arg(last = true, value_name = "COMMAND", conflicts_with = "attach")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct IdArg {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct IdText {
    pub id: String,
    /// The message; `-` reads it from stdin
    pub text: String,
}

#[derive(Debug, Args)]
pub struct MessagesArgs {
    pub id: String,
    /// How many of the newest messages
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: u32,
    /// Only messages before this message id (paging backwards)
    #[arg(long, value_name = "MESSAGE_ID")]
    pub before: Option<String>,
    /// One JSON message per line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Full-text search over every stored message of every session
    Search(SearchArgs),
    /// Import conversations a harness kept on its own (read-only for them)
    Import {
        /// Where from: `pi` (its session files)
        #[arg(value_enum)]
        source: ImportArg,
        /// The harness's directory (pi: its agent directory; default: the one pi runs with, `PI_CODING_AGENT_DIR` from runner.toml or the environment, else `~/.pi/agent`)
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ImportArg {
    Pi,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words, `"a phrase"`, or `prefix*`
    pub query: String,
    /// Only sessions of this harness
    #[arg(long, value_name = "NAME")]
    pub harness: Option<String>,
    /// Only sessions whose directory is this one or below it
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Only this session
    #[arg(long, short = 's', value_name = "ID")]
    pub session: Option<String>,
    /// Only messages of this role
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Only messages newer than this (a duration like `7d`, `12h`)
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Only messages older than this (a duration like `30d`)
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub until: Option<std::time::Duration>,
    /// At most this many hits
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,
    /// One JSON hit per line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this session
    #[arg(long, short = 's', value_name = "ID")]
    pub session: Option<String>,
    /// Only entries newer than this (a duration like `7d`, `12h`)
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Only entries whose summary contains this text (case-insensitive)
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// At most this many entries (the newest)
    #[arg(long, short = 'n', default_value_t = 100)]
    pub limit: u32,
    /// One JSON entry per line
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RoleArg {
    User,
    Assistant,
    System,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Ask this session's harness
    #[arg(long, short = 's', value_name = "ID", conflicts_with = "harness")]
    pub session: Option<String>,
    /// Ask this harness (a short-lived session is started for it)
    #[arg(long, value_name = "NAME")]
    pub harness: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunnerCommand {
    /// Start a runner in the background unless one answers
    Start,
    /// Stop the runner: every harness is stopped, the sessions stay
    Stop,
    /// Whether a runner answers, and what it holds
    Status(JsonArg),
    /// Print the log of runners oqtoctl started
    Logs {
        /// Only the last N lines
        #[arg(long, short = 'n', value_name = "N")]
        lines: Option<usize>,
        /// Keep printing what is appended
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `90s`, `10m`, `1h30m`, `7d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    oqto_config::parse_duration(text)
}

/// `--timeout`: a duration, and not zero (which would abort every turn at once).
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    match parse_duration(text)? {
        std::time::Duration::ZERO => Err(
            "must be more than 0 (leave --timeout out to wait for as long as the turn takes)"
                .into(),
        ),
        timeout => Ok(timeout),
    }
}
