use clap::Parser;

fn main() -> std::process::ExitCode {
    let mut cli = oqto_relay::Cli::parse();
    // A serving relay logs its starts, stops and login link unless told to be quiet.
    if cli.command.is_none() && !cli.log.quiet && cli.log.verbose == 0 {
        cli.log.verbose = 1;
    }
    oqto_cli::init_logging(&cli.log);
    oqto_cli::finish("oqto-relay", oqto_relay::run(cli))
}
