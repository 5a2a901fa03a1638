//! The one trait every harness adapter implements, and the types it speaks.
//!
//! An adapter is *sans-IO*: it never touches the process. The session actor owns the
//! harness process, writes the lines an adapter asks for ([`Output::Write`]) to its stdin,
//! feeds every stdout line to [`Adapter::feed`], and turns the rest of the [`Output`]s into
//! events, state and replies. This keeps each adapter a plain, synchronous translator that
//! unit tests drive with recorded lines, and keeps process handling (spawn, silence
//! timeout, termination, crash reports) in one place for all harnesses.
//!
//! # Life of an adapter
//!
//! 1. The actor builds the adapter with the session id and an id source, asks it for extra
//!    arguments ([`Adapter::extra_args`]) and spawns the program.
//! 2. [`Adapter::start`] returns the handshake lines (pi: `get_state`; native: `init`).
//! 3. Lines from the harness go to [`Adapter::feed`]. Exactly one [`Output::Ready`] comes out
//!    once the handshake succeeded, or an [`Output::Failed`] if it did not.
//! 4. Client commands go to [`Adapter::command`] with a [`Token`]; the answer arrives later as
//!    an [`Output::Done`] with that token, exactly once (or the actor gives up on it when the
//!    process exits).
//! 5. While the harness is quiet for about 50 ms, the actor calls [`Adapter::quiet`] (pi
//!    holds `state idle` back until it knows no retry follows).
//! 6. To stop, the actor writes [`Adapter::stop_lines`], closes stdin, and terminates the
//!    process group after the grace period.

use std::ffi::OsString;

use oqto_config::PermissionPolicy;
use oqto_protocol::{
    Capability, ErrorCode, EventKind, ImageInput, MessageId, Millis, ModelInfo, ModelRef,
    ThinkingLevel,
};

/// The actor's handle for one command in flight; echoed in [`Output::Done`].
pub type Token = u64;

/// What a session is started as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartSpec {
    /// The working directory (absolute; the process is spawned in it).
    pub cwd: String,
    /// The harness's own reference to continue from: pi's session file, a native agent's
    /// `resume` token. Taken from an earlier [`Ready::resume`] or [`Done::Forked`].
    pub resume: Option<String>,
    /// The model asked for at `session.create` (`provider` may be absent).
    pub model: Option<ModelChoice>,
    /// How permission requests are answered (runner.toml met with the workspace's file);
    /// only agents that ask (ACP) use it.
    pub permissions: PermissionPolicy,
}

/// A model as a client names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelChoice {
    pub provider: Option<String>,
    pub model: String,
}

/// What the handshake told us.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ready {
    /// The harness's reference to this conversation, stored so the session can be resumed
    /// (pi: `sessionFile`; native: the `resume` token of `ready`).
    pub resume: Option<String>,
    pub model: Option<ModelRef>,
    pub thinking_level: Option<ThinkingLevel>,
    /// A title the harness already has (pi: `sessionName`).
    pub title: Option<String>,
    /// The capabilities the running harness declared, when it declares them (native agents
    /// do in `ready`); `None` keeps [`Adapter::capabilities`].
    pub capabilities: Option<Vec<Capability>>,
}

/// A command the actor asks the harness to carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Prompt {
        text: String,
        images: Vec<ImageInput>,
    },
    Steer {
        text: String,
    },
    FollowUp {
        text: String,
    },
    Abort,
    SetModel(ModelChoice),
    GetModels,
    SetThinkingLevel(ThinkingLevel),
    Compact {
        instructions: Option<String>,
    },
    /// Branch the conversation before the user message `message_id`. `user_index` is that
    /// message's position (0-based) among the session's user messages, oldest first, and
    /// `text` its text: pi names fork points by its own entry ids, which the adapter finds
    /// from these. Answered with [`Done::Forked`].
    Fork {
        message_id: MessageId,
        user_index: usize,
        text: String,
    },
    /// The session was renamed; harnesses that keep their own title (pi) are told.
    Rename {
        title: String,
    },
    /// Answer the agent's pending permission request `request` with `option`; `client` is
    /// the name the answering client gave in its `hello` (for the audit log).
    PermissionReply {
        request: String,
        option: String,
        client: String,
    },
}

impl Op {
    /// The capability the op needs, if any.
    pub fn needs(&self) -> Option<Capability> {
        match self {
            Op::Prompt { images, .. } if !images.is_empty() => Some(Capability::Images),
            Op::Prompt { .. } | Op::Abort | Op::PermissionReply { .. } => None,
            Op::Steer { .. } => Some(Capability::Steer),
            Op::FollowUp { .. } => Some(Capability::FollowUp),
            Op::SetModel(_) | Op::GetModels => Some(Capability::Models),
            Op::SetThinkingLevel(_) => Some(Capability::Thinking),
            Op::Compact { .. } => Some(Capability::Compact),
            Op::Fork { .. } => Some(Capability::Fork),
            Op::Rename { .. } => Some(Capability::Rename),
        }
    }

    /// Whether the harness must answer within the ready timeout: the op only asks or sets
    /// something (a model, a title). A turn, a compaction or a fork may take as long as
    /// the model does, and is watched by the silence timer instead.
    pub fn answers_quickly(&self) -> bool {
        match self {
            Op::GetModels
            | Op::SetModel(_)
            | Op::SetThinkingLevel(_)
            | Op::Rename { .. }
            | Op::PermissionReply { .. } => true,
            Op::Prompt { .. }
            | Op::Steer { .. }
            | Op::FollowUp { .. }
            | Op::Abort
            | Op::Compact { .. }
            | Op::Fork { .. } => false,
        }
    }

    /// The command's name, as error messages show it (e.g. `get_models`).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Prompt { .. } => "prompt",
            Op::Steer { .. } => "steer",
            Op::FollowUp { .. } => "follow_up",
            Op::Abort => "abort",
            Op::SetModel(_) => "set_model",
            Op::GetModels => "get_models",
            Op::SetThinkingLevel(_) => "set_thinking_level",
            Op::Compact { .. } => "compact",
            Op::Fork { .. } => "fork",
            Op::Rename { .. } => "rename",
            Op::PermissionReply { .. } => "permission.reply",
        }
    }
}

/// A command's successful answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Done {
    Empty,
    Models(Vec<ModelInfo>),
    Model(ModelInfo),
    Compacted {
        summary: String,
        tokens_before: Option<u64>,
    },
    /// The branch exists; a new session is started with this as [`StartSpec::resume`].
    Forked {
        resume: String,
    },
}

/// A command's failure, as the client will see it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OpError {
    pub code: ErrorCode,
    pub message: String,
}

impl OpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A `permission.reply` naming a request that is not pending.
    pub fn no_such_request(request: &str) -> Self {
        Self::new(
            ErrorCode::UnknownId,
            format!("no permission request `{request}` is pending in this session"),
        )
    }

    pub fn unsupported(harness: &str, op: &Op) -> Self {
        Self::new(
            ErrorCode::Unsupported,
            format!("harness `{harness}` cannot {}", op.name()),
        )
    }
}

/// What an adapter asks the actor to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Write this line (without its `\n`) to the harness's stdin.
    Write(String),
    /// The handshake succeeded (once).
    Ready(Ready),
    /// The harness cannot be used: the handshake failed, or it broke the protocol so badly
    /// that going on would corrupt the session. The actor stops the process and puts the
    /// session in `error` with this reason.
    Failed(String),
    /// A canonical event for the session's stream, with runner-assigned ids.
    Event(EventKind),
    /// The harness (re)named the session.
    Title(String),
    /// The answer to the command given `token`.
    Done {
        token: Token,
        result: Result<Done, OpError>,
    },
    /// Something worth a log line that the session does not need to see (a harness line that
    /// does not parse, a response to nothing).
    Warn(String),
}

/// One harness kind's translation between the runner and the harness process.
pub trait Adapter: Send {
    /// What this harness can do, before the handshake (`welcome.harnesses[].capabilities`).
    fn capabilities(&self) -> Vec<Capability>;

    /// Arguments to add after the configured ones (pi: `--session FILE` to resume).
    fn extra_args(&self, spec: &StartSpec) -> Vec<OsString>;

    /// The handshake: lines to write right after the process started.
    fn start(&mut self, spec: &StartSpec) -> Vec<Output>;

    /// Starts a command. `Err` answers it at once (e.g. `unsupported`, or `invalid_state` for
    /// a second fork while one runs); `Ok` holds lines to write, and the answer comes later
    /// as [`Output::Done`] with `token`.
    fn command(&mut self, token: Token, op: Op) -> Result<Vec<Output>, OpError>;

    /// One line of the harness's stdout (without its `\n`). `now` is the runner's clock.
    fn feed(&mut self, line: &str, now: Millis) -> Vec<Output>;

    /// The harness has been quiet for a short while (about 50 ms).
    fn quiet(&mut self, now: Millis) -> Vec<Output>;

    /// Lines to write before closing stdin and terminating the process (pi: `abort` when a
    /// turn runs; native: `shutdown`).
    fn stop_lines(&mut self) -> Vec<String>;
}
