use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/runner.md"));

/// The first TOML code block after "## Complete example" in `docs/runner.md`.
fn doc_example() -> &'static str {
    let section = &DOC[DOC.find("## Complete example").expect("example section")..];
    let start = section.find("```toml\n").expect("toml block") + "```toml\n".len();
    let len = section[start..].find("```").expect("end of block");
    &section[start..start + len]
}

fn groups(name: &str) -> Option<u32> {
    match name {
        "oqto" => Some(990),
        _ => None,
    }
}

/// A temp HOME with nothing in it, PATH pointing at an empty dir, and a /run/user root
/// without our uid.
struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("home")).unwrap();
        fs::create_dir_all(tmp.path().join("bin")).unwrap();
        Self { tmp }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// An executable script at `rel`.
    fn exe(&self, rel: &str) -> PathBuf {
        let path = self.p(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn env(&self) -> Environment {
        Environment::empty(nix::unistd::getuid().as_raw())
            .with_var("HOME", self.p("home"))
            .with_var("PATH", self.p("bin"))
            .with_var("XDG_RUNTIME_DIR", "/run/user/1000")
            .with_cwd(self.p("cwd"))
            .with_current_exe(self.p("repo/target/debug/oqto-runner"))
            .with_run_user_root(self.p("run-user"))
            .with_group_lookup(groups)
    }

    fn parse(&self, text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            text,
            Path::new("runner.toml"),
            &Overrides::default(),
            &self.env(),
        )
    }
}

#[test]
fn defaults_without_a_file() {
    let t = Env::new();
    let config = Config::load(&Overrides::default(), &t.env()).unwrap();
    assert_eq!(config.file, None);
    assert_eq!(
        config.paths,
        Paths {
            config_file: t.p("home/.config/oqto/runner.toml"),
            socket: "/run/user/1000/oqto/runner.sock".into(),
            socket_source: SocketSource::XdgRuntimeDir,
            data_dir: t.p("home/.local/share/oqto"),
            state_dir: t.p("home/.local/state/oqto"),
            cache_dir: t.p("home/.cache/oqto"),
        }
    );
    let mins = |m: u64| Some(Duration::from_secs(60 * m));
    assert_eq!(
        config.timeouts,
        Timeouts {
            idle: mins(30),
            silence: mins(5),
            ready: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(3),
            terminal_idle: None,
            files_idle: Duration::from_secs(600),
        }
    );
    assert_eq!(
        config.limits,
        Limits {
            max_line: 16 * 1024 * 1024,
            ring_events: 4096,
            ring_bytes: 8 * 1024 * 1024,
            subscriber_queue: 1024,
            max_sessions: 64,
            terminal_scrollback: 1 << 20,
            max_terminals: 64,
        }
    );
    assert_eq!(config.access, Access::default());
    assert_eq!(config.default_harness, "pi");
    assert_eq!(config.default_sandbox_profile, "development");
    assert_eq!(
        config.harnesses.keys().collect::<Vec<_>>(),
        [
            "claude", "codex", "demo", "fake", "gemini", "opencode", "pi"
        ]
    );
    let pi = config.harness("pi").unwrap();
    assert_eq!(
        (pi.kind, pi.builtin, pi.enabled),
        (HarnessKind::Pi, true, true)
    );
    assert!(pi.env_inherit.iter().any(|v| v == "ANTHROPIC_API_KEY"));
    // Nothing installed in this environment: loaded, but unavailable, with the reason.
    assert!(!pi.available());
    assert!(
        pi.detail().starts_with("pi not found, tried:"),
        "{}",
        pi.detail()
    );
    let fake = config.harness("fake").unwrap();
    assert_eq!(fake.kind, HarnessKind::Native);
    assert_eq!(fake.env_inherit, default_env_inherit(HarnessKind::Native));
    // The empty file gives the same as no file.
    let empty = t.parse("").unwrap();
    assert_eq!(empty.file.as_deref(), Some(Path::new("runner.toml")));
    assert_eq!(
        (empty.timeouts, empty.limits, empty.harnesses),
        (config.timeouts, config.limits, config.harnesses)
    );
}

#[test]
fn the_documented_example_parses() {
    let t = Env::new();
    let config = t.parse(doc_example()).unwrap();
    assert_eq!(
        config.paths.socket,
        Path::new("/run/user/1000/oqto/runner.sock")
    );
    assert_eq!(config.paths.socket_source, SocketSource::Config);
    assert_eq!(config.paths.data_dir, t.p("home/.local/share/oqto"));
    assert_eq!(config.timeouts.idle, Some(Duration::from_secs(3600)));
    assert_eq!(config.timeouts.silence, Some(Duration::from_secs(900)));
    assert_eq!(config.timeouts.ready, Duration::from_secs(20));
    assert_eq!(config.timeouts.shutdown_grace, Duration::from_secs(5));
    assert_eq!(
        config.timeouts.terminal_idle,
        Some(Duration::from_secs(12 * 3600))
    );
    assert_eq!(config.timeouts.files_idle, Duration::from_secs(30 * 60));
    assert_eq!(
        config.limits,
        Limits {
            max_line: 32 << 20,
            ring_events: 8192,
            ring_bytes: 16 << 20,
            subscriber_queue: 2048,
            max_sessions: 16,
            terminal_scrollback: 4 << 20,
            max_terminals: 32,
        }
    );
    assert_eq!(config.access.allow_uids, [991]);
    assert_eq!(config.access.allow_groups, [990, 1001]);
    assert_eq!(
        config.harnesses.keys().collect::<Vec<_>>(),
        [
            "claude", "codex", "demo", "fake", "gemini", "my-agent", "opencode", "pi", "pi-work"
        ]
    );
    let pi = config.harness("pi").unwrap();
    assert_eq!(
        pi.command,
        Some(Command::Path(t.p("home/.local/pi/bin/pi")))
    );
    assert_eq!(pi.args, ["--offline", "--thinking", "medium"]);
    assert_eq!(pi.env.get("PI_TELEMETRY").map(String::as_str), Some("0"));
    assert_eq!(pi.env_inherit.len(), 6);
    let work = config.harness("pi-work").unwrap();
    assert_eq!((work.kind, work.builtin), (HarnessKind::Pi, false));
    assert_eq!(work.env_inherit, default_env_inherit(HarnessKind::Pi));
    let mine = config.harness("my-agent").unwrap();
    assert_eq!(mine.kind, HarnessKind::Native);
    assert_eq!(
        mine.command,
        Some(Command::Path("/opt/my-agent/bin/my-agent".into()))
    );
    assert!(mine.inherits("MY_AGENT_TOKEN"));
    assert!(!config.harness("fake").unwrap().enabled);
    assert_eq!(
        config
            .enabled_harnesses()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
        [
            "claude", "codex", "demo", "gemini", "my-agent", "opencode", "pi", "pi-work"
        ]
    );
    assert_eq!(
        config.permissions.allow,
        [
            oqto_protocol::ToolKind::Read,
            oqto_protocol::ToolKind::Search
        ]
        .into_iter()
        .collect()
    );
}

#[test]
fn the_doc_names_every_key() {
    // serde lists the known keys in its unknown-field message; each must be documented.
    let t = Env::new();
    for (text, table) in [
        ("zzz = 1", ""),
        ("[runner]\nzzz = 1", "runner"),
        ("[harness.x]\nzzz = 1", "harness"),
    ] {
        let err = t.parse(text).unwrap_err().to_string();
        let expected = &err[err.find("expected").unwrap_or_else(|| panic!("{err}"))..];
        let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        assert!(keys.len() >= 2, "{err}");
        for key in keys {
            let documented = if table.is_empty() {
                format!("[{key}")
            } else {
                format!("| `{key}` |")
            };
            assert!(
                DOC.contains(&documented),
                "docs/runner.md lacks {documented} ({table})"
            );
        }
    }
}

#[test]
fn runner_keys_match_the_model() {
    let err = Env::new()
        .parse("[runner]\nzzz = 1")
        .unwrap_err()
        .to_string();
    let expected = &err[err.find("expected").unwrap()..];
    let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    assert_eq!(keys, raw::RUNNER_KEYS);
}

/// Each bad file, the line and column of its error, and words the message must contain.
const BAD_FILES: &[(&str, &str, &[&str])] = &[
    (
        "[runner]\nmax_sessions = 4\nidle_timout = \"5m\"\n",
        "runner.toml:3:1: ",
        &[
            "runner.idle_timout",
            "unknown field `idle_timout`",
            "`idle_timeout`",
        ],
    ),
    (
        "idle_timeout = \"5m\"\n",
        "runner.toml:1:1: ",
        &[
            "unknown field `idle_timeout`, expected one of `runner`, `harness`, `permissions`",
            "(runner settings go in the `[runner]` table)",
        ],
    ),
    (
        "[harness.my-agent]\nkind = \"native\"\ncommand = \"agent\"\nargv = []\n",
        "runner.toml:4:1: ",
        &["harness.my-agent.argv", "unknown field `argv`", "`args`"],
    ),
    (
        "[runner]\n\nsilence_timeout = \"5 minutes\"\n",
        "runner.toml:3:19: ",
        &[
            "runner.silence_timeout",
            "invalid duration `5 minutes`",
            "missing unit",
        ],
    ),
    (
        "[runner]\nready_timeout = \"10x\"\n",
        "runner.toml:2:17: ",
        &["runner.ready_timeout", "unknown unit `x`"],
    ),
    (
        "[runner]\nready_timeout = 30\n",
        "runner.toml:2:17: ",
        &[
            "runner.ready_timeout",
            "expected a duration string",
            "integer 30",
        ],
    ),
    (
        "[runner]\nshutdown_grace = \"0s\"\n",
        "runner.toml:2:18: ",
        &["runner.shutdown_grace", "must be greater than 0"],
    ),
    (
        "[runner]\nshutdown_grace = \"1h\"\n",
        "runner.toml:2:18: ",
        &["runner.shutdown_grace", "must be at most 10m"],
    ),
    (
        "[runner]\nmax_sessions = 0\n",
        "runner.toml:2:16: ",
        &["runner.max_sessions", "must be between 1 and 4096, got 0"],
    ),
    (
        "[runner]\nring_events = -5\n",
        "runner.toml:2:15: ",
        &[
            "runner.ring_events",
            "must be between 16 and 1048576, got -5",
        ],
    ),
    (
        "[runner]\nmax_line = \"16MB\"\n",
        "runner.toml:2:12: ",
        &[
            "runner.max_line",
            "invalid size `16MB`",
            "unknown unit `MB`",
        ],
    ),
    (
        "[runner]\nring_bytes = 0\n",
        "runner.toml:2:14: ",
        &["runner.ring_bytes", "must be between 64KiB and 1GiB, got 0"],
    ),
    (
        "[runner]\nterminal_scrollback = \"1KiB\"\n",
        "runner.toml:2:23: ",
        &[
            "runner.terminal_scrollback",
            "must be between 64KiB and 256MiB, got `1KiB`",
        ],
    ),
    (
        "[runner]\nterminal_idle_timeout = 30\n",
        "runner.toml:2:25: ",
        &["runner.terminal_idle_timeout", "got the integer 30"],
    ),
    (
        "[runner]\nmax_sessions = \"ten\"\n",
        "runner.toml:2:16: ",
        &[
            "runner.max_sessions",
            "invalid type: string \"ten\", expected i64",
        ],
    ),
    (
        "[runner]\nallow_uids = 5\n",
        "runner.toml:2:14: ",
        &[
            "runner.allow_uids",
            "invalid type: integer `5`, expected a sequence",
        ],
    ),
    (
        "[runner]\nallow_uids = [1000, -1]\n",
        "runner.toml:2:21: ",
        &["runner.allow_uids[1]", "-1 is not a valid id"],
    ),
    (
        "[runner]\nallow_groups = [\"nosuchgroup\"]\n",
        "runner.toml:2:17: ",
        &["runner.allow_groups[0]", "unknown group `nosuchgroup`"],
    ),
    (
        "[runner]\nallow_groups = [true]\n",
        "runner.toml:2:17: ",
        &["runner.allow_groups[0]", "expected a string or an integer"],
    ),
    (
        "[harness.My_Agent]\nkind = \"native\"\ncommand = \"x\"\n",
        "runner.toml:1:10: ",
        &["harness.My_Agent", "invalid harness name `My_Agent`"],
    ),
    (
        "[harness.agent]\ncommand = \"/bin/true\"\n",
        "runner.toml:1:1: ",
        &["harness.agent", "missing `kind`"],
    ),
    (
        "[harness.agent]\nkind = \"mcp\"\ncommand = \"x\"\n",
        "runner.toml:2:8: ",
        &[
            "harness.agent.kind",
            "unknown variant `mcp`, expected one of `pi`, `native`, `acp`",
        ],
    ),
    (
        "[harness.agent]\nkind = \"native\"\n",
        "runner.toml:1:1: ",
        &["harness.agent", "missing `command`"],
    ),
    (
        "[harness.agent]\nkind = \"native\"\ncommand = \"\"\n",
        "runner.toml:3:11: ",
        &["harness.agent.command", "must not be empty"],
    ),
    (
        "[harness.agent]\nkind = \"native\"\ncommand = \"bin/agent\"\n",
        "runner.toml:3:11: ",
        &["harness.agent.command", "relative path"],
    ),
    (
        "[harness.pi]\nkind = \"native\"\n",
        "runner.toml:2:8: ",
        &[
            "harness.pi.kind",
            "the built-in harness `pi` has kind \"pi\"",
        ],
    ),
    (
        "[harness.pi]\nargs = \"--offline\"\n",
        "runner.toml:2:8: ",
        &[
            "harness.pi.args",
            "invalid type: string \"--offline\", expected a sequence",
        ],
    ),
    (
        "[harness.pi]\nenabled = \"no\"\n",
        "runner.toml:2:11: ",
        &["harness.pi.enabled", "expected a boolean"],
    ),
    (
        "[harness.pi]\nenv = { \"BAD-NAME\" = \"x\" }\n",
        "runner.toml:2:9: ",
        &[
            "harness.pi.env.BAD-NAME",
            "invalid variable name `BAD-NAME`",
        ],
    ),
    (
        "[harness.pi]\nenv_inherit = [\"PATH\", \"*\"]\n",
        "runner.toml:2:24: ",
        &["harness.pi.env_inherit[1]", "invalid variable name `*`"],
    ),
    (
        "[harness.pi]\nenabled = false\n",
        "runner.toml:2:11: ",
        &["harness.pi.enabled", "default harness"],
    ),
    (
        "[runner]\ndefault_harness = \"nope\"\n",
        "runner.toml:2:19: ",
        &[
            "runner.default_harness",
            "no harness named `nope` (known: claude, codex, demo, fake, gemini, opencode, pi)",
        ],
    ),
    (
        "[runner]\ndefault_harness = \"fake\"\n[harness.fake]\nenabled = false\n",
        "runner.toml:2:19: ",
        &["runner.default_harness", "`fake` is disabled"],
    ),
    (
        "[runner]\ndefault_sandbox_profile = \"Dev Box\"\n",
        "runner.toml:2:27: ",
        &["runner.default_sandbox_profile", "invalid name `Dev Box`"],
    ),
    (
        "[runner]\ndata_dir = \"data\"\n",
        "runner.toml:2:12: ",
        &[
            "runner.data_dir",
            "must be an absolute path or start with `~/`",
        ],
    ),
    (
        "[runner]\nsocket = \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\"\n",
        "runner.toml:2:10: ",
        &["runner.socket", "shorter than 108 bytes"],
    ),
    (
        "[runner\nmax_sessions = 1\n",
        "runner.toml:1:8: ",
        &["unclosed table, expected `]`"],
    ),
];

#[test]
fn bad_files_are_located() {
    let t = Env::new();
    for (text, location, words) in BAD_FILES {
        let err = match t.parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.starts_with(location),
            "for\n{text}\nexpected {location}…, got: {err}"
        );
        for word in *words {
            assert!(
                err.contains(word),
                "for\n{text}\nexpected `{word}` in: {err}"
            );
        }
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

#[test]
fn turning_timers_off() {
    let t = Env::new();
    let config = t
        .parse("[runner]\nidle_timeout = \"off\"\nsilence_timeout = \"0\"\n")
        .unwrap();
    assert_eq!(
        (config.timeouts.idle, config.timeouts.silence),
        (None, None)
    );
    let config = t.parse("[runner]\nidle_timeout = \"1h30m\"\n").unwrap();
    assert_eq!(config.timeouts.idle, Some(Duration::from_secs(5400)));
    let err = t.parse("[runner]\nready_timeout = \"off\"\n").unwrap_err();
    assert!(err.to_string().contains("invalid duration `off`"), "{err}");
}

#[test]
fn sizes_take_integers_and_units() {
    let t = Env::new();
    let config = t
        .parse("[runner]\nmax_line = 65536\nring_bytes = \"1GiB\"\n")
        .unwrap();
    assert_eq!(
        (config.limits.max_line, config.limits.ring_bytes),
        (65536, 1 << 30)
    );
}

#[test]
fn explicit_config_must_exist_default_need_not() {
    let t = Env::new();
    let overrides = Overrides {
        config: Some(t.p("nope.toml")),
        ..Overrides::default()
    };
    let err = Config::load(&overrides, &t.env()).unwrap_err();
    assert!(matches!(&err, ConfigError::Missing { path } if *path == t.p("nope.toml")));
    assert!(err.to_string().contains("does not exist"), "{err}");
    // The default location, missing: defaults.
    assert!(
        Config::load(&Overrides::default(), &t.env())
            .unwrap()
            .file
            .is_none()
    );
}

#[test]
fn load_reads_the_default_file_and_reports_its_path() {
    let t = Env::new();
    let file = t.p("home/.config/oqto/runner.toml");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, "[runner]\nmax_sessions = 3\n").unwrap();
    let config = Config::load(&Overrides::default(), &t.env()).unwrap();
    assert_eq!(config.file.as_deref(), Some(file.as_path()));
    assert_eq!(config.limits.max_sessions, 3);

    fs::write(&file, "[runner]\nmax_sessions = 0\n").unwrap();
    let err = Config::load(&Overrides::default(), &t.env()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:2:16: runner.max_sessions", file.display())),
        "{err}"
    );
    let ConfigError::Invalid(invalid) = err else {
        panic!("{err}")
    };
    assert_eq!(invalid.location, Some((2, 16)));
    assert_eq!(invalid.key.as_deref(), Some("runner.max_sessions"));

    // An explicit --config, relative to the working directory, wins.
    fs::create_dir_all(t.p("cwd")).unwrap();
    fs::write(t.p("cwd/other.toml"), "[runner]\nmax_sessions = 5\n").unwrap();
    let overrides = Overrides {
        config: Some("other.toml".into()),
        ..Overrides::default()
    };
    let config = Config::load(&overrides, &t.env()).unwrap();
    assert_eq!(config.limits.max_sessions, 5);
    assert_eq!(config.paths.config_file, t.p("cwd/other.toml"));

    // An unreadable one (a directory) is a read error.
    let overrides = Overrides {
        config: Some(t.p("home")),
        ..Overrides::default()
    };
    let err = Config::load(&overrides, &t.env()).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
}

#[test]
fn flags_beat_the_file() {
    let t = Env::new();
    let text = "[runner]\nsocket = \"~/s.sock\"\ndata_dir = \"/srv/oqto\"\n";
    let config = t.parse(text).unwrap();
    assert_eq!(config.paths.socket, t.p("home/s.sock"));
    assert_eq!(config.paths.data_dir, Path::new("/srv/oqto"));
    let overrides = Overrides {
        socket: Some("/tmp/flag.sock".into()),
        data_dir: Some("data".into()),
        config: None,
    };
    let config = Config::from_toml(text, Path::new("runner.toml"), &overrides, &t.env()).unwrap();
    assert_eq!(
        (config.paths.socket, config.paths.socket_source),
        ("/tmp/flag.sock".into(), SocketSource::Flag)
    );
    assert_eq!(config.paths.data_dir, t.p("cwd/data"));
}

#[test]
fn socket_fallback_when_xdg_runtime_dir_is_unset() {
    let t = Env::new();
    let env = t.env().without_var("XDG_RUNTIME_DIR");
    let config =
        Config::from_toml("", Path::new("runner.toml"), &Overrides::default(), &env).unwrap();
    assert_eq!(
        (config.paths.socket, config.paths.socket_source),
        (
            t.p("home/.local/state/oqto/run/runner.sock"),
            SocketSource::StateDir
        )
    );
    let mine = t.p("run-user").join(env.uid().to_string());
    fs::create_dir_all(&mine).unwrap();
    fs::set_permissions(&mine, fs::Permissions::from_mode(0o700)).unwrap();
    let config =
        Config::from_toml("", Path::new("runner.toml"), &Overrides::default(), &env).unwrap();
    assert_eq!(
        (config.paths.socket, config.paths.socket_source),
        (mine.join("oqto/runner.sock"), SocketSource::RunUser)
    );
}

#[test]
fn too_long_socket_from_the_environment_is_a_path_error() {
    let t = Env::new();
    let env = t
        .env()
        .with_var("XDG_RUNTIME_DIR", format!("/{}", "r".repeat(95)));
    let err =
        Config::from_toml("", Path::new("runner.toml"), &Overrides::default(), &env).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Path(PathError::SocketTooLong { len: 113, .. })
        ),
        "{err}"
    );
}

#[test]
fn harness_programs_are_resolved() {
    let t = Env::new();
    let exe = |rel: &str| t.exe(rel);
    exe("bin/pi");
    exe("bin/agent");
    exe("repo/target/debug/oqto-fake-agent");
    let config = t
        .parse("[harness.mine]\nkind = \"native\"\ncommand = \"agent\"\n[harness.gone]\nkind = \"native\"\ncommand = \"/nope/agent\"\n")
        .unwrap();
    let detail = |name: &str| config.harness(name).unwrap().detail();
    assert_eq!(
        detail("pi"),
        format!("{} (from PATH)", t.p("bin/pi").display())
    );
    assert_eq!(
        detail("fake"),
        format!(
            "{} (from next to oqto-runner)",
            t.p("repo/target/debug/oqto-fake-agent").display()
        )
    );
    assert_eq!(
        detail("mine"),
        format!("{} (from runner.toml)", t.p("bin/agent").display())
    );
    assert_eq!(
        detail("gone"),
        "/nope/agent not found, tried: runner.toml command /nope/agent (not an executable file)"
    );
    assert!(!config.harness("gone").unwrap().available());

    // OQTO_PI_BIN beats PATH.
    let pinned = exe("pinned/pi");
    let env = t.env().with_var(PI_BIN_VAR, &pinned);
    let config =
        Config::from_toml("", Path::new("runner.toml"), &Overrides::default(), &env).unwrap();
    let pi = config.harness("pi").unwrap();
    assert_eq!(
        pi.program.as_ref().unwrap().source,
        ProgramSource::EnvVar(PI_BIN_VAR)
    );
    assert_eq!(pi.argv().unwrap()[0], pinned.as_os_str());
}

#[test]
fn the_doc_lists_the_default_env_inherit() {
    for name in BASE_ENV_INHERIT.iter().chain(PI_ENV_INHERIT) {
        let lower = name.to_ascii_lowercase();
        assert!(
            DOC.contains(&format!("`{name}`"))
                || (*name == lower && DOC.contains("lowercase forms")),
            "docs/runner.md lacks `{name}`"
        );
    }
}

#[test]
fn capture_reads_the_process() {
    let env = Environment::capture();
    assert_eq!(env.uid(), nix::unistd::getuid().as_raw());
    assert_eq!(env.var("PATH"), std::env::var_os("PATH").as_deref());
    assert_eq!(env.current_exe(), std::env::current_exe().ok().as_deref());
}

#[test]
fn pi_is_looked_at_with_the_environment_it_will_run_in() {
    let t = Env::new();
    // Nothing configured: the runner's HOME, no provider.
    let config = t.parse("").unwrap();
    let env = config.pi_environment(&t.env());
    assert_eq!(pi_agent_dir(&env), Some(t.p("home/.pi/agent")));
    assert!(!pi_llm(&env).configured);

    // A key and an agent directory set in runner.toml count.
    let config = t
        .parse(
            "[harness.pi]\nenv = { ANTHROPIC_API_KEY = \"k\", PI_CODING_AGENT_DIR = \"/agents/pi\" }\n",
        )
        .unwrap();
    let env = config.pi_environment(&t.env());
    assert_eq!(pi_agent_dir(&env), Some(PathBuf::from("/agents/pi")));
    assert_eq!(pi_llm(&env).detail, "$ANTHROPIC_API_KEY is set");

    // A key in the runner's environment that pi does not inherit does not.
    let config = t
        .parse("[harness.pi]\nenv_inherit = [\"HOME\", \"PATH\"]\n")
        .unwrap();
    let runner_env = t.env().with_var("OPENAI_API_KEY", "k");
    assert!(pi_llm(&runner_env).configured);
    assert!(!pi_llm(&config.pi_environment(&runner_env)).configured);

    // The default harness, when it is a pi, is the one prompts go to.
    let config = t
        .parse(
            "[runner]\ndefault_harness = \"work\"\n\
             [harness.work]\nkind = \"pi\"\nenv = { PI_CODING_AGENT_DIR = \"/agents/work\" }\n\
             [harness.pi]\nenv = { PI_CODING_AGENT_DIR = \"/agents/pi\" }\n",
        )
        .unwrap();
    assert_eq!(config.main_pi().map(|h| h.name.as_str()), Some("work"));
    let env = config.pi_environment(&t.env());
    assert_eq!(pi_agent_dir(&env), Some(PathBuf::from("/agents/work")));

    // A default that is not a pi leaves the one named `pi`.
    let config = t
        .parse("[runner]\ndefault_harness = \"fake\"\n[harness.pi]\nenv = { PI_CODING_AGENT_DIR = \"/agents/pi\" }\n")
        .unwrap();
    assert_eq!(config.main_pi().map(|h| h.name.as_str()), Some("pi"));
    assert_eq!(
        pi_agent_dir(&config.pi_environment(&t.env())),
        Some(PathBuf::from("/agents/pi"))
    );
}

#[test]
fn the_demo_model_stands_in_for_a_pi_without_a_model_and_says_why() {
    let t = Env::new();
    let config = t.parse("").unwrap();
    let chosen = config.default_harness_for(&t.env());
    assert_eq!(chosen.name, DEMO_HARNESS);
    let note = chosen.note.expect("a note says why");
    assert!(
        note.contains("DEMO model") && note.contains("--harness pi"),
        "{note}"
    );

    // A key pi will see keeps pi, without a note.
    let keyed = t.env().with_var("ANTHROPIC_API_KEY", "k");
    let chosen = config.default_harness_for(&keyed);
    assert_eq!((chosen.name.as_str(), chosen.note), ("pi", None));

    // A default that is not a pi is used as it is.
    let config = t.parse("[runner]\ndefault_harness = \"fake\"\n").unwrap();
    let chosen = config.default_harness_for(&t.env());
    assert_eq!((chosen.name.as_str(), chosen.note), ("fake", None));

    // With the demo harness disabled, there is nothing to stand in.
    let config = t.parse("[harness.demo]\nenabled = false\n").unwrap();
    let chosen = config.default_harness_for(&t.env());
    assert_eq!((chosen.name.as_str(), chosen.note), ("pi", None));
}

#[test]
fn claude_gemini_and_codex_are_acp_builtins_found_in_the_local_prefix_or_on_path() {
    let t = Env::new();
    let exe = |rel: &str| t.exe(rel);
    let claude = exe("repo/.local/agents/bin/claude-agent-acp");
    let gemini = exe("bin/gemini");
    let config = t
        .parse("[harness.claude]\nenv = { ANTHROPIC_BASE_URL = \"http://127.0.0.1:1\" }\n")
        .unwrap();
    let h = |name: &str| config.harness(name).unwrap();
    for name in ["claude", "gemini", "codex"] {
        assert_eq!(
            (h(name).kind, h(name).builtin),
            (HarnessKind::Acp, true),
            "{name}"
        );
    }
    assert_eq!(h("claude").program.as_ref().unwrap().path, claude);
    assert_eq!(
        h("claude").detail(),
        format!("{} (from project-local prefix)", claude.display())
    );
    assert_eq!(
        h("claude").env.iter().count(),
        1,
        "the file's env table is kept"
    );
    assert_eq!(h("gemini").program.as_ref().unwrap().path, gemini);
    assert_eq!(h("gemini").args, ["--acp"]);
    assert!(
        h("codex").program.is_err(),
        "codex-acp is installed nowhere"
    );
    assert!(!h("codex").available());
    assert!(
        h("codex").detail().contains("codex-acp"),
        "{}",
        h("codex").detail()
    );
    // Each inherits its own configuration variables, and not the others'.
    assert!(
        h("claude").inherits("ANTHROPIC_BASE_URL") && h("claude").inherits("CLAUDE_CONFIG_DIR")
    );
    assert!(
        h("gemini").inherits("GEMINI_CLI_HOME") && h("gemini").inherits("GOOGLE_GEMINI_BASE_URL")
    );
    assert!(h("codex").inherits("CODEX_HOME") && !h("codex").inherits("GEMINI_CLI_HOME"));
    assert!(!h("opencode").inherits("CLAUDE_CONFIG_DIR"));
    // Their configuration directories exist before they start (the sandbox binds only those).
    assert_eq!(h("claude").state_dirs(&t.env()), [t.p("home/.claude")]);
    assert_eq!(h("gemini").state_dirs(&t.env()), [t.p("home/.gemini")]);
    let env = t.env().with_var("GEMINI_CLI_HOME", t.p("gh"));
    assert_eq!(h("gemini").state_dirs(&env), [t.p("gh/.gemini")]);
    // A built-in's kind cannot change.
    let err = t.parse("[harness.codex]\nkind = \"native\"\n").unwrap_err();
    assert!(err.to_string().contains("has kind \"acp\""), "{err}");
}
