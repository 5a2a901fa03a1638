//! The one exit-code table of every Oqto program.

use std::fmt::Write as _;
use std::process::ExitCode;

/// Exit statuses. `oqto-sandbox` additionally passes its child's status through and uses
/// 125/126/127; a child killed by signal N gives 128+N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success (for `oqtoctl prompt`: the agent finished its turn).
    Ok = 0,
    /// A failure not covered by a more specific code.
    Failure = 1,
    /// Bad command line: unknown flag, bad value, missing argument.
    Usage = 2,
    /// No runner answered on the socket (and none could be started).
    RunnerUnreachable = 3,
    /// The session id names no session.
    SessionNotFound = 4,
    /// The agent reported an error (provider failure, harness crash).
    AgentError = 5,
    /// The `--timeout` deadline passed.
    Timeout = 6,
    /// The turn was aborted (Ctrl-C or `oqtoctl abort`).
    Aborted = 7,
    /// Permission denied (socket, file or sandbox policy).
    PermissionDenied = 8,
    /// The sandbox could not be set up; the command did not run.
    SandboxSetup = 125,
    /// The command was found but cannot be run.
    CannotRun = 126,
    /// The command was not found.
    NotFound = 127,
}

/// One row of the exit-status table, for man pages and `--help`.
#[derive(Clone, Copy, Debug)]
pub struct ExitInfo {
    pub code: Exit,
    pub meaning: &'static str,
}

impl Exit {
    /// The numeric status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The whole table, in order.
    pub const TABLE: &'static [ExitInfo] = &[
        ExitInfo {
            code: Exit::Ok,
            meaning: "success",
        },
        ExitInfo {
            code: Exit::Failure,
            meaning: "failure not covered below",
        },
        ExitInfo {
            code: Exit::Usage,
            meaning: "usage error: unknown flag, bad value, missing argument",
        },
        ExitInfo {
            code: Exit::RunnerUnreachable,
            meaning: "no runner answered on the socket and none could be started",
        },
        ExitInfo {
            code: Exit::SessionNotFound,
            meaning: "no session has the given id",
        },
        ExitInfo {
            code: Exit::AgentError,
            meaning: "the agent reported an error (provider failure, harness crash)",
        },
        ExitInfo {
            code: Exit::Timeout,
            meaning: "the --timeout deadline passed",
        },
        ExitInfo {
            code: Exit::Aborted,
            meaning: "the turn was aborted",
        },
        ExitInfo {
            code: Exit::PermissionDenied,
            meaning: "permission denied",
        },
        ExitInfo {
            code: Exit::SandboxSetup,
            meaning: "oqto-sandbox: the sandbox could not be set up; the command did not run",
        },
        ExitInfo {
            code: Exit::CannotRun,
            meaning: "oqto-sandbox: the command cannot be run",
        },
        ExitInfo {
            code: Exit::NotFound,
            meaning: "oqto-sandbox: the command was not found",
        },
    ];

    /// The EXIT STATUS section of a man page (roff), shared by every program.
    pub fn man_section() -> String {
        let mut out = String::new();
        for row in Self::TABLE {
            let _ = write!(out, ".TP\n\\fB{}\\fR\n{}\n", row.code.code(), row.meaning);
        }
        out.push_str(".TP\n\\fB128+N\\fR\nthe program (or, for oqto-sandbox, its child) was killed by signal N\n");
        out
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}
