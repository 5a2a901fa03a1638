//! The synthetic corpus: sessions of coding-agent conversations, generated deterministically
//! from a seed, one session at a time (nothing is kept in memory but the plan).
//!
//! * ~1,000 sessions per million messages (at least 10): one of exactly 100,000 messages
//!   (a tenth of the corpus when that is smaller), one of exactly 10, and the rest with
//!   log-normal sizes (median a few hundred messages, a long tail of large sessions).
//! * A session is turns: a user prompt, then assistant messages that think, narrate and
//!   call one tool (sometimes two), ending with a summary reply.
//! * Tool calls are `bash` (builds, tests, `ls -la`, `git diff`/`status`/`log`, `rg`, ...),
//!   `read`, `edit` and `write`, with output of log-normal length capped at pi's 50 KB.
//! * Rare identifiers are planted in exactly [`PLANTS`] messages each.

use std::collections::HashMap;
use std::fmt::Write as _;

use oqto_history::SessionRecord;
use oqto_protocol::{
    Message, MessageId, ModelRef, Part, PartId, Role, SessionId, State, StopReason, ToolStatus,
    Usage,
};
use serde_json::json;

use crate::rng::{Rng, mix};
use crate::text::{self, Lang, PROJECTS, Project, fill, filled};

/// Identifiers planted in exactly this many messages each (nowhere else in the corpus).
pub const PLANTS: &[(&str, usize)] = &[("reconcile_ledger_snapshot", 5), ("zebra_quota_7731", 50)];
/// A word that no template produces.
pub const ABSENT_WORD: &str = "xylophone";
/// The length of the long session (or a tenth of the corpus, if smaller).
pub const BIG_SESSION: usize = 100_000;
/// The length of the short session.
pub const SMALL_SESSION: usize = 10;
/// pi truncates a tool's output at 50 KB.
const MAX_OUTPUT: usize = 50 * 1024;
/// 2026-01-01T00:00:00Z, when the first session starts.
const EPOCH_MS: u64 = 1_767_225_600_000;

/// Which sessions exist, how long each is, and where the rare identifiers go.
#[derive(Debug)]
pub struct Plan {
    pub seed: u64,
    pub total: usize,
    pub sessions: Vec<SessionPlan>,
    /// Index in `sessions` of the long and of the short session.
    pub big: usize,
    pub small: usize,
    /// Global message index to the identifier planted in it.
    planted: HashMap<usize, &'static str>,
}

/// One session of the plan.
#[derive(Debug)]
pub struct SessionPlan {
    /// Index in [`Plan::sessions`].
    pub index: usize,
    pub id: SessionId,
    pub project: &'static Project,
    pub cwd: String,
    pub harness: &'static str,
    pub len: usize,
    /// Global index of the session's first message.
    pub first: usize,
    pub start_ms: u64,
}

impl Plan {
    /// The plan for `total` messages (at least 1,000).
    pub fn new(total: usize, seed: u64) -> Plan {
        assert!(total >= 1000, "the corpus needs at least 1,000 messages");
        let mut rng = Rng::new(seed);
        let count = (total / 1000).clamp(10, 1000);
        let big_len = BIG_SESSION.min(total / 10);
        let (big, small) = (count / 3, count / 2);

        // Log-normal weights for the other sessions, scaled to the messages left.
        let rest = total - big_len - SMALL_SESSION;
        let weights: Vec<f64> = (0..count - 2).map(|_| rng.lognormal(1.0, 1.2)).collect();
        let sum: f64 = weights.iter().sum();
        let mut lens: Vec<usize> = weights
            .iter()
            .map(|w| to_count(w / sum * to_f64(rest)).max(2))
            .collect();
        // Rounding: add the difference to the longest sessions, or take it from them.
        let mut by_size: Vec<usize> = (0..lens.len()).collect();
        by_size.sort_by_key(|&i| std::cmp::Reverse(lens[i]));
        let mut have: usize = lens.iter().sum();
        let mut k = 0;
        while have != rest {
            let i = by_size[k % by_size.len()];
            if have < rest {
                lens[i] += 1;
                have += 1;
            } else if lens[i] > 2 {
                lens[i] -= 1;
                have -= 1;
            }
            k += 1;
        }
        lens.insert(big, big_len);
        lens.insert(small, SMALL_SESSION);

        let mut sessions = Vec::with_capacity(count);
        let (mut first, mut start_ms) = (0, EPOCH_MS);
        for (s, &len) in lens.iter().enumerate() {
            let project = &PROJECTS[rng.below(PROJECTS.len())];
            let cwd = if !project.subdirs.is_empty() && rng.chance(0.2) {
                format!("{}/{}", project.dir, rng.pick(project.subdirs))
            } else {
                project.dir.to_owned()
            };
            let harness = if rng.chance(0.8) { "pi" } else { "codex" };
            sessions.push(SessionPlan {
                index: s,
                id: SessionId::new(format!("ses_{}", runner_id(start_ms, 0))),
                project,
                cwd,
                harness,
                len,
                first,
                start_ms,
            });
            first += len;
            start_ms += 3_600_000 * rng.range(1, 14) as u64 + rng.below(3_600_000) as u64;
        }

        let mut planted = HashMap::new();
        for &(ident, n) in PLANTS {
            let mut placed = 0;
            while placed < n {
                let at = rng.below(total);
                if let std::collections::hash_map::Entry::Vacant(e) = planted.entry(at) {
                    e.insert(ident);
                    placed += 1;
                }
            }
        }
        Plan {
            seed,
            total,
            sessions,
            big,
            small,
            planted,
        }
    }

    /// The session's row, as the runner would store it when creating it.
    pub fn record(&self, s: usize) -> SessionRecord {
        let p = &self.sessions[s];
        let mut rng = Rng::new(self.seed ^ mix(s as u64 ^ 0x7171));
        SessionRecord {
            id: p.id.clone(),
            harness: p.harness.to_owned(),
            harness_ref: Some(format!(
                "/home/ada/.pi/agent/sessions/{}/{}.jsonl",
                pi_dir_name(&p.cwd),
                p.id.as_str()
            )),
            cwd: p.cwd.clone(),
            title: Some(filled(rng.pick(text::PROMPTS), &mut rng, p.project)),
            model: Some(model_of(s)),
            created_at: p.start_ms,
            updated_at: p.start_ms,
            state: State::Stopped,
            reason: None,
            parent: None,
            sandbox_profile: None,
            last_seq: 0,
        }
    }

    /// The messages of session `s`, in order, each with the seq of its `message.end`.
    pub fn messages(&self, s: usize) -> SessionMessages<'_> {
        let p = &self.sessions[s];
        SessionMessages {
            plan: self,
            session: p,
            model: model_of(s),
            rng: Rng::new(self.seed ^ mix(s as u64)),
            ordinal: 0,
            clock: p.start_ms,
            turn_left: 0,
        }
    }
}

/// 16 hex digits in the runner's id format (`bins/oqto-runner/src/ids.rs`): milliseconds
/// since the epoch, then a 16-bit counter, so that ids sort by creation time as they do in
/// production (this matters for the `id` index the store writes into).
fn runner_id(ms: u64, counter: u64) -> String {
    format!("{:016x}", (ms << 16) | (counter & 0xffff))
}

/// The directory pi keeps a session file in: the cwd with `/` as `-`, between `--`.
pub fn pi_dir_name(cwd: &str) -> String {
    format!("--{}--", cwd.trim_start_matches('/').replace('/', "-"))
}

/// The model of session `s`: most use one model, some another.
fn model_of(s: usize) -> ModelRef {
    let (provider, id) = if mix(s as u64 ^ 0x30de1) % 4 == 0 {
        ("openai", "gpt-5")
    } else {
        ("anthropic", "claude-sonnet-4-5")
    };
    ModelRef {
        provider: provider.to_owned(),
        id: id.to_owned(),
    }
}

/// Iterator over one session's messages.
#[derive(Debug)]
pub struct SessionMessages<'p> {
    plan: &'p Plan,
    session: &'p SessionPlan,
    model: ModelRef,
    rng: Rng,
    ordinal: usize,
    clock: u64,
    /// Assistant messages left in the current turn (0: the next message is a prompt).
    turn_left: usize,
}

impl Iterator for SessionMessages<'_> {
    type Item = (Message, u64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.ordinal == self.session.len {
            return None;
        }
        let global = self.session.first + self.ordinal;
        let p = self.session.project;
        let rng = &mut self.rng;
        let prompt = self.turn_left == 0;
        self.clock += if prompt {
            10_000 + rng.below(600_000) as u64
        } else {
            2_000 + rng.below(40_000) as u64
        };
        // Each session's clock only moves forward, and no two sessions share a counter.
        let counter = self.session.index as u64;
        let mut parts = PartIds::new(self.clock, counter);
        let mut message = Message {
            id: MessageId::new(format!("msg_{}", runner_id(self.clock, counter))),
            session: self.session.id.clone(),
            role: Role::User,
            parts: Vec::new(),
            created_at: self.clock,
            model: None,
            usage: None,
            stop_reason: None,
            client_msg_id: None,
        };
        if prompt {
            message.parts.push(Part::Text {
                id: parts.next(),
                text: user_prompt(rng, p),
            });
            self.turn_left = rng.geometric(0.2, 40);
        } else {
            self.turn_left -= 1;
            let last = self.turn_left == 0;
            assistant(&mut message, &mut parts, rng, p, last);
            message.model = Some(self.model.clone());
            let input = rng.lognormal_count(20_000.0, 0.8, 1_000, 190_000) as u64;
            let output = rng.lognormal_count(300.0, 1.0, 5, 16_000) as u64;
            message.usage = Some(Usage {
                input,
                output,
                cache_read: input * 4 / 5,
                cache_write: input / 10,
                #[allow(clippy::cast_precision_loss, reason = "token counts far below 2^52")]
                cost: Some(input as f64 * 3e-6 + output as f64 * 15e-6),
            });
        }
        if let Some(ident) = self.plan.planted.get(&global) {
            plant(&mut message, ident);
        }
        self.ordinal += 1;
        let seq = (self.ordinal as u64) * 7;
        Some((message, seq))
    }
}

/// Fresh part ids for one message, in the runner's format.
struct PartIds {
    ms: u64,
    counter: u64,
    k: u64,
}

impl PartIds {
    fn new(ms: u64, counter: u64) -> Self {
        PartIds { ms, counter, k: 0 }
    }

    fn next(&mut self) -> PartId {
        // At most 8 parts a message and 1,000 sessions: the counters stay below 2^16.
        let id = runner_id(self.ms, self.counter << 3 | self.k);
        self.k += 1;
        PartId::new(format!("prt_{id}"))
    }

    /// A tool call id in pi's style.
    fn call_id(&self) -> String {
        format!(
            "call_{:016x}",
            mix(self.ms << 16 | self.counter << 3 | self.k)
        )
    }
}

/// Adds the planted identifier to the message's first text, thinking or tool output.
fn plant(message: &mut Message, ident: &str) {
    let line = format!("\nNote: {ident} is only called from the nightly job.");
    for part in &mut message.parts {
        match part {
            Part::Text { text, .. } | Part::Thinking { text, .. } => {
                text.push_str(&line);
                return;
            }
            Part::ToolCall {
                output: Some(output),
                ..
            } => {
                output.push_str(&line);
                return;
            }
            _ => {}
        }
    }
}

fn user_prompt(rng: &mut Rng, p: &Project) -> String {
    let roll = rng.unit();
    if roll < 0.12 {
        (rng.pick(text::SHORT_PROMPTS)).to_owned()
    } else if roll < 0.30 {
        let mut s = (rng.pick(text::PASTE_PROMPTS)).to_owned();
        s.push_str("\n\n```\n");
        for _ in 0..rng.lognormal_count(2.0, 0.8, 1, 30) {
            fill(&mut s, "%err\n", rng, p);
        }
        s.push_str("```");
        s
    } else {
        let mut s = filled(rng.pick(text::PROMPTS), rng, p);
        for _ in 1..rng.lognormal_count(1.0, 0.7, 1, 6) {
            s.push(' ');
            fill(&mut s, rng.pick(text::PROMPTS), rng, p);
        }
        s
    }
}

/// `n` sentences drawn from `pool`, space separated, no sentence twice in a row.
fn prose(rng: &mut Rng, p: &Project, pool: &[&'static str], n: usize) -> String {
    let mut s = String::new();
    let mut previous = "";
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        let mut sentence = rng.pick(pool);
        if sentence == previous {
            sentence = rng.pick(pool);
        }
        fill(&mut s, sentence, rng, p);
        previous = sentence;
    }
    s
}

/// `n` lines of code, starting at a random line of the language's pool.
fn code_lines(out: &mut String, rng: &mut Rng, p: &Project, n: usize) {
    let pool = text::code(p.lang);
    let mut at = rng.below(pool.len());
    for _ in 0..n {
        fill(out, pool[at], rng, p);
        out.push('\n');
        at = if rng.chance(0.7) {
            (at + 1) % pool.len()
        } else {
            rng.below(pool.len())
        };
    }
}

/// Fills an assistant message: thinking, narration or a final reply, and tool calls.
fn assistant(message: &mut Message, ids: &mut PartIds, rng: &mut Rng, p: &Project, last: bool) {
    message.role = Role::Assistant;
    if rng.chance(if last { 0.5 } else { 0.6 }) {
        let n = rng.lognormal_count(2.0, 0.8, 1, 20);
        message.parts.push(Part::Thinking {
            id: ids.next(),
            text: prose(rng, p, text::THOUGHTS, n),
        });
    }
    if last {
        let n = rng.lognormal_count(3.0, 0.6, 1, 12);
        let mut reply = prose(rng, p, text::SUMMARY, n);
        if rng.chance(0.3) {
            let lang = match p.lang {
                Lang::Rust => "rust",
                Lang::TypeScript => "ts",
                Lang::Python => "python",
                Lang::Go => "go",
            };
            let _ = write!(reply, "\n\n```{lang}\n");
            let n = rng.lognormal_count(8.0, 0.7, 2, 80);
            code_lines(&mut reply, rng, p, n);
            reply.push_str("```");
        }
        if rng.chance(0.3) {
            reply.push_str("\n\nChanges:\n");
            for _ in 0..rng.range(1, 5) {
                fill(&mut reply, "- `%file`: updated `%ident`\n", rng, p);
            }
        }
        message.parts.push(Part::Text {
            id: ids.next(),
            text: reply,
        });
        message.stop_reason = Some(StopReason::Stop);
        return;
    }
    if rng.chance(0.35) {
        message.parts.push(Part::Text {
            id: ids.next(),
            text: filled(rng.pick(text::NARRATION), rng, p),
        });
    }
    if rng.chance(0.004) {
        message.parts.push(Part::Error {
            id: ids.next(),
            message: "provider error: overloaded_error (529), retrying failed after 3 attempts"
                .to_owned(),
        });
        message.stop_reason = Some(StopReason::Error);
        return;
    }
    let calls = if rng.chance(0.15) { 2 } else { 1 };
    for _ in 0..calls {
        let call_id = ids.call_id();
        let (name, input, output, is_error) = tool_call(rng, p);
        message.parts.push(Part::ToolCall {
            id: ids.next(),
            call_id,
            name: name.to_owned(),
            input,
            status: ToolStatus::Done,
            output: Some(output),
            is_error,
        });
    }
    message.stop_reason = Some(StopReason::ToolUse);
}

/// A tool call: name, input, output, whether it failed.
fn tool_call(rng: &mut Rng, p: &Project) -> (&'static str, serde_json::Value, String, bool) {
    let roll = rng.unit();
    if roll < 0.55 {
        let (command, mut output, failed) = bash(rng, p);
        truncate_output(&mut output);
        if failed {
            let code = if p.lang == Lang::Rust { 101 } else { 1 };
            let _ = write!(output, "\n\nCommand exited with code {code}");
        }
        ("bash", json!({ "command": command }), output, failed)
    } else if roll < 0.77 {
        let path = rng.pick(p.files);
        let mut output = String::new();
        let n = rng.lognormal_count(60.0, 1.0, 1, 2000);
        code_lines(&mut output, rng, p, n);
        truncate_output(&mut output);
        ("read", json!({ "path": path }), output, false)
    } else if roll < 0.93 {
        let path = rng.pick(p.files);
        let mut old = String::new();
        let n = rng.range(1, 8);
        code_lines(&mut old, rng, p, n);
        let mut new = String::new();
        let n = rng.range(1, 12);
        code_lines(&mut new, rng, p, n);
        if rng.chance(0.08) {
            let output = format!(
                "Could not find the exact text in {path}. The old text must match exactly including all whitespace and newlines."
            );
            let input = json!({ "path": path, "oldText": old, "newText": new });
            return ("edit", input, output, true);
        }
        let output = format!("Successfully replaced text in {path}.");
        (
            "edit",
            json!({ "path": path, "oldText": old, "newText": new }),
            output,
            false,
        )
    } else {
        let path = rng.pick(p.files);
        let mut content = String::new();
        let n = rng.lognormal_count(40.0, 0.9, 3, 600);
        code_lines(&mut content, rng, p, n);
        let output = format!("Successfully wrote {} bytes to {path}", content.len());
        (
            "write",
            json!({ "path": path, "content": content }),
            output,
            false,
        )
    }
}

/// Cuts `output` at pi's limit, at a line end, with pi's note.
fn truncate_output(output: &mut String) {
    if output.len() <= MAX_OUTPUT {
        return;
    }
    let mut end = MAX_OUTPUT;
    while !output.is_char_boundary(end) {
        end -= 1;
    }
    let cut = output[..end].rfind('\n').unwrap_or(0);
    output.truncate(cut);
    output.push_str("\n\n[Output truncated: showing the first 50KB. Full output saved to /tmp/pi-bash-output.log]");
}

/// A bash command, its output, and whether it failed.
fn bash(rng: &mut Rng, p: &Project) -> (String, String, bool) {
    let roll = rng.unit();
    if roll < 0.16 {
        build(rng, p)
    } else if roll < 0.36 {
        tests(rng, p)
    } else if roll < 0.46 {
        let dir = if rng.chance(0.5) {
            "."
        } else {
            rng.pick(p.words)
        };
        (format!("ls -la {dir}"), listing(rng, p), false)
    } else if roll < 0.54 {
        ("git diff".to_owned(), diff(rng, p), false)
    } else if roll < 0.59 {
        ("git status".to_owned(), status(rng, p), false)
    } else if roll < 0.63 {
        let mut out = String::new();
        for _ in 0..rng.lognormal_count(10.0, 0.8, 1, 200) {
            fill(&mut out, "%hash ", rng, p);
            fill(&mut out, rng.pick(text::COMMITS), rng, p);
            out.push('\n');
        }
        ("git log --oneline -n 20".to_owned(), out, false)
    } else if roll < 0.75 {
        let pattern = filled("%ident", rng, p);
        let mut out = String::new();
        for _ in 0..rng.lognormal_count(6.0, 1.2, 0, 2000) {
            fill(&mut out, "%file:%line:", rng, p);
            code_lines(&mut out, rng, p, 1);
        }
        (format!("rg -n {pattern}"), out, false)
    } else if roll < 0.81 {
        let path = rng.pick(p.files);
        let mut out = String::new();
        let n = rng.lognormal_count(30.0, 1.0, 1, 2000);
        code_lines(&mut out, rng, p, n);
        (format!("cat {path}"), out, false)
    } else {
        misc(rng, p)
    }
}

/// A build: success (with a few dependencies compiled) or errors.
fn build(rng: &mut Rng, p: &Project) -> (String, String, bool) {
    let failed = rng.chance(0.4);
    let mut out = String::new();
    let command = match p.lang {
        Lang::Rust => {
            for _ in 0..rng.lognormal_count(2.0, 1.5, 0, 120) {
                let _ = writeln!(out, "   Compiling {}", rng.pick(text::CRATES));
            }
            fill(&mut out, "   Compiling %crate v0.1.0 (%dir)\n", rng, p);
            if failed {
                let errors = rng.lognormal_count(2.0, 1.0, 1, 60);
                for _ in 0..errors {
                    rust_diagnostic(&mut out, rng, p);
                }
                let _ = write!(
                    out,
                    "error: could not compile `{}` (lib) due to {errors} previous errors",
                    p.name
                );
            } else {
                let secs = to_f64(rng.range(20, 9000)) / 100.0;
                let _ = write!(
                    out,
                    "    Finished `dev` profile [unoptimized + debuginfo] target(s) in {secs:.2}s"
                );
            }
            if rng.chance(0.3) {
                "cargo clippy --all-targets -- -D warnings"
            } else {
                "cargo build"
            }
        }
        Lang::TypeScript => {
            if failed {
                let errors = rng.lognormal_count(2.0, 1.0, 1, 80);
                for _ in 0..errors {
                    fill(
                        &mut out,
                        "%file(%line,%col): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'.\n",
                        rng,
                        p,
                    );
                }
                let _ = write!(out, "\nFound {errors} errors in {} files.", rng.range(1, 4));
            }
            "npx tsc --noEmit"
        }
        Lang::Python => {
            if failed {
                fill(
                    &mut out,
                    "%file:%line:%col: F401 [*] `os` imported but unused\n%file:%line:%col: E501 Line too long (104 > 100)\nFound 2 errors.\n[*] 1 fixable with the `--fix` option.",
                    rng,
                    p,
                );
            } else {
                out.push_str("All checks passed!");
            }
            "ruff check ."
        }
        Lang::Go => {
            if failed {
                for _ in 0..rng.lognormal_count(2.0, 1.0, 1, 30) {
                    fill(&mut out, "%err\n", rng, p);
                }
            }
            "go build ./..."
        }
    };
    (command.to_owned(), out, failed)
}

/// One rustc diagnostic with its source excerpt.
fn rust_diagnostic(out: &mut String, rng: &mut Rng, p: &Project) {
    let template = rng.pick(&text::errors(Lang::Rust)[..6]);
    fill(out, template, rng, p);
    fill(out, "\n  --> %file:%line:%col\n   |\n", rng, p);
    for _ in 0..rng.range(1, 4) {
        fill(out, "%line | ", rng, p);
        code_lines(out, rng, p, 1);
    }
    fill(
        out,
        "   |         ^^^^ value used here after move\n   |\n   = note: move occurs because `%var` has type `Vec<%type>`, which does not implement the `Copy` trait\n\n",
        rng,
        p,
    );
}

/// A test run: the runner's output with a pass list and maybe failures.
fn tests(rng: &mut Rng, p: &Project) -> (String, String, bool) {
    let n = rng.lognormal_count(25.0, 1.0, 1, 1500);
    let failed = rng.chance(0.35);
    let failures = if failed { rng.range(1, 3.min(n)) } else { 0 };
    let mut out = String::new();
    let command = match p.lang {
        Lang::Rust => {
            rust_tests(&mut out, rng, p, n, failures);
            "cargo test"
        }
        Lang::TypeScript => {
            let _ = writeln!(out, "\n RUN  v2.1.8 {}\n", p.dir);
            for i in 0..n {
                let mark = if i < failures { "×" } else { "✓" };
                fill(&mut out, " ", rng, p);
                let _ = write!(out, "{mark} ");
                fill(&mut out, "%file > %ident > handles case ", rng, p);
                let _ = writeln!(out, "{i} {}ms", rng.range(1, 40));
            }
            for _ in 0..failures {
                fill(
                    &mut out,
                    "\n FAIL  %file > %ident\nAssertionError: expected [] to deeply equal [ { id: %n } ]\n ❯ %file:%line:%col\n",
                    rng,
                    p,
                );
            }
            let _ = write!(
                out,
                "\n Test Files  {failures} failed | {} passed\n      Tests  {failures} failed | {} passed ({n})",
                rng.range(1, 20),
                n - failures
            );
            "npx vitest run"
        }
        Lang::Python => {
            pytest(&mut out, rng, p, n, failures);
            "python -m pytest -x -q"
        }
        Lang::Go => {
            for i in 0..n.div_ceil(8) {
                if i < failures {
                    fill(
                        &mut out,
                        "--- FAIL: Test%type (0.00s)\n    %file:%line: got 500, want 200\nFAIL\nFAIL\tgithub.com/ada/%crate/internal/%word\t0.0",
                        rng,
                        p,
                    );
                } else {
                    fill(
                        &mut out,
                        "ok  \tgithub.com/ada/%crate/internal/%word\t0.0",
                        rng,
                        p,
                    );
                }
                let _ = writeln!(out, "{:02}s", rng.below(100));
            }
            "go test ./..."
        }
    };
    (command.to_owned(), out, failed)
}

/// `cargo test` output: `n` tests, the first `failures` of them failed.
fn rust_tests(out: &mut String, rng: &mut Rng, p: &Project, n: usize, failures: usize) {
    fill(
        out,
        "    Finished `test` profile [unoptimized + debuginfo] target(s) in 6.10s\n     Running unittests src/lib.rs (target/debug/deps/%crate-%hash)\n\n",
        rng,
        p,
    );
    let _ = writeln!(out, "running {n} tests");
    for i in 0..n {
        let verdict = if i < failures { "FAILED" } else { "ok" };
        fill(out, "test %word::tests::%ident_", rng, p);
        let _ = writeln!(out, "{i} ... {verdict}");
    }
    for _ in 0..failures {
        fill(
            out,
            "\n---- %word::tests::%ident stdout ----\nthread '%word::tests::%ident' panicked at %file:%line:%col:\nassertion `left == right` failed\n  left: %n\n right: %n\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
            rng,
            p,
        );
    }
    let verdict = if failures > 0 { "FAILED" } else { "ok" };
    let _ = write!(
        out,
        "\ntest result: {verdict}. {} passed; {failures} failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.{:02}s",
        n - failures,
        rng.below(100)
    );
}

/// `pytest` output: `n` tests, `failures` of them failed.
fn pytest(out: &mut String, rng: &mut Rng, p: &Project, n: usize, failures: usize) {
    fill(
        out,
        "============================= test session starts ==============================\nplatform linux -- Python 3.12.3, pytest-8.3.2, pluggy-1.5.0\nrootdir: %dir\n",
        rng,
        p,
    );
    let _ = writeln!(out, "collected {n} items\n");
    let mut left = n;
    while left > 0 {
        let k = left.min(rng.range(1, 40));
        fill(out, "tests/test_%word.py ", rng, p);
        out.push_str(&".".repeat(k));
        out.push('\n');
        left -= k;
    }
    if failures > 0 {
        out.push_str(
            "\n=================================== FAILURES ===================================\n",
        );
        for _ in 0..failures {
            fill(
                out,
                "_________________________________ test_%ident _________________________________\n\n    def test_%ident():\n>       assert %ident([]) == []\nE       %err\n\ntests/test_%word.py:%line: AssertionError\n",
                rng,
                p,
            );
        }
    }
    let _ = write!(
        out,
        "========================= {failures} failed, {} passed in {}.{:02}s =========================",
        n - failures,
        rng.below(30),
        rng.below(100)
    );
}

/// `ls -la` output.
fn listing(rng: &mut Rng, p: &Project) -> String {
    let n = rng.lognormal_count(12.0, 0.8, 1, 400);
    let mut out = format!("total {}\n", n * 8);
    out.push_str(
        "drwxr-xr-x  8 ada ada  4096 Nov 12 09:14 .\ndrwxr-xr-x 31 ada ada  4096 Nov 10 17:02 ..\n",
    );
    for _ in 0..n {
        let dir = rng.chance(0.3);
        let name = if rng.chance(0.5) {
            rng.pick(text::LISTING_NAMES)
        } else {
            rng.pick(p.files).rsplit('/').next().unwrap_or_default()
        };
        let (mode, size) = if dir {
            ("drwxr-xr-x", 4096)
        } else {
            (
                "-rw-r--r--",
                rng.lognormal_count(3000.0, 1.5, 0, 10_000_000),
            )
        };
        let _ = writeln!(
            out,
            "{mode}  1 ada ada {size:>8} Nov {:>2} {:02}:{:02} {name}",
            rng.range(1, 30),
            rng.below(24),
            rng.below(60)
        );
    }
    out
}

/// `git diff` output: a few hunks over a few files.
fn diff(rng: &mut Rng, p: &Project) -> String {
    let mut out = String::new();
    for _ in 0..rng.lognormal_count(1.5, 0.7, 1, 20) {
        let file = rng.pick(p.files);
        let _ = writeln!(out, "diff --git a/{file} b/{file}");
        fill(&mut out, "index %hash..%hash 100644\n", rng, p);
        let _ = write!(out, "--- a/{file}\n+++ b/{file}\n");
        for _ in 0..rng.lognormal_count(1.5, 0.7, 1, 12) {
            fill(&mut out, "@@ -%line,%col +%line,%col @@\n", rng, p);
            for _ in 0..rng.lognormal_count(10.0, 0.7, 2, 200) {
                let roll = rng.unit();
                out.push(if roll < 0.6 {
                    ' '
                } else if roll < 0.8 {
                    '-'
                } else {
                    '+'
                });
                code_lines(&mut out, rng, p, 1);
            }
        }
    }
    out
}

/// `git status` output.
fn status(rng: &mut Rng, p: &Project) -> String {
    let mut out = "On branch main\nYour branch is ahead of 'origin/main' by 2 commits.\n  (use \"git push\" to publish your local commits)\n\nChanges not staged for commit:\n  (use \"git add <file>...\" to update what will be committed)\n  (use \"git restore <file>...\" to discard changes in working directory)\n".to_owned();
    for _ in 0..rng.range(1, 6) {
        fill(&mut out, "\tmodified:   %file\n", rng, p);
    }
    out.push_str("\nno changes added to commit (use \"git add\" and/or \"git commit -a\")");
    out
}

/// Small commands with short output.
fn misc(rng: &mut Rng, p: &Project) -> (String, String, bool) {
    let (command, output, failed) = match rng.below(8) {
        0 => (
            "curl -s localhost:8080/health",
            "{\"status\":\"ok\",\"uptime_s\":%n,\"version\":\"0.4.%n\"}",
            false,
        ),
        1 => ("%word --version", "bash: %word: command not found", true),
        2 => (
            "ls build/",
            "ls: cannot access 'build/': No such file or directory",
            true,
        ),
        3 => ("wc -l %file", "%n %file", false),
        4 => ("mkdir -p tmp/%word", "", false),
        5 => ("cat .env", "cat: .env: No such file or directory", true),
        6 => ("find . -name '*.%word'", "./%file\n./%file", false),
        _ => ("%word", "%err", true),
    };
    (filled(command, rng, p), filled(output, rng, p), failed)
}

fn to_f64(n: usize) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let x = n as f64;
    x
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a non-negative share of a usize count"
)]
fn to_count(x: f64) -> usize {
    x.max(0.0).floor() as usize
}
