//! The built-in profiles, as data. docs/sandbox.md lists the same rules; a test checks
//! that every rule here appears there.

/// One built-in profile, in the same terms as a `[profiles.NAME]` table.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub summary: &'static str,
    pub isolate_network: bool,
    pub isolate_pid: bool,
    pub allow_read: &'static [&'static str],
    pub allow_write: &'static [&'static str],
    pub read_only: &'static [&'static str],
    pub deny_read: &'static [&'static str],
    pub env_allow: &'static [&'static [&'static str]],
}

/// The profile used when no file and no flag names one.
pub const DEFAULT_PROFILE: &str = "development";

/// Secrets every built-in profile hides, whatever else it exposes.
pub const SECRETS: &[&str] = &[
    "~/.ssh",
    "~/.gnupg",
    "~/.aws",
    "~/.azure",
    "~/.config/gcloud",
    "~/.kube",
    "~/.docker",
    "~/.netrc",
    "~/.git-credentials",
    "~/.config/gh",
    "~/.config/hub",
    "~/.password-store",
    "~/.local/share/keyrings",
    "~/.npmrc",
    "~/.pypirc",
    "~/.cargo/credentials",
    "~/.cargo/credentials.toml",
    "~/.vault-token",
    "~/.mozilla",
    "~/.config/google-chrome",
    "~/.config/chromium",
    "$XDG_DATA_HOME/oqto",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_rsa_key",
];

/// Files that would run code outside the sandbox later (git hooks, git config with
/// `core.fsmonitor` or `core.hooksPath`): kept read-only.
pub const WORKSPACE_GIT: &[&str] = &["$WORKSPACE/.git/hooks", "$WORKSPACE/.git/config"];

/// The basic session variables.
pub const ENV_BASE: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "TZ",
];

/// What the harnesses read: pi's agent directory, offline switch, provider keys; opencode's
/// configuration variables and the XDG directories it keeps its configuration, sessions
/// and cache in (the same ones the rules' `$XDG_…` name).
pub const ENV_HARNESS: &[&str] = &[
    "PI_CODING_AGENT_DIR",
    "PI_OFFLINE",
    "PI_TELEMETRY",
    "*_API_KEY",
    "ANTHROPIC_OAUTH_TOKEN",
    "AZURE_OPENAI_*",
    "NODE_EXTRA_CA_CERTS",
    "OPENCODE_*",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    // Claude Code, Gemini CLI and Codex: where they keep their configuration, and their
    // endpoint and model settings (docs/fake-llm.md).
    "CLAUDE_CONFIG_DIR",
    "CLAUDE_CODE_*",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "DISABLE_AUTOUPDATER",
    "IS_SANDBOX",
    "GEMINI_*",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "CODEX_HOME",
    "OPENAI_BASE_URL",
];

/// Proxy settings, for profiles with network.
pub const ENV_PROXY: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// Shell and tool start-up files that `minimal` keeps read-only in a writable home.
const STARTUP_FILES: &[&str] = &[
    "~/.bashrc",
    "~/.bash_profile",
    "~/.bash_login",
    "~/.bash_logout",
    "~/.profile",
    "~/.zshrc",
    "~/.zshenv",
    "~/.zprofile",
    "~/.zlogin",
    "~/.config/fish",
    "~/.config/autostart",
    "~/.config/systemd",
    "~/.config/environment.d",
    "~/.config/oqto",
    "~/.config/git",
    "~/.gitconfig",
    "~/.local/bin",
    "~/.local/share/applications",
    "$WORKSPACE/.git/hooks",
];

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "minimal",
        summary: "the least confinement: home readable and writable except secrets and start-up files, network on",
        isolate_network: false,
        isolate_pid: true,
        allow_read: &["/opt", "/run/systemd/resolve", "$PI_CODING_AGENT_DIR"],
        allow_write: &["~", "$PI_CODING_AGENT_DIR"],
        read_only: STARTUP_FILES,
        deny_read: SECRETS,
        env_allow: &[ENV_BASE, ENV_HARNESS, ENV_PROXY],
    },
    Builtin {
        name: "development",
        summary: "home read-only except secrets; workspace, tool caches and the agents' sessions writable; network on",
        isolate_network: false,
        isolate_pid: true,
        allow_read: &["~", "/opt", "/run/systemd/resolve", "$PI_CODING_AGENT_DIR"],
        allow_write: &[
            "$XDG_CACHE_HOME",
            "~/.npm",
            "~/.cargo/registry",
            "~/.cargo/git",
            "~/go/pkg/mod",
            "$PI_CODING_AGENT_DIR/sessions",
            "$XDG_DATA_HOME/opencode",
            "~/.local/state/opencode",
            "~/.claude",
            "~/.gemini",
            "~/.codex",
        ],
        read_only: WORKSPACE_GIT,
        deny_read: SECRETS,
        env_allow: &[ENV_BASE, ENV_HARNESS, ENV_PROXY],
    },
    Builtin {
        name: "strict",
        summary: "only the workspace writable, no network, home hidden except pi's agent directory (read-only)",
        isolate_network: true,
        isolate_pid: true,
        allow_read: &["$PI_CODING_AGENT_DIR"],
        allow_write: &[],
        read_only: WORKSPACE_GIT,
        deny_read: SECRETS,
        env_allow: &[ENV_BASE, ENV_HARNESS],
    },
];

/// The built-in profile called `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/sandbox.md documents every rule of every built-in profile.
    #[test]
    fn every_rule_is_documented() {
        let doc = include_str!("../../../../docs/sandbox.md");
        for b in BUILTINS {
            assert!(
                doc.contains(&format!("| {} ", b.name)) || doc.contains(b.name),
                "{}",
                b.name
            );
            let lists = [b.allow_read, b.allow_write, b.read_only, b.deny_read];
            for rule in lists.iter().flat_map(|l| l.iter()) {
                // A whole rule: followed by a space, backtick or comma in the doc.
                let found = [' ', '`', ',']
                    .iter()
                    .any(|end| doc.contains(&format!("{rule}{end}")))
                    || (rule.starts_with("/etc/ssh/ssh_host_")
                        && doc.contains("/etc/ssh/ssh_host_{ed25519,ecdsa,rsa}_key"));
                assert!(found, "{} rule {rule} not in docs/sandbox.md", b.name);
            }
            for pattern in b.env_allow.iter().flat_map(|g| g.iter()) {
                assert!(doc.contains(pattern), "{pattern} not in docs/sandbox.md");
            }
        }
    }
}
