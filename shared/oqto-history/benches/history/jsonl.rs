//! The same corpus as pi session files, for the `rg` comparison: one JSONL file per
//! session, in `--<cwd with - for />--/<timestamp>_<id>.jsonl`, a `session` header line and
//! one `message` line per user or assistant message plus one `toolResult` message line per
//! tool call (pi keeps a tool's output in a message of its own).

use std::fs;
use std::io::{self, BufWriter, Write as _};
use std::path::Path;

use oqto_protocol::{Message, Part, Role, StopReason};
use serde_json::{Value, json};

use crate::corpus::{Plan, pi_dir_name};
use crate::rng::mix;

/// What writing the files produced.
#[derive(Debug, Default)]
pub struct Written {
    pub files: usize,
    pub lines: usize,
    pub bytes: u64,
}

/// Writes every session of `plan` under `dir`.
pub fn write_all(plan: &Plan, dir: &Path) -> io::Result<Written> {
    let mut written = Written::default();
    for s in 0..plan.sessions.len() {
        write_session(plan, s, dir, &mut written)?;
    }
    Ok(written)
}

fn write_session(plan: &Plan, s: usize, dir: &Path, written: &mut Written) -> io::Result<()> {
    let session = &plan.sessions[s];
    let folder = dir.join(pi_dir_name(&session.cwd));
    fs::create_dir_all(&folder)?;
    let stamp = iso8601(session.start_ms).replace([':', '.'], "-");
    let path = folder.join(format!("{stamp}_{}.jsonl", session.id.as_str()));
    let mut out = Lines {
        out: BufWriter::with_capacity(256 * 1024, fs::File::create(&path)?),
        written,
    };
    out.line(&json!({
        "type": "session",
        "version": 3,
        "id": session.id.as_str(),
        "timestamp": iso8601(session.start_ms),
        "cwd": session.cwd,
    }))?;
    let mut parent: Option<String> = None;
    let mut entry = 0u64;
    let mut next_id = || {
        entry += 1;
        format!("{:08x}", mix(entry ^ (s as u64) << 32) & 0xffff_ffff)
    };
    for (message, _seq) in plan.messages(s) {
        let id = next_id();
        out.line(&json!({
            "type": "message",
            "id": id,
            "parentId": parent,
            "timestamp": iso8601(message.created_at),
            "message": pi_message(&message),
        }))?;
        parent = Some(id);
        for part in &message.parts {
            if let Part::ToolCall {
                call_id,
                name,
                output: Some(output),
                is_error,
                ..
            } = part
            {
                let id = next_id();
                out.line(&json!({
                    "type": "message",
                    "id": id,
                    "parentId": parent,
                    "timestamp": iso8601(message.created_at),
                    "message": {
                        "role": "toolResult",
                        "toolCallId": call_id,
                        "toolName": name,
                        "content": [{ "type": "text", "text": output }],
                        "isError": is_error,
                        "timestamp": message.created_at,
                    },
                }))?;
                parent = Some(id);
            }
        }
    }
    out.out.flush()?;
    out.written.files += 1;
    Ok(())
}

/// A JSONL file being written, and the running totals.
struct Lines<'w> {
    out: BufWriter<fs::File>,
    written: &'w mut Written,
}

impl Lines<'_> {
    fn line(&mut self, value: &Value) -> io::Result<()> {
        let text = serde_json::to_string(value)?;
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.written.lines += 1;
        self.written.bytes += text.len() as u64 + 1;
        Ok(())
    }
}

/// A user or assistant message as pi writes it (tool outputs go in `toolResult` lines).
fn pi_message(m: &Message) -> Value {
    let mut content = Vec::new();
    let mut error = None;
    for part in &m.parts {
        match part {
            Part::Text { text, .. } => content.push(json!({ "type": "text", "text": text })),
            Part::Thinking { text, .. } => {
                content.push(json!({ "type": "thinking", "thinking": text }));
            }
            Part::ToolCall {
                call_id,
                name,
                input,
                ..
            } => content.push(json!({
                "type": "toolCall", "id": call_id, "name": name, "arguments": input,
            })),
            Part::Error { message, .. } => error = Some(message.clone()),
            Part::Image { .. }
            | Part::FileRef { .. }
            | Part::Compaction { .. }
            | Part::Plan { .. }
            | Part::Diff { .. } => {}
        }
    }
    if m.role == Role::User {
        return json!({ "role": "user", "content": content, "timestamp": m.created_at });
    }
    let usage = m.usage.clone().unwrap_or_default();
    let mut value = json!({
        "role": "assistant",
        "content": content,
        "api": "anthropic-messages",
        "provider": m.model.as_ref().map(|x| x.provider.clone()),
        "model": m.model.as_ref().map(|x| x.id.clone()),
        "usage": {
            "input": usage.input,
            "output": usage.output,
            "cacheRead": usage.cache_read,
            "cacheWrite": usage.cache_write,
            "totalTokens": usage.input + usage.output,
            "cost": { "total": usage.cost.unwrap_or_default() },
        },
        "stopReason": match m.stop_reason {
            Some(StopReason::ToolUse) => "toolUse",
            Some(StopReason::Length) => "length",
            Some(StopReason::Error) => "error",
            Some(StopReason::Aborted) => "aborted",
            Some(StopReason::Stop) | None => "stop",
        },
        "timestamp": m.created_at,
    });
    if let Some(error) = error {
        value["errorMessage"] = Value::String(error);
    }
    value
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (for the corpus's years, 2026 on).
pub fn iso8601(ms: u64) -> String {
    const DAY_MS: u64 = 86_400_000;
    // Days from 1970-01-01 to 2026-01-01.
    const DAYS_TO_2026: u64 = 20_454;
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = ms / DAY_MS - DAYS_TO_2026;
    let mut year = 2026;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let feb = if leap(year) { 29 } else { 28 };
    let mut month = 1;
    for len in [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    let rest = ms % DAY_MS;
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        days + 1,
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}
