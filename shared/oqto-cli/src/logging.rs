//! Tracing to stderr: level from `-v` and `OQTO_LOG`. stdout is never used for logs.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

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
    /// The default filter directive these flags select.
    pub fn directive(&self) -> &'static str {
        if self.quiet {
            return "error";
        }
        match self.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    }
}

/// Installs a stderr subscriber. `OQTO_LOG` wins over the flags. Safe to call twice (the
/// second call does nothing).
pub fn init_logging(args: &LogArgs) {
    let filter = std::env::var("OQTO_LOG")
        .ok()
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(args.directive()));
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(args.verbose >= 2)
        .try_init();
}
