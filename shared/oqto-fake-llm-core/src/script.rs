//! The deterministic reply logic, shared by every wire format: pure functions from a
//! conversation (a list of [`Turn`]s each API's request is reduced to) to a [`Plan`].
//!
//! The crate documentation lists the rules; [`plan`] applies them in that order. The wire
//! modules ([`crate::openai`], [`crate::anthropic`], [`crate::gemini`], [`crate::responses`])
//! only translate: their request into turns, and a [`Reply`] into their events.

use serde::{Deserialize, Serialize};

/// How many deltas an echo (or summary, or note) reply is split into.
const TEXT_PIECES: usize = 5;
/// How many deltas reasoning text and tool-call arguments are split into.
const SMALL_PIECES: usize = 3;
/// Words of a bare `slow`.
pub const DEFAULT_SLOW_WORDS: usize = 40;
/// The most words `slow:N` accepts.
pub const MAX_SLOW_WORDS: usize = 100_000;
/// The system prompt of pi's compaction request starts with this.
const SUMMARY_PROMPT: &str = "You are a context summarization assistant";

/// A message's role. Roles this server does not know are kept as `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    /// A tool result (`OpenAI`'s role `tool`; Anthropic's `tool_result` blocks, Gemini's
    /// `functionResponse` parts and the Responses API's `function_call_output` items become this).
    Tool,
    #[serde(other)]
    Other,
}

/// One message of a conversation, as the script sees it: who said it, and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

impl Turn {
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            text: text.into(),
        }
    }
}

/// Token counts. Each wire format renames them (`input_tokens`, `promptTokenCount`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// What the server does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Answer with this reply.
    Reply(Reply),
    /// Answer with this HTTP error status (`fail:<status>`).
    Fail { status: u16 },
    /// `flaky:<status>`: fail with `status` the first time this server sees `key` (the exact last
    /// user text), and answer with `then` every later time.
    FailOnce {
        status: u16,
        key: String,
        then: Reply,
    },
}

/// A scripted assistant reply, as the deltas a stream sends in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub deltas: Vec<Delta>,
    pub pace: Pace,
    pub usage: Usage,
}

/// One streamed piece of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// A piece of `reasoning_content` (thinking).
    Reasoning(String),
    /// A piece of `content` (the answer text).
    Content(String),
    /// The start of the (single) tool call: its id and function name.
    ToolCallStart { id: String, name: String },
    /// A piece of the tool call's JSON arguments.
    ToolCallArguments(String),
}

/// Which configured pause comes before each delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// `--delay-ms` (default none).
    Normal,
    /// `--slow-delay-ms` (default 50 ms).
    Slow,
}

/// The `finish_reason` of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    ToolCalls,
}

impl FinishReason {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::ToolCalls => "tool_calls",
        }
    }
}

impl Reply {
    /// The answer text: all `Content` deltas joined.
    pub fn text(&self) -> String {
        self.collect(|d| match d {
            Delta::Content(s) => Some(s),
            _ => None,
        })
    }

    /// The reasoning text: all `Reasoning` deltas joined.
    pub fn reasoning(&self) -> String {
        self.collect(|d| match d {
            Delta::Reasoning(s) => Some(s),
            _ => None,
        })
    }

    /// The tool call, if any: `(id, name, arguments JSON)`.
    pub fn tool_call(&self) -> Option<(String, String, String)> {
        let (id, name) = self.deltas.iter().find_map(|d| match d {
            Delta::ToolCallStart { id, name } => Some((id.clone(), name.clone())),
            _ => None,
        })?;
        let args = self.collect(|d| match d {
            Delta::ToolCallArguments(s) => Some(s),
            _ => None,
        });
        Some((id, name, args))
    }

    /// `tool_calls` when the reply calls a tool, else `stop`.
    pub fn finish_reason(&self) -> FinishReason {
        if self
            .deltas
            .iter()
            .any(|d| matches!(d, Delta::ToolCallStart { .. }))
        {
            FinishReason::ToolCalls
        } else {
            FinishReason::Stop
        }
    }

    fn collect<'a>(&'a self, pick: impl Fn(&'a Delta) -> Option<&'a String>) -> String {
        self.deltas
            .iter()
            .filter_map(pick)
            .map(String::as_str)
            .collect()
    }
}

/// Decides the answer to a conversation from its last message (see the crate documentation).
pub fn plan(messages: &[Turn]) -> Plan {
    let prompt_chars: usize = messages.iter().map(|m| m.text.chars().count()).sum();
    let reply = |deltas: Vec<Delta>, pace: Pace| Reply {
        usage: usage(prompt_chars, &deltas),
        deltas,
        pace,
    };
    let text = |s: &str| reply(text_deltas(s), Pace::Normal);

    let Some(last) = messages.last() else {
        return Plan::Reply(text("echo: "));
    };
    let last_text = last.text.clone();

    // 1. A tool result ends the tool turn.
    if last.role == Role::Tool {
        let first_line = tool_output_line(unwrap_tag(&last_text));
        return Plan::Reply(text(&format!("done: {first_line}")));
    }

    // 2. Compaction.
    let summarising = messages.iter().any(|m| {
        matches!(m.role, Role::System | Role::Developer)
            && m.text.trim_start().starts_with(SUMMARY_PROMPT)
    });
    if summarising || (last.role == Role::User && last_text.contains("<conversation>")) {
        let n = messages
            .iter()
            .filter(|m| !matches!(m.role, Role::System | Role::Developer))
            .count();
        return Plan::Reply(text(&format!(
            "SUMMARY: {n} messages summarised by oqto-fake-llm."
        )));
    }

    // 3. A tool call.
    if let Some((name, arg)) = find_tool_directive(&last_text) {
        return Plan::Reply(match tool_arguments(name, arg) {
            Ok(arguments) => {
                let id = tool_call_id(name, &arguments, messages.len(), prompt_chars);
                let mut deltas = vec![Delta::ToolCallStart {
                    id,
                    name: name.to_owned(),
                }];
                deltas.extend(
                    split_pieces(&arguments, SMALL_PIECES)
                        .into_iter()
                        .map(Delta::ToolCallArguments),
                );
                reply(deltas, Pace::Normal)
            }
            Err(note) => text(&note),
        });
    }

    let words: Vec<&str> = last_text.split_whitespace().collect();
    let echo = format!("echo: {last_text}");

    // 4. Scripted failures.
    if let Some(arg) = find_word_arg(&words, "fail") {
        return match parse_status(arg) {
            Ok(status) => Plan::Fail { status },
            Err(note) => Plan::Reply(text(&note)),
        };
    }
    if let Some(arg) = find_word_arg(&words, "flaky") {
        return match parse_status(arg) {
            Ok(status) => Plan::FailOnce {
                status,
                key: last_text.clone(),
                then: text(&echo),
            },
            Err(note) => Plan::Reply(text(&note)),
        };
    }

    // 5. Slow.
    if let Some(n) = find_slow(&words) {
        return Plan::Reply(match n {
            Ok(n) => reply(
                (1..=n)
                    .map(|i| {
                        Delta::Content(if i == 1 {
                            "word1".into()
                        } else {
                            format!(" word{i}")
                        })
                    })
                    .collect(),
                Pace::Slow,
            ),
            Err(note) => text(&note),
        });
    }

    // 6. Thinking.
    if words.contains(&"think") {
        let mut deltas: Vec<Delta> =
            split_pieces(&format!("Thinking about: {last_text}"), SMALL_PIECES)
                .into_iter()
                .map(Delta::Reasoning)
                .collect();
        deltas.extend(text_deltas(&echo));
        return Plan::Reply(reply(deltas, Pace::Normal));
    }

    // 7. Echo.
    Plan::Reply(text(&echo))
}

/// The line `done:` quotes: the first line of the output, or, when the agent framed the output
/// with an `Output:` line (Codex's `exec_command`, Gemini CLI's shell tool), the rest of that
/// line or else the line after it.
fn tool_output_line(output: &str) -> &str {
    let mut lines = output.lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("Output:") {
            let rest = rest.trim();
            return if rest.is_empty() {
                lines.next().unwrap_or("")
            } else {
                rest
            };
        }
    }
    output.lines().next().unwrap_or("")
}

/// The inside of text wholly wrapped in one tag (Gemini CLI wraps tool output in
/// `<untrusted_context>…</untrusted_context>`), else the text, leading blank lines removed.
fn unwrap_tag(text: &str) -> &str {
    let t = text.trim();
    let inner = t
        .strip_prefix('<')
        .and_then(|rest| {
            let (name, body) = rest.split_once('>')?;
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
            let body = body
                .strip_suffix('>')?
                .strip_suffix(name)?
                .strip_suffix("</")?;
            valid.then_some(body)
        })
        .unwrap_or(text);
    inner.trim_start_matches(['\n', '\r'])
}

fn text_deltas(text: &str) -> Vec<Delta> {
    split_pieces(text, TEXT_PIECES)
        .into_iter()
        .map(Delta::Content)
        .collect()
}

/// Splits `text` into at most `n` pieces of nearly equal length, on character boundaries.
/// Empty text gives no pieces.
pub fn split_pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(n.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// Finds `tool:<name> <rest of line>` at the start of a word; returns the name and the rest.
fn find_tool_directive(text: &str) -> Option<(&str, &str)> {
    for line in text.lines() {
        let mut from = 0;
        while let Some(pos) = line[from..].find("tool:") {
            let at = from + pos;
            let word_start = line[..at]
                .chars()
                .next_back()
                .is_none_or(char::is_whitespace);
            if word_start {
                let rest = &line[at + "tool:".len()..];
                let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let name = &rest[..name_end];
                if !name.is_empty() {
                    return Some((name, rest[name_end..].trim()));
                }
            }
            from = at + "tool:".len();
        }
    }
    None
}

/// The JSON arguments of a scripted tool call, or a note explaining why there are none.
fn tool_arguments(name: &str, arg: &str) -> Result<String, String> {
    if name == "bash" {
        if arg.is_empty() {
            return Err("oqto-fake-llm: tool:bash needs a command after it".into());
        }
        return Ok(serde_json::json!({ "command": arg }).to_string());
    }
    if arg.is_empty() {
        return Ok("{}".into());
    }
    match serde_json::from_str::<serde_json::Value>(arg) {
        Ok(v) if v.is_object() => Ok(v.to_string()),
        Ok(_) => Err(format!(
            "oqto-fake-llm: the arguments of tool:{name} must be a JSON object, got: {arg}"
        )),
        Err(e) => Err(format!(
            "oqto-fake-llm: the arguments of tool:{name} are not valid JSON ({e}): {arg}"
        )),
    }
}

/// `call_` and 12 hex digits, a hash of the call and the conversation's size: the same request
/// always gets the same id, and later calls in a conversation get different ones.
pub fn tool_call_id(name: &str, arguments: &str, messages: usize, chars: usize) -> String {
    let hash = fnv1a(&[
        name.as_bytes(),
        arguments.as_bytes(),
        &messages.to_le_bytes(),
        &chars.to_le_bytes(),
    ]);
    format!("call_{:012x}", hash & 0xffff_ffff_ffff)
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash = OFFSET;
    for part in parts {
        for byte in part.iter().chain([&0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}

/// The argument of the first word `<name>:<arg>`.
fn find_word_arg<'a>(words: &[&'a str], name: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix(':'))
}

fn parse_status(arg: &str) -> Result<u16, String> {
    match arg.parse::<u16>() {
        Ok(status) if (400..=599).contains(&status) => Ok(status),
        _ => Err(format!(
            "oqto-fake-llm: a scripted failure needs an HTTP error status (400-599), got {arg:?}"
        )),
    }
}

/// `slow` or `slow:N`: the number of words, or a note when N is not a usable number.
fn find_slow(words: &[&str]) -> Option<Result<usize, String>> {
    if words.contains(&"slow") {
        return Some(Ok(DEFAULT_SLOW_WORDS));
    }
    let arg = find_word_arg(words, "slow")?;
    Some(match arg.parse::<usize>() {
        Ok(n) if (1..=MAX_SLOW_WORDS).contains(&n) => Ok(n),
        _ => Err(format!(
            "oqto-fake-llm: slow:N needs a word count from 1 to {MAX_SLOW_WORDS}, got {arg:?}"
        )),
    })
}

/// About a quarter of the characters of a conversation, at least 1: the prompt tokens of a
/// reply to it, and the answer to the token-counting routes.
pub fn count_tokens(messages: &[Turn]) -> u64 {
    tokens(messages.iter().map(|m| m.text.chars().count()).sum())
}

fn tokens(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4).max(1)).unwrap_or(u64::MAX)
}

/// Token counts: about a quarter of the characters, at least 1 each.
fn usage(prompt_chars: usize, deltas: &[Delta]) -> Usage {
    let reply_chars: usize = deltas
        .iter()
        .map(|d| match d {
            Delta::Reasoning(s) | Delta::Content(s) | Delta::ToolCallArguments(s) => {
                s.chars().count()
            }
            Delta::ToolCallStart { name, .. } => name.chars().count(),
        })
        .sum();
    let prompt_tokens = tokens(prompt_chars);
    let completion_tokens = tokens(reply_chars);
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn user(text: &str) -> Vec<Turn> {
        vec![
            Turn::new(Role::System, "You are an expert coding assistant"),
            Turn::new(Role::User, text),
        ]
    }

    fn reply_of(plan: Plan) -> Reply {
        match plan {
            Plan::Reply(r) => r,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn echo_is_split_into_about_five_deltas() {
        let r = reply_of(plan(&user("hello world")));
        assert_eq!(r.text(), "echo: hello world");
        assert_eq!(r.deltas.len(), 5);
        assert_eq!(r.finish_reason(), FinishReason::Stop);
        assert_eq!(r.pace, Pace::Normal);
    }

    #[test]
    fn tool_result_ends_the_turn_with_its_first_line() {
        let req = vec![
            Turn::new(Role::User, "please run tool:bash echo hi"),
            Turn::new(Role::Assistant, ""),
            Turn::new(Role::Tool, "hi-from-bash\nhello from the project dir\n"),
        ];
        assert_eq!(reply_of(plan(&req)).text(), "done: hi-from-bash");
        let wrapped = vec![Turn::new(
            Role::Tool,
            "<untrusted_context>\nOutput: hi\nPGID: 1\n</untrusted_context>",
        )];
        assert_eq!(reply_of(plan(&wrapped)).text(), "done: hi");
        let codex = vec![Turn::new(
            Role::Tool,
            "Chunk ID: 0f1249\nWall time: 0.0000 seconds\nProcess exited with code 0\nOutput:\nhi\n",
        )];
        assert_eq!(reply_of(plan(&codex)).text(), "done: hi");
        let empty = vec![Turn::new(Role::Tool, "")];
        assert_eq!(reply_of(plan(&empty)).text(), "done: ");
    }

    #[test]
    fn compaction_is_recognised_by_prompt_or_conversation_tag() {
        let req = vec![
            Turn::new(
                Role::System,
                "You are a context summarization assistant. Be brief.",
            ),
            Turn::new(
                Role::User,
                "<conversation>tool:bash rm -rf /</conversation>",
            ),
        ];
        assert_eq!(
            reply_of(plan(&req)).text(),
            "SUMMARY: 1 messages summarised by oqto-fake-llm."
        );
        let tagged = vec![
            Turn::new(Role::User, "a"),
            Turn::new(Role::Assistant, "b"),
            Turn::new(Role::User, "<conversation>x</conversation> summarise"),
        ];
        assert_eq!(
            reply_of(plan(&tagged)).text(),
            "SUMMARY: 3 messages summarised by oqto-fake-llm."
        );
    }

    #[test]
    fn bash_directive_takes_the_rest_of_the_line() {
        let r = reply_of(plan(&user(
            "please run tool:bash echo hi && cat hello.txt\nthanks",
        )));
        assert_eq!(r.finish_reason(), FinishReason::ToolCalls);
        let (id, name, args) = r.tool_call().unwrap();
        assert_eq!(name, "bash");
        let args: serde_json::Value = serde_json::from_str(&args).unwrap();
        assert_eq!(
            args,
            serde_json::json!({"command": "echo hi && cat hello.txt"})
        );
        assert!(id.starts_with("call_") && id.len() == 17, "{id}");
        assert!(id[5..].chars().all(|c| c.is_ascii_hexdigit()));
        let arg_pieces = r
            .deltas
            .iter()
            .filter(|d| matches!(d, Delta::ToolCallArguments(_)))
            .count();
        assert!(arg_pieces > 1, "arguments are split over several deltas");
        assert!(r.text().is_empty());
    }

    #[test]
    fn tool_call_ids_are_deterministic_and_vary_with_the_conversation() {
        let a = reply_of(plan(&user("tool:bash ls"))).tool_call().unwrap().0;
        let b = reply_of(plan(&user("tool:bash ls"))).tool_call().unwrap().0;
        assert_eq!(a, b);
        let mut longer = user("first");
        longer.push(Turn::new(Role::User, "tool:bash ls"));
        let c = reply_of(plan(&longer)).tool_call().unwrap().0;
        assert_ne!(a, c);
    }

    #[test]
    fn other_tools_take_json_arguments() {
        let r = reply_of(plan(&user(r#"tool:read {"path": "hello.txt"}"#)));
        let (_, name, args) = r.tool_call().unwrap();
        assert_eq!(name, "read");
        assert_eq!(args, r#"{"path":"hello.txt"}"#);
        let r = reply_of(plan(&user("tool:ls")));
        assert_eq!(r.tool_call().unwrap().2, "{}");
        let bad = reply_of(plan(&user("tool:read {not json")));
        assert!(bad.tool_call().is_none());
        assert!(bad.text().contains("not valid JSON"), "{}", bad.text());
        let not_object = reply_of(plan(&user("tool:read [1]")));
        assert!(not_object.text().contains("JSON object"));
        let no_cmd = reply_of(plan(&user("tool:bash")));
        assert!(no_cmd.text().contains("needs a command"));
    }

    #[test]
    fn tool_directive_must_start_a_word() {
        let r = reply_of(plan(&user("mytool:bash ls")));
        assert_eq!(r.text(), "echo: mytool:bash ls");
    }

    #[test]
    fn fail_and_flaky() {
        assert_eq!(plan(&user("fail:503")), Plan::Fail { status: 503 });
        assert_eq!(
            plan(&user("please fail:400 now")),
            Plan::Fail { status: 400 }
        );
        match plan(&user("flaky:503 retry me")) {
            Plan::FailOnce { status, key, then } => {
                assert_eq!(status, 503);
                assert_eq!(key, "flaky:503 retry me");
                assert_eq!(then.text(), "echo: flaky:503 retry me");
            }
            other => panic!("{other:?}"),
        }
        for bad in ["fail:200", "fail:abc", "flaky:600"] {
            let r = reply_of(plan(&user(bad)));
            assert!(r.text().contains("400-599"), "{bad}: {}", r.text());
        }
    }

    #[test]
    fn slow_streams_numbered_words() {
        let r = reply_of(plan(&user("slow")));
        assert_eq!(r.pace, Pace::Slow);
        assert_eq!(r.deltas.len(), DEFAULT_SLOW_WORDS);
        let r = reply_of(plan(&user("be slow:3 please")));
        assert_eq!(r.text(), "word1 word2 word3");
        assert_eq!(r.deltas.len(), 3);
        let bad = reply_of(plan(&user("slow:0")));
        assert_eq!(bad.pace, Pace::Normal);
        assert!(bad.text().contains("word count"));
        assert_eq!(reply_of(plan(&user("slowly"))).text(), "echo: slowly");
    }

    #[test]
    fn think_sends_reasoning_before_the_echo() {
        let r = reply_of(plan(&user("think about this")));
        assert_eq!(r.reasoning(), "Thinking about: think about this");
        assert_eq!(r.text(), "echo: think about this");
        let first_content = r.deltas.iter().position(|d| matches!(d, Delta::Content(_)));
        let last_reasoning = r
            .deltas
            .iter()
            .rposition(|d| matches!(d, Delta::Reasoning(_)));
        assert!(last_reasoning < first_content);
        assert!(
            r.deltas
                .iter()
                .filter(|d| matches!(d, Delta::Reasoning(_)))
                .count()
                > 1
        );
    }

    #[test]
    fn precedence_follows_the_rule_order() {
        // tool: wins over fail:, fail: over slow, slow over think.
        assert!(
            reply_of(plan(&user("tool:bash ls fail:503")))
                .tool_call()
                .is_some()
        );
        assert_eq!(plan(&user("slow fail:503")), Plan::Fail { status: 503 });
        assert_eq!(reply_of(plan(&user("think slow:2"))).text(), "word1 word2");
    }

    #[test]
    fn usage_is_about_a_quarter_of_the_characters() {
        let req = vec![Turn::new(Role::User, "x".repeat(400))];
        let r = reply_of(plan(&req));
        assert_eq!(r.usage.prompt_tokens, 100);
        let reply_chars = r.text().chars().count() as u64;
        assert_eq!(r.usage.completion_tokens, reply_chars.div_ceil(4));
        assert_eq!(
            r.usage.total_tokens,
            r.usage.prompt_tokens + r.usage.completion_tokens
        );
        let tiny = reply_of(plan(&[Turn::new(Role::User, "")]));
        assert!(tiny.usage.prompt_tokens >= 1 && tiny.usage.completion_tokens >= 1);
    }

    #[test]
    fn split_pieces_respects_char_boundaries() {
        assert_eq!(split_pieces("", 5), Vec::<String>::new());
        assert_eq!(split_pieces("ab", 5), ["a", "b"]);
        let pieces = split_pieces("héllo wörld ✓", 5);
        assert_eq!(pieces.concat(), "héllo wörld ✓");
        assert!(pieces.len() <= 5);
    }
}
