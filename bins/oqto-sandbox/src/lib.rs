//! `oqto-sandbox`: runs a command confined by bubblewrap, with a policy merged from
//! profiles and TOML files so that a workspace can only tighten it.
//!
//! The pieces, in the order a run uses them: [`host`] captures the environment,
//! [`policy`] loads the layers and merges them (the meet), [`plan`] turns the effective
//! policy into mounts, environment and bwrap arguments, [`seccomp`] compiles the filter,
//! [`exec`] runs bwrap and maps its status, [`check`] is the preflight, and [`explain`]
//! prints the policy with the origin of every rule. `host`, `paths`, `policy`, `plan` and
//! `explain` live in the library `oqto-sandbox-core` (the runner uses them too) and are
//! re-exported here.

pub mod check;
mod cli;
pub mod exec;
pub mod foreground;
pub mod seccomp;

pub use oqto_sandbox_core::{explain, explain_json, host, paths, plan, policy};

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory;
use oqto_cli::{CliError, Exit, LogArgs, ManExtra};

pub use cli::{Cli, PolicyArgs, RunArgs, Sub};

use crate::exec::{Fds, Outcome};
use crate::host::Host;
use crate::plan::{Plan, Unrunnable};
use oqto_sandbox_core::load;

/// The program's name in messages.
pub const NAME: &str = "oqto-sandbox";

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Man page sections beyond the clap definition.
pub const MAN: ManExtra = ManExtra {
    environment: &[
        (
            "OQTO_SANDBOX_SYSTEM_CONFIG",
            "the system policy file instead of /etc/oqto/sandbox.toml (for tests and packagers)",
        ),
        (
            "OQTO_SANDBOX_BWRAP",
            "the bwrap executable (default: `bwrap` on PATH)",
        ),
        (
            "XDG_CONFIG_HOME",
            "directory holding the user policy `oqto/sandbox.toml` (default `~/.config`)",
        ),
        (
            "HOME",
            "the home directory: `~` in policies, and what the profiles expose or hide",
        ),
        (
            "XDG_CACHE_HOME, XDG_DATA_HOME",
            "`$XDG_CACHE_HOME` and `$XDG_DATA_HOME` in policies (defaults `~/.cache`, `~/.local/share`)",
        ),
        (
            "PI_CODING_AGENT_DIR",
            "pi's agent directory, `$PI_CODING_AGENT_DIR` in policies (default `~/.pi/agent`)",
        ),
        (
            "PATH",
            "where bwrap is found; passed into the sandbox when the policy allows it (else /usr/local/bin:/usr/bin:/bin), and CMD is looked up on the sandbox's PATH",
        ),
    ],
    files: &[
        ("/etc/oqto/sandbox.toml", "system policy"),
        ("~/.config/oqto/sandbox.toml", "user policy"),
        (
            "<workspace>/.oqto/sandbox.toml",
            "workspace policy (can only tighten)",
        ),
    ],
    see_also: &["oqto-runner(1)", "bwrap(1)"],
};

/// Turns [`run`]'s result into the exit status: the command's own, or the error's.
pub fn finish(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => oqto_cli::finish(NAME, Err(err)),
    }
}

/// Runs what the command line asks. `Ok` carries the exit status.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Some(Sub::Check { json }) => {
            let host = Host::capture()?;
            let report = check::preflight(&host);
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                for item in &report.items {
                    let mark = if item.ok { "ok  " } else { "FAIL" };
                    writeln!(out, "{mark} {}: {}", item.name, item.detail)?;
                    if let Some(fix) = &item.fix {
                        writeln!(out, "     fix: {fix}")?;
                    }
                }
            }
            out.flush()?;
            Ok(if report.ok {
                Exit::Ok.code()
            } else {
                Exit::SandboxSetup.code()
            })
        }
        Some(Sub::Explain { policy, json }) => {
            let host = Host::capture()?;
            let effective = load(&host, &policy, Exit::Failure)?;
            let mut out = std::io::stdout().lock();
            explain::write(&mut out, &effective, json)?;
            out.flush()?;
            Ok(Exit::Ok.code())
        }
        None => run_command(&cli.run, &cli.log),
    }
}

fn unrunnable(u: Unrunnable) -> anyhow::Error {
    match u {
        Unrunnable::NotFound(m) => CliError::new(Exit::NotFound, m).into(),
        Unrunnable::CannotRun(m) => CliError::new(Exit::CannotRun, m).into(),
    }
}

fn print_argv(argv: &[OsString], env: &[(OsString, OsString)], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        #[derive(serde::Serialize)]
        struct Printed {
            argv: Vec<String>,
            env: Vec<String>,
        }
        let printed = Printed {
            argv: argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            env: env
                .iter()
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .collect(),
        };
        serde_json::to_writer(&mut out, &printed)?;
        writeln!(out)?;
    } else {
        for arg in argv {
            out.write_all(std::os::unix::ffi::OsStrExt::as_bytes(arg.as_os_str()))?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

fn run_command(run: &RunArgs, log: &LogArgs) -> anyhow::Result<u8> {
    // Before this process opens anything: nothing inherited may reach the sandbox.
    exec::close_inherited_fds();
    let host = Host::capture()?;
    let effective = load(&host, &run.policy, Exit::SandboxSetup)?;
    let (program, rest) = run.command.split_first().context("no command given")?;

    if !effective.enabled.value {
        let resolved = host.find_program(program).ok_or_else(|| {
            unrunnable(Unrunnable::NotFound(format!(
                "{}: command not found on PATH",
                Path::new(program).display()
            )))
        })?;
        let mut unconfined = vec![resolved.clone().into_os_string()];
        unconfined.extend(rest.iter().cloned());
        if run.print {
            print_argv(&unconfined, &host.vars, run.json)?;
            return Ok(Exit::Ok.code());
        }
        if !log.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "{NAME}: warning: the sandbox is disabled (by {}): running the command without confinement",
                effective.enabled.from
            );
        }
        if effective.tty {
            let (program, args) = foreground::wrap_unconfined(&resolved, rest);
            return exec::run_unconfined(&program, &args, host.vars.clone());
        }
        return exec::run_unconfined(&resolved, rest, host.vars.clone());
    }

    plan::prepare(&effective);
    let plan = Plan::build(&effective, &host);
    let resolved = plan::resolve(&plan, program).map_err(unrunnable)?;
    let mut command = vec![resolved.into_os_string()];
    command.extend(rest.iter().cloned());
    // Kept open (and inheritable) until bwrap has started: the sandbox runs it.
    let own_exe = if effective.tty {
        let exe =
            foreground::own_executable().map_err(|e| setup_error(&host, &format!("{e:#}")))?;
        command = foreground::wrap(&exe, command);
        Some(exe)
    } else {
        None
    };

    let filter = seccomp::program().context("compiling the seccomp filter")?;
    let fds = Fds::new(&filter).map_err(|e| setup_error(&host, &e.to_string()))?;
    let bwrap_args = plan.bwrap_args(Some(fds.seccomp_fd()), Some(fds.status_fd()), &command);
    let bwrap = host.find_program(&host.bwrap);

    if run.print {
        let mut printed = vec![bwrap.map_or_else(|| host.bwrap.clone(), PathBuf::into_os_string)];
        printed.extend(bwrap_args);
        print_argv(&printed, &plan.env, run.json)?;
        return Ok(Exit::Ok.code());
    }
    let Some(bwrap) = bwrap else {
        return Err(setup_error(&host, "bwrap was not found"));
    };
    let outcome = exec::run_bwrap(&bwrap, bwrap_args, plan.env.clone(), fds, plan.isolate_pid)?;
    drop(own_exe);
    match outcome {
        Outcome::Exited(code) => Ok(code),
        Outcome::SetupFailed(status) => {
            if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
                // bwrap itself was killed (and took the sandbox with it).
                return Ok(u8::try_from(128 + signal).unwrap_or(255));
            }
            Err(setup_error(
                &host,
                &format!("bwrap exited with {status} before the command started"),
            ))
        }
    }
}

/// The sandbox could not start: the command does not run, and the preflight says why.
fn setup_error(host: &Host, what: &str) -> anyhow::Error {
    let report = check::preflight(host);
    let hint = if report.ok {
        "the preflight finds nothing wrong: see bwrap's message above, and `oqto-sandbox explain` for the mounts the policy asks for".to_owned()
    } else {
        report.failures()
    };
    CliError::new(
        Exit::SandboxSetup,
        format!("the sandbox could not be set up ({what}); the command did not run"),
    )
    .with_hint(hint)
    .into()
}
