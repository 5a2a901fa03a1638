//! `oqtoctl runner start|stop|status|logs`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use oqto_cli::{CliError, Exit};
use oqto_protocol::{Command, Reply};

use super::{ago, json_line, now_millis};
use crate::cli::RunnerCommand;
use crate::ondemand::Target;

/// How long `runner stop` waits for the socket to go away.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

pub async fn run(command: RunnerCommand, target: &Target) -> anyhow::Result<Exit> {
    match command {
        RunnerCommand::Start => {
            match target.start().await? {
                Some(pid) => eprintln!(
                    "started oqto-runner (pid {pid}) on {}; log: {}",
                    target.socket().display(),
                    target.log_file().display()
                ),
                None => eprintln!("a runner already answers on {}", target.socket().display()),
            }
            Ok(Exit::Ok)
        }
        RunnerCommand::Stop => {
            target.local_only("`oqtoctl runner stop`")?;
            let Some(mut conn) = target.connect_existing().await? else {
                eprintln!("no runner answers on {}", target.socket().display());
                return Ok(Exit::Ok);
            };
            let pid = match conn.request(Command::RunnerStatus {}).await? {
                Reply::Status { status } => Some(status.pid),
                _ => None,
            };
            // The runner may close the connection as it stops, before its `ok` is read:
            // that is the outcome asked for. Whether it really stops is checked below.
            if let Err(e) = conn.request(Command::RunnerShutdown {}).await {
                let gone = e
                    .downcast_ref::<CliError>()
                    .is_some_and(|c| c.exit == Exit::RunnerUnreachable);
                if !gone {
                    return Err(e);
                }
            }
            let deadline = Instant::now() + STOP_DEADLINE;
            // Stopped means exited: its harnesses are stopped and its writes are on disk.
            let alive = |pid: Option<u32>| match pid.and_then(|p| i32::try_from(p).ok()) {
                Some(pid) => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok(),
                None => oqto_ipc::socket::is_live(target.socket()),
            };
            while alive(pid) {
                if Instant::now() > deadline {
                    return Err(CliError::new(
                        Exit::Failure,
                        format!(
                            "the runner did not stop within {}s",
                            STOP_DEADLINE.as_secs()
                        ),
                    )
                    .into());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            match pid {
                Some(pid) => eprintln!("stopped oqto-runner (pid {pid})"),
                None => eprintln!("stopped oqto-runner"),
            }
            Ok(Exit::Ok)
        }
        RunnerCommand::Status(args) => {
            let Some(mut conn) = target.connect_existing().await? else {
                return Err(CliError::new(
                    Exit::RunnerUnreachable,
                    format!(
                        "no runner answers on {} ({})",
                        target.socket().display(),
                        target.socket_source()
                    ),
                )
                .with_hint("`oqtoctl runner start` starts one (other commands start one on demand)")
                .into());
            };
            let Reply::Status { status } = conn.request(Command::RunnerStatus {}).await? else {
                anyhow::bail!("unexpected reply to runner.status");
            };
            let mut out = std::io::stdout().lock();
            if args.json {
                json_line(&mut out, &status)?;
                return Ok(Exit::Ok);
            }
            let now = now_millis();
            writeln!(out, "    version: {}", status.version)?;
            writeln!(out, "        pid: {}", status.pid)?;
            writeln!(out, "    started: {}", ago(now, status.started_at))?;
            writeln!(out, "     socket: {}", status.socket)?;
            writeln!(out, "   data dir: {}", status.data_dir)?;
            writeln!(
                out,
                "   sessions: {} ({} live)",
                status.sessions, status.live_sessions
            )?;
            writeln!(out, "    clients: {}", status.clients)?;
            Ok(Exit::Ok)
        }
        RunnerCommand::Logs { lines, follow } => {
            target.local_only("`oqtoctl runner logs`")?;
            logs(target, lines, follow).await
        }
    }
}

async fn logs(target: &Target, lines: Option<usize>, follow: bool) -> anyhow::Result<Exit> {
    let path = target.log_file();
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::new(
                Exit::Failure,
                format!("no log at {}", path.display()),
            )
            .with_hint("the log holds runners oqtoctl started; a systemd runner logs to the journal (`journalctl --user -u oqto-runner`)")
            .into());
        }
        Err(e) => return Err(anyhow::Error::from(e).context(format!("opening {}", path.display()))),
    };
    let mut text = Vec::new();
    file.read_to_end(&mut text)?;
    let start = match lines {
        Some(n) => tail_start(&text, n),
        None => 0,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&text[start..])?;
    out.flush()?;
    if !follow {
        return Ok(Exit::Ok);
    }
    let mut pos = text.len() as u64;
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = interrupts.recv() => return Ok(Exit::Ok),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        if len < pos {
            // Rotated or truncated: start over from the top of the new file.
            file = std::fs::File::open(&path)?;
            pos = 0;
        }
        file.seek(SeekFrom::Start(pos))?;
        let mut chunk = Vec::new();
        file.read_to_end(&mut chunk)?;
        pos += chunk.len() as u64;
        out.write_all(&chunk)?;
        out.flush()?;
    }
}

/// Where the last `n` lines of `text` start.
fn tail_start(text: &[u8], n: usize) -> usize {
    if n == 0 {
        return text.len();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::tail_start;

    #[test]
    fn tail_start_finds_the_last_lines() {
        let text = b"a\nb\nc\n";
        assert_eq!(&text[tail_start(text, 1)..], b"c\n");
        assert_eq!(&text[tail_start(text, 2)..], b"b\nc\n");
        assert_eq!(&text[tail_start(text, 9)..], b"a\nb\nc\n");
        assert_eq!(&text[tail_start(text, 0)..], b"");
        assert_eq!(&b"x"[tail_start(b"x", 1)..], b"x");
    }
}
