fn main() -> std::process::ExitCode {
    // `--tty`'s first step inside the sandbox (see `foreground.rs`).
    if let Some(code) = oqto_sandbox::foreground::run_if_asked() {
        return code;
    }
    let cli = oqto_sandbox::Cli::from_env();
    // Every harness start runs this program, and installing a subscriber is a measurable
    // part of its start-up: logging is set up only when asked for. Its one warning (the
    // sandbox is disabled) is written directly.
    if cli.log.verbose > 0 || std::env::var_os("OQTO_LOG").is_some() {
        oqto_cli::init_logging(&cli.log);
    }
    oqto_sandbox::finish(oqto_sandbox::run(cli))
}
