//! Test-only helpers: an isolated environment per test, polling with deadlines, and
//! locating the binaries the tests drive. Never a dependency of a shipped binary.

pub mod other_user;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A private HOME and XDG tree in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct TestEnv {
    dir: tempfile::TempDir,
}

impl TestEnv {
    /// Creates `home/`, `config/`, `data/`, `state/`, `cache/`, `runtime/` (0700) and
    /// `work/` under a fresh temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("oqto-test-")
            .tempdir()
            .expect("create temp dir");
        for sub in [
            "home", "config", "data", "state", "cache", "runtime", "work",
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("create test dir");
        }
        set_mode(&dir.path().join("runtime"), 0o700);
        Self { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    pub fn work(&self) -> PathBuf {
        self.root().join("work")
    }
    pub fn runtime_dir(&self) -> PathBuf {
        self.root().join("runtime")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.root().join("config")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.root().join("data")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root().join("state")
    }

    /// The environment a program under test gets: HOME, the XDG variables pointing into
    /// this tree, PATH and a few locale variables from the parent. Nothing else leaks.
    pub fn vars(&self) -> Vec<(OsString, OsString)> {
        let mut vars: Vec<(OsString, OsString)> = vec![
            ("HOME".into(), self.home().into()),
            ("XDG_CONFIG_HOME".into(), self.config_dir().into()),
            ("XDG_DATA_HOME".into(), self.data_dir().into()),
            ("XDG_STATE_HOME".into(), self.state_dir().into()),
            ("XDG_CACHE_HOME".into(), self.root().join("cache").into()),
            ("XDG_RUNTIME_DIR".into(), self.runtime_dir().into()),
        ];
        for name in ["PATH", "LANG", "LC_ALL", "TERM", "OQTO_LOG"] {
            if let Some(v) = std::env::var_os(name) {
                vars.push((name.into(), v));
            }
        }
        vars
    }

    /// Writes `contents` to `rel` under the root, creating parent directories.
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write test file");
        path
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Polls `cond` every few milliseconds until it is true or `timeout` passes.
/// Returns whether it became true. Use instead of fixed sleeps.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// A memory figure of a live process from `/proc/PID/status`, in KiB: `VmRSS` (resident
/// now) or `VmHWM` (its peak).
pub fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Whether `needle` occurs in `haystack` (terminal output is bytes, not text).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What `seq FROM TO` prints on a terminal (its LF becomes CR LF).
pub fn seq_text(from: u32, to: u32) -> String {
    let mut out = String::new();
    for n in from..=to {
        out.push_str(&n.to_string());
        out.push_str("\r\n");
    }
    out
}

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|p| p.join("Cargo.lock").exists() && p.join("bins").is_dir())
        .expect("workspace root above oqto-testkit")
        .to_path_buf()
}

/// The pi binary the tests use: `OQTO_PI_BIN`, else the project-local install made by
/// `scripts/setup`. Panics with the fix when neither exists: the end-to-end tests need
/// the real pi and must not silently pass without it.
pub fn pi_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("OQTO_PI_BIN") {
        return PathBuf::from(p);
    }
    let local = workspace_root().join(".local/pi/bin/pi");
    assert!(
        local.exists(),
        "pi not found at {}: run scripts/setup (or set OQTO_PI_BIN)",
        local.display()
    );
    local
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_is_isolated_and_complete() {
        let env = TestEnv::new();
        let vars = env.vars();
        let home = vars
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| v.clone());
        assert_eq!(home, Some(env.home().into()));
        assert!(env.runtime_dir().is_dir());
        let root = env.root().to_path_buf();
        drop(env);
        assert!(!root.exists(), "temp tree removed on drop");
    }

    #[test]
    fn wait_until_times_out_and_succeeds() {
        assert!(!wait_until(Duration::from_millis(20), || false));
        let mut n = 0;
        assert!(wait_until(Duration::from_secs(5), || {
            n += 1;
            n > 3
        }));
    }
}

/// A child process speaking JSON lines on stdio (pi in RPC mode, a harness): lines written
/// to its stdin, its stdout read by a thread into a channel, its stderr collected for
/// failure messages.
#[derive(Debug)]
pub struct JsonLinesChild {
    pub child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    /// What the process is called in failure messages, e.g. `pi`.
    name: String,
}

impl JsonLinesChild {
    /// Takes over `child`'s piped stdin, stdout and stderr.
    pub fn attach(mut child: std::process::Child, name: &str) -> Self {
        use std::io::{BufRead as _, Read as _};
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut err = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        let who = name.to_owned();
        std::thread::spawn(move || {
            // Split on '\n' only: pi writes U+2028 raw inside strings.
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("{who} wrote a non-JSON line ({e}): {line}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr sink")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            child,
            stdin,
            lines,
            stderr,
            name: name.to_owned(),
        }
    }

    /// Writes one line.
    pub fn send(&mut self, line: &serde_json::Value) {
        use std::io::Write as _;
        writeln!(self.stdin, "{line}").expect("write to the child's stdin");
        self.stdin.flush().expect("flush the child's stdin");
    }

    /// What the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr sink").clone()
    }

    /// Reads lines until `done` matches one (included); panics with what was read and the
    /// child's stderr once `deadline` passes or stdout closes.
    pub fn read_until(
        &self,
        what: &str,
        deadline: Duration,
        mut done: impl FnMut(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        use std::sync::mpsc::RecvTimeoutError;
        let end = Instant::now() + deadline;
        let mut seen = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let stop = done(&line);
                    seen.push(line);
                    if stop {
                        return seen;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no {what} from {} within {deadline:?}; got {} lines:\n{}\nstderr:\n{}",
                    self.name,
                    seen.len(),
                    summarize(&seen),
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{} closed stdout before {what}; got:\n{}\nstderr:\n{}",
                    self.name,
                    summarize(&seen),
                    self.stderr()
                ),
            }
        }
    }
}

/// One short line per JSON value, for failure messages.
pub fn summarize(lines: &[serde_json::Value]) -> String {
    lines
        .iter()
        .map(|l| {
            let mut s = l.to_string();
            if s.len() > 300 {
                let mut end = 300;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
                s.push('…');
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}
