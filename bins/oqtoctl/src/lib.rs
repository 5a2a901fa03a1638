//! `oqtoctl`: the Oqto command line.

mod cli;
pub mod cmd;
pub mod conn;
pub mod ondemand;
pub mod render;

use clap::CommandFactory;
use oqto_cli::{Exit, ManExtra};

pub use cli::{Cli, Command, Global};

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Man page sections beyond the clap definition.
pub const MAN: ManExtra = ManExtra {
    environment: &[
        (
            "OQTO_SOCKET",
            "the runner's socket, as --socket (default: as the runner resolves it)",
        ),
        ("OQTO_RELAY", "a relay to go through, as --relay"),
        (
            "OQTO_TOKEN",
            "the relay's API token for --relay (kept out of the command line; --token-file / OQTO_TOKEN_FILE read it from a file instead)",
        ),
        (
            "OQTO_TOKEN_FILE, OQTO_RELAY_CA",
            "as --token-file and --relay-ca",
        ),
        (
            "OQTO_RELAY_BIN",
            "the oqto-relay executable `web`, `token` and `password` run (default: next to oqtoctl, else on PATH)",
        ),
        (
            "OQTO_RUNNER_BIN",
            "the oqto-runner executable to start on demand (default: next to oqtoctl, else on PATH)",
        ),
        (
            "XDG_RUNTIME_DIR, XDG_CONFIG_HOME, XDG_STATE_HOME",
            "where the socket, runner.toml and the on-demand runner's log are (see oqto-runner(1))",
        ),
        (
            "ANTHROPIC_API_KEY, OPENAI_API_KEY, …",
            "a provider key for pi; with none (and no pi login), prompts use the demo model",
        ),
    ],
    files: &[
        (
            "$XDG_STATE_HOME/oqto/runner.log",
            "the log of a runner oqtoctl started on demand",
        ),
        (
            "$XDG_STATE_HOME/oqto/relay.log",
            "the log of a relay `oqtoctl web` started",
        ),
        (
            "$XDG_CONFIG_HOME/oqto/runner.toml",
            "the runner's configuration (read for the socket and the default harness)",
        ),
    ],
    see_also: &["oqto-runner(1)", "oqto-sandbox(1)"],
};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    use cli::Command as C;
    if let C::Completions(args) = &cli.command {
        let mut stdout = std::io::stdout().lock();
        return cmd::completions::run(args, &mut stdout);
    }
    // These run programs on this machine: a relay is no place for them (said before any
    // token is asked for).
    if let (C::Token(_) | C::Web(_) | C::Password(_), Some(url)) = (&cli.command, &cli.global.relay)
    {
        let what = match cli.command {
            C::Token(_) => "`oqtoctl token`",
            C::Password(_) => "`oqtoctl password`",
            _ => "`oqtoctl web`",
        };
        return Err(ondemand::local_only(what, url));
    }
    if let C::Token(command) = &cli.command {
        return cmd::token::run(command, cli.global.socket.as_deref());
    }
    if let C::Password(args) = &cli.command {
        return cmd::password::run(args, cli.global.socket.as_deref());
    }
    let target = ondemand::Target::load(&cli.global)?;
    if let C::Web(args) = &cli.command {
        let mut stdout = std::io::stdout().lock();
        return cmd::web::run(
            args.open,
            cli.global.socket.as_deref(),
            &target.config.paths.state_dir,
            &mut stdout,
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            C::Prompt(args) => cmd::prompt::run(args, &target).await,
            C::Sessions(args) => cmd::sessions::list(args, &target).await,
            C::Session(command) => cmd::sessions::session(command, &target).await,
            C::Attach(args) => cmd::attach::run(args, &target).await,
            C::Abort(args) => cmd::sessions::abort(args.id, &target).await,
            C::Steer(args) => cmd::sessions::queue(args, false, &target).await,
            C::FollowUp(args) => cmd::sessions::queue(args, true, &target).await,
            C::Messages(args) => cmd::sessions::messages(args, &target).await,
            C::History(command) => cmd::history::run(command, &target).await,
            C::Models(args) => cmd::history::models(args, &target).await,
            C::Audit(args) => cmd::audit::run(args, &target).await,
            C::Runner(command) => cmd::runner::run(command, &target).await,
            C::Doctor(args) => cmd::doctor::run(args.json, &target).await,
            C::Shell(args) => cmd::shell::run(args, &target).await,
            C::Terminals(args) => cmd::terminals::list(args.json, &target).await,
            C::Completions(_) | C::Web(_) | C::Token(_) | C::Password(_) => {
                unreachable!("handled above")
            }
        }
    })
}
