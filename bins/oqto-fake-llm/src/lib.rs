//! `oqto-fake-llm`: the command line of Oqto's fake LLM provider. The server itself is the
//! library `oqto-fake-llm-core` (its crate docs describe the routes and the script); this
//! crate adds the flags, the port file and the signals, and re-exports the library.

mod cli;
mod config;

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;
use oqto_cli::{Exit, ManExtra};
pub use oqto_fake_llm_core::*;
use tokio::net::TcpListener;
use tracing::info;

pub use cli::{AgentName, Cli, Command, ServeArgs};

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

/// Runs the program: serves until SIGTERM or SIGINT, or prints an agent's configuration.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let text = match cli.command {
        Some(Command::PiConfig { base_url }) => {
            serde_json::to_string_pretty(&pi_models_json(&base_url))? + "\n"
        }
        Some(Command::AgentEnv {
            agent,
            base_url,
            home,
        }) => agents::agent_env(agent.into(), &base_url, &home)
            .iter()
            .fold(String::new(), |mut out, (k, v)| {
                out.push_str(k);
                out.push('=');
                out.push_str(&shell_quote(v));
                out.push('\n');
                out
            }),
        Some(Command::AgentConfig { agent, base_url }) => {
            let files = agents::agent_files(agent.into(), &base_url);
            let Some((_, contents)) = files.first() else {
                return Err(oqto_cli::CliError::new(
                    Exit::Usage,
                    "Claude Code reads no configuration file for the fake LLM",
                )
                .with_hint(
                    "use `oqto-fake-llm agent-env claude`: it needs only environment variables",
                )
                .into());
            };
            let mut text = contents.clone();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text
        }
        None => return run_server(cli.serve),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(Exit::Ok)
}

impl From<AgentName> for agents::Agent {
    fn from(name: AgentName) -> Self {
        match name {
            AgentName::Claude => Self::Claude,
            AgentName::Gemini => Self::Gemini,
            AgentName::Codex => Self::Codex,
        }
    }
}

/// `value` as one shell word: as it is when it is only safe characters, else in single quotes.
fn shell_quote(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
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
    fn command_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("http://127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
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
