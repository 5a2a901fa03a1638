//! Tracing to stderr: level from `-v` and `OQTO_LOG`. stdout is never used for logs.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The shared `-v/--verbose` and `-q/--quiet` flags.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LogArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl LogArgs {
    /// The level these flags select.
    pub fn level(&self) -> LevelFilter {
        if self.quiet {
            return LevelFilter::ERROR;
        }
        match self.verbose {
            0 => LevelFilter::WARN,
            1 => LevelFilter::INFO,
            2 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        }
    }
}

/// Installs a stderr subscriber. `OQTO_LOG` wins over the flags. Safe to call twice (the
/// second call does nothing).
///
/// Without `OQTO_LOG` the flags select a bare level, which needs no `EnvFilter`: building
/// one parses its directives, and for a program that runs for a few milliseconds (every
/// harness start goes through `oqto-sandbox`) that was a measurable part of its start-up.
pub fn init_logging(args: &LogArgs) {
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(args.verbose >= 2);
    let from_env = std::env::var("OQTO_LOG")
        .ok()
        .and_then(|s| EnvFilter::try_new(s).ok());
    let _ = match from_env {
        Some(filter) => subscriber.with_env_filter(filter).try_init(),
        None => subscriber.with_max_level(args.level()).try_init(),
    };
}
