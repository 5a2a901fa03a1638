//! The raw command line; [`crate::config`] holds what it resolves to.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use oqto_cli::{LogArgs, PasswordArgs, TokenCommand};

/// The HTTP and WebSocket relay for the web UI
#[derive(Debug, Parser)]
#[command(
    name = "oqto-relay",
    version,
    args_conflicts_with_subcommands = true,
    long_about = "Serves the web UI over HTTP (HTTPS with --tls-cert/--tls-key) and multiplexes one WebSocket per browser tab into channels routed to the user's runner (started on demand).\n\nWith no subcommand it serves: it prints a one-time login link (on stdout when that is a terminal, always in its log) and writes $XDG_RUNTIME_DIR/oqto/relay.json. Browsers log in with that link or, once `oqto-relay password` set one, with a password at /login. SIGTERM or SIGINT closes every WebSocket and exits 0."
)]
pub struct Cli {
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options of the server.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Listen on this address and port (default: from relay.toml, else 127.0.0.1:8420; port 0 picks a free one)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Read this configuration file instead of `$XDG_CONFIG_HOME/oqto/relay.toml` or `/etc/oqto/relay.toml`
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key; default: from relay.toml, else plain HTTP)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The runner's socket (default: as the runner resolves it)
    #[arg(long, value_name = "PATH", env = "OQTO_SOCKET", global = true)]
    pub socket: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a fresh one-time login link for the running relay (exit 3 when none runs)
    Link,
    /// Create, list and revoke API tokens (sent as `Authorization: Bearer TOKEN`)
    #[command(subcommand)]
    Token(TokenCommand),
    /// Set a password for `POST /login`: read twice from the terminal, or one line of stdin
    Password(PasswordArgs),
}
