use std::process::ExitCode;

use clap::Parser;
use oqto_fake_agent::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    oqto_cli::init_logging(&cli.log);
    match oqto_fake_agent::run(cli) {
        Ok(code) => code,
        Err(err) => oqto_cli::finish("oqto-fake-agent", Err(err)),
    }
}
