//! `oqtoctl doctor`: every part of the set-up, checked, each problem with a fix.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use oqto_cli::Exit;
use oqto_config::{DEMO_HARNESS, pi_llm};
use oqto_ipc::spawn::Spawn;
use oqto_protocol::{Command, Reply};
use serde::Serialize;

use super::json_line;
use crate::ondemand::{Target, sibling_bin};

/// How long a probed program (`pi --version`, `oqto-sandbox check`) may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Works, but not as well as it could (e.g. demo mode).
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Check {
    name: String,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

impl Check {
    pub fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
            hint: None,
        }
    }
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

pub async fn run(json: bool, target: &Target) -> anyhow::Result<Exit> {
    let checks = if let Some(relay) = target.remote() {
        remote_checks(target, relay).await
    } else {
        let mut checks = vec![config_check(target), pi_check(target)];
        checks.extend(acp_checks(target));
        checks.push(sandbox_check(target));
        checks.push(socket_check(target));
        checks.push(runner_check(target).await);
        checks.push(llm_check(target));
        checks.extend(super::doctor_relay::checks(target).await);
        checks
    };

    let failed = checks.iter().any(|c| matches!(c.status, Status::Fail));
    let mut out = std::io::stdout().lock();
    for check in &checks {
        if json {
            json_line(&mut out, check)?;
            continue;
        }
        let mark = match check.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        writeln!(out, "[{mark}] {:<8} {}", check.name, check.detail)?;
        if let Some(hint) = &check.hint {
            writeln!(out, "       {:<8} fix: {hint}", "")?;
        }
    }
    Ok(if failed { Exit::Failure } else { Exit::Ok })
}

fn config_check(target: &Target) -> Check {
    match &target.config.file {
        Some(file) => Check::new("config", Status::Ok, format!("{}", file.display())),
        None => Check::new(
            "config",
            Status::Ok,
            format!(
                "defaults (no {})",
                target.config.paths.config_file.display()
            ),
        ),
    }
}

fn pi_check(target: &Target) -> Check {
    let Some(pi) = target.config.harness("pi") else {
        return Check::new("pi", Status::Fail, "no `pi` harness configured");
    };
    if !pi.enabled {
        return Check::new("pi", Status::Warn, "disabled in runner.toml");
    }
    match &pi.program {
        Err(missing) => Check::new("pi", Status::Fail, missing.to_string()).hint(
            "install it: `npm install -g @mariozechner/pi-coding-agent`, or run scripts/setup (installs it into .local/pi), or set OQTO_PI_BIN",
        ),
        Ok(program) => match probe(&program.path, &["--version"]) {
            Ok((true, text)) => Check::new(
                "pi",
                Status::Ok,
                format!("{} ({program})", first_line(&text)),
            ),
            Ok((false, text)) => Check::new(
                "pi",
                Status::Fail,
                format!("{program}: `pi --version` failed: {}", first_line(&text)),
            )
            .hint("reinstall pi; it needs Node.js 20 or newer"),
            Err(e) => Check::new("pi", Status::Fail, format!("{program}: {e}")),
        },
    }
}

/// Every enabled ACP agent: found, and answering `--version`. A missing one is a warning:
/// the others work without it.
fn acp_checks(target: &Target) -> Vec<Check> {
    target
        .config
        .enabled_harnesses()
        .filter(|h| h.kind == oqto_config::HarnessKind::Acp)
        .map(|h| {
            let name = h.name.clone();
            match &h.program {
                Err(missing) => Check::new(name, Status::Warn, missing.to_string()).hint(
                    "run scripts/setup (installs the ACP agents into .local/agents), or set `command` in its [harness.NAME] table",
                ),
                // ACP adapters without a `--version` (claude-agent-acp starts serving ACP
                // instead, codex-acp refuses it): the version of the npm package they are.
                Ok(program) if !has_version_flag(&program.path) => {
                    let version = npm_package_version(&program.path)
                        .map_or_else(|| "found".to_owned(), |v| format!("version {v}"));
                    Check::new(name, Status::Ok, format!("{version} ({program}), ACP"))
                }
                Ok(program) => match probe(&program.path, &["--version"]) {
                    Ok((true, text)) => Check::new(
                        name,
                        Status::Ok,
                        format!("{} ({program}), ACP", first_line(&text)),
                    ),
                    Ok((false, text)) => Check::new(
                        name,
                        Status::Warn,
                        format!("{program}: `--version` failed: {}", first_line(&text)),
                    ),
                    Err(e) => Check::new(name, Status::Warn, format!("{program}: {e}")),
                },
            }
        })
        .collect()
}

/// Whether an ACP agent answers `--version` with its version.
fn has_version_flag(program: &Path) -> bool {
    !program
        .file_name()
        .is_some_and(|n| n == "claude-agent-acp" || n == "codex-acp")
}

/// The `version` of the npm package a program installed by npm belongs to: its `bin` entry is
/// a link into the package, whose nearest `package.json` names it.
fn npm_package_version(program: &Path) -> Option<String> {
    let real = std::fs::canonicalize(program).ok()?;
    let manifest = real
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("package.json"))
        .find(|p| p.is_file())?;
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).ok()?).ok()?;
    json["version"].as_str().map(str::to_owned)
}

fn sandbox_check(target: &Target) -> Check {
    if let Some(sandbox) = sibling_bin(&target.env, "oqto-sandbox")
        && let Ok((ok, text)) = probe(&sandbox, &["check"])
    {
        // `oqto-sandbox check` explains each failure with its fix itself.
        return if ok {
            Check::new("sandbox", Status::Ok, "oqto-sandbox check passed")
        } else {
            Check::new("sandbox", Status::Fail, text.trim().to_owned()).hint("see docs/sandbox.md")
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    match which::which_in("bwrap", Some(path), "/") {
        Err(_) => Check::new("sandbox", Status::Fail, "bwrap (bubblewrap) is not on PATH")
            .hint("install it: `sudo apt install bubblewrap`"),
        Ok(bwrap) => match probe(&bwrap, &["--ro-bind", "/", "/", "--unshare-user", "true"]) {
            Ok((true, _)) => Check::new(
                "sandbox",
                Status::Ok,
                format!("{} can create namespaces", bwrap.display()),
            ),
            Ok((false, text)) => Check::new(
                "sandbox",
                Status::Fail,
                format!(
                    "{} cannot create a sandbox: {}",
                    bwrap.display(),
                    first_line(&text)
                ),
            )
            .hint("unprivileged user namespaces are off: see docs/sandbox.md"),
            Err(e) => Check::new("sandbox", Status::Fail, e),
        },
    }
}

fn socket_check(target: &Target) -> Check {
    let socket = target.socket();
    let dir = socket.parent().unwrap_or(Path::new("/"));
    let existing = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    let writable = nix::unistd::access(existing, nix::unistd::AccessFlags::W_OK).is_ok();
    let detail = format!("{} (from {})", socket.display(), target.socket_source());
    if writable {
        Check::new("socket", Status::Ok, detail)
    } else {
        Check::new(
            "socket",
            Status::Fail,
            format!("{detail}: {} is not writable", existing.display()),
        )
        .hint("set XDG_RUNTIME_DIR to a private directory you own, or `socket` in runner.toml")
    }
}

/// The runner's `runner.status`, as a check; `place` is said after its pid.
async fn status_check(conn: &mut crate::conn::Conn, place: &str) -> Check {
    match conn.request(Command::RunnerStatus {}).await {
        Ok(Reply::Status { status }) => Check::new(
            "runner",
            Status::Ok,
            format!(
                "oqto-runner {} (pid {}){place}: {} session(s), {} live",
                status.version, status.pid, status.sessions, status.live_sessions
            ),
        ),
        Ok(_) => Check::new("runner", Status::Warn, "answers, but not runner.status"),
        Err(e) => Check::new("runner", Status::Fail, format!("{e:#}")),
    }
}

async fn runner_check(target: &Target) -> Check {
    match target.connect_existing().await {
        Ok(Some(mut conn)) => status_check(&mut conn, "").await,
        Ok(None) => {
            match crate::ondemand::runner_bin(&target.env).map_err(crate::conn::cli_error) {
                Ok(bin) => Check::new(
                    "runner",
                    Status::Ok,
                    format!("not running; oqtoctl starts {} on demand", bin.display()),
                ),
                Err(e) => Check::new("runner", Status::Fail, format!("{e:#}"))
                    .hint("install oqto-runner next to oqtoctl"),
            }
        }
        Err(e) => Check::new("runner", Status::Fail, format!("{e:#}")),
    }
}

/// Through `--relay`: the relay (reachable, the token accepted, TLS or loopback), the
/// runner behind it, and whether it carries terminals. The rest runs on its machine.
async fn remote_checks(target: &Target, relay: &oqto_client::Relay) -> Vec<Check> {
    let url = relay.url();
    let mut conn = match target.connect().await {
        Ok(conn) => conn,
        Err(e) => {
            let hint = e
                .downcast_ref::<oqto_cli::CliError>()
                .and_then(|c| c.hint.clone());
            let check = Check::new("relay", Status::Fail, format!("{url}: {e:#}"));
            return vec![match hint {
                Some(hint) => check.hint(hint),
                None => check,
            }];
        }
    };
    let mut checks = Vec::new();
    let about = conn.relay().map_or_else(String::new, |w| {
        format!(": oqto-relay {} for {}", w.version, w.user)
    });
    checks.push(if relay.is_tls() || on_loopback(url) {
        let how = if relay.is_tls() { "TLS" } else { "loopback" };
        Check::new("relay", Status::Ok, format!("{url}{about}, token accepted ({how})"))
    } else {
        Check::new(
            "relay",
            Status::Warn,
            format!("{url}{about}, token accepted, but over plain ws:// beyond loopback: the token and everything else travel unencrypted"),
        )
        .hint("put the relay behind a TLS proxy and use https:// (docs/relay.md)")
    });
    checks.push(status_check(&mut conn, " behind the relay").await);
    let terminals = conn
        .relay()
        .is_some_and(|w| w.channels.iter().any(|c| c == "terminal"));
    checks.push(if terminals {
        Check::new("terminal", Status::Ok, "the relay carries terminals (`oqtoctl shell`)")
    } else {
        Check::new(
            "terminal",
            Status::Warn,
            "this relay does not carry terminals: `oqtoctl shell` and `terminals` work only on its machine",
        )
    });
    checks
}

/// Whether a `ws://` URL's host is a loopback address (or `localhost`).
fn on_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn llm_check(target: &Target) -> Check {
    let llm = pi_llm(&target.config.pi_environment(&target.env));
    if llm.configured {
        Check::new(
            "model",
            Status::Ok,
            format!("pi has a provider: {}", llm.detail),
        )
    } else {
        Check::new(
            "model",
            Status::Warn,
            format!(
                "DEMO MODE: {}; prompts use the bundled demo model (harness `{DEMO_HARNESS}`), which gives scripted replies",
                llm.detail
            ),
        )
        .hint("set a provider key (e.g. ANTHROPIC_API_KEY or OPENAI_API_KEY), or log in with `pi` and `/login`")
    }
}

/// Runs `program args`, returning whether it succeeded and its output (stdout then stderr).
fn probe(program: &Path, args: &[&str]) -> Result<(bool, String), String> {
    let mut child = Spawn::new(program)
        .args(args)
        .envs(std::env::vars_os())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + PROBE_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not finish within {}s",
                program.display(),
                PROBE_DEADLINE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    Ok((status.success(), text))
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

#[cfg(test)]
mod tests {
    use super::on_loopback;

    #[test]
    fn loopback_hosts_are_told_apart() {
        assert!(on_loopback("ws://127.0.0.1:8420/ws"));
        assert!(on_loopback("ws://localhost:1/ws"));
        assert!(on_loopback("ws://[::1]:8420/ws"));
        assert!(!on_loopback("ws://10.0.0.2:8420/ws"));
        assert!(!on_loopback("ws://oqto.example.com/ws"));
    }
}
