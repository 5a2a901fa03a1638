//! [`AcpAdapter`]: the [`Adapter`] for Agent Client Protocol agents (`opencode acp` and
//! the like): JSON-RPC 2.0 on stdio, protocol version 1 (see [`oqto_protocol::acp`]).
//!
//! # Handshake
//!
//! `initialize` advertises no client capability: the runner implements none of the
//! `fs/*` or `terminal/*` methods (agents use their own tools, confined by the sandbox),
//! and answers them "method not found" if an agent calls them anyway. Then, to continue a
//! conversation ([`StartSpec::resume`] holds the agent's session id), `session/resume` when
//! the agent offers it (no replay), else `session/load` when it advertises `loadSession`
//! (the replayed history is dropped: the runner's store has it already); otherwise, and
//! when either fails, `session/new` (with a visible `session.error` saying the agent
//! started afresh). `session/new` passes the workspace as `cwd` and no MCP servers. A
//! model asked for at creation is set before [`Output::Ready`].
//!
//! # Turns
//!
//! `prompt` writes the user's message as events (ACP agents do not echo it), then
//! `session/prompt`; the command is answered at once and the turn goes on until the
//! agent answers the request ([`turn::Turn`] maps the updates). `abort` sends
//! `session/cancel` and answers pending permission requests `cancelled`, as the
//! specification requires; the turn ends when the agent answers the prompt with
//! `cancelled`.
//!
//! # Permissions
//!
//! `session/request_permission` is decided by the session's [`PermissionPolicy`]: an
//! allow-listed tool kind gets the agent's allow-once option, `mode = "reject"` its
//! reject-once option, and otherwise the request becomes a `permission.request` event
//! (phase `awaiting_permission`) answered by `permission.reply`. Every request and its
//! answer are events (`permission.request`, `permission.resolved`), which the audit log
//! records. The request id is the agent's JSON-RPC id kept exactly (opencode uses `0`).
//!
//! # Broken agents
//!
//! A line that is not JSON-RPC, or a response to a request the runner never sent, fails
//! the session ([`Output::Failed`]): the conversation can no longer be trusted to be in
//! step. A crash or a hang is the actor's to notice (process exit, silence timeout).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;

use oqto_config::{Decision, PermissionPolicy};
use oqto_protocol::acp::{
    self, ACP_PROTOCOL_VERSION, CancelParams, ClientCapabilities, ConfigOption, Implementation,
    Incoming, InitializeParams, InitializeResult, LoadSessionParams, NewSessionParams,
    PromptParams, PromptResult, RequestPermissionParams, SessionNotification, SessionResult,
    SessionUpdate, SetConfigOptionParams, SetModelParams,
};
use oqto_protocol::{
    Answerer, Capability, ErrorCode, EventKind, Message, Millis, ModelInfo, ModelRef, OptionKind,
    Part, PermissionOption, PermissionTool, Phase, Role, SessionId, ToolKind,
};
use serde_json::Value;

use self::turn::{Turn, working};
use super::adapter::{Adapter, Done, ModelChoice, Op, OpError, Output, Ready, StartSpec, Token};
use super::{IdSource, excerpt};
use crate::ids::RunnerIds;

#[cfg(test)]
mod tests;
mod turn;

/// What a request id of ours was for.
#[derive(Debug)]
enum Pending {
    Initialize {
        spec: StartSpec,
    },
    /// `session/new`; `note` is a reason to tell the session why a resume did not happen.
    NewSession {
        spec: StartSpec,
        note: Option<String>,
    },
    /// `session/resume` or `session/load` of `id`.
    Load {
        spec: StartSpec,
        id: String,
        method: &'static str,
    },
    /// The model asked for at start; `ready` waits for the answer.
    InitModel {
        ready: Ready,
        model: ModelRef,
    },
    Prompt,
    SetModel {
        token: Token,
        model: ModelRef,
    },
}

/// A permission request waiting for a person.
#[derive(Debug)]
struct Asking {
    /// The agent's JSON-RPC id, answered exactly.
    rpc_id: Value,
    options: Vec<PermissionOption>,
}

/// How the agent lets the model be chosen.
#[derive(Clone, Debug, Default, PartialEq)]
enum ModelSwitch {
    #[default]
    None,
    /// A `configOptions` entry of category `model` (`session/set_config_option`).
    Config { id: String, values: Vec<String> },
    /// `models` (`session/set_model`).
    Models { values: Vec<String> },
}

/// The adapter for one ACP agent process.
#[derive(Debug)]
pub struct AcpAdapter<I: IdSource = RunnerIds> {
    session: SessionId,
    ids: I,
    last_id: u64,
    pending: HashMap<u64, Pending>,
    /// The agent's session id, once `session/new` or a load answered.
    acp_session: Option<String>,
    /// The agent's name and version, from `initialize`.
    agent: Option<String>,
    policy: PermissionPolicy,
    models: ModelSwitch,
    model: Option<ModelRef>,
    image: bool,
    turn: Option<Turn>,
    /// Our request ids (`perm_1`, …) of permission requests waiting for a person.
    asking: BTreeMap<String, Asking>,
    last_permission: u64,
    /// A `session/load` is replaying the history: its updates are dropped.
    loading: bool,
    stopping: bool,
    /// The agent broke the protocol ([`Output::Failed`]): what it writes after that is not
    /// trusted, and dropped until the process is stopped.
    failed: bool,
}

impl<I: IdSource> AcpAdapter<I> {
    /// An adapter for one agent process of `session`, naming messages and parts from `ids`.
    pub fn new(session: SessionId, ids: I) -> Self {
        Self {
            session,
            ids,
            last_id: 0,
            pending: HashMap::new(),
            acp_session: None,
            agent: None,
            policy: PermissionPolicy::default(),
            models: ModelSwitch::None,
            model: None,
            image: false,
            turn: None,
            asking: BTreeMap::new(),
            last_permission: 0,
            loading: false,
            stopping: false,
            failed: false,
        }
    }

    fn request(
        &mut self,
        method: &str,
        params: &impl serde::Serialize,
        pending: Pending,
    ) -> Output {
        self.last_id += 1;
        self.pending.insert(self.last_id, pending);
        Output::Write(acp::request_line(self.last_id, method, params))
    }

    fn acp_session(&self) -> String {
        self.acp_session.clone().unwrap_or_default()
    }

    // ----- responses -----------------------------------------------------------------

    fn response(
        &mut self,
        id: &Value,
        result: Result<Value, acp::RpcError>,
        now: Millis,
    ) -> Vec<Output> {
        let Some(pending) = id.as_u64().and_then(|n| self.pending.remove(&n)) else {
            return vec![Output::Failed(format!(
                "the agent answered request {id}, which was never sent (or was answered already)"
            ))];
        };
        match pending {
            Pending::Initialize { spec } => self.initialized(result, spec),
            Pending::NewSession { spec, note } => self.session_started(result, spec, note, None),
            Pending::Load { spec, id, method } => {
                self.loading = false;
                match result {
                    Ok(value) => self.session_started(Ok(value), spec, None, Some(id)),
                    Err(error) => {
                        let note = format!(
                            "the agent could not continue its conversation ({method}: {}); it starts afresh, without the earlier context",
                            error.message
                        );
                        let params = NewSessionParams {
                            cwd: spec.cwd.clone(),
                            mcp_servers: Vec::new(),
                        };
                        vec![self.request(
                            "session/new",
                            &params,
                            Pending::NewSession {
                                spec,
                                note: Some(note),
                            },
                        )]
                    }
                }
            }
            Pending::InitModel { mut ready, model } => match result {
                Ok(_) => {
                    self.model = Some(model.clone());
                    ready.model = Some(model);
                    vec![Output::Ready(ready)]
                }
                Err(error) => vec![Output::Failed(format!(
                    "the agent refused model `{}/{}`: {}",
                    model.provider, model.id, error.message
                ))],
            },
            Pending::Prompt => {
                let Some(turn) = self.turn.take() else {
                    return vec![Output::Warn(
                        "a prompt answered with no turn running".into(),
                    )];
                };
                let result = match result {
                    Ok(value) => serde_json::from_value::<PromptResult>(value).map_err(|e| {
                        format!("the agent's answer to session/prompt is malformed: {e}")
                    }),
                    Err(error) => Err(format!("the agent failed the turn: {}", error.message)),
                };
                let mut events = Vec::new();
                // A request still waiting when its turn ended is moot: told `cancelled`.
                let lines = self.cancel_asking(&Answerer::Stopped, &mut events);
                turn.finish(&mut self.ids, result, now, &mut events);
                let mut out: Vec<Output> = lines.into_iter().map(Output::Write).collect();
                out.extend(events.into_iter().map(Output::Event));
                out
            }
            Pending::SetModel { token, model } => {
                let result = match result {
                    Ok(_) => {
                        let changed = self.model.as_ref() != Some(&model);
                        self.model = Some(model.clone());
                        let info = model_info(&model);
                        let mut out = Vec::new();
                        if changed {
                            out.push(Output::Event(EventKind::ModelChanged {
                                model,
                                thinking_level: None,
                            }));
                        }
                        out.push(Output::Done {
                            token,
                            result: Ok(Done::Model(info)),
                        });
                        return out;
                    }
                    Err(error) => Err(OpError::new(ErrorCode::HarnessFailed, error.message)),
                };
                vec![Output::Done { token, result }]
            }
        }
    }

    fn initialized(
        &mut self,
        result: Result<Value, acp::RpcError>,
        spec: StartSpec,
    ) -> Vec<Output> {
        let init = match result.map(serde_json::from_value::<InitializeResult>) {
            Ok(Ok(init)) => init,
            Ok(Err(e)) => {
                return vec![Output::Failed(format!(
                    "the agent's initialize answer is malformed: {e}"
                ))];
            }
            Err(error) => {
                return vec![Output::Failed(format!(
                    "the agent refused initialize: {}",
                    error.message
                ))];
            }
        };
        if init.protocol_version != ACP_PROTOCOL_VERSION {
            return vec![Output::Failed(format!(
                "the agent speaks ACP version {}, the runner speaks {ACP_PROTOCOL_VERSION}",
                init.protocol_version
            ))];
        }
        self.agent = init.agent_info.map(|i| format!("{}/{}", i.name, i.version));
        self.image = init.agent_capabilities.prompt_capabilities.image;
        let caps = init.agent_capabilities;
        let resume = caps.session_capabilities.resume.is_some();
        match spec.resume.clone() {
            Some(id) if resume || caps.load_session => {
                let method = if resume {
                    "session/resume"
                } else {
                    "session/load"
                };
                self.loading = !resume;
                let params = LoadSessionParams {
                    session_id: id.clone(),
                    cwd: spec.cwd.clone(),
                    mcp_servers: Vec::new(),
                };
                vec![self.request(method, &params, Pending::Load { spec, id, method })]
            }
            previous => {
                let note = previous.map(|_| {
                    "the agent cannot continue a conversation (it offers neither session/resume nor session/load); it starts afresh".to_owned()
                });
                let params = NewSessionParams {
                    cwd: spec.cwd.clone(),
                    mcp_servers: Vec::new(),
                };
                vec![self.request("session/new", &params, Pending::NewSession { spec, note })]
            }
        }
    }

    fn session_started(
        &mut self,
        result: Result<Value, acp::RpcError>,
        spec: StartSpec,
        note: Option<String>,
        loaded: Option<String>,
    ) -> Vec<Output> {
        let started = match result.map(serde_json::from_value::<SessionResult>) {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => {
                return vec![Output::Failed(format!(
                    "the agent's session answer is malformed: {e}"
                ))];
            }
            Err(error) => {
                return vec![Output::Failed(format!(
                    "the agent refused to start a session: {}",
                    error.message
                ))];
            }
        };
        let Some(id) = started.session_id.clone().or(loaded) else {
            return vec![Output::Failed(
                "the agent's session/new answer has no sessionId".into(),
            )];
        };
        self.acp_session = Some(id.clone());
        self.read_models(&started);
        let mut out = Vec::new();
        if let Some(note) = note {
            out.push(Output::Event(EventKind::Error {
                code: ErrorCode::HarnessFailed,
                message: note,
                recoverable: true,
            }));
        }
        let ready = Ready {
            resume: Some(id),
            model: self.model.clone(),
            thinking_level: None,
            title: None,
            capabilities: Some(self.current_capabilities()),
        };
        match spec.model.map(|choice| self.resolve_model(&choice)) {
            Some(Ok(model)) if Some(&model) != self.model.as_ref() => {
                let write = self.model_request(
                    &model,
                    Pending::InitModel {
                        ready,
                        model: model.clone(),
                    },
                );
                out.push(write);
            }
            Some(Err(why)) => out.push(Output::Failed(why.message)),
            _ => out.push(Output::Ready(ready)),
        }
        out
    }

    fn read_models(&mut self, started: &SessionResult) {
        if let Some(option) = started
            .config_options
            .iter()
            .find(|o| o.category.as_deref() == Some("model"))
        {
            self.models = ModelSwitch::Config {
                id: option.id.clone(),
                values: option_values(option),
            };
            if let Some(Value::String(current)) = &option.current_value {
                self.model = Some(self.model_ref(current));
            }
        } else if let Some(models) = &started.models {
            self.models = ModelSwitch::Models {
                values: models
                    .available_models
                    .iter()
                    .map(|m| m.model_id.clone())
                    .collect(),
            };
            if let Some(current) = &models.current_model_id {
                self.model = Some(self.model_ref(current));
            }
        }
    }

    /// An agent's model value as a [`ModelRef`]: `provider/model` is split at the first
    /// `/`; a value without one belongs to the agent (its name is the provider).
    fn model_ref(&self, value: &str) -> ModelRef {
        match value.split_once('/') {
            Some((provider, id)) => ModelRef {
                provider: provider.to_owned(),
                id: id.to_owned(),
            },
            None => ModelRef {
                provider: self
                    .agent
                    .as_deref()
                    .and_then(|a| a.split('/').next())
                    .unwrap_or("acp")
                    .to_lowercase(),
                id: value.to_owned(),
            },
        }
    }

    fn values(&self) -> &[String] {
        match &self.models {
            ModelSwitch::None => &[],
            ModelSwitch::Config { values, .. } | ModelSwitch::Models { values } => values,
        }
    }

    /// The agent's value for a client's model choice.
    fn resolve_model(&self, choice: &ModelChoice) -> Result<ModelRef, OpError> {
        if self.models == ModelSwitch::None {
            return Err(OpError::new(
                ErrorCode::Unsupported,
                "the agent offers no model choice",
            ));
        }
        let wanted = match &choice.provider {
            Some(provider) => format!("{provider}/{}", choice.model),
            None => choice.model.clone(),
        };
        let found = self.values().iter().find(|v| {
            **v == wanted
                || (choice.provider.is_none() && v.rsplit('/').next() == Some(&choice.model))
        });
        match found {
            Some(value) => Ok(self.model_ref(value)),
            None => Err(OpError::new(
                ErrorCode::BadRequest,
                format!("the agent does not offer model `{wanted}`"),
            )),
        }
    }

    fn model_request(&mut self, model: &ModelRef, pending: Pending) -> Output {
        let value = self
            .values()
            .iter()
            .find(|v| **v == format!("{}/{}", model.provider, model.id) || **v == model.id)
            .cloned()
            .unwrap_or_else(|| model.id.clone());
        let session_id = self.acp_session();
        match self.models.clone() {
            ModelSwitch::Config { id, .. } => self.request(
                "session/set_config_option",
                &SetConfigOptionParams {
                    session_id,
                    config_id: id,
                    value: Value::String(value),
                },
                pending,
            ),
            ModelSwitch::Models { .. } | ModelSwitch::None => self.request(
                "session/set_model",
                &SetModelParams {
                    session_id,
                    model_id: value,
                },
                pending,
            ),
        }
    }

    fn current_capabilities(&self) -> Vec<Capability> {
        let mut caps = Vec::new();
        if self.models != ModelSwitch::None {
            caps.push(Capability::Models);
        }
        if self.image {
            caps.push(Capability::Images);
        }
        caps
    }

    // ----- requests and notifications from the agent -----------------------------------

    fn agent_request(&mut self, id: Value, method: &str, params: Value) -> Vec<Output> {
        if method != "session/request_permission" {
            return vec![
                Output::Write(acp::error_line(
                    &id,
                    acp::METHOD_NOT_FOUND,
                    &format!("the client does not implement {method}"),
                )),
                Output::Warn(format!(
                    "the agent called {method}, which the runner does not offer"
                )),
            ];
        }
        let params: RequestPermissionParams = match serde_json::from_value(params) {
            Ok(params) => params,
            Err(e) => {
                return vec![
                    Output::Write(acp::error_line(&id, acp::INVALID_PARAMS, &e.to_string())),
                    Output::Warn(format!("a malformed permission request: {e}")),
                ];
            }
        };
        self.last_permission += 1;
        let request = format!("perm_{}", self.last_permission);
        let (tool, options) = permission_parts(params);
        let kind = tool.kind;
        let mut out = vec![Output::Event(EventKind::PermissionRequest {
            request: request.clone(),
            tool,
            options: options.clone(),
        })];
        let (wanted, rule) = match self.policy.decide(kind) {
            Decision::Allow { rule } => (Some(OptionKind::AllowOnce), rule),
            Decision::Reject { rule } => (Some(OptionKind::RejectOnce), rule),
            Decision::Ask => (None, String::new()),
        };
        if let Some(wanted) = wanted {
            let chosen = options
                .iter()
                .find(|o| o.kind == wanted)
                .or_else(|| options.iter().find(|o| o.kind.allows() == wanted.allows()));
            let (line, option, kind) = match chosen {
                Some(o) => (
                    acp::result_line(&id, &acp::permission_outcome(Some(&o.id))),
                    Some(o.id.clone()),
                    Some(o.kind),
                ),
                None => (
                    acp::result_line(&id, &acp::permission_outcome(None)),
                    None,
                    None,
                ),
            };
            out.push(Output::Write(line));
            out.push(Output::Event(EventKind::PermissionResolved {
                request,
                option,
                kind,
                answered: Answerer::Policy { rule },
            }));
            return out;
        }
        self.asking.insert(
            request,
            Asking {
                rpc_id: id,
                options,
            },
        );
        out.push(Output::Event(working(Phase::AwaitingPermission)));
        out
    }

    /// Answers every waiting permission request `cancelled`.
    fn cancel_asking(&mut self, answered: &Answerer, out: &mut Vec<EventKind>) -> Vec<String> {
        let mut lines = Vec::new();
        for (request, asking) in std::mem::take(&mut self.asking) {
            lines.push(acp::result_line(
                &asking.rpc_id,
                &acp::permission_outcome(None),
            ));
            out.push(EventKind::PermissionResolved {
                request,
                option: None,
                kind: None,
                answered: answered.clone(),
            });
        }
        lines
    }

    fn notification(&mut self, method: &str, params: Value, now: Millis) -> Vec<Output> {
        if method != "session/update" {
            return vec![Output::Warn(format!(
                "ignored the agent's notification {method}"
            ))];
        }
        let update = match serde_json::from_value::<SessionNotification>(params) {
            Ok(n) => n.update,
            Err(e) => return vec![Output::Warn(format!("a malformed session/update: {e}"))],
        };
        if self.loading {
            return Vec::new();
        }
        let Some(turn) = self.turn.as_mut() else {
            return match update {
                SessionUpdate::Other | SessionUpdate::UsageUpdate { .. } => Vec::new(),
                _ => vec![Output::Warn(
                    "a session/update outside a turn was dropped".into(),
                )],
            };
        };
        let mut events = Vec::new();
        let ids = &mut self.ids;
        match update {
            SessionUpdate::AgentMessageChunk(chunk) => {
                turn.chunk(ids, chunk, false, now, &mut events);
            }
            SessionUpdate::AgentThoughtChunk(chunk) => {
                turn.chunk(ids, chunk, true, now, &mut events);
            }
            SessionUpdate::ToolCall(fields) | SessionUpdate::ToolCallUpdate(fields) => {
                turn.tool(ids, fields, &mut events);
            }
            SessionUpdate::Plan { entries } => turn.plan(ids, entries, &mut events),
            SessionUpdate::UsageUpdate { cost, .. } => turn.cost(cost.and_then(|c| c.amount)),
            // The user's own message is ours already.
            SessionUpdate::UserMessageChunk(_) | SessionUpdate::Other => {}
        }
        events.into_iter().map(Output::Event).collect()
    }

    /// One line of the agent's stdout, sorted by its JSON-RPC shape.
    fn feed_line(&mut self, line: &str, now: Millis) -> Vec<Output> {
        match Incoming::parse(line) {
            Ok(Incoming::Response { id, result }) => self.response(&id, result, now),
            Ok(Incoming::Request { id, method, params }) => self.agent_request(id, &method, params),
            Ok(Incoming::Notification { method, params }) => {
                self.notification(&method, params, now)
            }
            Err(e) => vec![Output::Failed(format!(
                "the agent wrote a line that is not ACP ({e}): {}",
                excerpt(line)
            ))],
        }
    }

    // ----- commands ------------------------------------------------------------------

    fn prompt(
        &mut self,
        token: Token,
        text: String,
        images: Vec<oqto_protocol::ImageInput>,
        now: Millis,
    ) -> Vec<Output> {
        let message_id = self.ids.message_id();
        let mut prompt = vec![serde_json::json!({"type": "text", "text": text})];
        let mut parts = vec![Part::Text {
            id: self.ids.part_id(),
            text,
        }];
        for image in images {
            parts.push(Part::Image {
                id: self.ids.part_id(),
                mime_type: image.mime_type.clone(),
                data: Some(image.data.clone()),
                url: None,
            });
            prompt.push(serde_json::json!({"type": "image", "mimeType": image.mime_type, "data": image.data}));
        }
        let mut out = vec![Output::Event(EventKind::MessageStart {
            message_id: message_id.clone(),
            role: Role::User,
            model: None,
        })];
        for part in &parts {
            out.push(Output::Event(EventKind::PartStart {
                message_id: message_id.clone(),
                part: part.clone(),
            }));
            out.push(Output::Event(EventKind::PartEnd {
                message_id: message_id.clone(),
                part: part.clone(),
            }));
        }
        out.push(Output::Event(EventKind::MessageEnd {
            message: Message {
                id: message_id,
                session: self.session.clone(),
                role: Role::User,
                parts,
                created_at: now,
                model: None,
                usage: None,
                stop_reason: None,
                client_msg_id: None,
            },
        }));
        out.push(Output::Event(working(Phase::Generating)));
        self.turn = Some(Turn::new(self.session.clone(), self.model.clone()));
        let params = PromptParams {
            session_id: self.acp_session(),
            prompt,
        };
        out.push(self.request("session/prompt", &params, Pending::Prompt));
        out.push(Output::Done {
            token,
            result: Ok(Done::Empty),
        });
        out
    }

    fn abort(&mut self) -> Vec<Output> {
        let mut events = Vec::new();
        let mut out: Vec<Output> = self
            .cancel_asking(&Answerer::Abort, &mut events)
            .into_iter()
            .map(Output::Write)
            .collect();
        out.extend(events.into_iter().map(Output::Event));
        if self.turn.is_some() {
            out.push(Output::Write(acp::notification_line(
                "session/cancel",
                &CancelParams {
                    session_id: self.acp_session(),
                },
            )));
        }
        out
    }

    fn reply(
        &mut self,
        request: &str,
        option: &str,
        client: String,
    ) -> Result<Vec<Output>, OpError> {
        let Some(asking) = self.asking.get(request) else {
            return Err(OpError::no_such_request(request));
        };
        let Some(chosen) = asking.options.iter().find(|o| o.id == option) else {
            let known: Vec<&str> = asking.options.iter().map(|o| o.id.as_str()).collect();
            return Err(OpError::new(
                ErrorCode::BadRequest,
                format!(
                    "permission request `{request}` has no option `{option}` (options: {})",
                    known.join(", ")
                ),
            ));
        };
        let kind = chosen.kind;
        let asking = self.asking.remove(request).expect("checked above");
        let mut out = vec![
            Output::Write(acp::result_line(
                &asking.rpc_id,
                &acp::permission_outcome(Some(option)),
            )),
            Output::Event(EventKind::PermissionResolved {
                request: request.to_owned(),
                option: Some(option.to_owned()),
                kind: Some(kind),
                answered: Answerer::User { client },
            }),
        ];
        if self.asking.is_empty() {
            let phase = self.turn.as_ref().map_or(Phase::Generating, Turn::phase);
            out.push(Output::Event(working(phase)));
        }
        Ok(out)
    }
}

impl<I: IdSource + Send> Adapter for AcpAdapter<I> {
    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Models, Capability::Images]
    }

    fn extra_args(&self, _spec: &StartSpec) -> Vec<OsString> {
        Vec::new()
    }

    fn start(&mut self, spec: &StartSpec) -> Vec<Output> {
        self.policy = spec.permissions.clone();
        let params = InitializeParams {
            protocol_version: ACP_PROTOCOL_VERSION,
            client_capabilities: ClientCapabilities::default(),
            client_info: Implementation {
                name: "oqto-runner".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        };
        vec![self.request(
            "initialize",
            &params,
            Pending::Initialize { spec: spec.clone() },
        )]
    }

    fn command(&mut self, token: Token, op: Op) -> Result<Vec<Output>, OpError> {
        if self.stopping {
            return Err(OpError::new(
                ErrorCode::InvalidState,
                format!("cannot {}: the agent is shutting down", op.name()),
            ));
        }
        let now = oqto_protocol::now_millis();
        match op {
            Op::Prompt { text, images } => Ok(self.prompt(token, text, images, now)),
            Op::Abort => {
                let mut out = self.abort();
                out.push(Output::Done {
                    token,
                    result: Ok(Done::Empty),
                });
                Ok(out)
            }
            Op::SetModel(choice) => {
                let model = self.resolve_model(&choice)?;
                Ok(vec![self.model_request(
                    &model,
                    Pending::SetModel {
                        token,
                        model: model.clone(),
                    },
                )])
            }
            Op::GetModels => Ok(vec![Output::Done {
                token,
                result: Ok(Done::Models(
                    self.values()
                        .iter()
                        .map(|v| model_info(&self.model_ref(v)))
                        .collect(),
                )),
            }]),
            Op::PermissionReply {
                request,
                option,
                client,
            } => {
                let mut out = self.reply(&request, &option, client)?;
                out.push(Output::Done {
                    token,
                    result: Ok(Done::Empty),
                });
                Ok(out)
            }
            Op::Rename { .. } => Ok(vec![Output::Done {
                token,
                result: Ok(Done::Empty),
            }]),
            op @ (Op::Steer { .. }
            | Op::FollowUp { .. }
            | Op::SetThinkingLevel(_)
            | Op::Compact { .. }
            | Op::Fork { .. }) => Err(OpError::unsupported("acp", &op)),
        }
    }

    fn feed(&mut self, line: &str, now: Millis) -> Vec<Output> {
        if self.failed {
            return Vec::new();
        }
        let out = self.feed_line(line, now);
        self.failed = out.iter().any(|o| matches!(o, Output::Failed(_)));
        out
    }

    fn quiet(&mut self, _now: Millis) -> Vec<Output> {
        Vec::new()
    }

    fn stop_lines(&mut self) -> Vec<String> {
        if self.stopping {
            return Vec::new();
        }
        self.stopping = true;
        let mut events = Vec::new();
        let mut lines = self.cancel_asking(&Answerer::Stopped, &mut events);
        if self.turn.is_some() {
            lines.push(acp::notification_line(
                "session/cancel",
                &CancelParams {
                    session_id: self.acp_session(),
                },
            ));
        }
        lines
    }
}

/// The tool and the options of a permission request, in the runner's terms. Options of a
/// kind ACP does not define are left out (a person could not know what they mean).
fn permission_parts(params: RequestPermissionParams) -> (PermissionTool, Vec<PermissionOption>) {
    let call = params.tool_call;
    let kind = call
        .kind
        .as_deref()
        .map_or(ToolKind::Other, ToolKind::from_name);
    let tool = PermissionTool {
        call_id: call.tool_call_id,
        title: call.title.unwrap_or_else(|| kind.as_str().to_owned()),
        kind,
        input: call.raw_input,
    };
    let options = params
        .options
        .into_iter()
        .filter_map(|o| {
            let kind = match o.kind.as_str() {
                "allow_once" => OptionKind::AllowOnce,
                "allow_always" => OptionKind::AllowAlways,
                "reject_once" => OptionKind::RejectOnce,
                "reject_always" => OptionKind::RejectAlways,
                _ => return None,
            };
            Some(PermissionOption {
                id: o.option_id,
                name: o.name,
                kind,
            })
        })
        .collect();
    (tool, options)
}

fn option_values(option: &ConfigOption) -> Vec<String> {
    option
        .options
        .iter()
        .filter_map(|o| o.value.as_str().map(str::to_owned))
        .collect()
}

fn model_info(model: &ModelRef) -> ModelInfo {
    ModelInfo {
        provider: model.provider.clone(),
        id: model.id.clone(),
        name: None,
        context_window: None,
        reasoning: false,
    }
}
