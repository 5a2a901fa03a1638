use clap::Parser;

fn main() {
    // Only --help and --version exist until this program's features land; clap handles
    // both and reports anything else as a usage error (exit 2).
    let _ = oqto_sandbox::Cli::parse();
}
