use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = oqto_files::Cli::parse();
    oqto_cli::init_logging(&cli.log);
    oqto_cli::finish("oqto-files", oqto_files::run(cli))
}
