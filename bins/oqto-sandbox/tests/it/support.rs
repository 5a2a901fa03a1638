//! Running the binary in an isolated environment.

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use oqto_ipc::spawn::Spawn;
use oqto_testkit::TestEnv;

pub const BIN: &str = env!("CARGO_BIN_EXE_oqto-sandbox");
pub const DEADLINE: Duration = Duration::from_secs(30);
pub const SECRET: &str = "SECRET-KEY-MATERIAL-4711";

/// A test environment with a workspace, a fake ssh key in its HOME, and a system policy
/// path of its own (absent until written).
pub struct Sandbox {
    pub env: TestEnv,
    pub ws: PathBuf,
}

impl Sandbox {
    pub fn new() -> Self {
        let env = TestEnv::new();
        let ws = env.work().join("project");
        std::fs::create_dir_all(&ws).unwrap();
        env.write("home/.ssh/id_ed25519", SECRET);
        Self { env, ws }
    }

    pub fn home(&self) -> PathBuf {
        self.env.home()
    }

    pub fn system_policy(&self) -> PathBuf {
        self.env.root().join("etc-oqto/sandbox.toml")
    }

    pub fn write_system_policy(&self, text: &str) {
        self.env.write("etc-oqto/sandbox.toml", text);
    }

    pub fn write_user_policy(&self, text: &str) {
        self.env.write("config/oqto/sandbox.toml", text);
    }

    pub fn write_workspace_policy(&self, text: &str) -> PathBuf {
        let path = self.ws.join(".oqto/sandbox.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The binary, set up to run in this environment from the workspace.
    pub fn spawn<I, S>(&self, args: I) -> Spawn
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Spawn::new(BIN)
            .args(args)
            .envs(self.env.vars())
            .env("OQTO_SANDBOX_SYSTEM_CONFIG", self.system_policy())
            .current_dir(&self.ws)
    }

    /// Runs the binary with `args` (stdin empty) and returns what it did.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        output(self.spawn(args))
    }

    /// `oqto-sandbox --workspace WS -- sh -c SCRIPT`, as an agent would run a command.
    pub fn sh(&self, script: &str) -> Run {
        self.run([
            OsStr::new("--workspace"),
            self.ws.as_os_str(),
            OsStr::new("--"),
            OsStr::new("sh"),
            OsStr::new("-c"),
            OsStr::new(script),
        ])
    }

    /// Like [`Sandbox::sh`] with extra options before `--`.
    pub fn sh_with(&self, options: &[&str], script: &str) -> Run {
        let mut args: Vec<&OsStr> = vec![OsStr::new("--workspace"), self.ws.as_os_str()];
        args.extend(options.iter().map(OsStr::new));
        args.extend(["--", "sh", "-c", script].map(OsStr::new));
        self.run(args)
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{self:#?}");
        self
    }

    #[track_caller]
    pub fn assert_failed(&self) -> &Self {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected the attempt to fail: {self:#?}"
        );
        assert!(
            !self.stderr.contains("oqto-sandbox: error"),
            "the sandbox itself must have started: {self:#?}"
        );
        self
    }
}

pub fn output(spawn: Spawn) -> Run {
    let child = spawn
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oqto-sandbox");
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut f = std::fs::File::create(path).unwrap();
    writeln!(f, "#!/bin/sh\n{body}").unwrap();
    drop(f);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
