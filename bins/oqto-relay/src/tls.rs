//! Built-in TLS (`--tls-cert`/`--tls-key`): rustls through tokio-rustls, and the listener
//! axum serves on, plain or TLS.
//!
//! TLS handshakes run in their own tasks (at most [`MAX_HANDSHAKES`] at once, each given
//! [`HANDSHAKE_TIMEOUT`]), so a client that connects and says nothing holds up no one;
//! finished ones queue for axum's accept loop. Everything after the handshake (the
//! router, graceful shutdown, WebSocket upgrades) is the same `axum::serve` as without TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// Handshakes in progress at once; further connections wait in the accept queue.
pub const MAX_HANDSHAKES: usize = 256;
/// A client that has not finished its handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the certificate chain and key; every problem names the file.
pub fn acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let cert_path = files.cert.display();
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("cannot read the TLS certificate {cert_path}"))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the TLS certificate {cert_path} is not valid PEM"))?;
    if certs.is_empty() {
        anyhow::bail!("the TLS certificate {cert_path} holds no PEM `CERTIFICATE` block");
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).with_context(|| {
        format!(
            "cannot read a private key (PEM) from the TLS key {}",
            files.key.display()
        )
    })?;
    // `ring` rather than aws-lc-rs: a small build with a C compiler alone. rustls marks it
    // deprecated because it offers no post-quantum key exchange; browsers then agree on
    // X25519, as with most servers today.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "the TLS key {} does not fit the certificate {cert_path}",
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A connection, over TLS or not.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where axum takes its connections from.
#[derive(Debug)]
pub enum Incoming {
    Plain(TcpListener),
    Tls {
        local: SocketAddr,
        ready: mpsc::Receiver<(Box<dyn Io>, SocketAddr)>,
        acceptor: tokio::task::JoinHandle<()>,
    },
}

impl std::fmt::Debug for dyn Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Io")
    }
}

impl Incoming {
    /// Plain HTTP on `listener`, or TLS with `acceptor`.
    pub fn new(listener: TcpListener, acceptor: Option<TlsAcceptor>) -> std::io::Result<Self> {
        let Some(tls) = acceptor else {
            return Ok(Self::Plain(listener));
        };
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, tls, tx));
        Ok(Self::Tls {
            local,
            ready,
            acceptor,
        })
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Self::Tls { acceptor, .. } = self {
            acceptor.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: TlsAcceptor,
    ready: mpsc::Sender<(Box<dyn Io>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (stream, peer) = accept_tcp(&listener).await;
        let tls = tls.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((Box::new(stream) as Box<dyn Io>, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// The next TCP connection, with `TCP_NODELAY` set: small frames (a delta, a keystroke)
/// go out at once instead of waiting for the peer's delayed ACK of the previous one
/// (Nagle: 40 ms per event otherwise). Errors (out of file descriptors, a connection reset
/// before it was taken) are logged and waited out.
async fn accept_tcp(listener: &TcpListener) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                if let Err(e) = accepted.0.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                return accepted;
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Box<dyn Io>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self {
            Self::Plain(listener) => {
                let (stream, peer) = accept_tcp(listener).await;
                (Box::new(stream), peer)
            }
            Self::Tls { ready, .. } => match ready.recv().await {
                Some(accepted) => accepted,
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        match self {
            Self::Plain(listener) => listener.local_addr(),
            Self::Tls { local, .. } => Ok(*local),
        }
    }
}
