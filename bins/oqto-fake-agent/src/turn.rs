//! Turns: the user message, the scripted reply, steers and follow-ups, until `idle`.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oqto_protocol::{
    ErrorCode, EventKind, Message, Millis, Part, PartId, Phase, RequestId, Role, StopReason,
    ToolStatus, Usage,
};
use serde_json::Value;
use tracing::{info, warn};

use crate::agent::{Agent, End, Interrupt};
use crate::script::{self, Plan};

/// How one exchange (a user message and its reply) ended.
#[derive(Debug)]
enum Step {
    /// The reply is complete.
    Done,
    /// A steer cut the reply short; it waits at the front of the steering queue.
    Steered,
    /// The reply failed (`fail`): the turn ends, queued texts wait.
    Failed,
    /// `abort` with this request id.
    Aborted(RequestId),
    /// The process exits.
    End(End),
}

/// A message being written.
#[derive(Debug)]
struct Draft {
    message: Message,
    /// The part being streamed, and the raw JSON streamed into a tool call's input.
    open: Option<(Part, String)>,
}

/// Milliseconds since the epoch.
fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
    })
}

impl<W: Write> Agent<W> {
    /// Runs one turn for a prompt; `Some` when the process should exit.
    pub(crate) fn turn(&mut self, text: String) -> anyhow::Result<Option<End>> {
        self.turns += 1;
        info!(turn = self.turns, "turn started");
        self.set_phase(Phase::Generating)?;
        let mut next = Some(text);
        while let Some(text) = next {
            match self.exchange(&text)? {
                Step::Done | Step::Steered => {}
                Step::Failed => break,
                Step::Aborted(id) => {
                    info!(turn = self.turns, "turn aborted");
                    self.clear_queues()?;
                    self.idle()?;
                    self.out.ok(id, oqto_protocol::AgentReply::Empty)?;
                    return Ok(None);
                }
                Step::End(end) => return Ok(Some(end)),
            }
            next = self.dequeue()?;
        }
        self.idle()?;
        info!(turn = self.turns, "turn finished");
        Ok(None)
    }

    /// One user message and the reply its script asks for.
    fn exchange(&mut self, text: &str) -> anyhow::Result<Step> {
        let plan = match script::parse(text) {
            Plan::Hang => return Ok(Step::End(self.hang()?)),
            plan => plan,
        };
        self.set_phase(Phase::Generating)?;
        self.user_message(text)?;
        let input_tokens = script::tokens(text);
        let delay = self.config.delay;
        let echo = || script::split_deltas(&format!("echo: {text}"), self.config.deltas);
        match plan {
            Plan::Echo => self.text_reply(None, &echo(), delay, input_tokens),
            Plan::Stream { count, delay_ms } => {
                let delay = delay_ms.map_or(delay, Duration::from_millis);
                self.text_reply(None, &script::stream_deltas(count), delay, input_tokens)
            }
            Plan::Think => {
                let thinking = script::split_deltas(script::THINKING_TEXT, self.config.deltas);
                self.text_reply(Some(&thinking), &echo(), delay, input_tokens)
            }
            Plan::Tool { name, input } => self.tool_reply(&name, &input, input_tokens),
            Plan::Fail { message } => self.fail(message),
            Plan::Crash { code } => self.crash(code),
            Plan::Hang => Ok(Step::End(self.hang()?)),
        }
    }

    fn user_message(&mut self, text: &str) -> anyhow::Result<()> {
        let mut draft = self.start_message(Role::User)?;
        self.user_labels.insert(draft.message.id.clone());
        let id = self.next_part();
        self.start_part(
            &mut draft,
            Part::Text {
                id,
                text: text.to_owned(),
            },
        )?;
        self.end_part(&mut draft, false)?;
        self.end_message(draft, None, None)
    }

    /// An assistant message: optionally a thinking part, then a text part.
    fn text_reply(
        &mut self,
        thinking: Option<&[String]>,
        text: &[String],
        delay: Duration,
        input_tokens: u64,
    ) -> anyhow::Result<Step> {
        if thinking.is_some() {
            self.set_phase(Phase::Thinking)?;
        }
        let mut draft = self.start_message(Role::Assistant)?;
        if let Some(thinking) = thinking {
            let id = self.next_part();
            self.start_part(
                &mut draft,
                Part::Thinking {
                    id,
                    text: String::new(),
                },
            )?;
            if let Some(interrupt) = self.stream(&mut draft, thinking, delay)? {
                return self.interrupted(draft, interrupt, input_tokens);
            }
            self.end_part(&mut draft, false)?;
            self.set_phase(Phase::Generating)?;
        }
        let id = self.next_part();
        self.start_part(
            &mut draft,
            Part::Text {
                id,
                text: String::new(),
            },
        )?;
        if let Some(interrupt) = self.stream(&mut draft, text, delay)? {
            return self.interrupted(draft, interrupt, input_tokens);
        }
        self.end_part(&mut draft, false)?;
        let usage = usage(&draft, input_tokens);
        self.end_message(draft, Some(StopReason::Stop), Some(usage))?;
        Ok(Step::Done)
    }

    /// A tool call, the tool running, and the reply after it.
    fn tool_reply(&mut self, name: &str, input: &Value, input_tokens: u64) -> anyhow::Result<Step> {
        let delay = self.config.delay;
        let mut draft = self.start_message(Role::Assistant)?;
        let part_id = self.next_part();
        let call_id = format!("call_{part_id}");
        let call = |input: Value, status: ToolStatus, output: Option<String>| Part::ToolCall {
            id: part_id.clone(),
            call_id: call_id.clone(),
            name: name.to_owned(),
            input,
            status,
            output,
            is_error: false,
        };
        self.start_part(&mut draft, call(Value::Null, ToolStatus::Pending, None))?;
        let json = script::split_deltas(&input.to_string(), self.config.deltas);
        if let Some(interrupt) = self.stream(&mut draft, &json, delay)? {
            return self.interrupted(draft, interrupt, input_tokens);
        }
        self.end_part(&mut draft, false)?;
        let message_id = draft.message.id.clone();
        let usage = usage(&draft, input_tokens);
        self.end_message(draft, Some(StopReason::ToolUse), Some(usage))?;

        self.set_phase(Phase::ToolRunning)?;
        self.out.event(EventKind::ToolStart {
            message_id: message_id.clone(),
            part_id: part_id.clone(),
            call_id: call_id.clone(),
            name: name.to_owned(),
            input: input.clone(),
        })?;
        let chunks = [format!("running {name}\n"), format!("{name} finished\n")];
        let mut output = String::new();
        let mut steered = false;
        for (i, chunk) in chunks.iter().enumerate() {
            let wait = if i == 0 { Duration::ZERO } else { delay };
            match self.boundary(wait)? {
                None => {}
                // The tool runs to its end; the steer is delivered after it.
                Some(Interrupt::Steer) => steered = true,
                Some(Interrupt::Abort(id)) => {
                    let output = (!output.is_empty()).then_some(output);
                    self.out.event(EventKind::ToolEnd {
                        message_id,
                        part: call(input.clone(), ToolStatus::Aborted, output),
                    })?;
                    return Ok(Step::Aborted(id));
                }
                Some(Interrupt::End(end)) => return Ok(Step::End(end)),
            }
            output.push_str(chunk);
            self.out.event(EventKind::ToolOutput {
                message_id: message_id.clone(),
                part_id: part_id.clone(),
                delta: chunk.clone(),
            })?;
        }
        self.out.event(EventKind::ToolEnd {
            message_id,
            part: call(input.clone(), ToolStatus::Done, Some(output)),
        })?;
        if steered {
            return Ok(Step::Steered);
        }
        self.set_phase(Phase::Generating)?;
        let done = script::split_deltas(&format!("done: {name}"), self.config.deltas);
        self.text_reply(None, &done, delay, input_tokens)
    }

    /// A recoverable failure: `session.error` and an assistant message holding an error part.
    fn fail(&mut self, message: Option<String>) -> anyhow::Result<Step> {
        let message = message.unwrap_or_else(|| "fake failure, as asked".to_owned());
        warn!(reason = %message, "failing as asked");
        self.out.event(EventKind::Error {
            code: ErrorCode::HarnessFailed,
            message: message.clone(),
            recoverable: true,
        })?;
        let mut draft = self.start_message(Role::Assistant)?;
        let id = self.next_part();
        self.start_part(&mut draft, Part::Error { id, message })?;
        self.end_part(&mut draft, false)?;
        self.end_message(draft, Some(StopReason::Error), None)?;
        Ok(Step::Failed)
    }

    /// Starts a reply, explains on stderr, and exits with `code` (no `idle`).
    fn crash(&mut self, code: u8) -> anyhow::Result<Step> {
        let mut draft = self.start_message(Role::Assistant)?;
        let id = self.next_part();
        self.start_part(
            &mut draft,
            Part::Text {
                id,
                text: String::new(),
            },
        )?;
        self.delta(&mut draft, "about to crash")?;
        let mut stderr = io::stderr().lock();
        let _ = writeln!(stderr, "fake agent crashing as asked");
        let _ = writeln!(
            stderr,
            "  turn {}, in the middle of message {}",
            self.turns, draft.message.id
        );
        let _ = writeln!(stderr, "  exiting with code {code}");
        Ok(Step::End(End::Crash(code)))
    }

    /// Streams `deltas` into the open part, `delay` apart, answering commands in between.
    fn stream(
        &mut self,
        draft: &mut Draft,
        deltas: &[String],
        delay: Duration,
    ) -> anyhow::Result<Option<Interrupt>> {
        for (i, delta) in deltas.iter().enumerate() {
            let wait = if i == 0 { Duration::ZERO } else { delay };
            if let Some(interrupt) = self.boundary(wait)? {
                return Ok(Some(interrupt));
            }
            self.delta(draft, delta)?;
        }
        Ok(None)
    }

    /// Ends a message cut short: `aborted` for an abort, `stop` for a steer.
    fn interrupted(
        &mut self,
        mut draft: Draft,
        interrupt: Interrupt,
        input_tokens: u64,
    ) -> anyhow::Result<Step> {
        let (reason, outcome) = match interrupt {
            Interrupt::Abort(id) => (StopReason::Aborted, Step::Aborted(id)),
            Interrupt::Steer => (StopReason::Stop, Step::Steered),
            Interrupt::End(end) => return Ok(Step::End(end)),
        };
        self.end_part(&mut draft, true)?;
        let usage = usage(&draft, input_tokens);
        self.end_message(draft, Some(reason), Some(usage))?;
        Ok(outcome)
    }

    fn start_message(&mut self, role: Role) -> anyhow::Result<Draft> {
        let id = self.next_message();
        let model = (role == Role::Assistant).then(|| self.model.clone());
        self.out.event(EventKind::MessageStart {
            message_id: id.clone(),
            role,
            model: model.clone(),
        })?;
        Ok(Draft {
            message: Message {
                id,
                session: self.session.clone(),
                role,
                parts: Vec::new(),
                created_at: now_ms(),
                model,
                usage: None,
                stop_reason: None,
                client_msg_id: None,
            },
            open: None,
        })
    }

    fn start_part(&mut self, draft: &mut Draft, part: Part) -> anyhow::Result<()> {
        self.out.event(EventKind::PartStart {
            message_id: draft.message.id.clone(),
            part: part.clone(),
        })?;
        draft.open = Some((part, String::new()));
        Ok(())
    }

    fn delta(&mut self, draft: &mut Draft, delta: &str) -> anyhow::Result<()> {
        let Some((part, raw)) = draft.open.as_mut() else {
            anyhow::bail!("internal: a delta without an open part");
        };
        match part {
            Part::Text { text, .. } | Part::Thinking { text, .. } => text.push_str(delta),
            _ => raw.push_str(delta),
        }
        let part_id: PartId = part.id().clone();
        self.out.event(EventKind::PartDelta {
            message_id: draft.message.id.clone(),
            part_id,
            delta: delta.to_owned(),
        })
    }

    /// Ends the open part, if any. A tool call's input is the JSON streamed into it (null
    /// while incomplete); an interrupted tool call never runs, so it ends `aborted`.
    fn end_part(&mut self, draft: &mut Draft, interrupted: bool) -> anyhow::Result<()> {
        let Some((mut part, raw)) = draft.open.take() else {
            return Ok(());
        };
        if let Part::ToolCall { input, status, .. } = &mut part {
            *input = serde_json::from_str(&raw).unwrap_or(Value::Null);
            if interrupted {
                *status = ToolStatus::Aborted;
            }
        }
        self.out.event(EventKind::PartEnd {
            message_id: draft.message.id.clone(),
            part: part.clone(),
        })?;
        draft.message.parts.push(part);
        Ok(())
    }

    fn end_message(
        &mut self,
        mut draft: Draft,
        stop_reason: Option<StopReason>,
        usage: Option<Usage>,
    ) -> anyhow::Result<()> {
        self.end_part(&mut draft, false)?;
        let mut message = draft.message;
        message.usage = usage;
        message.stop_reason = stop_reason;
        self.out.event(EventKind::MessageEnd { message })
    }
}

/// Deterministic token counts: words of the user text in, words written out.
fn usage(draft: &Draft, input_tokens: u64) -> Usage {
    let output = draft
        .message
        .parts
        .iter()
        .map(|part| match part {
            Part::Text { text, .. } | Part::Thinking { text, .. } => script::tokens(text),
            _ => 1,
        })
        .sum();
    Usage {
        input: input_tokens,
        output,
        ..Usage::default()
    }
}
