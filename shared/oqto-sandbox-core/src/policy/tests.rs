//! Loading layers and merging them; the meet's defining property, over random policies.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

fn vars(ws: &Path) -> Vars {
    Vars {
        home: "/home/u".into(),
        config_home: "/home/u/.config".into(),
        cache_home: "/home/u/.cache".into(),
        data_home: "/home/u/.local/share".into(),
        pi_agent_dir: "/home/u/.pi/agent".into(),
        workspace: ws.to_path_buf(),
    }
}

/// A temp tree with optional system, user and workspace files.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(system: Option<&str>, user: Option<&str>, workspace: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: Option<&str>| {
            if let Some(text) = text {
                let p = dir.path().join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
        };
        write("system.toml", system);
        write("user.toml", user);
        write("ws/.oqto/sandbox.toml", workspace);
        std::fs::create_dir_all(dir.path().join("ws")).unwrap();
        Self { dir }
    }

    fn sources(&self, flag: Option<&str>) -> Sources {
        Sources {
            system: self.dir.path().join("system.toml"),
            user: self.dir.path().join("user.toml"),
            flag_profile: flag.map(str::to_owned),
            configs: Vec::new(),
            workspace: self.dir.path().join("ws"),
            caller: Caller::default(),
        }
    }

    fn load(&self, flag: Option<&str>) -> Result<Effective, LoadError> {
        let sources = self.sources(flag);
        load(&sources, &vars(&sources.workspace))
    }
}

#[test]
fn no_files_give_the_development_profile() {
    let e = Files::new(None, None, None).load(None).unwrap();
    assert!(e.enabled.value);
    assert_eq!(e.base_profile.0, "development");
    assert!(!e.policy.isolate_network.value);
    assert!(e.policy.writable(Path::new("/home/u/.cache/pip")));
    assert!(!e.policy.writable(Path::new("/home/u/notes")));
    assert!(e.policy.readable(Path::new("/home/u/notes")));
    assert!(!e.policy.readable(Path::new("/home/u/.ssh/id_ed25519")));
}

#[test]
fn the_caller_exposes_denies_and_passes_after_the_merge() {
    let files = Files::new(None, Some("profile = \"strict\"\n"), None);
    let mut sources = files.sources(None);
    sources.caller = Caller {
        expose: vec!["/srv/pi".into(), "/home/u/.ssh/keys".into()],
        deny: vec!["/home/u/.local/state/oqto".into()],
        pass_env: vec!["OQTO_FAKE_SCRIPT".into()],
        tty: false,
    };
    let e = load(&sources, &vars(&sources.workspace)).unwrap();
    // Strict hides home and /srv: the caller's exposure still shows its install dir.
    assert!(e.policy.readable(Path::new("/srv/pi/bin/pi")));
    assert!(!e.policy.writable(Path::new("/srv/pi/bin/pi")));
    assert_eq!(
        e.policy.allow_read[Path::new("/srv/pi")]
            .iter()
            .map(|o| o.level)
            .collect::<Vec<_>>(),
        [Level::Caller]
    );
    // A denial wins over an exposure.
    assert!(!e.policy.readable(Path::new("/home/u/.ssh/keys/id")));
    assert!(
        e.policy
            .deny_read
            .contains_key(Path::new("/home/u/.local/state/oqto"))
    );
    assert!(e.policy.env_allowed("OQTO_FAKE_SCRIPT"));
    assert!(!e.policy.env_allowed("OQTO_FAKE_OTHER"));
}

#[test]
fn bad_caller_rules_are_errors() {
    let files = Files::new(None, None, None);
    for caller in [
        Caller {
            expose: vec!["relative/dir".into()],
            ..Caller::default()
        },
        Caller {
            expose: vec!["/".into()],
            ..Caller::default()
        },
        Caller {
            expose: vec!["/proc/1".into()],
            ..Caller::default()
        },
        Caller {
            deny: vec!["x".into()],
            ..Caller::default()
        },
        Caller {
            pass_env: vec!["*".into()],
            ..Caller::default()
        },
        Caller {
            pass_env: vec!["A_*".into()],
            ..Caller::default()
        },
        Caller {
            pass_env: vec!["A=B".into()],
            ..Caller::default()
        },
    ] {
        let mut sources = files.sources(None);
        sources.caller = caller.clone();
        let err = load(&sources, &vars(&sources.workspace)).unwrap_err();
        assert!(matches!(err, LoadError::Caller(_)), "{caller:?}: {err}");
    }
}

#[test]
fn a_minimal_workspace_under_a_strict_user_stays_strict() {
    let files = Files::new(
        None,
        Some("profile = \"strict\"\n"),
        Some("profile = \"minimal\"\nisolate_network = false\nallow_write = [\"~\"]\n"),
    );
    let e = files.load(None).unwrap();
    let strict = Files::new(None, Some("profile = \"strict\"\n"), None)
        .load(None)
        .unwrap();
    assert!(e.policy.isolate_network.value);
    assert!(!e.policy.writable(Path::new("/home/u/x")));
    assert!(!e.policy.readable(Path::new("/home/u/x")));
    assert_eq!(e.policy.allow_write, strict.policy.allow_write);
    assert_eq!(
        e.policy.env_allow.keys().collect::<Vec<_>>(),
        strict.policy.env_allow.keys().collect::<Vec<_>>()
    );
}

#[test]
fn the_flag_profile_tightens_but_does_not_loosen() {
    let files = Files::new(None, Some("profile = \"strict\"\n"), None);
    let e = files.load(Some("minimal")).unwrap();
    assert!(
        e.policy.isolate_network.value,
        "strict user wins over --profile minimal"
    );
    let files = Files::new(None, Some("profile = \"minimal\"\n"), None);
    let e = files.load(Some("strict")).unwrap();
    assert!(
        e.policy.isolate_network.value,
        "--profile strict tightens a minimal user"
    );
    assert_eq!(e.layers[2].level, Level::Flag);
}

#[test]
fn custom_profiles_extend_and_are_checked() {
    let files = Files::new(
        None,
        Some(
            "profile = \"mine\"\n[profiles.mine]\nextends = \"strict\"\nallow_write = [\"~/data\"]\n",
        ),
        None,
    );
    let e = files.load(None).unwrap();
    assert!(e.policy.writable(Path::new("/home/u/data/x")));
    assert!(e.policy.isolate_network.value);
    let origin = e
        .policy
        .allow_write
        .values()
        .next()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(origin.profile.as_deref(), Some("mine"));
    assert_eq!(origin.line, Some(4));

    let err = Files::new(None, Some("[profiles.strict]\n"), None)
        .load(None)
        .unwrap_err();
    assert!(err.to_string().contains("built in"), "{err}");
    let err = Files::new(
        None,
        Some("profile = \"a\"\n[profiles.a]\nextends = \"b\"\n[profiles.b]\nextends = \"a\"\n"),
        None,
    )
    .load(None)
    .unwrap_err();
    assert!(err.to_string().contains("extends itself"), "{err}");
    let err = Files::new(Some("[profiles.x]\n"), Some("[profiles.x]\n"), None)
        .load(None)
        .unwrap_err();
    assert!(err.to_string().contains("already defined"), "{err}");
}

#[test]
fn a_workspace_profile_cannot_be_named_by_the_flag() {
    let files = Files::new(None, None, Some("[profiles.open]\nextends = \"minimal\"\n"));
    let err = files.load(Some("open")).unwrap_err();
    assert!(matches!(err, LoadError::UnknownFlagProfile { .. }), "{err}");
}

#[test]
fn only_system_and_user_files_may_disable() {
    let e = Files::new(None, Some("enabled = false\n"), None)
        .load(None)
        .unwrap();
    assert!(!e.enabled.value);
    assert_eq!(e.enabled.from.level, Level::User);
    let e = Files::new(Some("enabled = true\n"), Some("enabled = false\n"), None)
        .load(None)
        .unwrap();
    assert!(e.enabled.value, "the system's explicit `true` wins");
    let err = Files::new(None, None, Some("\nenabled = true\n"))
        .load(None)
        .unwrap_err();
    let LoadError::File(err) = err else { panic!() };
    assert_eq!(err.line, Some(2));
}

#[test]
fn exposing_root_or_proc_is_an_error() {
    for path in ["/", "/proc/1", "/dev"] {
        let text = format!("allow_read = [\"{path}\"]\n");
        let err = Files::new(None, Some(&text), None).load(None).unwrap_err();
        assert!(err.to_string().contains("cannot be exposed"), "{err}");
    }
}

// --- the meet, over random policies ---

const PATHS: &[&str] = &["/a", "/a/b", "/a/b/c", "/a/c", "/b", "/b/a", "/c"];
const NAMES: &[&str] = &["PATH", "PA", "LC_ALL", "LC_X", "A_KEY", "B_KEY", "HOME"];
const PATTERNS: &[&str] = &["PATH", "LC_*", "*_KEY", "A_KEY", "P*", "*", "HOME", "LC_A*"];

fn path_rules(level: Level) -> impl Strategy<Value = Rules<PathBuf>> {
    proptest::sample::subsequence(PATHS, 0..=PATHS.len()).prop_map(move |ps| {
        let mut r = Rules::new();
        for p in ps {
            rules::add(&mut r, PathBuf::from(p), Origin::new(level));
        }
        r
    })
}

fn policy(level: Level) -> impl Strategy<Value = Policy> {
    (
        any::<bool>(),
        any::<bool>(),
        path_rules(level),
        path_rules(level),
        path_rules(level),
        path_rules(level),
        proptest::sample::subsequence(PATTERNS, 0..=PATTERNS.len()),
    )
        .prop_map(move |(net, pid, read, write, ro, deny, env)| {
            let o = Origin::new(level);
            let mut p = Policy::closed(&o);
            p.isolate_network = Flag::new(net, o.clone());
            p.isolate_pid = Flag::new(pid, o.clone());
            p.allow_read = read;
            p.allow_write = write;
            p.read_only = ro;
            p.deny_read = deny;
            for e in env {
                rules::add(&mut p.env_allow, EnvPattern::parse(e).unwrap(), o.clone());
            }
            p
        })
}

/// Everything `effective` permits, `input` permits too.
fn within(effective: &Policy, input: &Policy) -> Result<(), TestCaseError> {
    for p in PATHS.iter().chain(&["/a/b/c/d", "/z"]) {
        let p = Path::new(p);
        if effective.readable(p) {
            prop_assert!(input.readable(p), "readable {}", p.display());
        }
        if effective.writable(p) {
            prop_assert!(input.writable(p), "writable {}", p.display());
        }
    }
    for n in NAMES {
        if effective.env_allowed(n) {
            prop_assert!(input.env_allowed(n), "env {n}");
        }
    }
    if !effective.isolate_network.value {
        prop_assert!(!input.isolate_network.value);
    }
    if !effective.isolate_pid.value {
        prop_assert!(!input.isolate_pid.value);
    }
    Ok(())
}

proptest! {
    #[test]
    fn the_meet_permits_nothing_any_input_forbids(
        system in policy(Level::System),
        user in policy(Level::User),
        workspace in policy(Level::Workspace),
    ) {
        let effective = system.meet(&user).meet(&workspace);
        for input in [&system, &user, &workspace] {
            within(&effective, input)?;
        }
    }

    #[test]
    fn the_meet_keeps_what_every_input_permits(
        a in policy(Level::User),
        b in policy(Level::Workspace),
    ) {
        // The meet is the greatest lower bound on paths and isolation: nothing both
        // permit is lost (env patterns are kept soundly, at pattern granularity).
        let m = a.meet(&b);
        for p in PATHS {
            let p = Path::new(p);
            if a.readable(p) && b.readable(p) {
                prop_assert!(m.readable(p), "readable {}", p.display());
            }
            if a.writable(p) && b.writable(p) {
                prop_assert!(m.writable(p), "writable {}", p.display());
            }
        }
        prop_assert_eq!(m.isolate_network.value, a.isolate_network.value || b.isolate_network.value);
    }

    #[test]
    fn a_workspace_file_never_loosens_the_loaded_policy(
        net in any::<bool>(),
        pid in any::<bool>(),
        profile in proptest::sample::select(vec!["", "minimal", "development", "strict"]),
        user_profile in proptest::sample::select(vec!["minimal", "development", "strict"]),
        writes in proptest::sample::subsequence(vec!["~", "/etc", "~/.ssh", "$WORKSPACE/.oqto"], 0..=4),
    ) {
        let user = format!("profile = \"{user_profile}\"\n");
        let mut ws = String::new();
        if !profile.is_empty() {
            let _ = writeln!(ws, "profile = \"{profile}\"");
        }
        let _ = writeln!(ws, "isolate_network = {net}\nisolate_pid = {pid}");
        let list: Vec<String> = writes.iter().map(|w| format!("\"{w}\"")).collect();
        let _ = writeln!(ws, "allow_write = [{0}]\nallow_read = [{0}]\nenv_allow = [\"*\"]", list.join(","));
        let with = Files::new(None, Some(&user), Some(&ws)).load(None).unwrap();
        let without = Files::new(None, Some(&user), None).load(None).unwrap();
        within(&with.policy, &without.policy)?;
        for p in ["/home/u", "/home/u/.ssh/k", "/etc/x", "/home/u/.cache/x"] {
            let p = Path::new(p);
            prop_assert!(!with.policy.writable(p) || without.policy.writable(p));
            prop_assert!(!with.policy.readable(p) || without.policy.readable(p));
        }
        for n in ["SECRET", "PATH", "OPENAI_API_KEY"] {
            prop_assert!(!with.policy.env_allowed(n) || without.policy.env_allowed(n));
        }
    }
}

#[test]
fn the_flag_profile_keeps_the_owners_own_keys() {
    let files = Files::new(
        None,
        Some("profile = \"development\"\nallow_read = [\"/opt/pi\"]\n"),
        None,
    );
    let e = files.load(Some("development")).unwrap();
    assert!(e.policy.readable(Path::new("/opt/pi/bin/pi")));
    let e = files.load(Some("strict")).unwrap();
    assert!(e.policy.readable(Path::new("/opt/pi/bin/pi")));
    assert!(e.policy.isolate_network.value);
}
