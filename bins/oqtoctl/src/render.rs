//! How events reach stdout: unchanged JSON lines for pipes, a human rendering for
//! terminals, only the streamed text, or only the final answer.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use oqto_protocol::{
    Event, EventKind, Message, MessageId, Part, PartId, PartKind, Role, StopReason, ToolStatus,
};

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Canonical events, one JSON object per line (the default when stdout is not a terminal).
    Events,
    /// A rendering for people (the default on a terminal).
    Human,
    /// Only the assistant's streamed text.
    Text,
    /// Only the final assistant message's text, once the turn ends.
    Final,
}

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Escapes what a terminal would act on (escape sequences, carriage returns, bells…) in
/// text that comes from an agent, keeping newlines and tabs.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let bad = |c: char| (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}';
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if bad(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[derive(Debug)]
struct Style {
    color: bool,
}

impl Style {
    fn paint<'a>(&self, code: &str, text: &'a str) -> Cow<'a, str> {
        if self.color {
            Cow::Owned(format!("\x1b[{code}m{text}\x1b[0m"))
        } else {
            Cow::Borrowed(text)
        }
    }
    fn dim<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("2", text)
    }
    fn red<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("31", text)
    }
    fn green<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("32", text)
    }
    fn cyan<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("36", text)
    }
    fn bold<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.paint("1", text)
    }
}

/// Lines of a tool's output shown under its call.
const TOOL_OUTPUT_LINES: usize = 4;
/// Characters of a tool's input summary.
const SUMMARY_CHARS: usize = 100;

/// Writes events to `out` in one [`Output`] mode.
#[derive(Debug)]
pub struct Printer<W: Write> {
    mode: Output,
    out: W,
    style: Style,
    kinds: HashMap<PartId, PartKind>,
    /// Messages whose streamed parts are shown: the assistant's (a user's text is shown
    /// once, whole, at its `message.end`).
    shown: HashSet<MessageId>,
    /// The cursor is not at the start of a line.
    mid_line: bool,
    /// The last error shown, so a message's error part does not repeat the
    /// `session.error` that announced it.
    last_error: Option<String>,
    /// The newest finished assistant message's text (`final` mode).
    final_text: Option<String>,
}

impl<W: Write> Printer<W> {
    pub fn new(mode: Output, color: bool, out: W) -> Self {
        Self {
            mode,
            out,
            style: Style { color },
            kinds: HashMap::new(),
            shown: HashSet::new(),
            mid_line: false,
            last_error: None,
            final_text: None,
        }
    }

    /// The text of the newest finished assistant message.
    pub fn final_text(&self) -> Option<&str> {
        self.final_text.as_deref()
    }

    /// Handles one event; `raw` is its line as the runner sent it.
    pub fn event(&mut self, event: &Event, raw: &str) -> io::Result<()> {
        if let EventKind::MessageEnd { message } = &event.kind
            && message.role == Role::Assistant
        {
            let text = message_text(message);
            if !text.is_empty() || message.stop_reason != Some(StopReason::ToolUse) {
                self.final_text = Some(text);
            }
        }
        match self.mode {
            Output::Events => {
                self.out.write_all(raw.as_bytes())?;
                self.out.write_all(b"\n")?;
                self.out.flush()
            }
            Output::Text => self.text(event),
            Output::Human => self.human(event),
            Output::Final => Ok(()),
        }
    }

    /// Ends the output: the final text in `final` mode, a last newline otherwise.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.mode == Output::Final {
            if let Some(text) = self.final_text.as_ref().filter(|t| !t.is_empty()) {
                let text = escape_controls(text).into_owned();
                self.out.write_all(text.as_bytes())?;
                if !text.ends_with('\n') {
                    self.out.write_all(b"\n")?;
                }
            }
        } else {
            self.end_line()?;
        }
        self.out.flush()
    }

    fn write_text(&mut self, text: &str) -> io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.out.write_all(escape_controls(text).as_bytes())?;
        self.mid_line = !text.ends_with('\n');
        self.out.flush()
    }

    fn end_line(&mut self) -> io::Result<()> {
        if self.mid_line {
            self.out.write_all(b"\n")?;
            self.mid_line = false;
        }
        Ok(())
    }

    fn line(&mut self, text: &str) -> io::Result<()> {
        self.end_line()?;
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// Notes which messages stream visibly; false for events of other messages' parts.
    fn track(&mut self, event: &Event) -> bool {
        match &event.kind {
            EventKind::MessageStart {
                message_id, role, ..
            } => {
                if *role == Role::Assistant {
                    self.shown.insert(message_id.clone());
                }
                true
            }
            EventKind::MessageEnd { message } => {
                self.shown.remove(&message.id);
                true
            }
            EventKind::PartStart { message_id, .. }
            | EventKind::PartDelta { message_id, .. }
            | EventKind::PartEnd { message_id, .. } => self.shown.contains(message_id),
            _ => true,
        }
    }

    fn text(&mut self, event: &Event) -> io::Result<()> {
        if !self.track(event) {
            return Ok(());
        }
        match &event.kind {
            EventKind::PartStart { part, .. } => {
                self.kinds.insert(part.id().clone(), part.kind());
                if let Part::Text { text, .. } = part {
                    self.write_text(text)?;
                }
                Ok(())
            }
            EventKind::PartDelta { part_id, delta, .. }
                if self.kinds.get(part_id) == Some(&PartKind::Text) =>
            {
                self.write_text(delta)
            }
            EventKind::MessageEnd { message } if message.role == Role::Assistant => {
                self.end_line()?;
                self.out.flush()
            }
            _ => Ok(()),
        }
    }

    // One arm per event kind: splitting it would only scatter the rendering.
    #[allow(clippy::too_many_lines)]
    fn human(&mut self, event: &Event) -> io::Result<()> {
        if !self.track(event) {
            return Ok(());
        }
        match &event.kind {
            EventKind::SessionCreated { info } => {
                let line = format!(
                    "session {} ({} in {})",
                    info.id,
                    info.harness,
                    escape_controls(&info.cwd)
                );
                let painted = self.style.dim(&line).into_owned();
                self.line(&painted)
            }
            EventKind::PartStart { part, .. } => {
                self.kinds.insert(part.id().clone(), part.kind());
                match part {
                    Part::Text { text, .. } => self.write_text(text),
                    Part::Thinking { text, .. } if !text.is_empty() => {
                        let text = escape_controls(text).into_owned();
                        let painted = self.style.dim(&text).into_owned();
                        self.out.write_all(painted.as_bytes())?;
                        self.mid_line = !text.ends_with('\n');
                        self.out.flush()
                    }
                    _ => Ok(()),
                }
            }
            EventKind::PartDelta { part_id, delta, .. } => match self.kinds.get(part_id) {
                Some(PartKind::Text) => self.write_text(delta),
                Some(PartKind::Thinking) => {
                    let text = escape_controls(delta).into_owned();
                    let painted = self.style.dim(&text).into_owned();
                    self.out.write_all(painted.as_bytes())?;
                    self.mid_line = !text.ends_with('\n');
                    self.out.flush()
                }
                _ => Ok(()),
            },
            EventKind::PartEnd { part, .. } => {
                if part.kind() == PartKind::Thinking {
                    self.end_line()?;
                }
                Ok(())
            }
            EventKind::ToolStart { name, input, .. } => {
                let line = format!("▸ {}: {}", escape_controls(name), tool_summary(input));
                let painted = self.style.cyan(&line).into_owned();
                self.line(&painted)
            }
            EventKind::ToolEnd { part, .. } => self.tool_end(part),
            EventKind::MessageEnd { message } => self.message_end(message),
            EventKind::Error { message, code, .. } => {
                self.last_error = Some(message.clone());
                let line = format!("error: {} ({code})", escape_controls(message));
                let painted = self.style.red(&line).into_owned();
                self.line(&painted)
            }
            EventKind::State {
                state: oqto_protocol::State::Error,
                reason,
                ..
            } => {
                let line = format!(
                    "session error: {}",
                    escape_controls(reason.as_deref().unwrap_or("unknown"))
                );
                let painted = self.style.red(&line).into_owned();
                self.line(&painted)
            }
            EventKind::RetryStart {
                attempt,
                max_attempts,
                delay_ms,
                error,
            } => {
                let line = format!(
                    "retrying ({attempt}/{max_attempts}) in {:.1}s: {}",
                    f64::from(u32::try_from(*delay_ms).unwrap_or(u32::MAX)) / 1000.0,
                    escape_controls(error)
                );
                let painted = self.style.dim(&line).into_owned();
                self.line(&painted)
            }
            EventKind::CompactionStart { reason } => {
                let line = format!("compacting the context ({reason:?})").to_lowercase();
                let painted = self.style.dim(&line).into_owned();
                self.line(&painted)
            }
            EventKind::ModelChanged { model, .. } => {
                let line = format!("model: {}/{}", model.provider, model.id);
                let painted = self.style.dim(&line).into_owned();
                self.line(&painted)
            }
            EventKind::Resync {
                messages, has_more, ..
            } => {
                let line = format!(
                    "[resynchronised: {} stored message(s){}]",
                    messages.len(),
                    if *has_more {
                        ", older ones not shown"
                    } else {
                        ""
                    }
                );
                let painted = self.style.dim(&line).into_owned();
                self.line(&painted)?;
                for message in messages {
                    self.message(message)?;
                }
                Ok(())
            }
            EventKind::SessionClosed { reason } => {
                let line = format!(
                    "session closed{}",
                    reason
                        .as_deref()
                        .map(|r| format!(": {}", escape_controls(r)))
                        .unwrap_or_default()
                );
                let painted = self.style.dim(&line).into_owned();
                self.line(&painted)
            }
            EventKind::SessionDeleted {} => {
                let painted = self.style.dim("session deleted").into_owned();
                self.line(&painted)
            }
            _ => Ok(()),
        }
    }

    fn tool_end(&mut self, part: &Part) -> io::Result<()> {
        let Part::ToolCall {
            status,
            output,
            is_error,
            name,
            ..
        } = part
        else {
            return Ok(());
        };
        let name = escape_controls(name).into_owned();
        let status_line = match (status, is_error) {
            (ToolStatus::Aborted, _) => self.style.red(&format!("  ⊘ {name} aborted")).into_owned(),
            (_, true) => self.style.red(&format!("  ✗ {name} failed")).into_owned(),
            _ => self.style.green(&format!("  ✓ {name}")).into_owned(),
        };
        self.line(&status_line)?;
        if let Some(output) = output {
            let lines: Vec<&str> = output.trim_end().lines().collect();
            let skipped = lines.len().saturating_sub(TOOL_OUTPUT_LINES);
            if skipped > 0 {
                let note = format!("  │ … {skipped} more line(s)");
                let painted = self.style.dim(&note).into_owned();
                self.line(&painted)?;
            }
            for line in &lines[skipped..] {
                let text = format!("  │ {}", escape_controls(&truncate(line, 200)));
                let painted = self.style.dim(&text).into_owned();
                self.line(&painted)?;
            }
        }
        Ok(())
    }

    fn message_end(&mut self, message: &Message) -> io::Result<()> {
        match message.role {
            Role::User => {
                let text = message_text(message);
                let label = self.style.bold("you:").into_owned();
                self.line(&format!("{label} {}", escape_controls(&text)))
            }
            Role::Assistant => {
                self.end_line()?;
                for part in &message.parts {
                    if let Part::Error { message, .. } = part
                        && self.last_error.as_ref() != Some(message)
                    {
                        let line = format!("error: {}", escape_controls(message));
                        let painted = self.style.red(&line).into_owned();
                        self.line(&painted)?;
                    }
                }
                if message.stop_reason == Some(StopReason::Aborted) {
                    let painted = self.style.red("aborted").into_owned();
                    self.line(&painted)?;
                }
                Ok(())
            }
            Role::System => Ok(()),
        }
    }

    /// A whole stored message (resync snapshots, `oqtoctl messages`).
    pub fn message(&mut self, message: &Message) -> io::Result<()> {
        match message.role {
            Role::Assistant => {
                for part in &message.parts {
                    match part {
                        Part::Text { text, .. } => {
                            self.write_text(text)?;
                            self.end_line()?;
                        }
                        Part::Thinking { text, .. } => {
                            let text = escape_controls(text).into_owned();
                            let painted = self.style.dim(&text).into_owned();
                            self.line(&painted)?;
                        }
                        Part::ToolCall { name, input, .. } => {
                            let line =
                                format!("▸ {}: {}", escape_controls(name), tool_summary(input));
                            let painted = self.style.cyan(&line).into_owned();
                            self.line(&painted)?;
                            self.tool_end(part)?;
                        }
                        _ => {}
                    }
                }
                self.message_end(message)
            }
            _ => self.message_end(message),
        }
    }
}

/// The text parts of a message, joined.
pub fn message_text(message: &Message) -> String {
    message
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("")
}

/// One line describing a tool call's input: its command, path or pattern when it has one,
/// else its JSON, shortened.
pub fn tool_summary(input: &serde_json::Value) -> String {
    let text = ["command", "path", "file_path", "pattern", "query", "url"]
        .iter()
        .find_map(|key| input.get(key).and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_else(|| input.to_string());
    let one_line = text.replace('\n', " ⏎ ");
    escape_controls(&truncate(&one_line, SUMMARY_CHARS)).into_owned()
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
    }
}

#[cfg(test)]
mod tests;
