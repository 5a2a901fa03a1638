//! `relay.toml`, resolved and validated once into a [`RelayConfig`]. Problems are reported
//! as `relay.toml:3:11: relay.max_frame: …`, like the runner's `runner.toml`.
//!
//! The file is `--config FILE`, else `$XDG_CONFIG_HOME/oqto/relay.toml`, else
//! `/etc/oqto/relay.toml`; with none, the defaults apply.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oqto_config::{ConfigError, Invalid, parse_duration, parse_size};
use serde::Deserialize;
use toml::Spanned;

/// The listening address when neither `--listen` nor the file names one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8420";

/// The relay's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    pub listen: SocketAddr,
    /// Origins a WebSocket upgrade may come from besides the relay's own
    /// (`https://oqto.example.com`, as a browser writes `Origin`).
    pub allowed_origins: Vec<String>,
    /// The largest text frame read; a larger one is answered `too_large` and dropped.
    pub max_frame: usize,
    /// How often the relay pings each client; one silent for three intervals is dropped.
    pub ping_interval: Duration,
    /// A login session unused for this long ends.
    pub session_idle: Duration,
    /// A login session ends this long after the login.
    pub session_lifetime: Duration,
    /// How long a login link may wait to be opened.
    pub login_link_ttl: Duration,
    /// Serve HTTPS with this certificate and key (else plain HTTP).
    pub tls: Option<TlsFiles>,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            allowed_origins: Vec::new(),
            max_frame: 1024 * 1024,
            ping_interval: Duration::from_secs(15),
            session_idle: Duration::from_secs(24 * 3600),
            session_lifetime: Duration::from_secs(30 * 24 * 3600),
            login_link_ttl: Duration::from_secs(15 * 60),
            tls: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    relay: RawRelay,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRelay {
    listen: Option<Spanned<String>>,
    allowed_origins: Option<Vec<Spanned<String>>>,
    max_frame: Option<Spanned<Scalar>>,
    ping_interval: Option<Spanned<String>>,
    session_idle: Option<Spanned<String>>,
    session_lifetime: Option<Spanned<String>>,
    login_link_ttl: Option<Spanned<String>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(i64),
    Str(String),
}

/// Where the configuration is read from: the first of these that exists.
pub fn candidates(flag: Option<&Path>, config_home: &Path) -> Vec<PathBuf> {
    match flag {
        Some(path) => vec![path.to_owned()],
        None => vec![
            config_home.join("relay.toml"),
            PathBuf::from("/etc/oqto/relay.toml"),
        ],
    }
}

impl RelayConfig {
    /// Reads the first file of `candidates` that exists (`explicit`: the one file must).
    pub fn load(candidates: &[PathBuf], explicit: bool) -> Result<Self, ConfigError> {
        for path in candidates {
            match std::fs::read_to_string(path) {
                Ok(text) => return Self::from_toml(&text, path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ConfigError::Missing { path: path.clone() });
                }
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        Ok(Self::default())
    }

    /// Parses and validates `text`, read from `file`.
    pub fn from_toml(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| Invalid {
            file: file.to_owned(),
            location: e.span().map(|s| line_column(text, s.start)),
            key: None,
            message: e.message().trim().replace('\n', " "),
        })?;
        let at = |span: std::ops::Range<usize>, key: &str, message: String| Invalid {
            file: file.to_owned(),
            location: Some(line_column(text, span.start)),
            key: Some(format!("relay.{key}")),
            message,
        };
        let raw = raw.relay;
        let mut config = Self::default();
        if let Some(listen) = raw.listen {
            config.listen = listen.get_ref().parse().map_err(|e| {
                at(
                    listen.span(),
                    "listen",
                    format!("`{}` is not an address and port: {e}", listen.get_ref()),
                )
            })?;
        }
        for origin in raw.allowed_origins.unwrap_or_default() {
            let text = origin.get_ref().trim_end_matches('/');
            let scheme_ok = text.starts_with("http://") || text.starts_with("https://");
            let host = text.split_once("://").map_or("", |(_, h)| h);
            if !scheme_ok || host.is_empty() || host.contains('/') {
                return Err(at(
                    origin.span(),
                    "allowed_origins",
                    format!(
                        "`{}` is not an origin (scheme://host[:port], e.g. https://oqto.example.com)",
                        origin.get_ref()
                    ),
                )
                .into());
            }
            config.allowed_origins.push(text.to_owned());
        }
        if let Some(size) = raw.max_frame {
            let parsed = match size.get_ref() {
                Scalar::Int(n) => u64::try_from(*n).map_err(|_| "a size cannot be negative".into()),
                Scalar::Str(s) => parse_size(s),
            };
            let bytes = parsed
                .and_then(|n| {
                    if (1024..=64 * 1024 * 1024).contains(&n) {
                        usize::try_from(n).map_err(|e| e.to_string())
                    } else {
                        Err("must be between 1KiB and 64MiB".into())
                    }
                })
                .map_err(|e| at(size.span(), "max_frame", e))?;
            config.max_frame = bytes;
        }
        let durations = [
            (
                raw.ping_interval,
                "ping_interval",
                &mut config.ping_interval,
            ),
            (raw.session_idle, "session_idle", &mut config.session_idle),
            (
                raw.session_lifetime,
                "session_lifetime",
                &mut config.session_lifetime,
            ),
            (
                raw.login_link_ttl,
                "login_link_ttl",
                &mut config.login_link_ttl,
            ),
        ];
        for (value, key, slot) in durations {
            if let Some(value) = value {
                let d = parse_duration(value.get_ref())
                    .and_then(|d| {
                        if d.is_zero() {
                            Err("must be more than zero".into())
                        } else {
                            Ok(d)
                        }
                    })
                    .map_err(|e| at(value.span(), key, e))?;
                *slot = d;
            }
        }
        config.tls = tls_files(raw.tls_cert, raw.tls_key, file, &at)?;
        Ok(config)
    }
}

/// `tls_cert` and `tls_key`: both or neither, each a readable file (a relative path is
/// taken from the configuration file's directory).
fn tls_files(
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    file: &Path,
    at: &dyn Fn(std::ops::Range<usize>, &str, String) -> Invalid,
) -> Result<Option<TlsFiles>, Invalid> {
    let base = file.parent().unwrap_or(Path::new("."));
    let resolve = |value: &Spanned<String>, key: &str| {
        let path = base.join(value.get_ref());
        std::fs::File::open(&path)
            .map(|_| path.clone())
            .map_err(|e| {
                at(
                    value.span(),
                    key,
                    format!("cannot read {}: {e}", path.display()),
                )
            })
    };
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), None) => Err(at(
            cert.span(),
            "tls_cert",
            "needs `tls_key` too (the certificate's private key)".into(),
        )),
        (None, Some(key)) => Err(at(
            key.span(),
            "tls_key",
            "needs `tls_cert` too (the certificate chain)".into(),
        )),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: resolve(&cert, "tls_cert")?,
            key: resolve(&key, "tls_key")?,
        })),
    }
}

/// 1-based line and column (in characters) of byte offset `pos` in `text`.
fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RelayConfig, String> {
        RelayConfig::from_toml(text, Path::new("relay.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), RelayConfig::default());
        assert_eq!(RelayConfig::default().listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn values_are_read() {
        let config = parse(
            "[relay]\nlisten = \"0.0.0.0:9000\"\nallowed_origins = [\"https://oqto.example.com/\"]\nmax_frame = \"64KiB\"\nping_interval = \"5s\"\n",
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.allowed_origins, ["https://oqto.example.com"]);
        assert_eq!(config.max_frame, 64 * 1024);
        assert_eq!(config.ping_interval, Duration::from_secs(5));
    }

    #[test]
    fn tls_files_come_in_pairs_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), "x").unwrap();
        std::fs::write(dir.path().join("key.pem"), "x").unwrap();
        let file = dir.path().join("relay.toml");
        let parse = |text: &str| RelayConfig::from_toml(text, &file).map_err(|e| e.to_string());
        let config = parse("[relay]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n").unwrap();
        assert_eq!(
            config.tls,
            Some(TlsFiles {
                cert: dir.path().join("cert.pem"),
                key: dir.path().join("key.pem"),
            })
        );
        let alone = parse("[relay]\ntls_cert = \"cert.pem\"\n").unwrap_err();
        assert!(
            alone.ends_with("relay.toml:2:12: relay.tls_cert: needs `tls_key` too (the certificate's private key)"),
            "{alone}"
        );
        let missing =
            parse("[relay]\ntls_cert = \"cert.pem\"\ntls_key = \"nope.pem\"\n").unwrap_err();
        assert!(
            missing.contains("relay.toml:3:11: relay.tls_key: cannot read "),
            "{missing}"
        );
    }

    #[test]
    fn errors_say_file_line_and_key() {
        assert_eq!(
            parse("[relay]\nlisten = \"nowhere\"\n").unwrap_err(),
            "relay.toml:2:10: relay.listen: `nowhere` is not an address and port: invalid socket address syntax"
        );
        assert!(
            parse("[relay]\n\nmax_frame = 12\n")
                .unwrap_err()
                .starts_with("relay.toml:3:13: relay.max_frame: must be between")
        );
        assert!(
            parse("[relay]\nallowed_origins = [\"*\"]\n")
                .unwrap_err()
                .starts_with("relay.toml:2:20: relay.allowed_origins: `*` is not an origin")
        );
        let unknown = parse("[relay]\nlisten_on = \"x\"\n").unwrap_err();
        assert!(unknown.starts_with("relay.toml:2:1: "), "{unknown}");
        assert!(unknown.contains("unknown field `listen_on`"), "{unknown}");
        assert!(
            parse("[relay]\nping_interval = \"soon\"\n")
                .unwrap_err()
                .starts_with("relay.toml:2:17: relay.ping_interval: ")
        );
    }
}
