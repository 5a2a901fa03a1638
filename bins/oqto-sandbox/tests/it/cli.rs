//! The command line: --print, explain, check, policy errors, the disabled sandbox.

use std::ffi::OsStr;

use serde_json::Value;

use crate::support::Sandbox;

#[test]
fn print_shows_the_bwrap_argv_one_per_line() {
    let sb = Sandbox::new();
    let run = sb.run(["--print", "--", "true"]);
    run.assert_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].ends_with("bwrap"), "{lines:?}");
    for flag in [
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--seccomp",
        "--json-status-fd",
    ] {
        assert!(lines.contains(&flag), "{flag} missing: {lines:?}");
    }
    let cap = lines.iter().position(|l| *l == "--cap-drop").unwrap();
    assert_eq!(lines[cap + 1], "ALL");
    let ws = sb.ws.display().to_string();
    let bind = lines.windows(3).any(|w| w == ["--bind", &ws, &ws]);
    assert!(bind, "workspace bound read-write: {lines:?}");
    let tmp = lines.windows(2).any(|w| w == ["--tmpfs", "/tmp"]);
    assert!(tmp, "private /tmp: {lines:?}");
    let dashes = lines.iter().position(|l| *l == "--").unwrap();
    assert_eq!(lines[dashes + 1..], ["/usr/bin/true"]);
    assert!(!lines.contains(&"--unshare-net"), "development has network");
}

#[test]
fn print_json_has_argv_and_variable_names_without_values() {
    let sb = Sandbox::new();
    let run = sb.run(["--profile", "strict", "--print", "--json", "--", "true"]);
    run.assert_code(0);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let argv: Vec<&str> = v["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        argv.contains(&"--unshare-net"),
        "strict isolates the network"
    );
    let env: Vec<&str> = v["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(env.contains(&"HOME") && env.contains(&"PATH"), "{env:?}");
    assert!(!env.contains(&"XDG_RUNTIME_DIR"), "{env:?}");
}

#[test]
fn the_environment_is_cleared_to_the_allow_list() {
    let sb = Sandbox::new();
    let run = super::support::output(
        sb.spawn(["--", "sh", "-c", "env"])
            .env("OQTO_TEST_SECRET", "leak")
            .env("OPENAI_API_KEY", "k-123"),
    );
    run.assert_code(0);
    assert!(!run.stdout.contains("OQTO_TEST_SECRET"), "{run:#?}");
    assert!(!run.stdout.contains("XDG_RUNTIME_DIR"), "{run:#?}");
    assert!(run.stdout.contains("OPENAI_API_KEY=k-123"), "{run:#?}");
    assert!(run.stdout.contains("HOME="), "{run:#?}");
}

#[test]
fn explain_json_names_the_origin_of_every_rule() {
    let sb = Sandbox::new();
    sb.write_user_policy("profile = \"development\"\n\ndeny_read = [\"~/private\"]\n");
    let ws_file =
        sb.write_workspace_policy("isolate_network = true\nread_only = [\"$WORKSPACE/vendor\"]\n");
    let run = sb.run(["explain", "--json"]);
    run.assert_code(0);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["enabled"], true);
    assert_eq!(v["profile"]["name"], "development");
    assert_eq!(v["profile"]["from"]["level"], "user");
    assert_eq!(v["profile"]["from"]["line"], 1);
    assert_eq!(v["isolate_network"]["value"], true);
    let net_from = &v["isolate_network"]["from"][0];
    assert_eq!(net_from["level"], "workspace");
    assert_eq!(net_from["file"], ws_file.display().to_string());
    assert_eq!(net_from["line"], 1);
    let private = sb.home().join("private").display().to_string();
    let deny = v["deny_read"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == private.as_str())
        .unwrap();
    assert_eq!(deny["from"][0]["level"], "user");
    assert_eq!(deny["from"][0]["line"], 3);
    let ssh = sb.home().join(".ssh").display().to_string();
    let ssh = v["deny_read"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == ssh.as_str())
        .unwrap();
    assert_eq!(ssh["from"][0]["profile"], "development");
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[0]["present"], false);
    assert!(
        v["fixed"]["seccomp_blocked_syscalls"]
            .as_array()
            .unwrap()
            .contains(&Value::from("ptrace"))
    );
}

#[test]
fn explain_text_says_where_rules_come_from() {
    let sb = Sandbox::new();
    let run = sb.run(["explain", "--profile", "strict"]);
    run.assert_code(0);
    assert!(run.stdout.contains("sandbox: enabled"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("network: isolated (loopback only)  [profile strict via --profile]"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_disabled_sandbox_runs_unconfined_and_explain_says_so() {
    let sb = Sandbox::new();
    sb.write_user_policy("enabled = false\n");
    let run = sb.sh("echo x > ~/written && echo done");
    run.assert_code(0);
    assert!(sb.home().join("written").exists());
    assert!(run.stderr.contains("disabled"), "{run:#?}");
    let text = sb.run(["explain"]);
    assert!(
        text.stdout.contains("sandbox: DISABLED by user"),
        "{text:#?}"
    );
    let json: Value = serde_json::from_str(&sb.run(["explain", "--json"]).stdout).unwrap();
    assert_eq!(json["enabled"], false);
    assert_eq!(json["enabled_from"]["level"], "user");
}

#[test]
fn the_system_policy_outranks_the_user_on_enabled_and_tightens() {
    let sb = Sandbox::new();
    sb.write_system_policy("enabled = true\nprofile = \"strict\"\n");
    sb.write_user_policy("enabled = false\nprofile = \"minimal\"\n");
    let json: Value = serde_json::from_str(&sb.run(["explain", "--json"]).stdout).unwrap();
    assert_eq!(json["enabled"], true);
    assert_eq!(json["enabled_from"]["level"], "system");
    assert_eq!(json["isolate_network"]["value"], true);
    sb.sh("echo x > ~/written").assert_failed();
}

#[test]
fn a_config_file_can_only_tighten() {
    let sb = Sandbox::new();
    let config = sb.env.write(
        "extra.toml",
        "allow_write = [\"~\"]\ndeny_read = [\"~/notes\"]\n",
    );
    sb.env.write("home/notes/a.txt", "private notes");
    let run = sb.sh_with(
        &["--config", config.to_str().unwrap()],
        "cat ~/notes/a.txt; echo x > ~/written",
    );
    run.assert_failed();
    assert!(!run.stdout.contains("private notes"), "{run:#?}");
    assert!(!sb.home().join("written").exists());
}

#[test]
fn policy_errors_name_the_file_and_line() {
    let sb = Sandbox::new();
    let path = sb.write_workspace_policy("profile = \"strict\"\n\ndeny_reed = [\"~/.x\"]\n");
    let run = sb.sh("echo ran > ran.txt");
    run.assert_code(125);
    assert!(
        run.stderr.contains(&format!("{}:3:1", path.display())),
        "{run:#?}"
    );
    assert!(run.stderr.contains("deny_reed"), "{run:#?}");
    assert!(!sb.ws.join("ran.txt").exists());
    let explained = sb.run(["explain"]);
    explained.assert_code(1);
    assert!(explained.stderr.contains(":3:1"), "{explained:#?}");

    sb.write_workspace_policy("allow_write = [\"relative/path\"]\n");
    let run = sb.sh("true");
    run.assert_code(125);
    assert!(run.stderr.contains("sandbox.toml:1:16"), "{run:#?}");
    assert!(run.stderr.contains("relative"), "{run:#?}");

    sb.write_workspace_policy("profile = \"nope\"\n");
    let run = sb.sh("true");
    assert!(run.stderr.contains("unknown profile `nope`"), "{run:#?}");
}

#[test]
fn usage_errors_exit_2() {
    let sb = Sandbox::new();
    sb.run(["--profile", "no-such", "--", "true"])
        .assert_code(125);
    sb.run(["explain", "--profile", "no-such"]).assert_code(1);
    sb.run(["--workspace", "/nonexistent-oqto", "--", "true"])
        .assert_code(2);
    sb.run(["--workspace", "/", "--", "true"]).assert_code(2);
    sb.run(["--print"]).assert_code(2);
    sb.run(["--bogus"]).assert_code(2);
}

#[test]
fn check_passes_on_this_machine() {
    let sb = Sandbox::new();
    let run = sb.run(["check"]);
    run.assert_code(0);
    for item in ["bwrap:", "user namespaces:", "seccomp:", "sandbox start:"] {
        assert!(run.stdout.contains(&format!("ok   {item}")), "{run:#?}");
    }
    let json: Value = serde_json::from_str(&sb.run(["check", "--json"]).stdout).unwrap();
    assert_eq!(json["ok"], true);
}

#[test]
fn check_explains_a_missing_bwrap() {
    let sb = Sandbox::new();
    let run = super::support::output(sb.spawn(["check"]).env("OQTO_SANDBOX_BWRAP", "/nope/bwrap"));
    run.assert_code(125);
    assert!(run.stdout.contains("FAIL bwrap"), "{run:#?}");
    assert!(run.stdout.contains("fix: install bubblewrap"), "{run:#?}");
}

#[test]
fn the_caller_can_expose_an_install_dir_deny_a_path_and_pass_a_variable() {
    let sb = Sandbox::new();
    sb.write_user_policy("profile = \"strict\"\n");
    // A tool installed outside home and the system directories, like the repository's
    // `.local/pi`: invisible under strict until the caller exposes its prefix.
    let prefix = sb.env.root().join("tool");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    super::support::script(
        &prefix.join("bin/hello"),
        "echo \"tool ran: $OQTO_TEST_VAR\"",
    );
    std::fs::write(sb.ws.join("private.txt"), "private").unwrap();
    let hello = prefix.join("bin/hello");
    let hidden = super::support::output(
        sb.spawn([OsStr::new("--"), hello.as_os_str()])
            .env("OQTO_TEST_VAR", "v1"),
    );
    hidden.assert_code(127);

    let deny = sb.ws.join("private.txt");
    let run = |extra: &[&OsStr], cmd: &[&OsStr]| {
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("--expose"),
            prefix.as_os_str(),
            OsStr::new("--deny"),
            deny.as_os_str(),
            OsStr::new("--pass-env"),
            OsStr::new("OQTO_TEST_VAR"),
        ];
        args.extend_from_slice(extra);
        args.push(OsStr::new("--"));
        args.extend_from_slice(cmd);
        super::support::output(
            sb.spawn(args)
                .env("OQTO_TEST_VAR", "v1")
                .env("OQTO_TEST_OTHER", "leak"),
        )
    };
    let ran = run(&[], &[hello.as_os_str()]);
    ran.assert_code(0);
    assert_eq!(ran.stdout, "tool ran: v1\n", "{ran:#?}");
    let probe = run(
        &[],
        &[
            OsStr::new("sh"),
            OsStr::new("-c"),
            OsStr::new("cat private.txt; echo x > \"$0/bin/planted\"; env"),
            prefix.as_os_str(),
        ],
    );
    assert!(!probe.stdout.contains("private"), "{probe:#?}");
    assert!(!probe.stdout.contains("OQTO_TEST_OTHER"), "{probe:#?}");
    assert!(
        !prefix.join("bin/planted").exists(),
        "the exposed dir is read-only"
    );

    let explained = run(&[], &[]);
    explained.assert_code(2); // no command: usage
    let ex = sb.run([
        OsStr::new("explain"),
        OsStr::new("--json"),
        OsStr::new("--expose"),
        prefix.as_os_str(),
        OsStr::new("--pass-env"),
        OsStr::new("OQTO_TEST_VAR"),
    ]);
    ex.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&ex.stdout).unwrap();
    let rule = json["allow_read"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == prefix.to_str().unwrap())
        .expect("the exposed prefix is listed");
    assert_eq!(rule["from"][0]["level"], "caller", "{rule}");

    // Patterns and relative paths are usage errors, and the command does not run.
    for bad in [
        ["--pass-env", "*"],
        ["--expose", "rel/dir"],
        ["--deny", "x"],
    ] {
        let r = sb.run([bad[0], bad[1], "--", "true"]);
        r.assert_code(2);
        assert!(r.stderr.contains(bad[0]), "{r:#?}");
    }
}
