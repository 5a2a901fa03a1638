//! Loading the golden files, and exhaustive variant-to-tag tables.

use std::fmt;
use std::path::PathBuf;

use oqto_protocol::{
    AgentMessage, AgentRequest, Channel, ClientMessage, FilesClientMessage, FilesServerMessage,
    Frame, RelayMessage, ServerMessage, terminal_frame,
};

/// The golden files, in the order the docs present them.
pub const FILES: [&str; 8] = [
    "client.jsonl",
    "server.jsonl",
    "harness-in.jsonl",
    "harness-out.jsonl",
    "files-client.jsonl",
    "files-server.jsonl",
    "relay.jsonl",
    "relay-terminal.jsonl",
];

/// One line of a golden file, with where it came from.
#[derive(Clone, Debug)]
pub struct Line {
    pub file: &'static str,
    /// 1-based.
    pub number: usize,
    pub text: String,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tests/data/{}:{}", self.file, self.number)
    }
}

impl Line {
    /// The line as an untyped JSON object.
    pub fn json(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_str(&self.text) {
            Ok(serde_json::Value::Object(map)) => map,
            other => panic!("{self}: not a JSON object: {other:?}"),
        }
    }

    /// The line's `type` field.
    pub fn type_tag(&self) -> String {
        match self.json().get("type") {
            Some(serde_json::Value::String(t)) => t.clone(),
            other => panic!("{self}: no string `type`: {other:?}"),
        }
    }
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The raw text of one golden file.
pub fn read(file: &str) -> String {
    let path = data_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of one golden file. Panics on a malformed file (CR, blank line, no final LF):
/// a golden file is JSON lines exactly as they go over the wire.
pub fn lines(file: &'static str) -> Vec<Line> {
    let text = read(file);
    assert!(!text.is_empty(), "tests/data/{file} is empty");
    assert!(
        text.ends_with('\n'),
        "tests/data/{file} does not end with a newline"
    );
    assert!(
        !text.contains('\r'),
        "tests/data/{file} contains a CR; lines end with LF only"
    );
    text.lines()
        .enumerate()
        .map(|(i, text)| {
            let line = Line {
                file,
                number: i + 1,
                text: text.to_owned(),
            };
            assert!(!text.trim().is_empty(), "{line}: blank line");
            line
        })
        .collect()
}

fn parsed<T, E: fmt::Display>(
    file: &'static str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Vec<(Line, T)> {
    lines(file)
        .into_iter()
        .map(|line| match parse(&line.text) {
            Ok(value) => (line, value),
            Err(e) => panic!("{line}: does not parse: {e}\n{}", line.text),
        })
        .collect()
}

pub fn client() -> Vec<(Line, ClientMessage)> {
    parsed("client.jsonl", ClientMessage::parse)
}

pub fn server() -> Vec<(Line, ServerMessage)> {
    parsed("server.jsonl", ServerMessage::parse)
}

pub fn harness_in() -> Vec<(Line, AgentRequest)> {
    parsed("harness-in.jsonl", AgentRequest::parse)
}

pub fn harness_out() -> Vec<(Line, AgentMessage)> {
    parsed("harness-out.jsonl", AgentMessage::parse)
}

pub fn files_client() -> Vec<(Line, FilesClientMessage)> {
    parsed("files-client.jsonl", FilesClientMessage::parse)
}

pub fn files_server() -> Vec<(Line, FilesServerMessage)> {
    parsed("files-server.jsonl", FilesServerMessage::parse)
}

pub fn relay() -> Vec<(Line, RelayMessage)> {
    parsed("relay.jsonl", RelayMessage::parse_frame)
}

/// A runner line on the relay's `terminal` channel: a client's request or the runner's
/// reply or event.
#[derive(Debug)]
pub enum TerminalChannel {
    Client(ClientMessage),
    Server(ServerMessage),
}

impl TerminalChannel {
    pub fn parse_frame(text: &str) -> Result<Self, String> {
        let frame = Frame::parse(text).map_err(|e| e.message)?;
        if frame.ch != Channel::Terminal {
            return Err(format!("a `{}` frame", frame.ch.name()));
        }
        let msg = frame.msg.get();
        ClientMessage::parse(msg)
            .map(TerminalChannel::Client)
            .or_else(|_| ServerMessage::parse(msg).map(TerminalChannel::Server))
            .map_err(|e| e.to_string())
    }

    pub fn to_frame(&self) -> String {
        terminal_frame(&match self {
            TerminalChannel::Client(m) => m.to_line(),
            TerminalChannel::Server(m) => m.to_line(),
        })
    }
}

/// The binary frames of `terminal-frames.hex`: each line as written, and its bytes.
pub fn terminal_frames() -> Vec<(String, Vec<u8>)> {
    read("terminal-frames.hex")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let hex: String = l.split(' ').collect();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (l.to_owned(), bytes)
        })
        .collect()
}

/// Declares `const $all: &[&str]` (every wire tag of `$ty`) and `fn $name(&$ty) -> &str`
/// mapping each variant to its tag with a `match` that has no wildcard: adding a variant to
/// the protocol without adding it here fails to compile, and the coverage tests then demand a
/// golden line for it.
macro_rules! tags {
    ($(#[$doc:meta])* fn $name:ident($ty:ident) -> $all:ident { $($variant:ident => $tag:literal),+ $(,)? }) => {
        #[allow(dead_code)]
        pub const $all: &[&str] = &[$($tag),+];
        $(#[$doc])*
        #[allow(dead_code)]
        pub fn $name(value: &$ty) -> &'static str {
            match value {
                $($ty::$variant { .. } => $tag),+
            }
        }
    };
}

pub mod tags {
    use oqto_protocol::{
        AgentCommand, AgentReply, Capability, ChangeKind, CompactionReason, EntryKind, ErrorCode,
        FilesReply, Part, Phase, Reply, ResyncReason, Role, SearchLimit, SearchMode, SortKey,
        State, StopReason, ToolStatus,
    };

    tags!(fn files_reply(FilesReply) -> FILES_REPLIES {
        Empty => "empty",
        Entries => "entries",
        Stat => "stat",
        Read => "read",
        Written => "written",
        Hash => "hash",
        Searched => "searched",
        Watching => "watching",
        Upload => "upload",
    });

    tags!(fn entry_kind(EntryKind) -> ENTRY_KINDS {
        File => "file",
        Dir => "dir",
        Symlink => "symlink",
        Fifo => "fifo",
        Socket => "socket",
        CharDevice => "char_device",
        BlockDevice => "block_device",
    });

    tags!(fn change_kind(ChangeKind) -> CHANGE_KINDS {
        Created => "created",
        Modified => "modified",
        Deleted => "deleted",
        Renamed => "renamed",
    });

    tags!(fn search_mode(SearchMode) -> SEARCH_MODES {
        Glob => "glob",
        Fuzzy => "fuzzy",
        Regex => "regex",
    });

    tags!(fn sort_key(SortKey) -> SORT_KEYS {
        Name => "name",
        Mtime => "mtime",
        Size => "size",
    });

    tags!(fn search_limit(SearchLimit) -> SEARCH_LIMITS {
        MaxResults => "max_results",
        Time => "time",
    });

    tags!(fn agent_command(AgentCommand) -> AGENT_COMMANDS {
        Init => "init",
        Prompt => "prompt",
        Steer => "steer",
        FollowUp => "follow_up",
        Abort => "abort",
        SetModel => "set_model",
        GetModels => "get_models",
        SetThinkingLevel => "set_thinking_level",
        Compact => "compact",
        Fork => "fork",
        Shutdown => "shutdown",
    });

    tags!(fn reply(Reply) -> REPLIES {
        Empty => "empty",
        Session => "session",
        Sessions => "sessions",
        Subscribed => "subscribed",
        Models => "models",
        Model => "model",
        Compacted => "compacted",
        Messages => "messages",
        SearchResults => "search_results",
        Imported => "imported",
        Status => "status",
        Terminal => "terminal",
        Terminals => "terminals",
        Audit => "audit",
        FilesServer => "files_server",
    });

    tags!(fn agent_reply(AgentReply) -> AGENT_REPLIES {
        Empty => "empty",
        Ready => "ready",
        Models => "models",
        Model => "model",
        Compacted => "compacted",
        Forked => "forked",
    });

    tags!(
        /// `other` is what an unknown code parses as; it is never sent.
        fn error_code(ErrorCode) -> ERROR_CODES_AND_OTHER {
        BadRequest => "bad_request",
        UnknownCommand => "unknown_command",
        ProtocolMismatch => "protocol_mismatch",
        TooLarge => "too_large",
        PermissionDenied => "permission_denied",
        Timeout => "timeout",
        Internal => "internal",
        SessionNotFound => "session_not_found",
        MessageNotFound => "message_not_found",
        InvalidState => "invalid_state",
        Unsupported => "unsupported",
        HarnessFailed => "harness_failed",
        Storage => "storage",
        TerminalNotFound => "terminal_not_found",
        InvalidPath => "invalid_path",
        NameTooLong => "name_too_long",
        OutsideRoot => "outside_root",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        NotADirectory => "not_a_directory",
        IsADirectory => "is_a_directory",
        NotEmpty => "not_empty",
        SpecialFile => "special_file",
        ReadOnly => "read_only",
        Conflict => "conflict",
        BadOffset => "bad_offset",
        UnknownId => "unknown_id",
        Cancelled => "cancelled",
        Changed => "changed",
        Io => "io",
        UnknownChannel => "unknown_channel",
        RunnerUnavailable => "runner_unavailable",
        Other => "other",
    });

    /// The codes the runner sends (server.jsonl has each).
    pub const RUNNER_ERROR_CODES: &[&str] = &[
        "bad_request",
        "unknown_command",
        "protocol_mismatch",
        "session_not_found",
        "message_not_found",
        "invalid_state",
        "unsupported",
        "harness_failed",
        "too_large",
        "permission_denied",
        "storage",
        "terminal_not_found",
        "timeout",
        "internal",
        "unknown_id",
    ];

    /// The codes the file server sends (files-server.jsonl has each).
    pub const FILES_ERROR_CODES: &[&str] = &[
        "bad_request",
        "unknown_command",
        "protocol_mismatch",
        "invalid_path",
        "name_too_long",
        "outside_root",
        "not_found",
        "already_exists",
        "not_a_directory",
        "is_a_directory",
        "not_empty",
        "special_file",
        "read_only",
        "permission_denied",
        "conflict",
        "bad_offset",
        "too_large",
        "unknown_id",
        "cancelled",
        "changed",
        "io",
        "internal",
    ];

    /// The codes the relay sends on its own channel (relay.jsonl has each).
    pub const RELAY_ERROR_CODES: &[&str] = &[
        "bad_request",
        "too_large",
        "unknown_channel",
        "protocol_mismatch",
        "runner_unavailable",
    ];

    tags!(fn part(Part) -> PARTS {
        Text => "text",
        Thinking => "thinking",
        ToolCall => "tool_call",
        Image => "image",
        FileRef => "file_ref",
        Compaction => "compaction",
        Error => "error",
        Plan => "plan",
        Diff => "diff",
    });

    tags!(fn state(State) -> STATES {
        Starting => "starting",
        Idle => "idle",
        Working => "working",
        Error => "error",
        Stopped => "stopped",
    });

    tags!(fn phase(Phase) -> PHASES {
        Generating => "generating",
        Thinking => "thinking",
        ToolRunning => "tool_running",
        Compacting => "compacting",
        Retrying => "retrying",
        AwaitingPermission => "awaiting_permission",
    });

    tags!(fn tool_status(ToolStatus) -> TOOL_STATUSES {
        Pending => "pending",
        Running => "running",
        Done => "done",
        Aborted => "aborted",
    });

    tags!(fn stop_reason(StopReason) -> STOP_REASONS {
        Stop => "stop",
        ToolUse => "tool_use",
        Length => "length",
        Aborted => "aborted",
        Error => "error",
    });

    tags!(fn role(Role) -> ROLES {
        User => "user",
        Assistant => "assistant",
        System => "system",
    });

    tags!(fn capability(Capability) -> CAPABILITIES {
        Steer => "steer",
        FollowUp => "follow_up",
        Fork => "fork",
        Compact => "compact",
        Models => "models",
        Thinking => "thinking",
        Images => "images",
        Rename => "rename",
    });

    tags!(fn compaction_reason(CompactionReason) -> COMPACTION_REASONS {
        Manual => "manual",
        Threshold => "threshold",
        Overflow => "overflow",
    });

    tags!(fn resync_reason(ResyncReason) -> RESYNC_REASONS {
        TooFarBehind => "too_far_behind",
        SlowSubscriber => "slow_subscriber",
        SeqFromFuture => "seq_from_future",
    });
}
