use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = oqto_fake_llm::Cli::parse();
    oqto_cli::init_logging(&cli.log);
    oqto_cli::finish("oqto-fake-llm", oqto_fake_llm::run(cli))
}
