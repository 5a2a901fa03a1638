//! Password login: `oqto-relay password`, `POST /login` (JSON and form), the cookie it
//! sets opening `/ws`, wrong credentials, the rate limit, and no password at all.

use serde_json::Value;

use crate::support::{Relay, header};

const PASSWORD: &str = "correct horse battery";

fn account() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name)
}

fn set_password(relay: &Relay, password: &str) {
    let out = relay.run_with_input(&["password"], &format!("{password}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_login(name: &str, password: &str) -> String {
    serde_json::json!({"name": name, "password": password}).to_string()
}

fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response}"))
}

fn body(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

async fn login_from(relay: &Relay, from: &str, name: &str, password: &str) -> String {
    relay
        .post(
            from,
            "/login",
            "application/json",
            &json_login(name, password),
            &[],
        )
        .await
}

#[tokio::test]
async fn a_password_login_sets_the_cookie_that_opens_the_websocket() {
    let relay = Relay::start();
    set_password(&relay, PASSWORD);
    let user = account();

    let ok = login_from(&relay, "127.0.0.1", &user, PASSWORD).await;
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(body(&ok)["user"], user.as_str());
    let cookie = header(&ok, "set-cookie").expect("a cookie");
    assert!(cookie.starts_with("oqto_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let origin = relay.url.clone();
    let mut ws = relay
        .ws(&[("cookie", &cookie), ("origin", &origin)])
        .await
        .expect("the password's cookie opens /ws");
    assert_eq!(ws.hello().await["user"], user.as_str());

    // A form post gets the same cookie and goes to the page.
    let form = relay
        .post(
            "127.0.0.1",
            "/login",
            "application/x-www-form-urlencoded",
            &format!("name={user}&password=correct+horse+battery"),
            &[],
        )
        .await;
    assert_eq!(status(&form), 303, "{form}");
    assert_eq!(header(&form, "location").as_deref(), Some("/"));
    assert!(header(&form, "set-cookie").is_some());

    // Changing the password ends the old one's use.
    set_password(&relay, "another password");
    let old = login_from(&relay, "127.0.0.1", &user, PASSWORD).await;
    assert_eq!(status(&old), 401, "{old}");
}

#[tokio::test]
async fn wrong_credentials_get_401_and_never_say_which_part_was_wrong() {
    let relay = Relay::start();
    set_password(&relay, PASSWORD);
    let user = account();
    let wrong_password = login_from(&relay, "127.0.0.1", &user, "not the password").await;
    let wrong_name = login_from(&relay, "127.0.0.1", "nobody-here", PASSWORD).await;
    for response in [&wrong_password, &wrong_name] {
        assert_eq!(status(response), 401, "{response}");
        assert!(header(response, "set-cookie").is_none());
        let body = body(response);
        assert_eq!(body["error"], "invalid_credentials");
        assert_eq!(body["message"], "wrong name or password");
    }
    let bad = relay
        .post("127.0.0.1", "/login", "text/plain", "hello", &[])
        .await;
    assert_eq!(status(&bad), 400, "{bad}");
    assert_eq!(body(&bad)["error"], "bad_request");
    let long_name = login_from(&relay, "127.0.0.1", &"x".repeat(257), PASSWORD).await;
    assert_eq!(status(&long_name), 400, "{long_name}");
    let foreign = relay
        .post(
            "127.0.0.1",
            "/login",
            "application/json",
            &json_login(&user, PASSWORD),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(status(&foreign), 403, "{foreign}");
    assert_eq!(body(&foreign)["error"], "foreign_origin");
}

#[tokio::test]
async fn a_login_flood_gets_429_per_address_and_per_name() {
    let relay = Relay::start();
    set_password(&relay, PASSWORD);
    let user = account();

    // Per name: five attempts for one name, from one address...
    for _ in 0..5 {
        let r = login_from(&relay, "127.0.0.2", &user, "guess").await;
        assert_eq!(status(&r), 401, "{r}");
    }
    let limited = login_from(&relay, "127.0.0.2", &user, PASSWORD).await;
    assert_eq!(status(&limited), 429, "even the right password: {limited}");
    let retry: u64 = header(&limited, "retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "{limited}");
    let body = body(&limited);
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["retry_after"], retry);
    // ...and the name stays limited from another address, while other names are not.
    let elsewhere = login_from(&relay, "127.0.0.3", &user, PASSWORD).await;
    assert_eq!(status(&elsewhere), 429, "{elsewhere}");
    let other_name = login_from(&relay, "127.0.0.3", "someone-else", PASSWORD).await;
    assert_eq!(status(&other_name), 401, "{other_name}");

    // Per address: ten attempts with ten names, then the eleventh name is refused.
    for i in 0..10 {
        let r = login_from(&relay, "127.0.0.4", &format!("spray{i}"), "guess").await;
        assert_eq!(status(&r), 401, "{r}");
    }
    let sprayed = login_from(&relay, "127.0.0.4", "spray10", "guess").await;
    assert_eq!(status(&sprayed), 429, "{sprayed}");
    assert!(header(&sprayed, "retry-after").is_some());
    let other_address = login_from(&relay, "127.0.0.5", "spray11", "guess").await;
    assert_eq!(status(&other_address), 401, "{other_address}");
}

#[tokio::test]
async fn without_a_password_login_is_refused_clearly() {
    let relay = Relay::start();
    let refused = login_from(&relay, "127.0.0.1", &account(), PASSWORD).await;
    assert_eq!(status(&refused), 403, "{refused}");
    let body = body(&refused);
    assert_eq!(body["error"], "password_login_off");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("oqtoctl password"),
        "{body}"
    );

    // Passwords that are not taken change nothing.
    let short = relay.run_with_input(&["password"], "short\n");
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));
    let empty = relay.run_with_input(&["password"], "");
    assert_eq!(empty.status.code(), Some(2));
    let stranger = relay.run_with_input(&["password", "--name", "someone-else"], "long enough\n");
    assert_eq!(stranger.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&stranger.stderr).contains("local mode has one user"),
        "{}",
        String::from_utf8_lossy(&stranger.stderr)
    );
    let still = login_from(&relay, "127.0.0.1", &account(), "long enough").await;
    assert_eq!(status(&still), 403, "{still}");

    // The page to log in at: the UI's own when one is built, else a plain form.
    let page = relay.get("/login", &[]).await;
    assert_eq!(status(&page), 200, "{page}");
    let ui_built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../frontend/dist/index.html")
        .exists();
    if !ui_built {
        assert!(
            page.contains("<form method=\"post\" action=\"/login\">"),
            "{page}"
        );
        assert!(page.contains("type=\"password\""), "{page}");
    }
}
