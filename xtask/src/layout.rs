//! `cargo xtask layout`: the rules of the workspace's shape that a compiler does not check.
//!
//! - No package under `bins/` has a normal (non-dev, non-build) dependency on another
//!   package under `bins/`: what two programs share lives in `shared/`.
//! - `oqtoctl`'s normal dependency tree holds none of the server-side crates (`axum`,
//!   `hyper`, `rusqlite`, `seccompiler`): the command line stays small and quick to build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

/// Crates `oqtoctl` must not link.
const NOT_IN_OQTOCTL: &[&str] = &["axum", "hyper", "rusqlite", "seccompiler"];

pub fn check(root: &Path) -> anyhow::Result<()> {
    let metadata = cargo_metadata(root)?;
    let problems = problems(&metadata, root)?;
    if !problems.is_empty() {
        bail!("xtask layout:\n  {}", problems.join("\n  "));
    }
    println!("xtask layout: no binary depends on another; oqtoctl links no server crates");
    Ok(())
}

fn cargo_metadata(root: &Path) -> anyhow::Result<Value> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = oqto_ipc::spawn::Spawn::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .env_inherit([
            "PATH",
            "HOME",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
        ])
        .current_dir(root)
        .std_command()
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("reading cargo metadata")
}

/// Every broken rule, described.
fn problems(metadata: &Value, root: &Path) -> anyhow::Result<Vec<String>> {
    let packages = metadata["packages"].as_array().context("packages")?;
    let bins = root.join("bins");
    let under_bins = |manifest: &str| Path::new(manifest).starts_with(&bins);
    let mut bin_names = BTreeSet::new();
    for p in packages {
        if under_bins(p["manifest_path"].as_str().unwrap_or_default()) {
            bin_names.insert(p["name"].as_str().unwrap_or_default().to_owned());
        }
    }
    let mut out = Vec::new();
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        if !bin_names.contains(name) {
            continue;
        }
        for dep in p["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if dep["kind"].is_null() && bin_names.contains(dep_name) {
                out.push(format!(
                    "{name} depends on {dep_name}: binaries never depend on binaries; move what they share to shared/"
                ));
            }
        }
    }
    // oqtoctl's normal dependency closure, from the resolved graph.
    let nodes = metadata["resolve"]["nodes"].as_array().context("resolve")?;
    let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for p in packages {
        names.insert(
            p["id"].as_str().unwrap_or_default(),
            p["name"].as_str().unwrap_or_default(),
        );
    }
    for node in nodes {
        let id = node["id"].as_str().unwrap_or_default();
        let normal = node["deps"].as_array().into_iter().flatten().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null())
        });
        deps.insert(id, normal.filter_map(|d| d["pkg"].as_str()).collect());
    }
    let start = names
        .iter()
        .find(|(_, n)| **n == "oqtoctl")
        .map(|(id, _)| *id)
        .context("no oqtoctl package")?;
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(id) = todo.pop() {
        if seen.insert(id) {
            todo.extend(deps.get(id).into_iter().flatten().copied());
        }
    }
    for id in seen {
        let name = names.get(id).copied().unwrap_or_default();
        if NOT_IN_OQTOCTL.contains(&name) {
            out.push(format!("oqtoctl links {name} (a server-side crate)"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(bin_deps: &[(&str, &str, Option<&str>)], oqtoctl_deps: &[&str]) -> Value {
        let mut packages = vec![
            serde_json::json!({"id":"ctl","name":"oqtoctl","manifest_path":"/r/bins/oqtoctl/Cargo.toml","dependencies":[]}),
            serde_json::json!({"id":"run","name":"oqto-runner","manifest_path":"/r/bins/oqto-runner/Cargo.toml","dependencies":[]}),
            serde_json::json!({"id":"cfg","name":"oqto-config","manifest_path":"/r/shared/oqto-config/Cargo.toml","dependencies":[]}),
            serde_json::json!({"id":"axum","name":"axum","manifest_path":"/home/.cargo/axum/Cargo.toml","dependencies":[]}),
        ];
        for (from, to, kind) in bin_deps {
            let p = packages.iter_mut().find(|p| p["name"] == *from).unwrap();
            p["dependencies"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"name": to, "kind": kind}));
        }
        let deps: Vec<Value> = oqtoctl_deps
            .iter()
            .map(|d| serde_json::json!({"pkg": d, "dep_kinds": [{"kind": null}]}))
            .collect();
        serde_json::json!({
            "packages": packages,
            "resolve": {"nodes": [{"id":"ctl","deps":deps}, {"id":"cfg","deps":[]}, {"id":"run","deps":[{"pkg":"axum","dep_kinds":[{"kind":null}]}]}]}
        })
    }

    #[test]
    fn a_binary_on_a_binary_and_a_server_crate_in_oqtoctl_are_reported() {
        let root = Path::new("/r");
        let good = metadata(
            &[
                ("oqtoctl", "oqto-config", None),
                ("oqtoctl", "oqto-runner", Some("dev")),
            ],
            &["cfg"],
        );
        assert_eq!(problems(&good, root).unwrap(), Vec::<String>::new());
        let bad = metadata(&[("oqtoctl", "oqto-runner", None)], &["cfg", "run"]);
        let found = problems(&bad, root).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("oqtoctl depends on oqto-runner"));
        assert_eq!(found[1], "oqtoctl links axum (a server-side crate)");
    }
}
