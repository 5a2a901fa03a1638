//! Command-line plumbing shared by every Oqto program: the exit-code table, error
//! reporting once at the top (with hints), tracing to stderr, and quiet broken pipes.
//!
//! A binary's `main` is a few lines:
//!
//! ```no_run
//! # use clap::Parser;
//! # #[derive(Parser)] struct Cli { #[command(flatten)] log: oqto_cli::LogArgs }
//! # fn run(_: Cli) -> anyhow::Result<oqto_cli::Exit> { Ok(oqto_cli::Exit::Ok) }
//! fn main() -> std::process::ExitCode {
//!     let cli = Cli::parse();
//!     oqto_cli::init_logging(&cli.log);
//!     oqto_cli::finish("oqtoctl", run(cli))
//! }
//! ```

mod exit;
mod logging;
mod password;
mod report;
mod token;

pub use exit::{Exit, ExitInfo};
pub use logging::{LogArgs, init_logging};
pub use password::PasswordArgs;
pub use report::{CliError, PassExit, finish, is_broken_pipe};
pub use token::TokenCommand;

/// Environment variables every Oqto program reads, for man pages.
pub const COMMON_ENV: &[(&str, &str)] = &[
    (
        "OQTO_LOG",
        "log filter for stderr, in tracing's EnvFilter syntax (e.g. `debug`, `oqto_runner=trace`); overrides -v",
    ),
    (
        "NO_COLOR",
        "when set to a non-empty value, never use colour",
    ),
];

/// What a program's man page says beyond its clap definition.
#[derive(Clone, Copy, Debug)]
pub struct ManExtra {
    /// ENVIRONMENT: variable name and meaning (the common ones are added automatically).
    pub environment: &'static [(&'static str, &'static str)],
    /// FILES: path and meaning.
    pub files: &'static [(&'static str, &'static str)],
    /// SEE ALSO: other pages, e.g. `oqtoctl(1)`.
    pub see_also: &'static [&'static str],
}
