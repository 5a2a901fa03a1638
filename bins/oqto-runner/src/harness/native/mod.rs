//! [`NativeAdapter`]: the [`Adapter`] for any program that speaks the native harness
//! sub-protocol ([`oqto_protocol::harness`]): JSON-line requests on stdin, responses and
//! events on stdout.
//!
//! The adapter chooses the request ids (`"1"`, `"2"`, …, unique within the process),
//! remembers what each one was for, and matches every `ok`/`error` to it: the `init`
//! handshake, a client command (answered as [`Output::Done`] with its [`Token`]), the
//! `set_model` that completes the handshake, or `shutdown`. Events go through a
//! [`LabelMap`], which swaps the agent's labels for runner ids.
//!
//! Choices the sub-protocol leaves open:
//!
//! * **A model without a provider.** `init` takes a full [`ModelRef`], so a model named
//!   without a provider is not sent at `init`. Once the agent is `ready`, the adapter asks
//!   for it with `set_model {model}` (the sub-protocol's `set_model` has an optional
//!   provider) and holds [`Output::Ready`] back until the answer, so that [`Ready::model`] is
//!   the model really in use. It skips that request when `ready` already names a model with
//!   that id. An agent that refuses the model fails the start, as a refused `init` does.
//! * **`model.changed`.** The adapter never synthesizes one: the agent reports its own model
//!   changes (the fake agent sends `model.changed` before answering `set_model`).
//! * **`rename`.** The sub-protocol has no rename (native agents keep no title): the op is
//!   answered [`Done::Empty`] at once.
//! * **After `shutdown`.** Commands are answered `invalid_state` at once: the process is on
//!   its way out.

use std::collections::HashMap;
use std::ffi::OsString;

use oqto_protocol::harness::AGENT_PROTOCOL_VERSION;
use oqto_protocol::{
    AgentCommand, AgentMessage, AgentOk, AgentReply, AgentRequest, Capability, ErrorCode,
    ErrorResponse, EventKind, Millis, ModelInfo, ModelRef, RequestId, SessionId,
};

use self::events::LabelMap;
use super::adapter::{Adapter, Done, ModelChoice, Op, OpError, Output, Ready, StartSpec, Token};
use super::{IdSource, excerpt};
use crate::ids::RunnerIds;

pub mod events;
#[cfg(test)]
mod fake_agent_tests;
#[cfg(test)]
mod tests;

/// What the sub-protocol can express, before an agent declared its own set in `ready`.
const CAPABILITIES: [Capability; 7] = [
    Capability::Steer,
    Capability::FollowUp,
    Capability::Fork,
    Capability::Compact,
    Capability::Models,
    Capability::Thinking,
    Capability::Images,
];

/// The answer a command expects from the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Empty,
    Models,
    Model,
    Compacted,
    Forked,
}

impl Expect {
    fn name(self) -> &'static str {
        match self {
            Expect::Empty => "empty",
            Expect::Models => "models",
            Expect::Model => "model",
            Expect::Compacted => "compacted",
            Expect::Forked => "forked",
        }
    }
}

/// What a request id in flight was for.
#[derive(Debug)]
enum Pending {
    /// The handshake; `model` is a model to ask for after `ready` (named without provider).
    Init {
        model: Option<String>,
    },
    /// The `set_model` that completes the handshake; `ready` waits for its answer.
    InitModel {
        ready: Ready,
        model: String,
    },
    /// A client command.
    Command {
        token: Token,
        op: &'static str,
        expect: Expect,
    },
    Shutdown,
}

/// The adapter for one native agent process.
#[derive(Debug)]
pub struct NativeAdapter<I: IdSource = RunnerIds> {
    labels: LabelMap<I>,
    /// The last request id used; the next is one more.
    last_request: u64,
    pending: HashMap<RequestId, Pending>,
    /// The agent's name and version from `ready`.
    agent: Option<String>,
    /// `shutdown` was sent.
    stopping: bool,
}

impl<I: IdSource> NativeAdapter<I> {
    /// An adapter for one agent process of `session`, naming messages and parts from `ids`.
    pub fn new(session: SessionId, ids: I) -> Self {
        Self {
            labels: LabelMap::new(session, ids),
            last_request: 0,
            pending: HashMap::new(),
            agent: None,
            stopping: false,
        }
    }

    /// The agent's name and version from its `ready` (`oqto-fake-agent/0.1.0`), once known.
    pub fn agent(&self) -> Option<&str> {
        self.agent.as_deref()
    }

    /// The line for `command` with a fresh request id, remembering what it is for.
    fn request(&mut self, command: AgentCommand, pending: Pending) -> String {
        self.last_request += 1;
        let id = RequestId(self.last_request.to_string());
        self.pending.insert(id.clone(), pending);
        AgentRequest { id, command }.to_line()
    }

    fn ok(&mut self, ok: AgentOk) -> Vec<Output> {
        let Some(pending) = self.pending.remove(&ok.id) else {
            return vec![Output::Warn(format!(
                "agent answered request `{}`, which is not in flight: {}",
                ok.id,
                reply_name(&ok.result)
            ))];
        };
        match pending {
            Pending::Init { model } => self.ready(ok.result, model),
            Pending::InitModel { mut ready, model } => match ok.result {
                AgentReply::Model { model: info } => {
                    ready.model = Some(model_ref(info));
                    vec![Output::Ready(ready)]
                }
                other => vec![Output::Failed(format!(
                    "agent answered set_model `{model}` with `{}` instead of `model`",
                    reply_name(&other)
                ))],
            },
            Pending::Command { token, op, expect } => vec![Output::Done {
                token,
                result: done(op, expect, ok.result),
            }],
            Pending::Shutdown => Vec::new(),
        }
    }

    /// The answer to `init`.
    fn ready(&mut self, reply: AgentReply, wanted: Option<String>) -> Vec<Output> {
        let AgentReply::Ready {
            agent,
            capabilities,
            model,
            resume,
        } = reply
        else {
            return vec![Output::Failed(format!(
                "agent answered init with `{}` instead of `ready`",
                reply_name(&reply)
            ))];
        };
        self.agent = Some(agent);
        let ready = Ready {
            resume,
            model,
            thinking_level: None,
            title: None,
            capabilities: Some(capabilities),
        };
        match wanted {
            Some(wanted) if ready.model.as_ref().is_none_or(|m| m.id != wanted) => {
                let command = AgentCommand::SetModel {
                    provider: None,
                    model: wanted.clone(),
                };
                let pending = Pending::InitModel {
                    ready,
                    model: wanted,
                };
                vec![Output::Write(self.request(command, pending))]
            }
            _ => vec![Output::Ready(ready)],
        }
    }

    fn error(&mut self, error: ErrorResponse) -> Vec<Output> {
        let ErrorResponse {
            id, code, message, ..
        } = error;
        let code_name = code.as_str();
        let Some(id) = id else {
            return vec![Output::Warn(format!(
                "agent reported an error for no request: {code_name}: {message}"
            ))];
        };
        let Some(pending) = self.pending.remove(&id) else {
            return vec![Output::Warn(format!(
                "agent reported an error for request `{id}`, which is not in flight: \
                 {code_name}: {message}"
            ))];
        };
        match pending {
            Pending::Init { .. } => vec![Output::Failed(format!(
                "agent refused init: {code_name}: {message}"
            ))],
            Pending::InitModel { model, .. } => vec![Output::Failed(format!(
                "agent refused model `{model}`: {code_name}: {message}"
            ))],
            Pending::Command { token, .. } => vec![Output::Done {
                token,
                result: Err(OpError::new(code, message)),
            }],
            Pending::Shutdown => vec![Output::Warn(format!(
                "agent refused shutdown: {code_name}: {message}"
            ))],
        }
    }

    /// A line that is not a valid message. When it still reads as a response to a request
    /// in flight (`ok` with a result of an unknown shape, say), that request is answered with
    /// the failure, so that it does not wait forever.
    fn unparsed(&mut self, line: &str, err: &serde_json::Error) -> Vec<Output> {
        let why = format!("agent line is not a message ({err}): {}", excerpt(line));
        let Some(pending) = response_id(line).and_then(|id| self.pending.remove(&id)) else {
            return vec![Output::Warn(why)];
        };
        match pending {
            Pending::Init { .. } | Pending::InitModel { .. } => {
                vec![Output::Failed(format!("during the handshake, {why}"))]
            }
            Pending::Command { token, .. } => vec![Output::Done {
                token,
                result: Err(OpError::new(ErrorCode::HarnessFailed, why)),
            }],
            Pending::Shutdown => vec![Output::Warn(why)],
        }
    }

    fn event(&mut self, kind: EventKind, now: Millis) -> Output {
        match self.labels.translate(kind, now) {
            Ok(kind) => Output::Event(kind),
            Err(refused) => Output::Warn(format!("dropped an agent event: {refused}")),
        }
    }
}

impl<I: IdSource + Send> Adapter for NativeAdapter<I> {
    fn capabilities(&self) -> Vec<Capability> {
        CAPABILITIES.to_vec()
    }

    fn extra_args(&self, _spec: &StartSpec) -> Vec<OsString> {
        Vec::new()
    }

    fn start(&mut self, spec: &StartSpec) -> Vec<Output> {
        let (model, later) = match &spec.model {
            Some(ModelChoice {
                provider: Some(provider),
                model,
            }) => (
                Some(ModelRef {
                    provider: provider.clone(),
                    id: model.clone(),
                }),
                None,
            ),
            Some(ModelChoice {
                provider: None,
                model,
            }) => (None, Some(model.clone())),
            None => (None, None),
        };
        let command = AgentCommand::Init {
            protocol: AGENT_PROTOCOL_VERSION,
            session: self.labels.session().clone(),
            cwd: spec.cwd.clone(),
            resume: spec.resume.clone(),
            model,
        };
        vec![Output::Write(
            self.request(command, Pending::Init { model: later }),
        )]
    }

    fn command(&mut self, token: Token, op: Op) -> Result<Vec<Output>, OpError> {
        if self.stopping {
            return Err(OpError::new(
                ErrorCode::InvalidState,
                format!("cannot {}: the agent is shutting down", op.name()),
            ));
        }
        let name = op.name();
        let (command, expect) = match op {
            Op::Prompt { text, images } => (AgentCommand::Prompt { text, images }, Expect::Empty),
            Op::Steer { text } => (AgentCommand::Steer { text }, Expect::Empty),
            Op::FollowUp { text } => (AgentCommand::FollowUp { text }, Expect::Empty),
            Op::Abort => (AgentCommand::Abort {}, Expect::Empty),
            Op::SetModel(ModelChoice { provider, model }) => {
                (AgentCommand::SetModel { provider, model }, Expect::Model)
            }
            Op::GetModels => (AgentCommand::GetModels {}, Expect::Models),
            Op::SetThinkingLevel(level) => {
                (AgentCommand::SetThinkingLevel { level }, Expect::Empty)
            }
            Op::Compact { instructions } => {
                (AgentCommand::Compact { instructions }, Expect::Compacted)
            }
            Op::Fork { message_id, .. } => {
                let Some(label) = self.labels.label_of(&message_id) else {
                    return Err(OpError::new(
                        ErrorCode::MessageNotFound,
                        format!("message `{message_id}` is not known to this agent process"),
                    ));
                };
                let message_id = label.into();
                (AgentCommand::Fork { message_id }, Expect::Forked)
            }
            // The native sub-protocol has no permission requests.
            Op::PermissionReply { request, .. } => return Err(OpError::no_such_request(&request)),
            Op::Rename { .. } => {
                return Ok(vec![Output::Done {
                    token,
                    result: Ok(Done::Empty),
                }]);
            }
        };
        let pending = Pending::Command {
            token,
            op: name,
            expect,
        };
        Ok(vec![Output::Write(self.request(command, pending))])
    }

    fn feed(&mut self, line: &str, now: Millis) -> Vec<Output> {
        match AgentMessage::parse(line) {
            Ok(AgentMessage::Event(kind)) => vec![self.event(kind, now)],
            Ok(AgentMessage::Ok(ok)) => self.ok(ok),
            Ok(AgentMessage::Error(error)) => self.error(error),
            Err(err) => self.unparsed(line, &err),
        }
    }

    fn quiet(&mut self, _now: Millis) -> Vec<Output> {
        Vec::new()
    }

    fn stop_lines(&mut self) -> Vec<String> {
        if self.stopping {
            return Vec::new();
        }
        self.stopping = true;
        vec![self.request(AgentCommand::Shutdown {}, Pending::Shutdown)]
    }
}

/// A command's answer from the agent's `ok`, or why it does not fit the command.
fn done(op: &str, expect: Expect, reply: AgentReply) -> Result<Done, OpError> {
    match (expect, reply) {
        (Expect::Empty, AgentReply::Empty) => Ok(Done::Empty),
        (Expect::Models, AgentReply::Models { models }) => Ok(Done::Models(models)),
        (Expect::Model, AgentReply::Model { model }) => Ok(Done::Model(model)),
        (
            Expect::Compacted,
            AgentReply::Compacted {
                summary,
                tokens_before,
            },
        ) => Ok(Done::Compacted {
            summary,
            tokens_before,
        }),
        (Expect::Forked, AgentReply::Forked { resume }) => Ok(Done::Forked { resume }),
        (expect, other) => Err(OpError::new(
            ErrorCode::HarnessFailed,
            format!(
                "agent answered {op} with `{}` instead of `{}`",
                reply_name(&other),
                expect.name()
            ),
        )),
    }
}

/// The request id of a line that looks like a response (`"type": "ok"` or `"error"` with a
/// string `id`), however malformed the rest.
fn response_id(line: &str) -> Option<RequestId> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let kind = value.get("type")?.as_str()?;
    if kind != "ok" && kind != "error" {
        return None;
    }
    Some(RequestId::new(value.get("id")?.as_str()?))
}

/// A reply's wire name.
fn reply_name(reply: &AgentReply) -> &'static str {
    match reply {
        AgentReply::Empty => "empty",
        AgentReply::Ready { .. } => "ready",
        AgentReply::Models { .. } => "models",
        AgentReply::Model { .. } => "model",
        AgentReply::Compacted { .. } => "compacted",
        AgentReply::Forked { .. } => "forked",
    }
}

fn model_ref(info: ModelInfo) -> ModelRef {
    ModelRef {
        provider: info.provider,
        id: info.id,
    }
}
