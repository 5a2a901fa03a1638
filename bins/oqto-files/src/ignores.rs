//! `.gitignore` and `.ignore` files, read through the confined root and matched with the
//! `ignore` crate's gitignore engine (the one ripgrep uses).

use std::io::Read as _;
use std::os::fd::AsFd;
use std::path::PathBuf;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};

use crate::confine::{RelPath, Root, kind_of};

/// Ignore files larger than this are not read.
const MAX_IGNORE_FILE: u64 = 1 << 20;
/// The files read in each directory, lowest precedence first.
const IGNORE_FILES: [&str; 2] = [".gitignore", ".ignore"];

/// The ignore rules in force in one directory and its ancestors, deepest last.
#[derive(Debug, Default)]
pub struct IgnoreStack {
    levels: Vec<Option<Gitignore>>,
}

/// The virtual absolute path the matchers see for `rel`.
fn virtual_path(rel: &RelPath) -> PathBuf {
    PathBuf::from("/").join(rel.as_str())
}

impl IgnoreStack {
    /// The rules of `dir` and every directory above it, up to the root.
    pub fn for_dir(root: &Root, dir: &RelPath) -> Self {
        let mut stack = Self::default();
        let mut at = RelPath::root();
        let comps: Vec<String> = dir.components().map(str::to_owned).collect();
        for i in 0..=comps.len() {
            if let Ok(fd) = root.open_dir(&at) {
                stack.push(&fd, &at);
            } else {
                stack.levels.push(None);
            }
            if let Some(c) = comps.get(i) {
                at = at.join(c);
            }
        }
        stack
    }

    /// Adds the rules of directory `dir_rel`, open as `dir`.
    pub fn push(&mut self, dir: &impl AsFd, dir_rel: &RelPath) {
        let mut builder: Option<GitignoreBuilder> = None;
        for file in IGNORE_FILES {
            let Some(text) = read_small(dir, file) else {
                continue;
            };
            let b = builder.get_or_insert_with(|| GitignoreBuilder::new(virtual_path(dir_rel)));
            let from = virtual_path(&dir_rel.join(file));
            for line in text.lines() {
                // A malformed glob is skipped, as git does.
                let _ = b.add_line(Some(from.clone()), line);
            }
        }
        self.levels.push(
            builder
                .and_then(|b| b.build().ok())
                .filter(|g| !g.is_empty()),
        );
    }

    pub fn pop(&mut self) {
        self.levels.pop();
    }

    /// Whether `rel` (an entry of the deepest directory) is ignored.
    pub fn is_ignored(&self, rel: &RelPath, is_dir: bool) -> bool {
        if self.levels.iter().all(Option::is_none) {
            return false;
        }
        let path = virtual_path(rel);
        for level in self.levels.iter().rev().flatten() {
            match level.matched(&path, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}

/// The content of a small regular file `name` in `dir`, not following symlinks.
fn read_small(dir: &impl AsFd, name: &str) -> Option<String> {
    let fd = openat2(
        dir,
        name,
        OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS),
    )
    .ok()?;
    let st = nix::sys::stat::fstat(&fd).ok()?;
    if kind_of(st.st_mode) != oqto_protocol::EntryKind::File {
        return None;
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_IGNORE_FILE)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_rules_and_whitelists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "target/\n*.log\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/.gitignore"), "!keep.log\n").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let top = IgnoreStack::for_dir(&root, &RelPath::root());
        let p = |s: &str| RelPath::parse(s).unwrap();
        assert!(top.is_ignored(&p("target"), true));
        assert!(!top.is_ignored(&p("target"), false));
        assert!(top.is_ignored(&p("a.log"), false));
        assert!(!top.is_ignored(&p("a.rs"), false));
        let sub = IgnoreStack::for_dir(&root, &p("sub"));
        assert!(sub.is_ignored(&p("sub/x.log"), false));
        assert!(!sub.is_ignored(&p("sub/keep.log"), false));
    }
}
