//! Built-in TLS: HTTPS and WSS with a certificate made here, `Secure` cookies, https
//! URLs in relay.json, bad certificates and keys refused at start, and the warning for a
//! plain listener that is not on loopback.

use crate::support::{Relay, WAIT, header, refusal_status};
use oqto_testkit::wait_until;

#[tokio::test]
async fn tls_serves_https_and_wss_with_secure_cookies() {
    let relay = Relay::start_tls();
    assert!(relay.url.starts_with("https://127.0.0.1:"), "{}", relay.url);
    assert!(
        relay
            .login_url
            .starts_with(&format!("{}/login?token=", relay.url))
    );

    // HTTPS answers (the runner is not started yet: /healthz never starts it).
    let health = relay.get("/healthz", &[]).await;
    assert!(health.starts_with("HTTP/1.1 503"), "{health}");
    assert!(health.contains("\"runner\":false"), "{health}");

    // The login link over HTTPS sets a Secure cookie, with no proxy saying so.
    let path = relay.login_url.trim_start_matches(&relay.url).to_owned();
    let login = relay.get(&path, &[]).await;
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    let cookie = header(&login, "set-cookie").unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();

    // Our own origin is the https one.
    let origin = relay.url.clone();
    let mut ws = relay
        .ws(&[("cookie", &cookie), ("origin", &origin)])
        .await
        .expect("a websocket over TLS");
    let welcome = ws.hello().await;
    assert_eq!(welcome["runner"]["server"], "oqto-runner", "{welcome}");
    let plain_origin = origin.replace("https://", "http://");
    assert_eq!(
        refusal_status(
            relay
                .ws(&[("cookie", &cookie), ("origin", &plain_origin)])
                .await
        ),
        403
    );

    // A password login over HTTPS gets a Secure cookie too.
    let out = relay.run_with_input(&["password"], "correct horse battery\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name);
    let body = serde_json::json!({"name": user, "password": "correct horse battery"}).to_string();
    let login = relay
        .post(
            "127.0.0.1",
            "/login",
            "application/json",
            &body,
            &[("origin", &origin)],
        )
        .await;
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    assert!(
        header(&login, "set-cookie").unwrap().ends_with("; Secure"),
        "{login}"
    );

    // A client that does not speak TLS gets nowhere, and the relay goes on.
    let plain = tokio::net::TcpStream::connect(relay.host()).await.unwrap();
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut plain = plain;
        plain
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(WAIT, plain.read_to_end(&mut out)).await;
        assert!(!String::from_utf8_lossy(&out).contains("200 OK"));
    }
    let again = relay.get("/healthz", &[]).await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

#[test]
fn a_bad_certificate_or_key_stops_the_relay_with_a_clear_error() {
    let mut relay = Relay::prepare("", "");
    let (cert, key) = relay.self_signed();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other_key = relay
        .env
        .write("tls/other-key.pem", other.signing_key.serialize_pem())
        .display()
        .to_string();
    let garbage = relay
        .env
        .write("tls/garbage.pem", "not a certificate\n")
        .display()
        .to_string();
    let missing = relay.env.work().join("nope.pem").display().to_string();

    let cases: [(&str, &str, &str); 4] = [
        (&missing, &key, "cannot read the TLS certificate"),
        (&garbage, &key, "holds no PEM `CERTIFICATE` block"),
        (
            &cert,
            &garbage,
            "cannot read a private key (PEM) from the TLS key",
        ),
        (&cert, &other_key, "does not fit the certificate"),
    ];
    for (cert, key, expected) in cases {
        let out = relay.run_to_end(&[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(
            !relay.state_file().exists(),
            "no relay.json for a relay that did not start"
        );
    }

    // One of the pair alone is a usage error, and so is half a pair in relay.toml.
    let half = relay.run_to_end(&["--tls-cert", &cert]);
    assert_eq!(half.status.code(), Some(2));
    relay.env.write(
        "config/oqto/relay.toml",
        format!("[relay]\ntls_cert = \"{cert}\"\n"),
    );
    let out = relay.run_to_end(&["--listen", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("relay.toml:2:12: relay.tls_cert: needs `tls_key` too"),
        "{stderr}"
    );
}

#[test]
fn tls_from_relay_toml_gives_https_urls() {
    let mut relay = Relay::prepare("", "");
    let (cert, key) = relay.self_signed();
    relay.env.write(
        "config/oqto/relay.toml",
        format!(
            "[relay]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    relay.launch();
    let announced: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(relay.state_file()).unwrap()).unwrap();
    assert!(announced["url"].as_str().unwrap().starts_with("https://"));
    assert!(
        announced["login_url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
}

#[test]
fn a_plain_listener_off_loopback_is_warned_about() {
    let mut relay = Relay::prepare("", "");
    relay.args = vec!["--listen".into(), "0.0.0.0:0".into()];
    relay.launch();
    let log = relay.log_file();
    let warned = |text: &str| text.contains("listening on a non-loopback address without TLS");
    assert!(
        wait_until(WAIT, || std::fs::read_to_string(&log)
            .is_ok_and(|t| warned(&t))),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // On loopback there is no such warning.
    let quiet = Relay::start();
    assert!(wait_until(WAIT, || std::fs::read_to_string(
        quiet.log_file()
    )
    .is_ok_and(|t| t.contains("listening"))));
    assert!(!warned(&std::fs::read_to_string(quiet.log_file()).unwrap()));
}
