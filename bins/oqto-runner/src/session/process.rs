//! One running harness process: its stdin writer, stdout line reader and stderr tail.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oqto_ipc::framing::{AsyncLineReader, AsyncLineWriter, FrameError};
use oqto_ipc::spawn::{Spawn, exit_code_of, terminate_root_first};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// Lines of stderr kept to explain a crash.
const STDERR_LINES: usize = 20;
/// Longest stderr line kept (characters beyond are cut).
const STDERR_LINE_CHARS: usize = 400;

/// What the stdout reader reports.
#[derive(Debug)]
pub enum ProcLine {
    Line(String),
    /// A line that is not UTF-8 (dropped; the next line is fine).
    Invalid(usize),
    /// stdout closed (the process exited or closed it), or reading failed.
    Eof(Option<String>),
}

#[derive(Debug)]
pub struct Process {
    pub child: Child,
    pub pid: u32,
    stdin: Option<mpsc::UnboundedSender<String>>,
    pub lines: mpsc::Receiver<ProcLine>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// Holds one of the runner's `max_sessions` slots while alive.
    _permit: OwnedSemaphorePermit,
}

/// The harness could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start {program}: {source}")]
pub struct SpawnError {
    pub program: String,
    pub source: std::io::Error,
}

impl Process {
    /// Spawns `argv` in `cwd` with exactly `env`, in its own process group.
    pub fn spawn(
        argv: &[OsString],
        env: impl IntoIterator<Item = (OsString, OsString)>,
        cwd: &Path,
        max_line: usize,
        permit: OwnedSemaphorePermit,
    ) -> Result<Self, SpawnError> {
        let program = argv[0].to_string_lossy().into_owned();
        let mut child = Spawn::new(&argv[0])
            .args(&argv[1..])
            .envs(env)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_tokio()
            .map_err(|source| SpawnError {
                program: program.clone(),
                source,
            })?;
        let pid = child.id().unwrap_or(0);
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        let (stdin_tx, mut stdin_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            let mut writer = AsyncLineWriter::new(stdin);
            while let Some(line) = stdin_rx.recv().await {
                if writer.write_line(&line).await.is_err() {
                    break;
                }
            }
        });

        // Small: the actor reads as fast as the harness writes, and a full queue slows the
        // harness down (back-pressure) instead of growing memory.
        let (line_tx, line_rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut reader = AsyncLineReader::with_max(BufReader::new(stdout), max_line);
            loop {
                let item = match reader.read_line().await {
                    Ok(Some(line)) => ProcLine::Line(line),
                    Ok(None) => ProcLine::Eof(None),
                    Err(FrameError::InvalidUtf8 { line }) => ProcLine::Invalid(line.len()),
                    Err(e) => ProcLine::Eof(Some(e.to_string())),
                };
                let end = matches!(item, ProcLine::Eof(_));
                if line_tx.send(item).await.is_err() || end {
                    break;
                }
            }
        });

        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail_writer = Arc::clone(&tail);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).split(b'\n');
            while let Ok(Some(raw)) = lines.next_segment().await {
                let text = String::from_utf8_lossy(&raw);
                let text = text.trim_end();
                if text.is_empty() {
                    continue;
                }
                let kept: String = text.chars().take(STDERR_LINE_CHARS).collect();
                tracing::debug!(pid, "harness stderr: {kept}");
                let mut tail = tail_writer.lock().expect("stderr tail lock");
                if tail.len() == STDERR_LINES {
                    tail.pop_front();
                }
                tail.push_back(kept);
            }
        });

        Ok(Self {
            child,
            pid,
            stdin: Some(stdin_tx),
            lines: line_rx,
            stderr: tail,
            _permit: permit,
        })
    }

    /// Queues a line for the harness's stdin. Lost if stdin is closed.
    pub fn write(&self, line: String) {
        if let Some(stdin) = &self.stdin {
            let _ = stdin.send(line);
        }
    }

    /// The last lines the harness wrote to stderr, oldest first.
    pub fn stderr_tail(&self, lines: usize) -> Vec<String> {
        let tail = self.stderr.lock().expect("stderr tail lock");
        tail.iter()
            .skip(tail.len().saturating_sub(lines))
            .cloned()
            .collect()
    }

    /// Stops the process and every descendant (also tools started in their own sessions).
    /// The process is `oqto-sandbox`, which passes SIGTERM on to the harness inside: so it
    /// gets SIGTERM first and `grace` to end its tree; then the whole tree gets SIGTERM,
    /// and SIGKILL after `grace / 2`. Returns how it ended.
    pub async fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        // Give queued lines (an `abort`, a `shutdown`) a moment to reach the harness.
        tokio::task::yield_now().await;
        match terminate_root_first(&mut self.child, grace).await {
            Ok(status) => Some(status),
            Err(e) => {
                tracing::warn!(pid = self.pid, error = %e, "stopping harness");
                None
            }
        }
    }

    /// Waits for a process whose stdout closed to exit; terminates it after `grace`.
    pub async fn reap(mut self, grace: Duration) -> Option<ExitStatus> {
        self.stdin = None;
        if let Ok(Ok(status)) = tokio::time::timeout(grace, self.child.wait()).await {
            return Some(status);
        }
        self.stop(grace).await
    }
}

/// "exited with status 1" / "was killed by signal 9 (SIGKILL)". The process is
/// `oqto-sandbox`, whose status is the harness's own, 128+N when the harness died of signal
/// N, and 125/126/127 when the sandbox could not be set up, or the program not run or found
/// (its message is then in the stderr tail).
pub fn describe_exit(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "exited".into();
    };
    let code = exit_code_of(status);
    match status.code() {
        Some(125) => "could not be sandboxed (oqto-sandbox exit status 125)".into(),
        Some(126) => "could not be run (exit status 126)".into(),
        Some(127) => "was not found in the sandbox (exit status 127)".into(),
        Some(129..=192) => killed_by(code - 128, Some(code)),
        Some(_) => format!("exited with status {code}"),
        None => killed_by(code - 128, None),
    }
}

/// "was killed by signal 9 (SIGKILL, exit status 137)": one parenthesis for what is known
/// beyond the number.
fn killed_by(signal: i32, status: Option<i32>) -> String {
    let name = nix::sys::signal::Signal::try_from(signal).map(nix::sys::signal::Signal::as_str);
    match (name, status) {
        (Ok(name), Some(code)) => {
            format!("was killed by signal {signal} ({name}, exit status {code})")
        }
        (Ok(name), None) => format!("was killed by signal {signal} ({name})"),
        (Err(_), Some(code)) => format!("was killed by signal {signal} (exit status {code})"),
        (Err(_), None) => format!("was killed by signal {signal}"),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;

    use super::*;

    #[test]
    fn exits_are_described_with_the_sandbox_conventions() {
        let exited = |code: i32| describe_exit(Some(ExitStatus::from_raw(code << 8)));
        assert_eq!(exited(1), "exited with status 1");
        assert_eq!(
            exited(137),
            "was killed by signal 9 (SIGKILL, exit status 137)"
        );
        // A number with no name (real-time signals) keeps the status alone.
        assert_eq!(
            exited(128 + 40),
            "was killed by signal 40 (exit status 168)"
        );
        assert_eq!(
            exited(125),
            "could not be sandboxed (oqto-sandbox exit status 125)"
        );
        assert_eq!(
            exited(127),
            "was not found in the sandbox (exit status 127)"
        );
        assert_eq!(exited(200), "exited with status 200");
        assert_eq!(
            describe_exit(Some(ExitStatus::from_raw(15))),
            "was killed by signal 15 (SIGTERM)"
        );
        assert_eq!(describe_exit(None), "exited");
    }
}
