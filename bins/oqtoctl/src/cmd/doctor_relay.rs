//! `oqtoctl doctor`'s relay checks: is it reachable (`/healthz`, over TLS when it serves
//! TLS itself, pinned to the certificate it announced), does it use TLS or listen on
//! loopback only, and which extra origins may open its WebSocket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oqto_config::RelayAnnouncement;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, DigitallySignedStruct, SignatureScheme};

use super::doctor::{Check, Status};
use crate::ondemand::Target;

/// The relay checks: one when no relay runs, else reachability, TLS and origins.
pub async fn checks(target: &Target) -> Vec<Check> {
    let state = oqto_config::relay_state_file(target.socket());
    let Some(relay) = oqto_config::running_relay(&state) else {
        return vec![Check::new(
            "relay",
            Status::Ok,
            "not running; `oqtoctl web` starts it and prints a login link",
        )];
    };
    vec![
        reachable(&relay).await,
        tls_or_loopback(&relay),
        origins(&relay),
    ]
}

/// `https://` or `http://`, and `host:port`.
fn split_url(url: &str) -> (bool, &str) {
    match url.strip_prefix("https://") {
        Some(addr) => (true, addr),
        None => (false, url.trim_start_matches("http://")),
    }
}

async fn reachable(relay: &RelayAnnouncement) -> Check {
    let detail = format!("{} (pid {})", relay.url, relay.pid);
    let health = tokio::time::timeout(Duration::from_secs(3), healthz(relay)).await;
    match health {
        Ok(Ok(status)) if status.starts_with("HTTP/1.1 200") => Check::new(
            "relay",
            Status::Ok,
            format!("{detail}: the runner answers through it"),
        ),
        Ok(Ok(status)) if status.starts_with("HTTP/1.1 503") => Check::new(
            "relay",
            Status::Warn,
            format!("{detail}: running, but the runner does not answer it"),
        )
        .hint("see `oqtoctl runner status` and the relay's log"),
        Ok(Ok(status)) => Check::new(
            "relay",
            Status::Fail,
            format!(
                "{detail}: /healthz answered {}",
                status.lines().next().unwrap_or("nothing")
            ),
        ),
        Ok(Err(e)) => Check::new("relay", Status::Fail, format!("{detail}: {e}"))
            .hint("restart it: stop that pid, then `oqtoctl web`"),
        Err(_) => Check::new(
            "relay",
            Status::Fail,
            format!("{detail}: no answer within 3s"),
        ),
    }
}

fn tls_or_loopback(relay: &RelayAnnouncement) -> Check {
    let (tls, addr) = split_url(&relay.url);
    if tls {
        let cert = relay
            .tls_cert
            .as_ref()
            .map_or_else(|| "its certificate".to_owned(), |c| c.display().to_string());
        return Check::new(
            "tls",
            Status::Ok,
            format!("serves HTTPS itself with {cert}"),
        );
    }
    let loopback = addr
        .parse::<SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback());
    if loopback {
        Check::new(
            "tls",
            Status::Ok,
            format!("plain HTTP on loopback ({addr}): only this machine reaches it"),
        )
    } else {
        Check::new(
            "tls",
            Status::Warn,
            format!(
                "plain HTTP on {addr}, which is not loopback: other machines reach it, and login links, cookies, tokens and passwords cross the network unencrypted"
            ),
        )
        .hint("serve TLS (--tls-cert/--tls-key), or listen on 127.0.0.1 behind a TLS reverse proxy (docs/relay.md)")
    }
}

fn origins(relay: &RelayAnnouncement) -> Check {
    if relay.allowed_origins.is_empty() {
        return Check::new(
            "origins",
            Status::Ok,
            format!(
                "WebSockets only from the relay's own origin ({}); none configured besides",
                relay.url
            ),
        );
    }
    let list = relay.allowed_origins.join(", ");
    let plain: Vec<&str> = relay
        .allowed_origins
        .iter()
        .map(String::as_str)
        .filter(|o| {
            o.strip_prefix("http://").is_some_and(|host| {
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                !matches!(host, "localhost" | "127.0.0.1" | "[::1]")
            })
        })
        .collect();
    let detail = format!("WebSockets from the relay's own origin and {list}");
    if plain.is_empty() {
        Check::new("origins", Status::Ok, detail)
    } else {
        Check::new("origins", Status::Warn, format!("{detail}; over plain http: {}", plain.join(", ")))
            .hint("list https:// origins in allowed_origins (relay.toml): a page served over http can be changed on the way")
    }
}

/// `GET /healthz`: the whole response (over TLS for an https relay).
async fn healthz(relay: &RelayAnnouncement) -> std::io::Result<String> {
    let (tls, addr) = split_url(&relay.url);
    let stream = tokio::net::TcpStream::connect(addr).await?;
    if !tls {
        return get(stream, addr).await;
    }
    let Some(cert_file) = &relay.tls_cert else {
        return Err(std::io::Error::other(
            "it serves TLS but did not say with which certificate",
        ));
    };
    let pinned = CertificateDer::pem_file_iter(cert_file)
        .ok()
        .and_then(|mut certs| certs.next())
        .and_then(Result::ok)
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "cannot read its certificate {}",
                cert_file.display()
            ))
        })?;
    #[allow(deprecated)] // ring: see the relay's own choice in docs/relay.md
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            cert: pinned,
            provider,
        }))
        .with_no_client_auth();
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
        .map_err(std::io::Error::other)?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await?;
    get(stream, addr).await
}

async fn get(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    addr: &str,
) -> std::io::Result<String> {
    stream
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = Vec::new();
    // A TLS peer may close without close_notify; what came is the answer.
    if let Err(e) = stream.read_to_end(&mut response).await {
        if response.is_empty() {
            return Err(e);
        }
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// Accepts exactly the certificate the relay announced (it is often self-signed, so no
/// authority vouches for it); the handshake's signatures are checked as usual.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "it presents another certificate than the one it announced".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
