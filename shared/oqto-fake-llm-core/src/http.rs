//! The HTTP server: routes, streaming, the request log and the counters behind `GET /stats`.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::Config;
use crate::openai::{ModelEntry, ModelList};
use crate::script::{self, Delta, Pace, Plan, Reply};
use crate::wire::{Api, Ctx, ErrorKind, Event, Request};

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
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_anthropic_tokens))
        .route("/v1/responses", post(responses))
        .route("/v1beta/models/{model_method}", post(gemini))
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
    let message = format!("oqto-fake-llm has no route {method} {}", uri.path());
    let api = if uri.path().starts_with("/v1beta/") {
        Api::Gemini
    } else {
        Api::ChatCompletions
    };
    (
        StatusCode::NOT_FOUND,
        Json(api.error_body(404, ErrorKind::Invalid, &message)),
    )
        .into_response()
}

async fn chat(State(app): State<Arc<App>>, body: Bytes) -> Response {
    app.answer(Api::ChatCompletions, &body, None).await
}

async fn messages(State(app): State<Arc<App>>, body: Bytes) -> Response {
    app.answer(Api::Messages, &body, None).await
}

async fn responses(State(app): State<Arc<App>>, body: Bytes) -> Response {
    app.answer(Api::Responses, &body, None).await
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}`, counted like a reply's usage.
async fn count_anthropic_tokens(State(app): State<Arc<App>>, body: Bytes) -> Response {
    app.count_tokens(
        Api::Messages,
        &body,
        |n| serde_json::json!({"input_tokens": n}),
    )
    .await
}

/// `POST /v1beta/models/<model>:<method>`: Gemini's `generateContent`,
/// `streamGenerateContent` (server-sent events with `alt=sse`, else one JSON array) and
/// `countTokens`.
async fn gemini(
    State(app): State<Arc<App>>,
    Path(model_method): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some((model, method)) = model_method.rsplit_once(':') else {
        return error(
            Api::Gemini,
            StatusCode::NOT_FOUND,
            ErrorKind::Invalid,
            &format!("oqto-fake-llm: expected models/<model>:<method>, got models/{model_method}"),
        );
    };
    let sse = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
    let how = match method {
        "generateContent" => GeminiCall::Whole,
        "streamGenerateContent" if sse => GeminiCall::Sse,
        "streamGenerateContent" => GeminiCall::JsonArray,
        "countTokens" => {
            return app
                .count_tokens(
                    Api::Gemini,
                    &body,
                    |n| serde_json::json!({"totalTokens": n}),
                )
                .await;
        }
        other => {
            return error(
                Api::Gemini,
                StatusCode::NOT_FOUND,
                ErrorKind::Invalid,
                &format!("oqto-fake-llm has no Gemini method {other:?}"),
            );
        }
    };
    app.answer(Api::Gemini, &body, Some((model.to_owned(), how)))
        .await
}

/// How a Gemini call wants its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GeminiCall {
    Whole,
    Sse,
    JsonArray,
}

fn error(api: Api, status: StatusCode, kind: ErrorKind, message: &str) -> Response {
    (status, Json(api.error_body(status.as_u16(), kind, message))).into_response()
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

    /// Reads a request of `api`, plans the reply with the script and sends it in that API's
    /// shape. `gemini` carries the model and the reply form from a Gemini URL.
    async fn answer(
        self: &Arc<Self>,
        api: Api,
        body: &[u8],
        gemini: Option<(String, GeminiCall)>,
    ) -> Response {
        let n = self.stats.chat_requests.fetch_add(1, Ordering::SeqCst) + 1;
        let mut req = match self.read(api, body).await {
            Ok(req) => req,
            Err(response) => return *response,
        };
        let mut gemini_call = None;
        if let Some((model, how)) = gemini {
            req.model = model;
            req.stream = how != GeminiCall::Whole;
            gemini_call = Some(how);
        }
        if !req.model.is_empty() && !crate::MODELS.iter().any(|m| m.id == req.model) {
            debug!(model = %req.model, "a model this server does not list; answering anyway");
        }
        let plan = script::plan(&req.turns);
        info!(
            request = n,
            api = api.name(),
            model = %req.model,
            stream = req.stream,
            messages = req.turns.len(),
            tools = req.tools,
            plan = plan_kind(&plan),
            "model request"
        );
        let reply = match plan {
            Plan::Reply(reply) => reply,
            Plan::Fail { status } => return self.scripted_failure(api, status),
            Plan::FailOnce { status, key, then } => {
                let first = self
                    .flaky_seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(key);
                if first {
                    return self.scripted_failure(api, status);
                }
                then
            }
        };
        let id = api.response_id(n);
        let model = if req.model.is_empty() {
            crate::DEFAULT_MODEL
        } else {
            req.model.as_str()
        };
        let ctx = Ctx {
            id: &id,
            model,
            created: unix_time(),
        };
        match gemini_call {
            Some(GeminiCall::JsonArray) => {
                Json(crate::gemini::stream_responses(&reply, ctx)).into_response()
            }
            _ if req.stream => self.stream(&reply, api.events(&reply, ctx, &req), &id),
            _ => Json(api.whole(&reply, ctx)).into_response(),
        }
    }

    /// The body as JSON (logged) and as a request of `api`, or the error response.
    async fn read(&self, api: Api, body: &[u8]) -> Result<Request, Box<Response>> {
        let value: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(err) => {
                warn!(%err, api = api.name(), "request body is not JSON");
                return Err(Box::new(error(
                    api,
                    StatusCode::BAD_REQUEST,
                    ErrorKind::Invalid,
                    &format!("request body is not valid JSON: {err}"),
                )));
            }
        };
        self.log_request(&value).await;
        api.parse(value).map_err(|message| {
            warn!(%message, api = api.name(), "invalid request");
            Box::new(error(
                api,
                StatusCode::BAD_REQUEST,
                ErrorKind::Invalid,
                &message,
            ))
        })
    }

    /// A token count of a request's conversation: about a quarter of its characters.
    async fn count_tokens(
        &self,
        api: Api,
        body: &[u8],
        shape: impl FnOnce(u64) -> serde_json::Value,
    ) -> Response {
        match self.read(api, body).await {
            Ok(req) => Json(shape(script::count_tokens(&req.turns))).into_response(),
            Err(response) => *response,
        }
    }

    fn scripted_failure(&self, api: Api, status: u16) -> Response {
        self.stats.scripted_failures.fetch_add(1, Ordering::SeqCst);
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        error(
            api,
            code,
            ErrorKind::Scripted,
            &format!("oqto-fake-llm scripted failure {status}"),
        )
    }

    /// A `text/event-stream` response that sends the events with the configured pause before
    /// each paced one. Dropping the body (the client went away) stops it at once.
    fn stream(self: &Arc<Self>, reply: &Reply, events: Vec<Event>, id: &str) -> Response {
        let pause = match reply.pace {
            Pace::Normal => self.config.delay,
            Pace::Slow => self.config.slow_delay,
        };
        let steps: VecDeque<(Duration, Bytes)> = events
            .into_iter()
            .map(|e| {
                let before = if e.paced { pause } else { Duration::ZERO };
                (before, Bytes::from(e.bytes))
            })
            .collect();
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
