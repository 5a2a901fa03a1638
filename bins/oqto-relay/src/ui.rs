//! The web UI's files: `frontend/dist`, embedded in release builds and read from the
//! folder in debug builds (rust-embed does both). Unknown paths get `index.html`, so the
//! page's own routes survive a reload. Without a built UI, `/` is a short page saying how
//! to build it.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
// Relative to the crate (rust-embed does not expand `$VARS` without a feature).
#[folder = "../../frontend/dist"]
#[allow_missing = true]
struct Dist;

/// The page served when no UI was built.
pub const NO_UI: &str = "<!doctype html>
<meta charset=\"utf-8\"><title>Oqto</title>
<h1>Oqto relay</h1>
<p>The relay is running, but this build has no web UI.</p>
<p>Build it with <code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>, then
reload this page (a debug build reads <code>frontend/dist</code>; rebuild a release build
to embed it).</p>
";

/// Whether a web UI was built (it then has its own login page).
pub fn built() -> bool {
    Dist::get("index.html").is_some()
}

/// The password form served at `GET /login` when no UI is built; it posts to `/login`
/// (see `oqto_protocol::login`).
pub fn login_form(user: &str) -> Response {
    let user: String = user
        .chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let page = format!(
        "<!doctype html>
<meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Oqto: log in</title>
<h1>Log in to Oqto</h1>
<form method=\"post\" action=\"/login\">
<p><label>Name <input name=\"name\" value=\"{user}\" autocomplete=\"username\" required></label></p>
<p><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required autofocus></label></p>
<p><button>Log in</button></p>
</form>
<p>No password yet? Set one with <code>oqtoctl password</code>, or log in with the link
<code>oqtoctl web</code> prints.</p>
"
    );
    (StatusCode::OK, [(CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(file) = Dist::get(path) {
        return file_response(path, file);
    }
    // A page route (no file extension) gets the app; a missing asset is a 404.
    let is_asset = path
        .rsplit('/')
        .next()
        .is_some_and(|name| name.contains('.'));
    if !is_asset || path == "index.html" {
        return match Dist::get("index.html") {
            Some(index) => file_response("index.html", index),
            None => (StatusCode::OK, [(CACHE_CONTROL, "no-store")], Html(NO_UI)).into_response(),
        };
    }
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

fn file_response(path: &str, file: rust_embed::EmbeddedFile) -> Response {
    let mime = file.metadata.mimetype().to_owned();
    // Vite names assets by their hash: they never change; index.html always may.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [(CONTENT_TYPE, mime), (CACHE_CONTROL, cache.to_owned())],
        file.data.into_owned(),
    )
        .into_response()
}
