//! The HTTP server: routes, streaming, the request log and the counters behind `GET /stats`.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::Config;
use crate::openai::{
    AssistantMessage, ChatRequest, Chunk, ChunkChoice, ChunkDelta, Completion, CompletionChoice,
    ErrorBody, Function, FunctionDelta, ModelEntry, ModelList, ToolCall, ToolCallDelta,
};
use crate::script::{self, Delta, Pace, Plan, Reply};

/// The largest request body accepted (pi resends the whole conversation every turn).
const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// How long open connections may keep streaming after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Serves the fake LLM on `listener` until `shutdown` completes, then gives open streams up to
/// a second to finish. Tests call this in-process with a `127.0.0.1:0` listener.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let request_log = match &config.request_log {
        Some(path) => Some(tokio::sync::Mutex::new(
            tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
                .with_context(|| format!("opening request log {}", path.display()))?,
        )),
        None => None,
    };
    let app = Arc::new(App {
        config,
        request_log,
        flaky_seen: Mutex::new(HashSet::new()),
        stats: Stats::default(),
    });
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/stats", get(stats))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app);

    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            debug!(%err, "cannot set TCP_NODELAY");
        }
    });
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        info!("shutting down");
        let _ = stopping_tx.send(());
    });
    let grace = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        res = server.into_future() => res.context("serving http")?,
        () = grace => warn!("connections still open after the shutdown grace period; closing them"),
    }
    Ok(())
}

/// Shared state of one server.
#[derive(Debug)]
struct App {
    config: Config,
    request_log: Option<tokio::sync::Mutex<tokio::fs::File>>,
    /// The texts of `flaky:` requests that have failed once already.
    flaky_seen: Mutex<HashSet<String>>,
    stats: Stats,
}

/// Counters, read by `GET /stats`.
#[derive(Debug, Default)]
struct Stats {
    chat_requests: AtomicU64,
    scripted_failures: AtomicU64,
    active_streams: AtomicU64,
    completed_streams: AtomicU64,
    cancelled_streams: AtomicU64,
}

/// The body of `GET /stats`.
#[derive(Debug, Serialize)]
struct StatsBody {
    chat_requests: u64,
    scripted_failures: u64,
    active_streams: u64,
    completed_streams: u64,
    cancelled_streams: u64,
}

async fn stats(State(app): State<Arc<App>>) -> Json<StatsBody> {
    let s = &app.stats;
    Json(StatsBody {
        chat_requests: s.chat_requests.load(Ordering::SeqCst),
        scripted_failures: s.scripted_failures.load(Ordering::SeqCst),
        active_streams: s.active_streams.load(Ordering::SeqCst),
        completed_streams: s.completed_streams.load(Ordering::SeqCst),
        cancelled_streams: s.cancelled_streams.load(Ordering::SeqCst),
    })
}

async fn models() -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: crate::MODELS
            .iter()
            .map(|m| ModelEntry {
                id: m.id,
                object: "model",
                owned_by: "oqto",
            })
            .collect(),
    })
}

async fn not_found(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("oqto-fake-llm has no route {method} {}", uri.path()),
    )
}

fn error_response(status: StatusCode, kind: &'static str, message: String) -> Response {
    (status, Json(ErrorBody::new(kind, message))).into_response()
}

async fn chat(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let n = app.stats.chat_requests.fetch_add(1, Ordering::SeqCst) + 1;
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(err) => {
            warn!(%err, "request body is not JSON");
            return bad_request(format!("request body is not valid JSON: {err}"));
        }
    };
    app.log_request(&value).await;
    let req: ChatRequest = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(err) => {
            warn!(%err, "request is not a chat completion request");
            return bad_request(format!("invalid chat completion request: {err}"));
        }
    };
    if req.messages.is_empty() {
        return bad_request("'messages' must not be empty".into());
    }
    if !req.model.is_empty() && !crate::MODELS.iter().any(|m| m.id == req.model) {
        warn!(model = %req.model, "unknown model; answering anyway");
    }
    let plan = script::plan(&req);
    info!(
        request = n,
        model = %req.model,
        stream = req.stream,
        messages = req.messages.len(),
        tools = req.tools.len(),
        plan = plan_kind(&plan),
        "chat completion"
    );
    let reply = match plan {
        Plan::Reply(reply) => reply,
        Plan::Fail { status } => return app.scripted_failure(status),
        Plan::FailOnce { status, key, then } => {
            let first = app
                .flaky_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key);
            if first {
                return app.scripted_failure(status);
            }
            then
        }
    };
    let id = format!("chatcmpl-{n:012x}");
    let model = if req.model.is_empty() {
        crate::DEFAULT_MODEL
    } else {
        req.model.as_str()
    };
    if req.stream {
        app.stream(&reply, &id, model, req.include_usage())
    } else {
        Json(completion(&reply, &id, model)).into_response()
    }
}

fn bad_request(message: String) -> Response {
    error_response(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

fn plan_kind(plan: &Plan) -> &'static str {
    match plan {
        Plan::Fail { .. } => "fail",
        Plan::FailOnce { .. } => "flaky",
        Plan::Reply(r) if r.pace == Pace::Slow => "slow",
        Plan::Reply(r) if r.tool_call().is_some() => "tool_call",
        Plan::Reply(r) if r.deltas.iter().any(|d| matches!(d, Delta::Reasoning(_))) => "think",
        Plan::Reply(_) => "text",
    }
}

impl App {
    /// Appends the request body to `--log` as one line. A failing log is a warning, not a
    /// failed request.
    async fn log_request(&self, body: &serde_json::Value) {
        let Some(file) = &self.request_log else {
            return;
        };
        let mut line = body.to_string();
        line.push('\n');
        let mut file = file.lock().await;
        let res = async {
            file.write_all(line.as_bytes()).await?;
            file.flush().await
        };
        if let Err(err) = res.await {
            warn!(%err, "cannot write the request log");
        }
    }

    fn scripted_failure(&self, status: u16) -> Response {
        self.stats.scripted_failures.fetch_add(1, Ordering::SeqCst);
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        error_response(
            code,
            "server_error",
            format!("oqto-fake-llm scripted failure {status}"),
        )
    }

    /// A `text/event-stream` response that sends the reply's chunks with the configured pauses.
    /// Dropping the body (the client went away) stops it at once.
    fn stream(self: &Arc<Self>, reply: &Reply, id: &str, model: &str, usage: bool) -> Response {
        let pause = match reply.pace {
            Pace::Normal => self.config.delay,
            Pace::Slow => self.config.slow_delay,
        };
        let steps = sse_steps(reply, id, model, usage, pause);
        self.stats.active_streams.fetch_add(1, Ordering::SeqCst);
        let guard = StreamGuard {
            app: Arc::clone(self),
            id: id.to_owned(),
            finished: false,
        };
        let body = futures_util::stream::unfold((steps, guard), |(mut steps, mut guard)| async {
            let (pause, bytes) = steps.pop_front()?;
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if steps.is_empty() {
                guard.finished = true;
            }
            Some((Ok::<_, Infallible>(bytes), (steps, guard)))
        });
        (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(body),
        )
            .into_response()
    }
}

/// Counts a stream as completed or cancelled when its body is dropped.
#[derive(Debug)]
struct StreamGuard {
    app: Arc<App>,
    id: String,
    finished: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let stats = &self.app.stats;
        stats.active_streams.fetch_sub(1, Ordering::SeqCst);
        if self.finished {
            stats.completed_streams.fetch_add(1, Ordering::SeqCst);
            debug!(id = %self.id, "stream completed");
        } else {
            stats.cancelled_streams.fetch_add(1, Ordering::SeqCst);
            info!(id = %self.id, "stream cancelled: the client went away");
        }
    }
}

fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `data:` events of a streamed reply, each with the pause before it: the role chunk, one
/// chunk per delta, the `finish_reason` chunk, the usage chunk when asked for, and `[DONE]`.
fn sse_steps(
    reply: &Reply,
    id: &str,
    model: &str,
    include_usage: bool,
    pause: Duration,
) -> VecDeque<(Duration, Bytes)> {
    let created = unix_time();
    let chunk = |delta: ChunkDelta, finish_reason: Option<&'static str>| Chunk {
        id,
        object: "chat.completion.chunk",
        created,
        model,
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason,
        }],
        usage: None,
    };
    let event = |chunk: &Chunk<'_>| {
        // Plain structs of strings and numbers: serializing cannot fail.
        let json = serde_json::to_string(chunk).unwrap_or_default();
        Bytes::from(format!("data: {json}\n\n"))
    };

    let mut steps = VecDeque::with_capacity(reply.deltas.len() + 4);
    let role = ChunkDelta {
        role: Some("assistant"),
        content: Some(String::new()),
        ..ChunkDelta::default()
    };
    steps.push_back((Duration::ZERO, event(&chunk(role, None))));
    for delta in &reply.deltas {
        steps.push_back((pause, event(&chunk(chunk_delta(delta), None))));
    }
    let finish = chunk(ChunkDelta::default(), Some(reply.finish_reason().as_str()));
    steps.push_back((Duration::ZERO, event(&finish)));
    if include_usage {
        let usage = Chunk {
            choices: Vec::new(),
            usage: Some(reply.usage),
            ..chunk(ChunkDelta::default(), None)
        };
        steps.push_back((Duration::ZERO, event(&usage)));
    }
    steps.push_back((Duration::ZERO, Bytes::from_static(b"data: [DONE]\n\n")));
    steps
}

fn chunk_delta(delta: &Delta) -> ChunkDelta {
    match delta {
        Delta::Reasoning(s) => ChunkDelta {
            reasoning_content: Some(s.clone()),
            ..ChunkDelta::default()
        },
        Delta::Content(s) => ChunkDelta {
            content: Some(s.clone()),
            ..ChunkDelta::default()
        },
        Delta::ToolCallStart { id, name } => ChunkDelta {
            tool_calls: Some(vec![ToolCallDelta {
                index: 0,
                id: Some(id.clone()),
                kind: Some("function"),
                function: FunctionDelta {
                    name: Some(name.clone()),
                    arguments: Some(String::new()),
                },
            }]),
            ..ChunkDelta::default()
        },
        Delta::ToolCallArguments(s) => ChunkDelta {
            tool_calls: Some(vec![ToolCallDelta {
                index: 0,
                id: None,
                kind: None,
                function: FunctionDelta {
                    name: None,
                    arguments: Some(s.clone()),
                },
            }]),
            ..ChunkDelta::default()
        },
    }
}

/// The whole reply as one `chat.completion` object.
fn completion<'a>(reply: &Reply, id: &'a str, model: &'a str) -> Completion<'a> {
    let text = reply.text();
    let reasoning = reply.reasoning();
    let tool_calls = reply
        .tool_call()
        .map(|(id, name, arguments)| ToolCall {
            id,
            kind: "function",
            function: Function { name, arguments },
        })
        .into_iter()
        .collect::<Vec<_>>();
    Completion {
        id,
        object: "chat.completion",
        created: unix_time(),
        model,
        choices: vec![CompletionChoice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                tool_calls,
            },
            finish_reason: reply.finish_reason().as_str(),
        }],
        usage: reply.usage,
    }
}
