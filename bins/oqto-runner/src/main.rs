use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = oqto_runner::Cli::parse();
    oqto_cli::init_logging(&cli.log);
    oqto_cli::finish("oqto-runner", oqto_runner::run(cli))
}
