//! The HTTP side: the router, `/healthz`, `/login` (a one-time link, or a password),
//! `/logout`, the WebSocket upgrade at `/ws` (authenticated and origin-checked before any
//! channel opens) and the web UI's files; and [`Relay`], the server a test or `main`
//! starts on a listener it chose, over plain HTTP or TLS.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oqto_client::{RawClient, Runner};
use oqto_protocol::{LoginError, LoginErrorCode, LoginOk, LoginRequest};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::auth::{self, Credential};
use crate::config::RelayConfig;
use crate::limit::LoginLimits;
use crate::local::StateFile;
use crate::store::{SessionLimits, Store};
use crate::tls::Incoming;
use crate::{password, ui, ws};

/// Password checks at once: each takes argon2's 19 MiB and some CPU, so a flood of logins
/// waits here instead of taking the machine's memory.
const PASSWORD_CHECKS: usize = 2;

/// The longest user name `POST /login` takes, in bytes.
const MAX_NAME: usize = 256;

/// Everything the relay needs, resolved by `run` (or a test).
#[derive(Debug)]
pub struct Setup {
    pub config: RelayConfig,
    /// The user's runner (started on demand when `autostart`).
    pub runner: Runner,
    /// The `SQLite` file of sessions and tokens.
    pub store: PathBuf,
    /// `relay.json`: where this relay announces its address and pid.
    pub state_file: PathBuf,
}

/// Shared by every request.
#[derive(Debug)]
pub struct AppState {
    pub config: RelayConfig,
    pub runner: Runner,
    pub user: String,
    store: Arc<Mutex<Store>>,
    pub shutdown: watch::Receiver<bool>,
    /// Held by every WebSocket task; the relay waits for all to drop it before it exits.
    pub connections: mpsc::Sender<()>,
    /// Whether the relay serves TLS itself.
    pub tls: bool,
    login_limits: Mutex<LoginLimits>,
    password_checks: Semaphore,
}

impl AppState {
    /// Runs `f` on the store, off the async runtime.
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> rusqlite::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let store = store
                .lock()
                .map_err(|_| anyhow::anyhow!("store lock poisoned"))?;
            f(&store).context("the relay's store")
        })
        .await?
    }

    /// Whether the browser reached us over TLS (ours, or a proxy's that says so).
    fn secure(&self, headers: &HeaderMap) -> bool {
        self.tls || auth::over_tls(headers)
    }

    fn limits(&self) -> SessionLimits {
        SessionLimits {
            idle: self.config.session_idle,
            lifetime: self.config.session_lifetime,
        }
    }
}

/// A bound relay, before it serves.
#[derive(Debug)]
pub struct Relay {
    listener: Incoming,
    state: AppState,
    state_file: StateFile,
    stop: watch::Sender<bool>,
    done: mpsc::Receiver<()>,
    /// `http://ADDR`, or `https://ADDR` under TLS.
    pub url: String,
    /// A one-time link that logs a browser in.
    pub login_url: String,
}

impl Relay {
    /// Reads the TLS certificate and key (if any), opens the store, makes the first login
    /// link and writes `relay.json`.
    pub async fn bind(listener: TcpListener, setup: Setup) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let acceptor = setup
            .config
            .tls
            .as_ref()
            .map(crate::tls::acceptor)
            .transpose()?;
        let tls = acceptor.is_some();
        if !tls && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "listening on a non-loopback address without TLS: cookies, tokens and passwords cross the network in clear text; use --tls-cert/--tls-key or a reverse proxy with TLS (docs/relay.md)"
            );
        }
        let url = format!("{}://{addr}", if tls { "https" } else { "http" });
        let listener = Incoming::new(listener, acceptor)?;
        let store_path = setup.store.clone();
        let ttl = setup.config.login_link_ttl;
        let (store, secret) = tokio::task::spawn_blocking(move || {
            let store = Store::open(&store_path)
                .with_context(|| format!("opening {}", store_path.display()))?;
            let secret = store.create_login(ttl).context("creating a login link")?;
            password::prepare();
            anyhow::Ok((store, secret))
        })
        .await??;
        let login_url = format!("{url}/login?token={secret}");
        let state_file = StateFile::write(&setup.state_file, &url, &login_url, &setup.config)?;
        let (stop, shutdown) = watch::channel(false);
        let (connections, done) = mpsc::channel(1);
        let user = crate::account_name();
        Ok(Self {
            listener,
            state: AppState {
                config: setup.config,
                runner: setup.runner,
                user,
                store: Arc::new(Mutex::new(store)),
                shutdown,
                connections,
                tls,
                login_limits: Mutex::new(LoginLimits::default()),
                password_checks: Semaphore::new(PASSWORD_CHECKS),
            },
            state_file,
            stop,
            done,
            url,
            login_url,
        })
    }

    /// Serves until `shutdown` completes, then closes every WebSocket (waiting up to
    /// 5 s for them) and removes `relay.json`.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            state_file,
            stop,
            mut done,
            ..
        } = self;
        let app = router(Arc::new(state));
        // `tap_io` (doing nothing) gives a listener of our own the peer address as
        // `ConnectInfo<SocketAddr>`, as axum does for a `TcpListener`. (`TCP_NODELAY` is set
        // by that listener, before a TLS handshake.)
        let result = axum::serve(
            axum::serve::ListenerExt::tap_io(listener, |_| {}),
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("stopping: closing every websocket");
            let _ = stop.send(true);
        })
        .await;
        // Every WebSocket task holds a sender; `None` once all have ended.
        let _ = tokio::time::timeout(Duration::from_secs(5), done.recv()).await;
        state_file.remove();
        result.context("serving")
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/login", get(login).post(password_login))
        .route("/logout", post(logout))
        .route("/ws", get(upgrade))
        .fallback(get(ui::serve))
        .with_state(state)
}

#[derive(Serialize)]
struct Health {
    /// Whether the runner answered.
    runner: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    runner_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// 200 when the runner answers a handshake, else 503; never starts a runner.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let probe = tokio::time::timeout(
        Duration::from_secs(3),
        RawClient::connect(state.runner.socket(), "oqto-relay/healthz"),
    )
    .await;
    let (status, health) = match probe {
        Ok(Ok(client)) => {
            let version = oqto_protocol::ServerMessage::parse(&client.welcome)
                .ok()
                .and_then(|m| match m {
                    oqto_protocol::ServerMessage::Welcome(w) => Some(w.version),
                    _ => None,
                });
            (
                StatusCode::OK,
                Health {
                    runner: true,
                    runner_version: version,
                    error: None,
                },
            )
        }
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Health {
                runner: false,
                runner_version: None,
                error: Some(e.to_string()),
            },
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Health {
                runner: false,
                runner_version: None,
                error: Some("the runner did not answer within 3s".into()),
            },
        ),
    };
    (status, axum::Json(health)).into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// Opens a one-time login link: sets the session cookie and redirects to `/`, so the
/// token leaves the address bar (and the browser's history of it is a dead link). Without
/// a token: the web UI's login page, or (no UI built) a plain password form.
async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(query): Query<LoginQuery>,
) -> Response {
    let Some(secret) = query.token.filter(|t| !t.is_empty()) else {
        if ui::built() {
            return ui::serve(uri).await;
        }
        return ui::login_form(&state.user);
    };
    let created = state
        .with_store(move |store| {
            if store.take_login(&secret)? {
                store.create_session().map(Some)
            } else {
                Ok(None)
            }
        })
        .await;
    match created {
        Ok(Some(id)) => {
            tracing::info!("a browser logged in with a login link");
            let cookie = auth::set_cookie(
                &id,
                state.config.session_lifetime.as_secs(),
                state.secure(&headers),
            );
            to_the_page(cookie)
        }
        Ok(None) => refused(
            StatusCode::FORBIDDEN,
            "this login link was used already or has expired: run `oqtoctl web` for a new one",
        ),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "login failed");
            refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the relay could not log you in; see its log",
            )
        }
    }
}

/// A login that worked, from a link or a form: the cookie, and off to the page.
fn to_the_page(cookie: String) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, cookie),
            (LOCATION, "/".to_owned()),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

/// Ends the login session of the cookie and removes the cookie.
async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(id) = auth::session_cookie(&headers).map(str::to_owned) {
        if let Err(e) = state
            .with_store(move |store| store.delete_session(&id))
            .await
        {
            tracing::error!(error = %format!("{e:#}"), "logout failed");
            return refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "logout failed; see the relay's log",
            );
        }
    }
    (
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, auth::clear_cookie()),
            (LOCATION, "/".to_owned()),
        ],
    )
        .into_response()
}

/// Which credential `headers` carry, if a valid one.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> anyhow::Result<Option<Credential>> {
    if let Some(token) = auth::bearer(headers).map(str::to_owned) {
        let ok = state.with_store(move |s| s.check_token(&token)).await?;
        return Ok(ok.then_some(Credential::Token));
    }
    if let Some(id) = auth::session_cookie(headers).map(str::to_owned) {
        let limits = state.limits();
        let ok = state
            .with_store(move |s| s.check_session(&id, limits))
            .await?;
        return Ok(ok.then_some(Credential::Cookie));
    }
    Ok(None)
}

/// What a WebSocket reads at a time, and what an idle one keeps allocated for reading
/// (the WebSocket layer's default is 128 KiB, twice the per-connection budget).
const READ_BUFFER: usize = 16 * 1024;

/// The WebSocket upgrade: refused with 403 unless authenticated and from an acceptable
/// origin.
async fn upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let credential = match authenticate(&state, &headers).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            tracing::info!("refused a websocket without a valid cookie or token");
            return refused(
                StatusCode::FORBIDDEN,
                "log in first (a login link, or an API token)",
            );
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot check credentials");
            return refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot check credentials",
            );
        }
    };
    if !auth::origin_ok(
        &headers,
        &state.config.allowed_origins,
        credential,
        state.tls,
    ) {
        tracing::warn!(origin = ?headers.get("origin"), "refused a websocket from a foreign origin");
        return refused(
            StatusCode::FORBIDDEN,
            "this origin may not open a websocket here",
        );
    }
    // Frames past the configured limit are answered `too_large`; only frames far past it
    // (4x) are refused by the WebSocket layer, which closes the connection.
    let hard = state.config.max_frame.saturating_mul(4);
    ws.max_message_size(hard)
        .max_frame_size(hard)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("ws", %peer, ?credential);
            tracing::Instrument::instrument(ws::serve(socket, state), span)
        })
}

fn refused(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// A failed password login, as JSON with its status.
fn login_error(code: LoginErrorCode, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = LoginError {
        error: code,
        message: message.into(),
        retry_after: None,
    };
    (status, [(CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// The body of `POST /login`: JSON, or a form; `None` if it is neither.
fn login_body(headers: &HeaderMap, body: &[u8]) -> Option<(LoginRequest, bool)> {
    let kind = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())?;
    match kind.as_str() {
        "application/json" => serde_json::from_slice(body).ok().map(|r| (r, false)),
        "application/x-www-form-urlencoded" => {
            serde_urlencoded::from_bytes(body).ok().map(|r| (r, true))
        }
        _ => None,
    }
}

/// `POST /login` with a name and password (see [`oqto_protocol::login`]): rate-limited per
/// client IP and per name, checked against the argon2id hash, answered with the same
/// session cookie as a login link.
async fn password_login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A page elsewhere must not log the browser in to this relay (login CSRF).
    if headers.contains_key(axum::http::header::ORIGIN)
        && !auth::origin_ok(
            &headers,
            &state.config.allowed_origins,
            Credential::Token,
            state.tls,
        )
    {
        return login_error(
            LoginErrorCode::ForeignOrigin,
            "this origin may not log in here",
        );
    }
    let Some((request, form)) = login_body(&headers, &body) else {
        return login_error(
            LoginErrorCode::BadRequest,
            "send {\"name\",\"password\"} as JSON or as a form",
        );
    };
    // Names are keys of the rate limit's table: bounded, so is its memory.
    if request.name.len() > MAX_NAME || request.password.len() > password::MAX_LEN {
        return login_error(
            LoginErrorCode::BadRequest,
            format!(
                "a name has at most {MAX_NAME} bytes, a password at most {}",
                password::MAX_LEN
            ),
        );
    }
    let attempt = state.login_limits.lock().map_or(Ok(()), |mut l| {
        l.attempt(peer.ip(), &request.name, Instant::now())
    });
    if let Err(wait) = attempt {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        // Debug only: a flood must not flood the log as well.
        tracing::debug!(%peer, name = %request.name.escape_debug(), "login rate limit");
        let body = LoginError {
            error: LoginErrorCode::RateLimited,
            message: format!("too many login attempts; try again in {secs}s"),
            retry_after: Some(secs),
        };
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    let name = request.name.clone();
    let stored = state
        .with_store(move |s| Ok((s.has_passwords()?, s.password_hash(&name)?)))
        .await;
    let stored = match stored {
        Ok((false, _)) => {
            return login_error(
                LoginErrorCode::PasswordLoginOff,
                "no password is set, so password login is off: set one with `oqtoctl password`, or log in with a link from `oqtoctl web`",
            );
        }
        Ok((true, stored)) => stored,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "password login failed");
            return login_error(LoginErrorCode::Internal, "see the relay's log");
        }
    };
    let Ok(_slot) = state.password_checks.acquire().await else {
        return login_error(LoginErrorCode::Internal, "the relay is stopping");
    };
    let password = request.password;
    let ok = tokio::task::spawn_blocking(move || password::verify(stored.as_deref(), &password))
        .await
        .unwrap_or(false);
    if !ok {
        tracing::info!(%peer, name = %request.name.escape_debug(), "a password login failed");
        return login_error(LoginErrorCode::InvalidCredentials, "wrong name or password");
    }
    let created = state.with_store(Store::create_session).await;
    let id = match created {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "password login failed");
            return login_error(LoginErrorCode::Internal, "see the relay's log");
        }
    };
    tracing::info!(%peer, name = %request.name.escape_debug(), "logged in with a password");
    let cookie = auth::set_cookie(
        &id,
        state.config.session_lifetime.as_secs(),
        state.secure(&headers),
    );
    if form {
        return to_the_page(cookie);
    }
    (
        StatusCode::OK,
        [(SET_COOKIE, cookie), (CACHE_CONTROL, "no-store".to_owned())],
        axum::Json(LoginOk { user: request.name }),
    )
        .into_response()
}
