use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = oqto_sandbox::Cli::parse();
    oqto_cli::init_logging(&cli.log);
    oqto_sandbox::finish(oqto_sandbox::run(cli))
}
