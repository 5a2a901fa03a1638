//! Reporting an error once, at the top, as `program: error: message` plus causes and a hint.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use crate::exit::Exit;

/// An error that carries its exit code and an optional hint for the user.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// A program's own exit status, which the command ends with (`oqtoctl shell` ends as its
/// shell did): [`finish`] exits with it and prints nothing, the program having said what
/// it had to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassExit(pub u8);

impl fmt::Display for PassExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the program ended with exit status {}", self.0)
    }
}

impl std::error::Error for PassExit {}

/// True when the error (or one of its causes) is a broken pipe: the reader went away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Turns a program's result into its exit code, printing the error (once) if there is one.
/// A broken pipe on stdout (`| head -1`) is a quiet, successful exit.
pub fn finish(program: &str, result: anyhow::Result<Exit>) -> ExitCode {
    match result {
        Ok(exit) => exit.into(),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<PassExit>().is_some() => {
            ExitCode::from(err.downcast_ref::<PassExit>().map_or(1, |p| p.0))
        }
        Err(err) => {
            let cli = err.chain().find_map(|c| c.downcast_ref::<CliError>());
            let exit = cli.map_or(Exit::Failure, |c| c.exit);
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "{program}: error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            if let Some(hint) = cli.and_then(|c| c.hint.as_deref()) {
                let _ = writeln!(stderr, "  hint: {hint}");
            }
            exit.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_exit_status_is_the_exit_code() {
        let err = anyhow::Error::from(PassExit(137));
        assert_eq!(finish("t", Err(err)), ExitCode::from(137));
    }

    #[test]
    fn broken_pipe_is_found_through_context() {
        let err = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("writing event");
        assert!(is_broken_pipe(&err));
        let other = anyhow::anyhow!("something else");
        assert!(!is_broken_pipe(&other));
    }

    #[test]
    fn cli_error_exit_code_is_found_through_context() {
        let err = anyhow::Error::from(CliError::new(Exit::SessionNotFound, "no session x"))
            .context("showing session");
        let found = err.chain().find_map(|c| c.downcast_ref::<CliError>());
        assert_eq!(found.map(|c| c.exit), Some(Exit::SessionNotFound));
    }

    #[test]
    fn exit_table_is_complete_and_unique() {
        let mut codes: Vec<u8> = Exit::TABLE.iter().map(|r| r.code.code()).collect();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n, "duplicate exit codes");
        assert!(Exit::man_section().contains("\\fB3\\fR\nno runner answered"));
    }
}
