//! The raw command line. [`crate::host::Host`] and [`crate::policy`] turn it into a
//! validated configuration.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};
use oqto_cli::LogArgs;
pub use oqto_sandbox_core::PolicyArgs;

/// Runs a command confined by bubblewrap
#[derive(Debug, Parser)]
#[command(
    name = "oqto-sandbox",
    version,
    arg_required_else_help = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Run `oqto-sandbox explain` to see the policy in force and where each rule came from; `oqto-sandbox check` to test that this machine can run the sandbox.",
    long_about = "Runs a command inside a bubblewrap sandbox built from policy profiles and TOML policy files (system, user, workspace), merged so that a workspace can only tighten the policy.\n\nThe command's stdin, stdout and stderr pass straight through; SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to it; it dies with oqto-sandbox. If the sandbox cannot be set up the command does not run (exit 125) and the error says why. See docs/sandbox.md for the policy keys and the built-in profiles."
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub run: RunArgs,
}

impl Cli {
    /// This process's command line. The form a program uses to start a command (the long
    /// policy options, each with its value as the next argument, then `--` and the
    /// command) is read directly; anything else (subcommands, `--help`, `-v`, `--opt=value`,
    /// mistakes) goes to clap. The runner starts every harness this way, and clap's parser
    /// is a tenth of this program's run time when its code is not yet in memory. The two
    /// give the same result wherever the direct reading accepts (a property test checks).
    pub fn from_env() -> Self {
        let args: Vec<OsString> = std::env::args_os().collect();
        read_run_form(&args).unwrap_or_else(|| Self::parse_from(args))
    }
}

/// The run form without clap, or `None` for anything it does not cover (which clap then
/// reads, accepting or rejecting it).
fn read_run_form(args: &[OsString]) -> Option<Cli> {
    let mut run = RunArgs::default();
    let mut rest = args.get(1..)?.iter();
    loop {
        let arg = rest.next()?.to_str()?;
        // A value is the next argument; one clap might read differently (empty, not
        // UTF-8, or looking like an option) sends the whole line to clap.
        let mut value = || {
            let v = rest.next()?;
            v.to_str()
                .filter(|s| !s.is_empty() && !s.starts_with('-'))
                .map(str::to_owned)
        };
        let policy = &mut run.policy;
        match arg {
            "--" => break,
            "--print" if !run.print => run.print = true,
            "--json" if !run.json => run.json = true,
            "--profile" if policy.profile.is_none() => policy.profile = Some(value()?),
            "--workspace" if policy.workspace.is_none() => {
                policy.workspace = Some(value()?.into());
            }
            "--config" => policy.configs.push(value()?.into()),
            "--expose" => policy.expose.push(value()?.into()),
            "--deny" => policy.deny.push(value()?.into()),
            "--pass-env" => policy.pass_env.push(value()?),
            "--tty" if !policy.tty => policy.tty = true,
            _ => return None,
        }
    }
    run.command = rest.cloned().collect();
    if run.command.is_empty() || (run.json && !run.print) {
        return None;
    }
    Some(Cli {
        log: LogArgs::default(),
        command: None,
        run,
    })
}

/// Running a command (no subcommand).
#[derive(Clone, Debug, Default, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Print the bwrap command line (one argument per line) instead of running it
    #[arg(long)]
    pub print: bool,
    /// With --print: print a JSON object (argv, and the names of the passed variables)
    #[arg(long, requires = "print")]
    pub json: bool,
    /// The command to run, and its arguments (after `--`)
    #[arg(last = true, value_name = "CMD", required = true)]
    pub command: Vec<OsString>,
}

#[derive(Clone, Debug, Subcommand)]
pub enum Sub {
    /// Check that this machine can run the sandbox: bwrap, user namespaces, seccomp
    #[command(
        long_about = "Checks that this machine can run the sandbox: bwrap is installed (and its version), user namespaces are permitted (sysctls, AppArmor's restriction on Ubuntu 24.04, containers), seccomp is available, and a real sandbox starts. Each failure says what is wrong and how to fix it. Exits 0 when everything passes, 125 otherwise."
    )]
    Check {
        /// Print a JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Print the effective policy and where each rule came from
    #[command(
        long_about = "Prints the effective policy for a workspace: the policy files read, whether the sandbox is enabled, and every rule with the file (and line) or profile it came from. `--json` prints one stable JSON object (documented in docs/sandbox.md)."
    )]
    Explain {
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print a JSON object instead of text
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_runners_command_line_is_read_without_clap() {
        let policy = PolicyArgs {
            profile: Some("development".into()),
            configs: vec![],
            workspace: Some("/home/u/proj".into()),
            expose: vec!["/opt/pi".into()],
            deny: vec!["/run/user/1000/oqto".into()],
            pass_env: vec!["PI_CODING_AGENT_DIR".into()],
            tty: true,
        };
        let mut argv = os(&["oqto-sandbox"]);
        argv.extend(policy.to_args());
        argv.extend(os(&["--", "pi", "--mode", "rpc"]));
        let read = read_run_form(&argv).expect("the run form");
        assert_eq!(
            format!("{read:?}"),
            format!("{:?}", Cli::try_parse_from(&argv).unwrap())
        );
        for other in [
            &["oqto-sandbox", "check"][..],
            &["oqto-sandbox", "--help"],
            &["oqto-sandbox", "-v", "--", "true"],
            &["oqto-sandbox", "--profile=strict", "--", "true"],
            &["oqto-sandbox", "--profile", "--", "true"],
            &["oqto-sandbox", "--json", "--", "true"],
            &["oqto-sandbox", "--"],
            &["oqto-sandbox", "true"],
        ] {
            assert!(read_run_form(&os(other)).is_none(), "{other:?}");
        }
    }

    const OPTIONS: &[&str] = &[
        "--profile",
        "--config",
        "--workspace",
        "--expose",
        "--deny",
        "--pass-env",
        "--tty",
        "--print",
        "--json",
        "-v",
        "-q",
        "--help",
        "check",
        "explain",
        "--profile=minimal",
        "--nope",
    ];
    const VALUES: &[&str] = &[
        "strict", "/p", "rel/p", "NAME", "", "-", "-x", "--", "--print",
    ];

    /// Options, each followed by a value, sometimes `--`, then arguments from both lists.
    fn command_line() -> impl Strategy<Value = Vec<OsString>> {
        let unit = (0..OPTIONS.len(), proptest::option::of(0..VALUES.len()));
        (
            proptest::collection::vec(unit, 0..6),
            any::<bool>(),
            proptest::collection::vec(0..VALUES.len(), 0..3),
        )
            .prop_map(|(units, dashes, tail)| {
                let mut argv = os(&["oqto-sandbox"]);
                for (option, value) in units {
                    argv.push(OPTIONS[option].into());
                    argv.extend(value.map(|v| OsString::from(VALUES[v])));
                }
                if dashes {
                    argv.push("--".into());
                }
                argv.extend(tail.iter().map(|v| OsString::from(VALUES[*v])));
                argv
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Wherever the direct reading accepts a command line, clap accepts it too and
        /// reads the same thing.
        #[test]
        fn reading_the_run_form_agrees_with_clap(argv in command_line()) {
            if let Some(read) = read_run_form(&argv) {
                let parsed = Cli::try_parse_from(&argv);
                prop_assert!(parsed.is_ok(), "clap rejects {argv:?}: {parsed:?}");
                prop_assert_eq!(format!("{read:?}"), format!("{:?}", parsed.unwrap()));
            }
        }
    }

    #[test]
    fn to_args_parses_back_to_the_same_options() {
        let wanted = PolicyArgs {
            profile: Some("strict".into()),
            configs: vec!["/etc/extra.toml".into()],
            workspace: Some("/home/u/proj".into()),
            expose: vec!["/srv/pi".into(), "/opt/node".into()],
            deny: vec!["/home/u/.local/state/oqto".into()],
            pass_env: vec!["OQTO_X".into()],
            tty: true,
        };
        let mut argv: Vec<OsString> = vec!["oqto-sandbox".into()];
        argv.extend(wanted.to_args());
        argv.extend(["--".into(), "true".into()]);
        let cli = Cli::try_parse_from(argv).unwrap();
        let back = cli.run.policy;
        assert_eq!(back.profile, wanted.profile);
        assert_eq!(back.configs, wanted.configs);
        assert_eq!(back.workspace, wanted.workspace);
        assert_eq!(back.expose, wanted.expose);
        assert_eq!(back.deny, wanted.deny);
        assert_eq!(back.pass_env, wanted.pass_env);
        assert_eq!(back.tty, wanted.tty);
    }
}
