//! Pointing Claude Code, Gemini CLI and Codex at the fake LLM, each in a private home.
//!
//! Each agent reads its endpoint and key from environment variables and, for Gemini CLI and
//! Codex, a configuration file. [`agent_env`] gives the variables for a private home directory
//! (the agent's configuration and state go there, never into the user's own), [`agent_files`]
//! the files to put under it, and [`write_agent_home`] does both. `docs/fake-llm.md` describes
//! what each agent calls and its quirks.

use std::path::{Path, PathBuf};

use crate::{API_KEY, DEFAULT_MODEL, MODELS};

/// The coding agents this module configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    /// Claude Code, through `@zed-industries/claude-agent-acp` (Anthropic Messages API).
    Claude,
    /// Gemini CLI, `gemini --acp` (Gemini API).
    Gemini,
    /// Codex, through `@zed-industries/codex-acp` (`OpenAI` Responses API).
    Codex,
}

impl Agent {
    /// Every agent, in this order.
    pub const ALL: [Self; 3] = [Self::Claude, Self::Gemini, Self::Codex];

    /// `claude`, `gemini` or `codex`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Gemini => "gemini",
            Self::Codex => "codex",
        }
    }

    /// The agent called `name` (see [`Agent::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The program that speaks ACP on stdio, and its arguments.
    pub fn acp_command(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Self::Claude => ("claude-agent-acp", &[]),
            Self::Gemini => ("gemini", &["--acp"]),
            Self::Codex => ("codex-acp", &[]),
        }
    }
}

/// The server's origin: `base_url` without a trailing `/v1`. The Anthropic and Gemini SDKs add
/// their own path (`/v1/messages`, `/v1beta/models/…`) to it.
pub fn origin(base_url: &str) -> &str {
    let url = base_url.trim_end_matches('/');
    url.strip_suffix("/v1").unwrap_or(url)
}

/// The environment an agent needs to use the server at `base_url` (the `…/v1` URL the server
/// prints) with its configuration and state in the private directory `home`.
pub fn agent_env(agent: Agent, base_url: &str, home: &Path) -> Vec<(String, String)> {
    let path = |p: PathBuf| p.to_string_lossy().into_owned();
    let vars: Vec<(&str, String)> = match agent {
        Agent::Claude => vec![
            ("ANTHROPIC_BASE_URL", origin(base_url).to_owned()),
            ("ANTHROPIC_API_KEY", API_KEY.to_owned()),
            ("CLAUDE_CONFIG_DIR", path(home.join(".claude"))),
            // No telemetry, error reporting, update checks or other calls to Anthropic.
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
            ("DISABLE_AUTOUPDATER", "1".to_owned()),
            // Lets claude-agent-acp offer its bypassPermissions mode when run as root.
            ("IS_SANDBOX", "1".to_owned()),
        ],
        Agent::Gemini => vec![
            ("GOOGLE_GEMINI_BASE_URL", origin(base_url).to_owned()),
            ("GEMINI_API_KEY", API_KEY.to_owned()),
            // A named model: no model router asking a flash model for a JSON classification.
            ("GEMINI_MODEL", DEFAULT_MODEL.to_owned()),
            ("GEMINI_CLI_HOME", path(home.to_path_buf())),
            ("GEMINI_TELEMETRY_ENABLED", "false".to_owned()),
        ],
        Agent::Codex => vec![("CODEX_HOME", path(home.join(".codex")))],
    };
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The configuration files an agent reads, as paths relative to its private home and contents.
pub fn agent_files(agent: Agent, base_url: &str) -> Vec<(PathBuf, String)> {
    match agent {
        Agent::Claude => Vec::new(),
        Agent::Gemini => vec![(
            PathBuf::from(".gemini/settings.json"),
            gemini_settings_json().to_string(),
        )],
        Agent::Codex => vec![(
            PathBuf::from(".codex/config.toml"),
            codex_config_toml(base_url),
        )],
    }
}

/// Gemini CLI's `settings.json`: the API-key login, the demo model, and no usage statistics
/// sent to Google (on by default, and not switchable by an environment variable).
pub fn gemini_settings_json() -> serde_json::Value {
    serde_json::json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "model": {"name": DEFAULT_MODEL},
        "privacy": {"usageStatisticsEnabled": false},
    })
}

/// Codex's `config.toml` (in `CODEX_HOME`): a model provider `demo` at `base_url` speaking the
/// Responses API. Codex's own sandbox is off (Oqto runs agents in `oqto-sandbox`, and Codex's
/// bubblewrap helper cannot be set up from a home under /tmp); every command that is not known
/// to be read-only is sent to the client as a permission request (`untrusted`).
pub fn codex_config_toml(base_url: &str) -> String {
    // A JSON string of a URL is a valid TOML basic string.
    let quoted = |s: &str| serde_json::Value::from(s).to_string();
    let name = MODELS
        .iter()
        .find(|m| m.id == DEFAULT_MODEL)
        .map_or("", |m| m.name);
    format!(
        "# Codex against oqto-fake-llm (printed by `oqto-fake-llm agent-config codex`).\n\
         model = {model}\n\
         model_provider = \"demo\"\n\
         approval_policy = \"untrusted\"\n\
         sandbox_mode = \"danger-full-access\"\n\
         check_for_update_on_startup = false\n\
         \n\
         [model_providers.demo]\n\
         name = {name}\n\
         base_url = {url}\n\
         wire_api = \"responses\"\n",
        model = quoted(DEFAULT_MODEL),
        name = quoted(name),
        url = quoted(base_url),
    )
}

/// Creates `home` with the agent's configuration files for the server at `base_url` and
/// returns the environment to run it with ([`agent_env`]).
pub fn write_agent_home(
    agent: Agent,
    home: &Path,
    base_url: &str,
) -> std::io::Result<Vec<(String, String)>> {
    std::fs::create_dir_all(home)?;
    for (rel, contents) in agent_files(agent, base_url) {
        let path = home.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)?;
    }
    Ok(agent_env(agent, base_url, home))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
        env.iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| panic!("{key} missing from {env:?}"), |(_, v)| v.as_str())
    }

    #[test]
    fn anthropic_and_gemini_get_the_origin_and_codex_the_v1_url() {
        let url = "http://127.0.0.1:4242/v1";
        let home = Path::new("/h");
        let claude = agent_env(Agent::Claude, url, home);
        assert_eq!(get(&claude, "ANTHROPIC_BASE_URL"), "http://127.0.0.1:4242");
        assert_eq!(get(&claude, "CLAUDE_CONFIG_DIR"), "/h/.claude");
        let gemini = agent_env(Agent::Gemini, url, home);
        assert_eq!(
            get(&gemini, "GOOGLE_GEMINI_BASE_URL"),
            "http://127.0.0.1:4242"
        );
        assert_eq!(get(&gemini, "GEMINI_MODEL"), "oqto-demo");
        assert_eq!(get(&gemini, "GEMINI_CLI_HOME"), "/h");
        let codex = agent_env(Agent::Codex, url, home);
        assert_eq!(get(&codex, "CODEX_HOME"), "/h/.codex");
        let toml = codex_config_toml(url);
        assert!(
            toml.contains("base_url = \"http://127.0.0.1:4242/v1\"\n"),
            "{toml}"
        );
        assert!(toml.contains("wire_api = \"responses\""));
        assert!(toml.contains("model_provider = \"demo\""));
        assert_eq!(origin("http://[::1]:1/v1/"), "http://[::1]:1");
        assert_eq!(origin("http://h:1"), "http://h:1");
    }

    #[test]
    fn names_round_trip_and_homes_are_written() {
        for agent in Agent::ALL {
            assert_eq!(Agent::from_name(agent.name()), Some(agent));
        }
        assert_eq!(Agent::from_name("pi"), None);
        let dir = tempfile::tempdir().unwrap();
        let env = write_agent_home(Agent::Codex, dir.path(), "http://127.0.0.1:1/v1").unwrap();
        let home = Path::new(get(&env, "CODEX_HOME"));
        let toml = std::fs::read_to_string(home.join("config.toml")).unwrap();
        assert!(toml.contains("127.0.0.1:1/v1"));
        write_agent_home(Agent::Gemini, dir.path(), "http://127.0.0.1:1/v1").unwrap();
        let settings: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(".gemini/settings.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(settings["privacy"]["usageStatisticsEnabled"], false);
    }
}
