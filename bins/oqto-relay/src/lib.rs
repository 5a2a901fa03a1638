//! `oqto-relay`: the HTTP and WebSocket relay between browser tabs (or a remote client)
//! and the user's runner.
//!
//! - [`server`]: the router, login, the authenticated WebSocket upgrade; [`Relay`] binds
//!   and serves on a listener the caller chose, until a shutdown future completes.
//! - `ws`: one WebSocket, the envelope's channels; `upstream`: its runner connection;
//!   `files`: its connections to the runner's file servers; `terminal`: its terminals (a
//!   runner connection of their own, bytes as binary frames).
//! - [`store`]: sessions, tokens, login links and users in one `SQLite` file; `auth`:
//!   cookies, bearer tokens, `Origin`; `password`: argon2id; `limit`: the login rate limit.
//! - `tls`: built-in TLS and the listener; [`config`]: `relay.toml`; [`local`]:
//!   `relay.json`; `cmd`: `link`, `token` and `password`.

mod auth;
pub mod cli;
mod cmd;
pub mod config;
mod files;
mod limit;
pub mod local;
mod password;
pub mod server;
pub mod store;
mod terminal;
mod tls;
mod ui;
mod upstream;
mod ws;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory;
use oqto_cli::{Exit, ManExtra};
use oqto_client::Runner;

pub use cli::{Cli, Command, ServeArgs};
pub use config::RelayConfig;
pub use oqto_cli::{PasswordArgs, TokenCommand};
pub use server::{Relay, Setup};

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
        (
            "OQTO_RUNNER_BIN",
            "the oqto-runner executable to start on demand (default: next to oqto-relay, else on PATH)",
        ),
        (
            "XDG_RUNTIME_DIR, XDG_CONFIG_HOME, XDG_DATA_HOME",
            "where relay.json, relay.toml and relay.db are",
        ),
    ],
    files: &[
        (
            "$XDG_CONFIG_HOME/oqto/relay.toml, /etc/oqto/relay.toml",
            "the relay's configuration (the first that exists)",
        ),
        (
            "$XDG_RUNTIME_DIR/oqto/relay.json",
            "the running relay's url, pid and first login link (mode 0600)",
        ),
        (
            "$XDG_DATA_HOME/oqto/relay.db",
            "login sessions and API tokens (stored hashed), users and their argon2id password hashes",
        ),
    ],
    see_also: &["oqtoctl(1)", "oqto-runner(1)"],
};

/// Serves on `listener` until `shutdown` completes (then closes every WebSocket and exits
/// cleanly): what `oqto-relay` runs, for tests and embedders that choose the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    setup: Setup,
) -> anyhow::Result<()> {
    Relay::bind(listener, setup).await?.serve(shutdown).await
}

/// The Unix account the relay runs as (its uid when it has no name): local mode's one user.
pub fn account_name() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// The client name the relay gives the runner.
pub fn client_name() -> String {
    format!("oqto-relay/{}", env!("CARGO_PKG_VERSION"))
}

/// Where things are, worked out from the runner's configuration.
#[derive(Debug)]
pub struct Places {
    pub runner: Runner,
    pub config: RelayConfig,
    pub store: PathBuf,
    pub state_file: PathBuf,
}

impl Places {
    /// Reads `runner.toml` (for the socket and data directory) and `relay.toml`.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let runner = Runner::load(args.socket.clone(), true, client_name())?;
        let config_home = runner
            .config
            .paths
            .config_file
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let candidates = config::candidates(args.config.as_deref(), &config_home);
        let config = RelayConfig::load(&candidates, args.config.is_some())?;
        let store = runner.config.paths.data_dir.join("relay.db");
        let state_file = oqto_config::relay_state_file(runner.socket());
        Ok(Self {
            runner,
            config,
            store,
            state_file,
        })
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let places = Places::load(&cli.serve)?;
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Some(Command::Link) => cmd::link(&places, &mut stdout),
        Some(Command::Token(command)) => cmd::token(command, &places, &mut stdout),
        Some(Command::Password(args)) => cmd::password(&args, &places),
        None => run_server(&cli.serve, places, &mut stdout),
    }
}

fn run_server(
    args: &ServeArgs,
    places: Places,
    stdout: &mut dyn std::io::Write,
) -> anyhow::Result<Exit> {
    let Places {
        runner,
        mut config,
        store,
        state_file,
    } = places;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(config::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let relay = Relay::bind(
            listener,
            Setup {
                config,
                runner,
                store,
                state_file,
            },
        )
        .await?;
        tracing::info!(url = %relay.url, "listening");
        tracing::info!(login_url = %relay.login_url, "open this link to log in (once)");
        if std::io::stdout().is_terminal() {
            writeln!(
                stdout,
                "Oqto is at {}\nOpen this link to log in (it works once):\n  {}",
                relay.url, relay.login_url
            )?;
        }
        relay.serve(stop_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(Exit::Ok)
    })
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stopping");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
