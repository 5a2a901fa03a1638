//! `oqto-fake-agent`: a deterministic, scriptable agent that speaks Oqto's native harness
//! sub-protocol on stdin/stdout, for the runner's tests and benchmarks.
//!
//! The prompt text is a script ([`script`]): `stream:1000@5`, `tool:bash {"command":"ls"}`,
//! `fail`, `crash:7`, `hang`, … or anything else, which is echoed. `docs/fake-agent.md` has
//! the whole table. The program is synchronous: a reader thread turns stdin lines into
//! commands on a channel, and the agent loop ([`agent`]) answers them between deltas, so
//! `abort`, `steer` and `follow_up` work in the middle of a stream.

pub mod acp;
pub mod agent;
pub mod input;
pub mod output;
pub mod resume;
pub mod script;
mod turn;

use std::io;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use oqto_cli::{LogArgs, ManExtra};

/// How many parsed requests may wait for the agent loop before the reader blocks.
const INPUT_QUEUE: usize = 64;

/// A deterministic, scriptable agent for tests and benchmarks
#[derive(Debug, Parser)]
#[command(
    name = "oqto-fake-agent",
    version,
    long_about = "A deterministic, scriptable agent that speaks Oqto's native harness sub-protocol: \
JSON requests on stdin (init first), one JSON line per response or event on stdout, logs on stderr. \
The prompt text is a script: `stream:N[@MS]`, `tool:NAME JSON`, `think`, `fail[:MSG]`, `crash[:CODE]`, \
`hang`, `slow`; anything else is echoed. For tests and benchmarks of oqto-runner, not for real work."
)]
pub struct Cli {
    /// Milliseconds between streamed deltas (stream:N@MS overrides it for one reply)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub delay_ms: u64,
    /// How many deltas an echoed reply is split into
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub deltas: u32,
    /// Speak the Agent Client Protocol instead (a tiny scripted agent: `crash`, `hang`,
    /// `garbage`, `stray`, `ask`; anything else is echoed), for tests of broken ACP agents
    #[arg(long)]
    pub acp: bool,
    /// Agent name reported in `ready` (as NAME/VERSION)
    #[arg(long, value_name = "NAME", default_value = "oqto-fake-agent")]
    pub name: String,
    #[command(flatten)]
    pub log: LogArgs,
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Man page sections beyond the clap definition.
pub const MAN: ManExtra = ManExtra {
    environment: &[],
    files: &[],
    see_also: &["oqto-runner(1)"],
};

/// Runs the agent on this process's stdin and stdout until `shutdown`, stdin EOF or a
/// scripted crash. The exit code is 0, or the crash's code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.acp {
        let code = acp::serve(io::stdin().lock(), io::stdout().lock())?;
        return Ok(code.map_or(ExitCode::SUCCESS, ExitCode::from));
    }
    let config = agent::Config {
        delay: Duration::from_millis(cli.delay_ms),
        deltas: cli.deltas,
        name: cli.name,
    };
    let (tx, rx) = mpsc::sync_channel(INPUT_QUEUE);
    input::spawn_stdin_reader(tx).context("starting the stdin reader")?;
    let end = agent::serve(config, rx, io::stdout().lock())?;
    Ok(end.into())
}
