//! Who gets in: login links, cookies, API tokens, and the origin check. Every refusal
//! happens at the upgrade, with 403, before any channel opens.

use crate::support::{Relay, header, refusal_status};

#[tokio::test]
async fn a_login_link_sets_a_strict_http_only_cookie_and_works_once() {
    let relay = Relay::start();
    let path = relay.login_url.trim_start_matches(&relay.url).to_owned();
    let first = relay.get(&path, &[]).await;
    assert!(first.starts_with("HTTP/1.1 303"), "{first}");
    let cookie = header(&first, "set-cookie").unwrap();
    assert!(cookie.starts_with("oqto_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("oqto_session=");
    assert_eq!(id.len(), 64, "256 bits, hex");
    let again = relay.get(&path, &[]).await;
    assert!(again.starts_with("HTTP/1.1 403"), "{again}");
    // Behind a TLS proxy the cookie is Secure.
    let link = relay.run(&["link"]);
    assert!(link.status.success());
    let fresh = String::from_utf8(link.stdout).unwrap();
    let fresh = fresh.trim().trim_start_matches(&relay.url);
    let proxied = relay.get(fresh, &[("x-forwarded-proto", "https")]).await;
    assert!(
        header(&proxied, "set-cookie").unwrap().contains("; Secure"),
        "{proxied}"
    );
}

#[tokio::test]
async fn upgrades_without_valid_credentials_or_from_a_foreign_origin_get_403() {
    let relay = Relay::start();
    let origin = relay.url.clone();
    // Nothing at all.
    assert_eq!(refusal_status(relay.ws(&[("origin", &origin)]).await), 403);
    // A made-up cookie and a made-up token.
    let fake = format!("oqto_session={}", "0".repeat(64));
    assert_eq!(
        refusal_status(relay.ws(&[("cookie", &fake), ("origin", &origin)]).await),
        403
    );
    assert_eq!(
        refusal_status(relay.ws(&[("authorization", "Bearer oqto_nope")]).await),
        403
    );
    // A real cookie from another site's page, or without any Origin.
    let cookie = relay.login().await;
    assert_eq!(
        refusal_status(
            relay
                .ws(&[("cookie", &cookie), ("origin", "https://evil.example")])
                .await
        ),
        403
    );
    assert_eq!(refusal_status(relay.ws(&[("cookie", &cookie)]).await), 403);
    // The same cookie from the relay's own origin is let in.
    let ws = relay.ws(&[("cookie", &cookie), ("origin", &origin)]).await;
    assert!(ws.is_ok(), "{:?}", ws.err());
}

#[tokio::test]
async fn api_tokens_work_until_revoked_or_expired() {
    let relay = Relay::start();
    let token = relay.token(&["--name", "laptop"]);
    assert!(token.starts_with("oqto_"), "{token}");
    let bearer = format!("Bearer {token}");
    // A non-browser client sends no Origin; a token is enough.
    let mut ws = relay
        .ws(&[("authorization", &bearer)])
        .await
        .expect("token accepted");
    let welcome = ws.hello().await;
    assert_eq!(welcome["runner"]["server"], "oqto-runner", "{welcome}");
    ws.close().await;
    // A foreign origin is refused even with a token.
    assert_eq!(
        refusal_status(
            relay
                .ws(&[
                    ("authorization", &bearer),
                    ("origin", "https://evil.example")
                ])
                .await
        ),
        403
    );

    let list = relay.run(&["token", "list", "--json"]);
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(list.contains("\"name\":\"laptop\""), "{list}");
    assert!(!list.contains(&token), "a listed token shows no secret");
    let revoked = relay.run(&["token", "revoke", "laptop"]);
    assert!(revoked.status.success());
    assert_eq!(
        refusal_status(relay.ws(&[("authorization", &bearer)]).await),
        403
    );
    let again = relay.run(&["token", "revoke", "laptop"]);
    assert_eq!(again.status.code(), Some(1), "nothing left to revoke");

    let expiring = relay.token(&["--name", "brief", "--expires", "1ms"]);
    let created = std::time::Instant::now();
    oqto_testkit::wait_until(crate::support::WAIT, || created.elapsed().as_millis() > 1);
    assert_eq!(
        refusal_status(
            relay
                .ws(&[("authorization", &format!("Bearer {expiring}"))])
                .await
        ),
        403
    );
    let bad = relay.run(&["token", "create", "--expires", "soon"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a bad duration is a usage error"
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let relay = Relay::start();
    let cookie = relay.login().await;
    let origin = relay.url.clone();
    assert!(
        relay
            .ws(&[("cookie", &cookie), ("origin", &origin)])
            .await
            .is_ok()
    );
    let out = relay
        .request("POST", "/logout", &[("cookie", &cookie)])
        .await;
    assert!(out.starts_with("HTTP/1.1 303"), "{out}");
    assert!(header(&out, "set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        refusal_status(relay.ws(&[("cookie", &cookie), ("origin", &origin)]).await),
        403
    );
}
