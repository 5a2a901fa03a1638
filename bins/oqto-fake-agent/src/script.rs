//! The script language: what a prompt's text makes the fake agent do.
//!
//! Pure functions only; the agent loop in [`crate::agent`] carries the plans out. The table
//! of scripts is in `docs/fake-agent.md`. Text that matches no script is echoed, so a
//! malformed script (`stream:x`, `tool:bash {oops`) shows up as `echo: <text>`.

use serde_json::Value;

/// The exit code of `crash` without an explicit code.
pub const DEFAULT_CRASH_CODE: u8 = 3;

/// The thinking text of the `think` script.
pub const THINKING_TEXT: &str = "Let me think about this step by step.";

/// What one user message makes the agent do.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Reply `echo: <text>`, split into `--deltas` deltas.
    Echo,
    /// Reply `w1 w2 … wN ` in `count` deltas, `delay_ms` apart (default `--delay-ms`).
    Stream { count: u32, delay_ms: Option<u64> },
    /// Call the tool `name` with `input`, run it, then reply `done: <name>`.
    Tool { name: String, input: Value },
    /// A thinking part before the echo text.
    Think,
    /// Report a recoverable failure and end the turn.
    Fail { message: Option<String> },
    /// Exit with `code` in the middle of the reply.
    Crash { code: u8 },
    /// Write nothing more; keep reading stdin until EOF.
    Hang,
}

/// The plan for a user message's text. Surrounding whitespace is ignored.
pub fn parse(text: &str) -> Plan {
    let text = text.trim();
    match text {
        "slow" => {
            return Plan::Stream {
                count: 200,
                delay_ms: Some(20),
            };
        }
        "think" => return Plan::Think,
        "hang" => return Plan::Hang,
        "fail" => return Plan::Fail { message: None },
        "crash" => {
            return Plan::Crash {
                code: DEFAULT_CRASH_CODE,
            };
        }
        _ => {}
    }
    let parsed = if let Some(rest) = text.strip_prefix("stream:") {
        parse_stream(rest)
    } else if let Some(rest) = text.strip_prefix("tool:") {
        parse_tool(rest)
    } else if let Some(rest) = text.strip_prefix("fail:") {
        let message = rest.trim();
        Some(Plan::Fail {
            message: (!message.is_empty()).then(|| message.to_owned()),
        })
    } else if let Some(rest) = text.strip_prefix("crash:") {
        match rest.trim().parse::<u8>() {
            Ok(code) if code != 0 => Some(Plan::Crash { code }),
            _ => None,
        }
    } else {
        None
    };
    parsed.unwrap_or(Plan::Echo)
}

/// `N` or `N@MS`.
fn parse_stream(rest: &str) -> Option<Plan> {
    let (count, delay) = match rest.split_once('@') {
        Some((count, delay)) => (count, Some(delay)),
        None => (rest, None),
    };
    let count = count.parse().ok()?;
    let delay_ms = match delay {
        Some(d) => Some(d.parse().ok()?),
        None => None,
    };
    Some(Plan::Stream { count, delay_ms })
}

/// `<name>` or `<name> <json>`.
fn parse_tool(rest: &str) -> Option<Plan> {
    let (name, json) = match rest.split_once(char::is_whitespace) {
        Some((name, json)) => (name, json.trim()),
        None => (rest, ""),
    };
    if name.is_empty() {
        return None;
    }
    let input = if json.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_str(json).ok()?
    };
    Some(Plan::Tool {
        name: name.to_owned(),
        input,
    })
}

/// Splits `text` into at most `pieces` deltas of nearly equal length (in characters),
/// never empty, that concatenate to `text`. An empty text gives no deltas.
pub fn split_deltas(text: &str, pieces: u32) -> Vec<String> {
    let chars = text.chars().count();
    let pieces = usize::try_from(pieces)
        .unwrap_or(usize::MAX)
        .clamp(1, chars.max(1));
    if chars == 0 {
        return Vec::new();
    }
    let (base, extra) = (chars / pieces, chars % pieces);
    let mut out = Vec::with_capacity(pieces);
    let mut rest = text;
    for i in 0..pieces {
        let len = base + usize::from(i < extra);
        let end = rest
            .char_indices()
            .nth(len)
            .map_or(rest.len(), |(at, _)| at);
        let (piece, tail) = rest.split_at(end);
        out.push(piece.to_owned());
        rest = tail;
    }
    out
}

/// The deltas of `stream:N`: `w1 `, `w2 `, … `wN `.
pub fn stream_deltas(count: u32) -> Vec<String> {
    (1..=count).map(|i| format!("w{i} ")).collect()
}

/// A crude, deterministic token count for `usage`: whitespace-separated words, at least 1.
pub fn tokens(text: &str) -> u64 {
    u64::try_from(text.split_whitespace().count())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_text_is_echoed() {
        assert_eq!(parse("hello there"), Plan::Echo);
        assert_eq!(parse(""), Plan::Echo);
        assert_eq!(parse("thinking"), Plan::Echo);
        assert_eq!(parse("please crash"), Plan::Echo);
    }

    #[test]
    fn keywords() {
        assert_eq!(parse("think"), Plan::Think);
        assert_eq!(parse("  hang\n"), Plan::Hang);
        assert_eq!(
            parse("slow"),
            Plan::Stream {
                count: 200,
                delay_ms: Some(20)
            }
        );
    }

    #[test]
    fn stream_with_and_without_delay() {
        assert_eq!(
            parse("stream:7"),
            Plan::Stream {
                count: 7,
                delay_ms: None
            }
        );
        assert_eq!(
            parse("stream:1000@3"),
            Plan::Stream {
                count: 1000,
                delay_ms: Some(3)
            }
        );
        assert_eq!(
            parse("stream:0"),
            Plan::Stream {
                count: 0,
                delay_ms: None
            }
        );
        assert_eq!(parse("stream:x"), Plan::Echo);
        assert_eq!(parse("stream:5@"), Plan::Echo);
        assert_eq!(parse("stream:-1"), Plan::Echo);
        assert_eq!(parse("stream:"), Plan::Echo);
    }

    #[test]
    fn tool_with_json_input() {
        assert_eq!(
            parse(r#"tool:bash {"command":"ls -la"}"#),
            Plan::Tool {
                name: "bash".into(),
                input: json!({"command": "ls -la"})
            }
        );
        assert_eq!(
            parse("tool:read"),
            Plan::Tool {
                name: "read".into(),
                input: json!({})
            }
        );
        assert_eq!(
            parse("tool:calc   [1, 2]  "),
            Plan::Tool {
                name: "calc".into(),
                input: json!([1, 2])
            }
        );
        assert_eq!(parse("tool:bash {oops"), Plan::Echo);
        assert_eq!(parse("tool: {}"), Plan::Echo);
        assert_eq!(parse("tool:"), Plan::Echo);
    }

    #[test]
    fn fail_and_crash() {
        assert_eq!(parse("fail"), Plan::Fail { message: None });
        assert_eq!(
            parse("fail: provider overloaded"),
            Plan::Fail {
                message: Some("provider overloaded".into())
            }
        );
        assert_eq!(parse("fail:"), Plan::Fail { message: None });
        assert_eq!(
            parse("crash"),
            Plan::Crash {
                code: DEFAULT_CRASH_CODE
            }
        );
        assert_eq!(parse("crash:42"), Plan::Crash { code: 42 });
        assert_eq!(parse("crash:0"), Plan::Echo);
        assert_eq!(parse("crash:256"), Plan::Echo);
        assert_eq!(parse("crash:x"), Plan::Echo);
    }

    #[test]
    fn deltas_concatenate_and_are_balanced() {
        let text = "echo: hello world";
        for n in [1, 2, 5, 16, 17, 100] {
            let deltas = split_deltas(text, n);
            assert_eq!(deltas.concat(), text, "n = {n}");
            assert_eq!(deltas.len(), n.min(17) as usize, "n = {n}");
            assert!(deltas.iter().all(|d| !d.is_empty()));
            let lens: Vec<usize> = deltas.iter().map(|d| d.chars().count()).collect();
            let (min, max) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
            assert!(max - min <= 1, "unbalanced {lens:?}");
        }
    }

    #[test]
    fn deltas_respect_char_boundaries() {
        let text = "écho: ü→ß 🦀";
        let deltas = split_deltas(text, 4);
        assert_eq!(deltas.len(), 4);
        assert_eq!(deltas.concat(), text);
        assert!(split_deltas("", 5).is_empty());
        assert_eq!(split_deltas("abc", 0), vec!["abc"]);
    }

    #[test]
    fn stream_words() {
        assert_eq!(stream_deltas(3), vec!["w1 ", "w2 ", "w3 "]);
        assert!(stream_deltas(0).is_empty());
    }

    #[test]
    fn token_counts() {
        assert_eq!(tokens("a b  c"), 3);
        assert_eq!(tokens(""), 1);
    }
}
