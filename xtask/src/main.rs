//! Project automation: `cargo xtask gen [--check]`, `cargo xtask layout`.
//!
//! `gen` writes the generated, committed files: man pages (`man/`), shell completions
//! (`completions/{bash,zsh,fish}/`) and the protocol's TypeScript types
//! (`frontend/src/protocol/protocol.ts`). `gen --check` writes nothing and fails when any
//! of them differs from what the sources generate, or when a stale file is left over.

#![allow(clippy::print_stdout)]

mod layout;
mod man;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use clap_complete::Shell;
use oqto_cli::ManExtra;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Oqto project automation")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Generate man pages, completions and TypeScript protocol types
    Gen {
        /// Write nothing; fail if any generated file is out of date
        #[arg(long)]
        check: bool,
    },
    /// Check the workspace's shape: no binary depends on another, oqtoctl links no
    /// server crates
    Layout,
}

/// A program whose man pages and completions are generated.
struct Program {
    cmd: clap::Command,
    extra: ManExtra,
}

fn programs() -> Vec<Program> {
    vec![
        Program {
            cmd: oqtoctl::command(),
            extra: oqtoctl::MAN,
        },
        Program {
            cmd: oqto_runner::command(),
            extra: oqto_runner::MAN,
        },
        Program {
            cmd: oqto_sandbox::command(),
            extra: oqto_sandbox::MAN,
        },
        Program {
            cmd: oqto_files::command(),
            extra: oqto_files::MAN,
        },
        Program {
            cmd: oqto_relay::command(),
            extra: oqto_relay::MAN,
        },
        Program {
            cmd: oqto_fake_llm::command(),
            extra: oqto_fake_llm::MAN,
        },
        Program {
            cmd: oqto_fake_agent::command(),
            extra: oqto_fake_agent::MAN,
        },
    ]
}

/// The directories whose whole content is generated (stale files there are drift too).
const GENERATED_DIRS: &[&str] = &["man", "completions", "frontend/src/protocol"];

fn generate() -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut files = BTreeMap::new();
    for program in programs() {
        let name = program.cmd.get_name().to_owned();
        for (page, content) in man::pages(program.cmd.clone(), &program.extra)? {
            files.insert(PathBuf::from("man").join(page), content);
        }
        for (shell, path) in [
            (Shell::Bash, format!("completions/bash/{name}")),
            (Shell::Zsh, format!("completions/zsh/_{name}")),
            (Shell::Fish, format!("completions/fish/{name}.fish")),
        ] {
            let mut cmd = program.cmd.clone();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, &name, &mut buf);
            files.insert(PathBuf::from(path), buf);
        }
    }
    files.insert(
        PathBuf::from("frontend/src/protocol/protocol.ts"),
        oqto_protocol::ts::typescript().into_bytes(),
    );
    Ok(files)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn existing_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        if !dir.exists() {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                out.push(path.strip_prefix(root)?.to_path_buf());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for dir in GENERATED_DIRS {
        walk(root, &root.join(dir), &mut out)?;
    }
    Ok(out)
}

fn gen_files(check: bool) -> anyhow::Result<()> {
    let root = workspace_root();
    let files = generate()?;
    let stale: Vec<PathBuf> = existing_files(&root)?
        .into_iter()
        .filter(|p| !files.contains_key(p) && !p.ends_with(".gitkeep"))
        .collect();
    let mut drift = Vec::new();
    for (rel, content) in &files {
        let path = root.join(rel);
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(content.as_slice()) {
            continue;
        }
        drift.push(rel.clone());
        if !check {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, content)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if !check {
        for rel in &stale {
            std::fs::remove_file(root.join(rel))?;
        }
        println!(
            "xtask gen: {} files, {} updated, {} stale removed",
            files.len(),
            drift.len(),
            stale.len()
        );
        return Ok(());
    }
    if drift.is_empty() && stale.is_empty() {
        println!(
            "xtask gen --check: {} generated files are up to date",
            files.len()
        );
        return Ok(());
    }
    for rel in &drift {
        eprintln!("out of date: {}", rel.display());
    }
    for rel in &stale {
        eprintln!("stale (no longer generated): {}", rel.display());
    }
    bail!("generated files drifted from their sources: run `cargo xtask gen` and commit")
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Gen { check } => gen_files(check),
        Task::Layout => layout::check(&workspace_root()),
    };
    oqto_cli::finish("xtask", result.map(|()| oqto_cli::Exit::Ok))
}
