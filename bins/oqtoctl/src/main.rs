use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = oqtoctl::Cli::parse();
    oqto_cli::init_logging(&cli.log);
    oqto_cli::finish("oqtoctl", oqtoctl::run(cli))
}
