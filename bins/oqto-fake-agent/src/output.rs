//! stdout: one [`AgentMessage`] per line, flushed after each, so the runner sees every event
//! as it happens.

use std::io::Write;

use anyhow::Context as _;
use oqto_ipc::framing::LineWriter;
use oqto_protocol::{
    AgentMessage, AgentOk, AgentReply, ErrorCode, ErrorResponse, EventKind, RequestId,
};

/// The agent's side of stdout.
#[derive(Debug)]
pub struct Output<W: Write> {
    writer: LineWriter<W>,
}

impl<W: Write> Output<W> {
    pub fn new(inner: W) -> Self {
        Self {
            writer: LineWriter::new(inner),
        }
    }

    /// Writes one line and flushes it.
    pub fn send(&mut self, message: &AgentMessage) -> anyhow::Result<()> {
        self.writer
            .write_line(&message.to_line())
            .context("writing to stdout")
    }

    pub fn event(&mut self, kind: EventKind) -> anyhow::Result<()> {
        self.send(&AgentMessage::Event(kind))
    }

    pub fn ok(&mut self, id: RequestId, result: AgentReply) -> anyhow::Result<()> {
        self.send(&AgentMessage::Ok(AgentOk { id, result }))
    }

    pub fn error(
        &mut self,
        id: RequestId,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> anyhow::Result<()> {
        self.send_error(ErrorResponse::new(Some(id), code, message))
    }

    pub fn send_error(&mut self, error: ErrorResponse) -> anyhow::Result<()> {
        tracing::debug!(code = %error.code, message = %error.message, "error reply");
        self.send(&AgentMessage::Error(error))
    }
}
