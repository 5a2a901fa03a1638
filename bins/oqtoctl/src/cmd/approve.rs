//! Answering an agent's permission requests during `oqtoctl prompt`: on a terminal by
//! asking (y/n/always), on a pipe by `--approve`.

use std::io::{BufRead, IsTerminal, Write};

use oqto_protocol::{OptionKind, PermissionOption, PermissionTool, ToolKind};

/// `--approve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Approve {
    /// Allow every tool call the agent asks about
    All,
    /// Refuse every one
    None,
    /// Allow reading, searching and thinking; refuse the rest
    ReadOnly,
}

/// How this `oqtoctl prompt` answers.
#[derive(Debug)]
pub struct Approver {
    flag: Option<Approve>,
    /// Ask on the terminal (stdin and stderr are terminals, and no `--approve`).
    ask: bool,
    /// Requests refused because nothing said to allow them (no flag, no terminal).
    pub refused_by_default: Vec<String>,
}

/// What to send back for one request: an option id, or nothing to answer.
impl Approver {
    pub fn new(flag: Option<Approve>, stdin_is_prompt: bool) -> Self {
        let ask = flag.is_none()
            && !stdin_is_prompt
            && std::io::stdin().is_terminal()
            && std::io::stderr().is_terminal();
        Self {
            flag,
            ask,
            refused_by_default: Vec::new(),
        }
    }

    /// The option to answer `tool`'s request with; `None` when the request offers no
    /// option of the wanted kind (it is left for another client).
    pub fn decide(
        &mut self,
        tool: &PermissionTool,
        options: &[PermissionOption],
    ) -> Option<String> {
        let wanted = if self.ask {
            ask_on_terminal(tool)
        } else {
            match self.flag {
                Some(Approve::All) => Answer::Yes,
                Some(Approve::ReadOnly) if ToolKind::READ_ONLY.contains(&tool.kind) => Answer::Yes,
                Some(Approve::ReadOnly | Approve::None) => Answer::No,
                None => {
                    self.refused_by_default.push(describe(tool));
                    Answer::No
                }
            }
        };
        pick(options, wanted)
    }
}

/// A person's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    Always,
}

/// The option of `options` that means `answer`.
pub fn pick(options: &[PermissionOption], answer: Answer) -> Option<String> {
    let order: &[OptionKind] = match answer {
        Answer::Yes => &[OptionKind::AllowOnce, OptionKind::AllowAlways],
        Answer::Always => &[OptionKind::AllowAlways, OptionKind::AllowOnce],
        Answer::No => &[OptionKind::RejectOnce, OptionKind::RejectAlways],
    };
    order
        .iter()
        .find_map(|kind| options.iter().find(|o| o.kind == *kind))
        .map(|o| o.id.clone())
}

/// `execute: cat a.txt`, for people.
pub fn describe(tool: &PermissionTool) -> String {
    format!("{}: {}", tool.kind.as_str(), escape(&tool.title))
}

/// Control characters of agent text escaped before they reach a terminal.
fn escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Asks on stderr and reads the answer from stdin; end of input is "no".
fn ask_on_terminal(tool: &PermissionTool) -> Answer {
    let mut stderr = std::io::stderr();
    loop {
        let _ = write!(
            stderr,
            "oqtoctl: the agent asks to run {}. Allow? [y]es, [n]o, [a]lways: ",
            describe(tool)
        );
        let _ = stderr.flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => return Answer::No,
            Ok(_) => {}
        }
        match line.trim().to_lowercase().as_str() {
            "y" | "yes" => return Answer::Yes,
            "n" | "no" => return Answer::No,
            "a" | "always" => return Answer::Always,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Vec<PermissionOption> {
        [
            ("once", OptionKind::AllowOnce),
            ("always", OptionKind::AllowAlways),
            ("reject", OptionKind::RejectOnce),
        ]
        .into_iter()
        .map(|(id, kind)| PermissionOption {
            id: id.into(),
            name: id.into(),
            kind,
        })
        .collect()
    }

    fn tool(kind: ToolKind) -> PermissionTool {
        PermissionTool {
            call_id: "c".into(),
            title: "cat a.txt\x1b[2J".into(),
            kind,
            input: None,
        }
    }

    #[test]
    fn the_flag_decides_on_a_pipe() {
        let o = options();
        let mut all = Approver {
            flag: Some(Approve::All),
            ask: false,
            refused_by_default: Vec::new(),
        };
        assert_eq!(
            all.decide(&tool(ToolKind::Execute), &o).as_deref(),
            Some("once")
        );
        let mut read = Approver {
            flag: Some(Approve::ReadOnly),
            ..all
        };
        assert_eq!(
            read.decide(&tool(ToolKind::Read), &o).as_deref(),
            Some("once")
        );
        assert_eq!(
            read.decide(&tool(ToolKind::Edit), &o).as_deref(),
            Some("reject")
        );
        let mut default = Approver { flag: None, ..read };
        assert_eq!(
            default.decide(&tool(ToolKind::Read), &o).as_deref(),
            Some("reject")
        );
        assert_eq!(default.refused_by_default, ["read: cat a.txt\\u{1b}[2J"]);
        assert_eq!(pick(&o, Answer::Always).as_deref(), Some("always"));
        assert_eq!(pick(&o[..1], Answer::No), None);
    }
}
