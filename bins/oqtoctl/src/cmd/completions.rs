//! `oqtoctl completions SHELL`.

use std::io::Write;

use clap_complete::Shell;
use oqto_cli::Exit;

#[derive(Debug, clap::Args)]
#[command(after_help = "Install, for example:\n  \
    bash: oqtoctl completions bash > ~/.local/share/bash-completion/completions/oqtoctl\n  \
    zsh:  oqtoctl completions zsh > ~/.zfunc/_oqtoctl   (with fpath+=~/.zfunc)\n  \
    fish: oqtoctl completions fish > ~/.config/fish/completions/oqtoctl.fish")]
pub struct Args {
    /// The shell to generate for
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<Exit> {
    let mut cmd = crate::command();
    // Generate into memory first: clap_complete panics on a failed write, and a closed
    // pipe (`| head`) must be a quiet exit, not a panic.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "oqtoctl", &mut script);
    out.write_all(&script)?;
    out.flush()?;
    Ok(Exit::Ok)
}
