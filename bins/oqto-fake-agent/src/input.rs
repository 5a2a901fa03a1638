//! The stdin reader thread: JSON lines in, [`Input`]s out on a channel, so that the agent
//! loop can wait for a command and a delta's deadline at once.

use std::io::{self, BufRead};
use std::sync::mpsc::SyncSender;
use std::thread::{self, JoinHandle};

use oqto_ipc::framing::{FrameError, LineReader};
use oqto_protocol::{AgentRequest, ErrorResponse};
use tracing::{debug, warn};

/// What the reader thread hands the agent loop.
#[derive(Debug)]
pub enum Input {
    /// A well-formed request.
    Request(AgentRequest),
    /// A line that is not a request: the error line to write back.
    Bad(ErrorResponse),
    /// stdin reached its end: the agent exits normally.
    Eof,
    /// stdin cannot be read any more (an I/O error).
    Failed(String),
}

/// Starts the thread that reads the process's stdin into `tx`.
pub fn spawn_stdin_reader(tx: SyncSender<Input>) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || read_lines(io::stdin().lock(), &tx))
}

/// Reads request lines from `reader` until EOF, an unrecoverable error, or until the
/// receiving side is gone.
pub fn read_lines<R: BufRead>(reader: R, tx: &SyncSender<Input>) {
    let mut lines = LineReader::new(reader);
    loop {
        let input = match lines.read_line() {
            Ok(Some(line)) => {
                debug!(line = %line, "request");
                match AgentRequest::parse(&line) {
                    Ok(request) => Input::Request(request),
                    Err(error) => {
                        warn!(%error, "bad request line");
                        Input::Bad(error)
                    }
                }
            }
            Ok(None) => {
                debug!("stdin closed");
                let _ = tx.send(Input::Eof);
                return;
            }
            Err(err) => {
                warn!(error = %err, "unreadable line on stdin");
                // An over-long or non-UTF-8 line is answered and skipped.
                let reply = match &err {
                    FrameError::TooLarge { limit } => ErrorResponse::line_too_large(*limit),
                    FrameError::InvalidUtf8 { .. } => ErrorResponse::line_not_utf8(),
                    FrameError::Io(_) => {
                        let _ = tx.send(Input::Failed(format!("reading stdin: {err}")));
                        return;
                    }
                };
                Input::Bad(reply)
            }
        };
        if tx.send(input).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use oqto_protocol::{AgentCommand, ErrorCode, RequestId};

    use super::*;

    fn read_all(text: &[u8]) -> Vec<Input> {
        let (tx, rx) = mpsc::sync_channel(16);
        read_lines(text, &tx);
        drop(tx);
        rx.iter().collect()
    }

    #[test]
    fn requests_bad_lines_and_eof() {
        let inputs = read_all(b"{\"id\":\"1\",\"type\":\"abort\"}\nnot json\n{\"id\":\"2\",\"type\":\"nope\"}\n\xff\n");
        assert_eq!(inputs.len(), 5, "{inputs:?}");
        assert!(matches!(
            &inputs[0],
            Input::Request(AgentRequest { id, command: AgentCommand::Abort {} }) if id.as_str() == "1"
        ));
        assert!(
            matches!(&inputs[1], Input::Bad(e) if e.code == ErrorCode::BadRequest && e.id.is_none())
        );
        assert!(matches!(
            &inputs[2],
            Input::Bad(e) if e.code == ErrorCode::UnknownCommand && e.id == Some(RequestId::new("2"))
        ));
        assert!(matches!(&inputs[3], Input::Bad(e) if e.code == ErrorCode::BadRequest));
        assert!(matches!(inputs[4], Input::Eof));
    }
}
