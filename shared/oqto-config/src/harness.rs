//! Harnesses: the built-in `pi` and `fake`, `[harness.NAME]` tables, and finding each one's
//! program.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::ops::Deref;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::paths::{Environment, normalize};

/// The adapter a harness is driven by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HarnessKind {
    /// `pi --mode rpc` (pi's own RPC protocol, translated by the runner).
    Pi,
    /// Any program speaking Oqto's native harness sub-protocol on stdio.
    Native,
    /// An Agent Client Protocol agent (JSON-RPC 2.0 on stdio), e.g. `opencode acp`.
    Acp,
}

impl HarnessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HarnessKind::Pi => "pi",
            HarnessKind::Native => "native",
            HarnessKind::Acp => "acp",
        }
    }
}

impl fmt::Display for HarnessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Arguments the pi adapter always passes, before the configured `args`.
pub const PI_RPC_ARGS: &[&str] = &["--mode", "rpc"];
/// The environment variable naming the pi binary.
pub const PI_BIN_VAR: &str = "OQTO_PI_BIN";
/// The built-in harness that runs pi against the bundled demo model (`oqto-fake-llm`,
/// served by the runner itself on 127.0.0.1): no API key needed, clearly not a real model.
pub const DEMO_HARNESS: &str = "demo";
/// The built-in harnesses, present without any file.
pub const BUILTIN_HARNESSES: &[&str] =
    &["pi", DEMO_HARNESS, "fake", OPENCODE, CLAUDE, GEMINI, CODEX];
/// The built-in ACP harness for opencode (`opencode acp`).
pub const OPENCODE: &str = "opencode";
/// The built-in ACP harness for Claude Code (`claude-agent-acp`).
pub const CLAUDE: &str = "claude";
/// The built-in ACP harness for Gemini CLI (`gemini --acp`).
pub const GEMINI: &str = "gemini";
/// The built-in ACP harness for Codex (`codex-acp`).
pub const CODEX: &str = "codex";
/// Where `scripts/setup` installs the ACP agents, below the repository.
pub const AGENTS_PREFIX: &str = ".local/agents";
/// The program name of the built-in `fake` harness.
pub const FAKE_AGENT: &str = "oqto-fake-agent";
/// The program every harness is started through.
pub const SANDBOX_PROGRAM: &str = "oqto-sandbox";
/// The environment variable naming the `oqto-sandbox` binary.
pub const SANDBOX_BIN_VAR: &str = "OQTO_SANDBOX_BIN";

/// Variables every harness inherits from the runner unless its `env_inherit` says otherwise.
/// A trailing `*` matches any suffix.
pub const BASE_ENV_INHERIT: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_*", "TERM", "TZ", "TMPDIR",
];

/// Added for `kind = "pi"`: pi's own configuration and proxy settings, and the provider
/// credentials pi reads from the environment (from `pi --help`).
pub const PI_ENV_INHERIT: &[&str] = &[
    "PI_CODING_AGENT_DIR",
    "PI_OFFLINE",
    "PI_TELEMETRY",
    "NODE_EXTRA_CA_CERTS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_OAUTH_TOKEN",
    "OPENAI_API_KEY",
    "AZURE_OPENAI_*",
    "GEMINI_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "GROQ_API_KEY",
    "CEREBRAS_API_KEY",
    "XAI_API_KEY",
    "FIREWORKS_API_KEY",
    "MISTRAL_API_KEY",
    "AI_GATEWAY_API_KEY",
    "ZAI_API_KEY",
    "MINIMAX_API_KEY",
    "MOONSHOT_API_KEY",
    "KIMI_API_KEY",
    "OPENCODE_API_KEY",
    "CLOUDFLARE_API_KEY",
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_GATEWAY_ID",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
];

/// Added for `kind = "acp"`: where the agents keep their configuration (opencode reads
/// `OPENCODE_CONFIG`, `OPENCODE_CONFIG_DIR` and the XDG directories), so the user's own
/// configuration and keys keep working; the provider keys are [`PI_ENV_INHERIT`]'s.
pub const ACP_ENV_INHERIT: &[&str] = &[
    "OPENCODE_*",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
];

/// Added for the built-in `claude`, `gemini` and `codex` harnesses: where each agent keeps its
/// configuration, and its endpoint and model settings, so the user's own configuration and keys
/// keep working (docs/fake-llm.md lists what each reads).
pub const AGENT_ENV_INHERIT: &[(&str, &[&str])] = &[
    (
        CLAUDE,
        &[
            "CLAUDE_CONFIG_DIR",
            "CLAUDE_CODE_*",
            "ANTHROPIC_*",
            "DISABLE_AUTOUPDATER",
            "DISABLE_TELEMETRY",
            "IS_SANDBOX",
        ],
    ),
    (
        GEMINI,
        &[
            "GEMINI_*",
            "GOOGLE_GEMINI_BASE_URL",
            "GOOGLE_API_KEY",
            "GOOGLE_CLOUD_PROJECT",
            "GOOGLE_CLOUD_LOCATION",
            "GOOGLE_GENAI_USE_VERTEXAI",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ],
    ),
    (CODEX, &["CODEX_HOME", "CODEX_API_KEY", "OPENAI_BASE_URL"]),
];

/// The default `env_inherit` of the harness `name` of this kind: the kind's, plus a built-in
/// agent's own variables ([`AGENT_ENV_INHERIT`]).
pub fn harness_env_inherit(name: &str, kind: HarnessKind) -> Vec<String> {
    let mut vars = default_env_inherit(kind);
    if kind == HarnessKind::Acp
        && let Some((_, extra)) = AGENT_ENV_INHERIT.iter().find(|(n, _)| *n == name)
    {
        vars.extend(extra.iter().map(|s| (*s).to_owned()));
    }
    vars
}

/// The program a built-in ACP harness runs, found by [`resolve_agent`].
pub fn acp_program(name: &str) -> Option<&'static str> {
    match name {
        OPENCODE => Some("opencode"),
        CLAUDE => Some("claude-agent-acp"),
        GEMINI => Some("gemini"),
        CODEX => Some("codex-acp"),
        _ => None,
    }
}

/// The default `env_inherit` of a harness of this kind.
pub fn default_env_inherit(kind: HarnessKind) -> Vec<String> {
    let extra: &[&str] = match kind {
        HarnessKind::Pi => PI_ENV_INHERIT,
        HarnessKind::Native => &[],
        HarnessKind::Acp => ACP_ENV_INHERIT,
    };
    let keys: &[&str] = match kind {
        HarnessKind::Acp => &PI_ENV_INHERIT[3..],
        HarnessKind::Pi | HarnessKind::Native => &[],
    };
    BASE_ENV_INHERIT
        .iter()
        .chain(extra)
        .chain(keys)
        .map(|s| (*s).to_owned())
        .collect()
}

/// A configured `command`: a bare name looked up on `PATH`, or an absolute path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Name(String),
    Path(PathBuf),
}

impl Command {
    /// Reads a `command` value: a bare name, an absolute path, or `~/…` (expanded with
    /// `HOME`). A relative path with a slash is refused: relative to what would be a guess.
    pub fn parse(text: &str, env: &Environment) -> Result<Self, String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.contains('\0') {
            return Err("must not contain a NUL character".into());
        }
        if let Some(rest) = text.strip_prefix("~/") {
            let home = env
                .home()
                .ok_or_else(|| format!("cannot expand `{text}`: HOME is not set"))?;
            return Ok(Command::Path(normalize(&home.join(rest))));
        }
        if text.starts_with('/') {
            return Ok(Command::Path(normalize(Path::new(text))));
        }
        if text.contains('/') {
            return Err(format!(
                "`{text}` is a relative path; use an absolute path, `~/…`, or a bare program name looked up on PATH"
            ));
        }
        Ok(Command::Name(text.to_owned()))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Name(name) => f.write_str(name),
            Command::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// How a harness's program was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramSource {
    /// `command` in `runner.toml` (a path, or a name looked up on `PATH`).
    Config,
    /// An environment variable (`OQTO_PI_BIN`, `OQTO_SANDBOX_BIN`).
    EnvVar(&'static str),
    /// The default program name, found on `PATH`.
    Path,
    /// Next to the runner's own executable.
    NextToRunner,
    /// The project-local prefix the setup script installs pi into (`<repo>/.local/pi`).
    LocalPrefix,
}

impl fmt::Display for ProgramSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgramSource::Config => "runner.toml",
            ProgramSource::EnvVar(name) => name,
            ProgramSource::Path => "PATH",
            ProgramSource::NextToRunner => "next to oqto-runner",
            ProgramSource::LocalPrefix => "project-local prefix",
        })
    }
}

/// A harness program that was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub path: PathBuf,
    pub source: ProgramSource,
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.path.display(), self.source)
    }
}

/// A harness program that was not found, and every place looked at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{program} not found, tried: {}", tried.join(", "))]
pub struct ProgramNotFound {
    pub program: String,
    pub tried: Vec<String>,
}

/// The `env` table of a harness. Its `Debug` shows names only: values can be secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HarnessEnv(pub BTreeMap<String, String>);

impl fmt::Debug for HarnessEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Deref for HarnessEnv {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// One harness the runner can start, with every default filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Harness {
    /// `[a-z0-9_-]+`, used in `session.create {harness}`.
    pub name: String,
    pub kind: HarnessKind,
    /// `pi` or `fake`: present without any file.
    pub builtin: bool,
    pub enabled: bool,
    /// `command` as configured; `None` means the built-in search (see `docs/runner.md`).
    pub command: Option<Command>,
    /// Where the program was found, or where it was looked for.
    pub program: Result<Program, ProgramNotFound>,
    /// Extra arguments. For `kind = "pi"` they follow [`PI_RPC_ARGS`].
    pub args: Vec<String>,
    /// Variables set for the harness, over inherited ones.
    pub env: HarnessEnv,
    /// Names (a trailing `*` matches any suffix) copied from the runner's environment.
    pub env_inherit: Vec<String>,
}

impl Harness {
    /// A built-in harness with its defaults, its program looked up in `env`.
    pub fn builtin(name: &str, env: &Environment) -> Option<Self> {
        let kind = builtin_kind(name)?;
        let mut harness = Self {
            name: name.to_owned(),
            kind,
            builtin: true,
            enabled: true,
            command: None,
            program: Err(ProgramNotFound {
                program: String::new(),
                tried: Vec::new(),
            }),
            args: builtin_args(name),
            env: HarnessEnv::default(),
            env_inherit: harness_env_inherit(name, kind),
        };
        harness.locate(env);
        Some(harness)
    }

    /// Looks the program up again (after `command` changed, or when the user may have
    /// installed it since).
    pub fn locate(&mut self, env: &Environment) {
        self.program = match (self.kind, self.name.as_str(), &self.command) {
            (HarnessKind::Pi, _, command) => resolve_pi(command.as_ref(), env),
            (HarnessKind::Native, "fake", command) if self.builtin => {
                resolve_fake_agent(command.as_ref(), env)
            }
            (HarnessKind::Acp, name, command) if self.builtin && acp_program(name).is_some() => {
                resolve_agent(acp_program(name).unwrap_or(name), command.as_ref(), env)
            }
            (HarnessKind::Native | HarnessKind::Acp, _, Some(command)) => {
                resolve_command(command, env)
            }
            (HarnessKind::Native | HarnessKind::Acp, name, None) => Err(ProgramNotFound {
                program: name.to_owned(),
                tried: vec!["nothing (no command configured)".into()],
            }),
        };
    }

    /// Directories the harness writes its own state to, which must exist before it starts:
    /// the sandbox makes them writable only if they exist, and keeps the home directory
    /// around them read-only. opencode: its data, state and cache directories; Claude Code,
    /// Gemini CLI and Codex: their configuration directories (`~/.claude` or
    /// `$CLAUDE_CONFIG_DIR`, `~/.gemini` under `$GEMINI_CLI_HOME` or home, `~/.codex` or
    /// `$CODEX_HOME`).
    pub fn state_dirs(&self, env: &Environment) -> Vec<PathBuf> {
        let program = match &self.program {
            Ok(p) if self.kind == HarnessKind::Acp => p.path.file_name(),
            _ => None,
        };
        let Some(home) = env.home() else {
            return Vec::new();
        };
        let var_or =
            |var: &str, default: PathBuf| env.var_nonempty(var).map_or(default, PathBuf::from);
        let agent_dir = match program.and_then(|n| n.to_str()) {
            Some("claude-agent-acp") => Some(var_or("CLAUDE_CONFIG_DIR", home.join(".claude"))),
            Some("gemini") => Some(var_or("GEMINI_CLI_HOME", home.clone()).join(".gemini")),
            Some("codex-acp") => Some(var_or("CODEX_HOME", home.join(".codex"))),
            _ => None,
        };
        if let Some(dir) = agent_dir {
            return vec![dir];
        }
        if program.is_none_or(|n| n != OPENCODE) {
            return Vec::new();
        }
        let xdg = |var: &str, default: &str| {
            env.var_nonempty(var)
                .map_or_else(|| home.join(default), PathBuf::from)
                .join(OPENCODE)
        };
        vec![
            xdg("XDG_DATA_HOME", ".local/share"),
            home.join(".local/state").join(OPENCODE),
            xdg("XDG_CACHE_HOME", ".cache"),
        ]
    }

    /// Enabled and its program found.
    pub fn available(&self) -> bool {
        self.enabled && self.program.is_ok()
    }

    /// For `welcome.harnesses[].detail` and `doctor`: where the program is, or why the
    /// harness cannot be used.
    pub fn detail(&self) -> String {
        if !self.enabled {
            return "disabled in runner.toml".into();
        }
        match &self.program {
            Ok(program) => program.to_string(),
            Err(missing) => missing.to_string(),
        }
    }

    /// The full command line (program first), or `None` if the program was not found.
    pub fn argv(&self) -> Option<Vec<OsString>> {
        let program = self.program.as_ref().ok()?;
        let base: &[&str] = match self.kind {
            HarnessKind::Pi => PI_RPC_ARGS,
            HarnessKind::Native | HarnessKind::Acp => &[],
        };
        Some(
            std::iter::once(program.path.clone().into_os_string())
                .chain(base.iter().map(OsString::from))
                .chain(self.args.iter().map(OsString::from))
                .collect(),
        )
    }

    /// Whether `env_inherit` lets variable `name` through.
    pub fn inherits(&self, name: &str) -> bool {
        self.env_inherit
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == pattern,
            })
    }

    /// The harness's whole environment: the inherited variables of `env`, then `env`.
    pub fn child_env(&self, env: &Environment) -> BTreeMap<OsString, OsString> {
        let mut out: BTreeMap<OsString, OsString> = env
            .vars()
            .filter(|(name, _)| name.to_str().is_some_and(|n| self.inherits(n)))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        for (name, value) in self.env.iter() {
            out.insert(name.into(), value.into());
        }
        out
    }

    /// `env` as the harness sees it ([`Harness::child_env`]): where to look for its own
    /// configuration, such as pi's agent directory or a provider key set in `runner.toml`.
    pub fn environment(&self, env: &Environment) -> Environment {
        env.clone().with_vars(self.child_env(env))
    }
}

/// The kind of the built-in harness `name`, if it is one.
pub fn builtin_kind(name: &str) -> Option<HarnessKind> {
    match name {
        "pi" | DEMO_HARNESS => Some(HarnessKind::Pi),
        "fake" => Some(HarnessKind::Native),
        OPENCODE | CLAUDE | GEMINI | CODEX => Some(HarnessKind::Acp),
        _ => None,
    }
}

/// The arguments a built-in harness runs with when `runner.toml` sets none.
pub fn builtin_args(name: &str) -> Vec<String> {
    match name {
        OPENCODE => vec!["acp".into()],
        GEMINI => vec!["--acp".into()],
        _ => Vec::new(),
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name` on the environment's `PATH`; `Err` describes what was tried.
fn find_on_path(name: &str, env: &Environment) -> Result<PathBuf, String> {
    let Some(path) = env.var_nonempty("PATH") else {
        return Err(format!("`{name}` on PATH (PATH is unset)"));
    };
    let cwd = env.cwd().unwrap_or(Path::new("/"));
    which::which_in(name, Some(path), cwd).map_err(|_| format!("`{name}` on PATH"))
}

/// Finds a configured command: an absolute path must be an executable file; a name is
/// looked up on `PATH`.
pub fn resolve_command(command: &Command, env: &Environment) -> Result<Program, ProgramNotFound> {
    find_command(command, env)
        .map(|path| Program {
            path,
            source: ProgramSource::Config,
        })
        .map_err(|tried| ProgramNotFound {
            program: command.to_string(),
            tried: vec![format!("runner.toml command {tried}")],
        })
}

fn find_command(command: &Command, env: &Environment) -> Result<PathBuf, String> {
    match command {
        Command::Name(name) => find_on_path(name, env),
        Command::Path(path) if is_executable(path) => Ok(path.clone()),
        Command::Path(path) => Err(format!("{} (not an executable file)", path.display())),
    }
}

/// Finds pi: `command` from `runner.toml` > `$OQTO_PI_BIN` > `pi` on `PATH` > the
/// project-local prefix `<repo>/.local/pi/bin/pi`, where the runner runs from
/// `<repo>/target/<profile>/oqto-runner`.
///
/// An explicit choice (the `command`, or `OQTO_PI_BIN` when set) is final: if it does not
/// point at an executable, the search stops there rather than silently using another pi.
pub fn resolve_pi(
    configured: Option<&Command>,
    env: &Environment,
) -> Result<Program, ProgramNotFound> {
    let not_found = |tried| ProgramNotFound {
        program: "pi".into(),
        tried,
    };
    if let Some(command) = configured {
        return resolve_command(command, env).map_err(|e| not_found(e.tried));
    }
    if let Some(found) = from_env_var(PI_BIN_VAR, env) {
        return found.map_err(|tried| not_found(vec![tried]));
    }
    let mut tried = vec![format!("{PI_BIN_VAR} (unset)")];
    match find_on_path("pi", env) {
        Ok(path) => {
            return Ok(Program {
                path,
                source: ProgramSource::Path,
            });
        }
        Err(t) => tried.push(t),
    }
    if let Some(repo) = env
        .current_exe()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .and_then(Path::parent)
    {
        let candidate = repo.join(".local/pi/bin/pi");
        if is_executable(&candidate) {
            return Ok(Program {
                path: candidate,
                source: ProgramSource::LocalPrefix,
            });
        }
        tried.push(candidate.display().to_string());
    }
    Err(not_found(tried))
}

/// Finds an ACP agent installed by `scripts/setup`: `command` from `runner.toml` > `name`
/// on `PATH` > the project-local prefix `<repo>/.local/agents/bin/<name>`, where the runner
/// runs from `<repo>/target/<profile>/` (or its `deps/`).
pub fn resolve_agent(
    name: &str,
    configured: Option<&Command>,
    env: &Environment,
) -> Result<Program, ProgramNotFound> {
    if let Some(command) = configured {
        return resolve_command(command, env);
    }
    let mut tried = Vec::new();
    match find_on_path(name, env) {
        Ok(path) => {
            return Ok(Program {
                path,
                source: ProgramSource::Path,
            });
        }
        Err(t) => tried.push(t),
    }
    let target = env.current_exe().and_then(Path::parent).map(|dir| {
        if dir.ends_with("deps") {
            dir.parent()
        } else {
            Some(dir)
        }
    });
    if let Some(repo) = target
        .flatten()
        .and_then(Path::parent)
        .and_then(Path::parent)
    {
        let candidate = repo.join(AGENTS_PREFIX).join("bin").join(name);
        if is_executable(&candidate) {
            return Ok(Program {
                path: candidate,
                source: ProgramSource::LocalPrefix,
            });
        }
        tried.push(candidate.display().to_string());
    }
    Err(ProgramNotFound {
        program: name.to_owned(),
        tried,
    })
}

/// The program named by the variable `var`, when it is set: `Err` says what was tried. A
/// relative path in the variable is taken relative to the working directory.
fn from_env_var(var: &'static str, env: &Environment) -> Option<Result<Program, String>> {
    let value = env.var_nonempty(var)?;
    let text = value.to_string_lossy();
    let command = match Command::parse(&text, env) {
        Ok(command) => command,
        Err(_) => Command::Path(normalize(
            &env.cwd().unwrap_or(Path::new("/")).join(text.as_ref()),
        )),
    };
    Some(
        find_command(&command, env)
            .map(|path| Program {
                path,
                source: ProgramSource::EnvVar(var),
            })
            .map_err(|tried| format!("{var}={tried}")),
    )
}

/// Finds `oqto-sandbox`: `runner.sandbox_command` > `$OQTO_SANDBOX_BIN` > next to the
/// runner's executable > `PATH`. An explicit choice is final, as for pi.
pub fn resolve_sandbox(
    configured: Option<&Command>,
    env: &Environment,
) -> Result<Program, ProgramNotFound> {
    if let Some(command) = configured {
        return resolve_command(command, env);
    }
    env_var_or_next_to_runner(SANDBOX_BIN_VAR, SANDBOX_PROGRAM, env)
}

/// `$VAR` when set (final), else `name` next to the runner's executable or on `PATH`.
fn env_var_or_next_to_runner(
    var: &'static str,
    name: &str,
    env: &Environment,
) -> Result<Program, ProgramNotFound> {
    if let Some(found) = from_env_var(var, env) {
        return found.map_err(|tried| ProgramNotFound {
            program: name.into(),
            tried: vec![tried],
        });
    }
    next_to_runner_or_path(name, env, vec![format!("{var} (unset)")])
}

/// The variable naming the `oqto-files` executable.
pub const FILES_BIN_VAR: &str = "OQTO_FILES_BIN";

/// Finds `oqto-files` (for `files.open`): `$OQTO_FILES_BIN` > next to the runner's
/// executable > `PATH`.
pub fn resolve_files(env: &Environment) -> Result<Program, ProgramNotFound> {
    env_var_or_next_to_runner(FILES_BIN_VAR, "oqto-files", env)
}

/// Finds the fake agent: `command` from `runner.toml` > `oqto-fake-agent` next to the
/// runner's executable (or one directory up, when the runner is a cargo test binary in
/// `target/<profile>/deps/`) > `oqto-fake-agent` on `PATH`.
pub fn resolve_fake_agent(
    configured: Option<&Command>,
    env: &Environment,
) -> Result<Program, ProgramNotFound> {
    if let Some(command) = configured {
        return resolve_command(command, env);
    }
    next_to_runner_or_path(FAKE_AGENT, env, Vec::new())
}

/// `name` next to the runner's executable (or one directory up, when the runner is a cargo
/// test binary in `target/<profile>/deps/`), else on `PATH`.
fn next_to_runner_or_path(
    name: &str,
    env: &Environment,
    mut tried: Vec<String>,
) -> Result<Program, ProgramNotFound> {
    if let Some(dir) = env.current_exe().and_then(Path::parent) {
        let mut dirs = vec![dir];
        if dir.file_name().is_some_and(|n| n == "deps") {
            dirs.extend(dir.parent());
        }
        for dir in dirs {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(Program {
                    path: candidate,
                    source: ProgramSource::NextToRunner,
                });
            }
            tried.push(candidate.display().to_string());
        }
    }
    match find_on_path(name, env) {
        Ok(path) => Ok(Program {
            path,
            source: ProgramSource::Path,
        }),
        Err(t) => {
            tried.push(t);
            Err(ProgramNotFound {
                program: name.into(),
                tried,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn executable(path: &Path) -> PathBuf {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
        path.to_owned()
    }

    /// A temp tree: `bin/pi` (on PATH), `env/pi` (for `OQTO_PI_BIN`),
    /// `repo/.local/pi/bin/pi` and `repo/target/debug/oqto-runner`.
    struct Tree {
        _tmp: tempfile::TempDir,
        root: PathBuf,
    }

    impl Tree {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().to_owned();
            for p in [
                "bin/pi",
                "env/pi",
                "conf/pi",
                "repo/.local/pi/bin/pi",
                "repo/target/debug/oqto-runner",
            ] {
                executable(&root.join(p));
            }
            Self { _tmp: tmp, root }
        }

        fn p(&self, rel: &str) -> PathBuf {
            self.root.join(rel)
        }

        fn env(&self) -> Environment {
            Environment::empty(1000)
                .with_var("HOME", self.p("home"))
                .with_var("PATH", self.p("bin"))
                .with_var(PI_BIN_VAR, self.p("env/pi"))
                .with_current_exe(self.p("repo/target/debug/oqto-runner"))
        }
    }

    #[test]
    fn pi_resolution_order() {
        let t = Tree::new();
        let env = t.env();
        let conf = Command::Path(t.p("conf/pi"));

        let got = resolve_pi(Some(&conf), &env).unwrap();
        assert_eq!(
            (got.path, got.source),
            (t.p("conf/pi"), ProgramSource::Config)
        );

        let got = resolve_pi(None, &env).unwrap();
        assert_eq!(
            (got.path, got.source),
            (t.p("env/pi"), ProgramSource::EnvVar(PI_BIN_VAR))
        );

        let env = env.without_var(PI_BIN_VAR);
        let got = resolve_pi(None, &env).unwrap();
        assert_eq!((got.path, got.source), (t.p("bin/pi"), ProgramSource::Path));

        let env = env.with_var("PATH", t.p("nothing-here"));
        let got = resolve_pi(None, &env).unwrap();
        assert_eq!(
            (got.path, got.source),
            (t.p("repo/.local/pi/bin/pi"), ProgramSource::LocalPrefix)
        );
        assert!(
            resolve_pi(None, &env)
                .unwrap()
                .to_string()
                .ends_with("(from project-local prefix)")
        );
    }

    #[test]
    fn pi_by_name_from_config_uses_path() {
        let t = Tree::new();
        executable(&t.p("bin/pi-dev"));
        let got = resolve_pi(Some(&Command::Name("pi-dev".into())), &t.env()).unwrap();
        assert_eq!(
            (got.path, got.source),
            (t.p("bin/pi-dev"), ProgramSource::Config)
        );
    }

    #[test]
    fn pi_not_found_lists_what_was_tried() {
        let t = Tree::new();
        let env = Environment::empty(1000)
            .with_var("PATH", t.p("nothing-here"))
            .with_current_exe(t.p("elsewhere/target/debug/oqto-runner"));
        let err = resolve_pi(None, &env).unwrap_err();
        let prefix = t.p("elsewhere/.local/pi/bin/pi");
        assert_eq!(
            err.to_string(),
            format!(
                "pi not found, tried: OQTO_PI_BIN (unset), `pi` on PATH, {}",
                prefix.display()
            )
        );
        let env = env.without_var("PATH");
        let err = resolve_pi(None, &env).unwrap_err();
        assert!(err.to_string().contains("PATH is unset"), "{err}");
    }

    #[test]
    fn explicit_pi_choices_are_final() {
        let t = Tree::new();
        // A broken OQTO_PI_BIN does not fall through to the pi on PATH.
        let env = t.env().with_var(PI_BIN_VAR, t.p("env/missing"));
        let err = resolve_pi(None, &env).unwrap_err();
        assert_eq!(
            err.tried,
            vec![format!(
                "OQTO_PI_BIN={} (not an executable file)",
                t.p("env/missing").display()
            )]
        );
        // Nor does a configured command, even with a good OQTO_PI_BIN.
        let conf = Command::Path(t.p("conf/nope"));
        let err = resolve_pi(Some(&conf), &t.env()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("pi not found, tried: runner.toml command")
        );
        // A file without an execute bit is not a program.
        let plain = t.p("conf/plain");
        fs::write(&plain, "").unwrap();
        let err = resolve_pi(Some(&Command::Path(plain)), &t.env()).unwrap_err();
        assert!(err.to_string().contains("not an executable file"), "{err}");
    }

    #[test]
    fn empty_pi_bin_counts_as_unset() {
        let t = Tree::new();
        let env = t.env().with_var(PI_BIN_VAR, "");
        assert_eq!(resolve_pi(None, &env).unwrap().source, ProgramSource::Path);
    }

    #[test]
    fn fake_agent_next_to_runner_then_path() {
        let t = Tree::new();
        let env = t.env();
        let err = resolve_fake_agent(None, &env).unwrap_err();
        assert_eq!(err.tried.len(), 2, "{err}");
        executable(&t.p("bin/oqto-fake-agent"));
        assert_eq!(
            resolve_fake_agent(None, &env).unwrap().source,
            ProgramSource::Path
        );
        executable(&t.p("repo/target/debug/oqto-fake-agent"));
        let got = resolve_fake_agent(None, &env).unwrap();
        assert_eq!(
            (got.path, got.source),
            (
                t.p("repo/target/debug/oqto-fake-agent"),
                ProgramSource::NextToRunner
            )
        );
        // A cargo test binary in deps/ finds it one directory up.
        let env = env.with_current_exe(t.p("repo/target/debug/deps/oqto_runner-0123"));
        assert_eq!(
            resolve_fake_agent(None, &env).unwrap().path,
            t.p("repo/target/debug/oqto-fake-agent")
        );
    }

    #[test]
    fn sandbox_from_config_then_env_then_next_to_runner_then_path() {
        let t = Tree::new();
        let env = t.env();
        let err = resolve_sandbox(None, &env).unwrap_err();
        assert!(
            err.to_string().starts_with("oqto-sandbox not found"),
            "{err}"
        );
        executable(&t.p("bin/oqto-sandbox"));
        assert_eq!(
            resolve_sandbox(None, &env).unwrap().source,
            ProgramSource::Path
        );
        executable(&t.p("repo/target/debug/oqto-sandbox"));
        let got = resolve_sandbox(None, &env).unwrap();
        assert_eq!(
            (got.path, got.source),
            (
                t.p("repo/target/debug/oqto-sandbox"),
                ProgramSource::NextToRunner
            )
        );
        executable(&t.p("env/oqto-sandbox"));
        let with_var = env
            .clone()
            .with_var(SANDBOX_BIN_VAR, t.p("env/oqto-sandbox"));
        assert_eq!(
            resolve_sandbox(None, &with_var).unwrap().source,
            ProgramSource::EnvVar(SANDBOX_BIN_VAR)
        );
        // An explicit choice is final: a wrong one is an error, not another program.
        let wrong = env.with_var(SANDBOX_BIN_VAR, t.p("env/missing"));
        assert!(resolve_sandbox(None, &wrong).is_err());
        let configured = Command::Path(t.p("nowhere/oqto-sandbox"));
        let err = resolve_sandbox(Some(&configured), &with_var).unwrap_err();
        assert!(err.to_string().contains("nowhere/oqto-sandbox"), "{err}");
    }

    #[test]
    fn commands_parse() {
        let env = Environment::empty(1).with_var("HOME", "/home/ada");
        assert_eq!(Command::parse("pi", &env), Ok(Command::Name("pi".into())));
        assert_eq!(
            Command::parse("/opt/pi/bin/pi", &env),
            Ok(Command::Path("/opt/pi/bin/pi".into()))
        );
        assert_eq!(
            Command::parse("~/bin/agent", &env),
            Ok(Command::Path("/home/ada/bin/agent".into()))
        );
        assert!(Command::parse("", &env).unwrap_err().contains("empty"));
        assert!(
            Command::parse("bin/agent", &env)
                .unwrap_err()
                .contains("relative")
        );
        assert!(
            Command::parse("~/x", &Environment::empty(1))
                .unwrap_err()
                .contains("HOME")
        );
    }

    #[test]
    fn environment_is_filtered_then_overridden() {
        let env = Environment::empty(1)
            .with_var("PATH", "/bin")
            .with_var("HOME", "/home/ada")
            .with_var("LC_TIME", "C")
            .with_var("OPENAI_API_KEY", "sk-1")
            .with_var("AWS_SECRET_ACCESS_KEY", "aws")
            .with_var("SSH_AUTH_SOCK", "/tmp/agent");
        let pi = Harness::builtin("pi", &env).unwrap();
        let fake = Harness::builtin("fake", &env).unwrap();
        let names = |h: &Harness| -> Vec<String> {
            h.child_env(&env)
                .keys()
                .map(|k| k.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(&pi),
            [
                "AWS_SECRET_ACCESS_KEY",
                "HOME",
                "LC_TIME",
                "OPENAI_API_KEY",
                "PATH"
            ]
        );
        assert_eq!(names(&fake), ["HOME", "LC_TIME", "PATH"]);

        let mut custom = fake.clone();
        custom.env_inherit = vec!["PATH".into()];
        custom.env = HarnessEnv(BTreeMap::from([
            ("PATH".into(), "/custom".into()),
            ("TOKEN".into(), "secret".into()),
        ]));
        let child = custom.child_env(&env);
        assert_eq!(child.get(&OsString::from("PATH")), Some(&"/custom".into()));
        assert_eq!(child.len(), 2);
        assert!(!format!("{custom:?}").contains("secret"));
    }

    #[test]
    fn argv_puts_rpc_mode_first_for_pi() {
        let t = Tree::new();
        let mut pi = Harness::builtin("pi", &t.env()).unwrap();
        pi.args = vec!["-nc".into()];
        assert_eq!(
            pi.argv().unwrap(),
            [
                t.p("env/pi").into_os_string(),
                "--mode".into(),
                "rpc".into(),
                "-nc".into()
            ]
        );
        pi.program = resolve_pi(Some(&Command::Path(t.p("missing"))), &t.env());
        assert_eq!(pi.argv(), None);
        assert!(!pi.available());
        assert!(pi.detail().starts_with("pi not found"));
        pi.enabled = false;
        assert_eq!(pi.detail(), "disabled in runner.toml");
    }
}

/// pi's agent directory: `$PI_CODING_AGENT_DIR`, else `~/.pi/agent`.
pub fn pi_agent_dir(env: &Environment) -> Option<PathBuf> {
    env.absolute_var("PI_CODING_AGENT_DIR")
        .or_else(|| env.home().map(|home| home.join(".pi/agent")))
}

/// Whether pi looks able to reach a real model, and what says so (for `oqtoctl doctor` and
/// the choice of the demo model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PiLlm {
    pub configured: bool,
    /// For people: the variable or file found, or what was looked at.
    pub detail: String,
}

/// A cheap look at pi's configuration, without starting pi: a provider credential in the
/// environment (one of [`PI_ENV_INHERIT`]'s keys and tokens), credentials in the agent
/// directory's `auth.json`, or custom providers in its `models.json`. It can be fooled by
/// a stale key; it never reads a key's value beyond "non-empty".
pub fn pi_llm(env: &Environment) -> PiLlm {
    let credential = PI_ENV_INHERIT.iter().find_map(|pattern| {
        let is_secret = pattern.ends_with("_KEY")
            || pattern.ends_with("_TOKEN")
            || pattern.ends_with("_BEDROCK")
            || pattern.ends_with('*');
        if !is_secret {
            return None;
        }
        env.vars().find_map(|(name, value)| {
            let name = name.to_str()?;
            let hit = match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == *pattern,
            };
            (hit && !value.is_empty()).then(|| name.to_owned())
        })
    });
    if let Some(name) = credential {
        return PiLlm {
            configured: true,
            detail: format!("${name} is set"),
        };
    }
    let Some(dir) = pi_agent_dir(env) else {
        return PiLlm {
            configured: false,
            detail: "no provider key in the environment, and HOME is unset".into(),
        };
    };
    let auth = dir.join("auth.json");
    if let Ok(text) = std::fs::read_to_string(&auth)
        && serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.as_object().map(|o| !o.is_empty()))
            .unwrap_or(false)
    {
        return PiLlm {
            configured: true,
            detail: format!("credentials in {}", auth.display()),
        };
    }
    let models = dir.join("models.json");
    if models.is_file() {
        return PiLlm {
            configured: true,
            detail: format!("custom providers in {}", models.display()),
        };
    }
    PiLlm {
        configured: false,
        detail: format!(
            "no provider key in the environment, no {} and no {}",
            auth.display(),
            models.display()
        ),
    }
}
