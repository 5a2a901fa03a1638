//! `watch`: inotify (through `notify`) below one directory, debounced and bounded.
//!
//! Raw events are merged per path into a pending set (create then modify is a create,
//! create then delete is nothing, a matched move is a rename). A flusher thread sends the set
//! as one `watch.changes` line after a quiet window. The pending set is capped: beyond
//! [`MAX_PENDING`] paths it is dropped and the client gets `watch.overflow` (list again), so
//! a slow client or a storm of changes never grows memory.
//!
//! inotify only sees a new directory's contents once a watch is on it, and `notify` adds that
//! watch after it has handed over the batch that announced the directory. A file made in the
//! directory during that gap would be lost, so before each send the flusher lists every
//! directory created in the window (beneath the root, never through a symlink) and reports
//! what it holds as created; duplicates merge with what inotify reported itself.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use notify::event::{CreateKind, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use oqto_protocol::{Change, ChangeKind, EntryKind, ErrorCode, FilesEvent, FilesServerMessage};

use crate::confine::{FsError, FsResult, RelPath, Root, lstat_at, read_dir_names};
use crate::ops::Fs;
use crate::outbox::Outbox;

/// Quiet time before pending changes are sent.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Longest a change waits while others keep coming (a steady stream still gets sent).
const MAX_DELAY: Duration = Duration::from_secs(1);
/// Most distinct paths held between two sends.
pub const MAX_PENDING: usize = 4096;
/// The prefix of the server's own temporary files (writes, uploads, copies).
const TEMP_PREFIX: &str = ".oqto-";

#[derive(Debug, Default)]
struct Pending {
    order: Vec<Change>,
    /// Index in `order` of the newest change of a path.
    by_path: HashMap<String, usize>,
    /// Directories created since the last send, to list before sending (recursive only).
    created_dirs: Vec<String>,
    /// Raw events seen so far; the flusher waits until this stops moving.
    events: u64,
    overflow: bool,
    stop: bool,
}

impl Pending {
    fn record(&mut self, kind: ChangeKind, path: String, from: Option<String>) {
        if self.overflow {
            return;
        }
        if let Some(&i) = self.by_path.get(&path) {
            let merged = match (self.order[i].kind, kind) {
                (ChangeKind::Created, ChangeKind::Modified | ChangeKind::Created) => {
                    Some(ChangeKind::Created)
                }
                (ChangeKind::Created, ChangeKind::Deleted) => None,
                (ChangeKind::Deleted, ChangeKind::Created)
                | (ChangeKind::Modified, ChangeKind::Modified) => Some(ChangeKind::Modified),
                _ => {
                    self.push(kind, path, from);
                    return;
                }
            };
            if let Some(k) = merged {
                self.order[i].kind = k;
            } else {
                // Created and gone within the window: nothing to report.
                self.order[i].path.clear();
                self.by_path.remove(&path);
            }
            return;
        }
        self.push(kind, path, from);
    }

    fn push(&mut self, kind: ChangeKind, path: String, from: Option<String>) {
        if self.by_path.len() >= MAX_PENDING || self.order.len() >= 2 * MAX_PENDING {
            self.overflow = true;
            self.order.clear();
            self.by_path.clear();
            return;
        }
        self.by_path.insert(path.clone(), self.order.len());
        self.order.push(Change { kind, path, from });
    }

    fn take(&mut self) -> (Vec<Change>, bool) {
        self.by_path.clear();
        self.created_dirs.clear();
        let changes = std::mem::take(&mut self.order)
            .into_iter()
            .filter(|c| !c.path.is_empty())
            .collect();
        (changes, std::mem::take(&mut self.overflow))
    }
}

#[derive(Debug)]
struct State {
    pending: Mutex<Pending>,
    wake: Condvar,
}

/// A running watch; dropping it stops it.
#[derive(Debug)]
pub struct Watch {
    state: Arc<State>,
    _watcher: RecommendedWatcher,
}

impl Drop for Watch {
    fn drop(&mut self) {
        lock(&self.state.pending).stop = true;
        self.state.wake.notify_all();
    }
}

fn lock(m: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Watch {
    // The watcher's callback is clearer as a match on the event result.
    #[allow(clippy::single_match_else)]
    pub fn start(
        fs: &Fs,
        rel: &RelPath,
        recursive: bool,
        id: String,
        out: Outbox,
    ) -> FsResult<Self> {
        // Watch the directory the kernel resolved beneath the root (not a path string that
        // could be swapped later), as `/proc` names the open descriptor.
        let fd = fs.root.open_dir(rel)?;
        let resolved = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .map_err(|e| FsError::io(&e, rel.as_str()))?;
        let root = fs.root.path().to_owned();
        if !resolved.starts_with(&root) {
            return Err(FsError::new(
                ErrorCode::OutsideRoot,
                format!("{rel} resolves outside the root"),
            ));
        }
        let state = Arc::new(State {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let handler_state = Arc::clone(&state);
        let handler_root = root.clone();
        let mut watcher = RecommendedWatcher::new(
            move |res: notify::Result<Event>| match res {
                Ok(event) => on_event(&handler_state, &handler_root, &event),
                Err(_) => {
                    lock(&handler_state.pending).overflow = true;
                    handler_state.wake.notify_all();
                }
            },
            notify::Config::default().with_follow_symlinks(false),
        )
        .map_err(|e| FsError::new(ErrorCode::Io, format!("cannot watch {rel}: {e}")))?;
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher
            .watch(&resolved, mode)
            .map_err(|e| FsError::new(ErrorCode::Io, format!("cannot watch {rel}: {e}")))?;
        let flusher = Flusher {
            state: Arc::clone(&state),
            root: recursive.then(|| fs.root.try_clone()).transpose()?,
            id,
            out,
            gone: Arc::new(AtomicBool::new(false)),
        };
        std::thread::Builder::new()
            .name(format!("files-watch-{}", flusher.id))
            .spawn(move || flusher.run())
            .map_err(|e| FsError::io(&e, rel.as_str()))?;
        Ok(Self {
            state,
            _watcher: watcher,
        })
    }
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?.to_str()?.to_owned();
    if rel.is_empty() {
        return None;
    }
    Some(rel)
}

fn is_temp(rel: &str) -> bool {
    rel.rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with(TEMP_PREFIX))
}

fn on_event(state: &State, root: &Path, event: &Event) {
    let paths: Vec<Option<String>> = event.paths.iter().map(|p| relative(root, p)).collect();
    let first = paths.first().cloned().flatten();
    let mut pending = lock(&state.pending);
    pending.events += 1;
    match event.kind {
        EventKind::Create(kind) => {
            if let Some(p) = first.filter(|p| !is_temp(p)) {
                if kind == CreateKind::Folder {
                    pending.created_dirs.push(p.clone());
                }
                pending.record(ChangeKind::Created, p, None);
            }
        }
        EventKind::Remove(_) => {
            if let Some(p) = first.filter(|p| !is_temp(p)) {
                pending.record(ChangeKind::Deleted, p, None);
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
            if let Some(p) = first.filter(|p| !is_temp(p)) {
                pending.record(ChangeKind::Deleted, p, None);
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            if let Some(p) = first.filter(|p| !is_temp(p)) {
                pending.record(ChangeKind::Created, p, None);
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            let (Some(Some(from)), Some(Some(to))) = (paths.first(), paths.get(1)) else {
                return;
            };
            if is_temp(to) {
                return;
            }
            // The halves were recorded as a delete and a create; replace them.
            for p in [from, to] {
                if let Some(i) = pending.by_path.remove(p) {
                    pending.order[i].path.clear();
                }
            }
            if is_temp(from) {
                // An atomic replace by a writer: the target changed.
                pending.record(ChangeKind::Modified, to.clone(), None);
            } else {
                pending.push(ChangeKind::Renamed, to.clone(), Some(from.clone()));
            }
        }
        EventKind::Modify(_) => {
            if let Some(p) = first.filter(|p| !is_temp(p)) {
                pending.record(ChangeKind::Modified, p, None);
            }
        }
        EventKind::Access(_) | EventKind::Any | EventKind::Other => return,
    }
    drop(pending);
    state.wake.notify_all();
}

/// The thread that sends a watch's merged changes.
struct Flusher {
    state: Arc<State>,
    /// Set for recursive watches: where new directories are listed.
    root: Option<Root>,
    id: String,
    out: Outbox,
    gone: Arc<AtomicBool>,
}

impl Flusher {
    fn run(&self) {
        let state = &*self.state;
        let mut pending = lock(&state.pending);
        loop {
            while !pending.stop && pending.order.is_empty() && !pending.overflow {
                pending = state
                    .wake
                    .wait(pending)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            // Debounce: wait until no event came for a whole window, or MAX_DELAY passed.
            let first = Instant::now();
            loop {
                let seen = pending.events;
                let (guard, res) = state
                    .wake
                    .wait_timeout_while(pending, DEBOUNCE, |p| !p.stop && p.events == seen)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                pending = guard;
                if pending.stop || res.timed_out() || first.elapsed() >= MAX_DELAY {
                    break;
                }
            }
            if pending.stop {
                return;
            }
            if let Some(root) = &self.root {
                let dirs = std::mem::take(&mut pending.created_dirs);
                for dir in dirs {
                    list_new_dir(root, &dir, &mut pending);
                }
            }
            let (changes, overflow) = pending.take();
            drop(pending);
            if !self.send(changes, overflow) {
                self.gone.store(true, Ordering::Relaxed);
                return;
            }
            pending = lock(&state.pending);
        }
    }

    fn send(&self, changes: Vec<Change>, overflow: bool) -> bool {
        let watch = || self.id.clone();
        let mut ok = true;
        if overflow {
            ok &= self
                .out
                .send(&FilesServerMessage::Event(FilesEvent::WatchOverflow {
                    watch: watch(),
                }));
        }
        if !changes.is_empty() && ok {
            ok &= self
                .out
                .send(&FilesServerMessage::Event(FilesEvent::WatchChanges {
                    watch: watch(),
                    changes,
                }));
        }
        ok
    }
}

/// Records everything below the new directory `dir` as created. It is opened beneath the
/// root without following symlinks: a directory swapped for a link is not listed. Stops when
/// the pending set overflows.
fn list_new_dir(root: &Root, dir: &str, pending: &mut Pending) {
    let mut todo = vec![dir.to_owned()];
    while let Some(dir) = todo.pop() {
        if pending.overflow {
            return;
        }
        let Ok(rel) = RelPath::parse(&dir) else {
            continue;
        };
        let Ok(fd) = root.open_beneath(
            &rel,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        ) else {
            continue;
        };
        let Ok(names) = read_dir_names(&fd) else {
            continue;
        };
        for (name, kind) in names {
            let Some(name) = name.to_str() else { continue };
            let path = format!("{dir}/{name}");
            if is_temp(&path) {
                continue;
            }
            // Some filesystems leave the kind out of readdir; ask lstat then.
            let kind = kind.or_else(|| lstat_at(&fd, name).ok().map(|e| e.kind));
            if kind == Some(EntryKind::Dir) {
                todo.push(path.clone());
            }
            pending.record(ChangeKind::Created, path, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_rules() {
        let mut p = Pending::default();
        p.record(ChangeKind::Created, "a".into(), None);
        p.record(ChangeKind::Modified, "a".into(), None);
        p.record(ChangeKind::Modified, "b".into(), None);
        p.record(ChangeKind::Modified, "b".into(), None);
        p.record(ChangeKind::Created, "c".into(), None);
        p.record(ChangeKind::Deleted, "c".into(), None);
        let (changes, overflow) = p.take();
        assert!(!overflow);
        let got: Vec<_> = changes.iter().map(|c| (c.kind, c.path.as_str())).collect();
        assert_eq!(
            got,
            [(ChangeKind::Created, "a"), (ChangeKind::Modified, "b")]
        );
    }

    #[test]
    fn a_new_directory_is_listed_recursively_but_never_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("fresh/deeper");
        std::fs::create_dir_all(&fresh).unwrap();
        std::fs::write(fresh.join("inner.txt"), "x").unwrap();
        std::fs::write(tmp.path().join("fresh/.oqto-tmp1"), "x").unwrap();
        std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
        std::fs::write(tmp.path().join("elsewhere/secret"), "x").unwrap();
        std::os::unix::fs::symlink("elsewhere", tmp.path().join("link")).unwrap();
        let root = Root::open(tmp.path()).unwrap();
        let mut p = Pending::default();
        // inotify already reported one of the entries: it must not come twice.
        p.record(ChangeKind::Created, "fresh".into(), None);
        p.record(ChangeKind::Created, "fresh/deeper".into(), None);
        list_new_dir(&root, "fresh", &mut p);
        list_new_dir(&root, "link", &mut p);
        list_new_dir(&root, "gone", &mut p);
        let (changes, _) = p.take();
        let mut got: Vec<_> = changes.iter().map(|c| (c.kind, c.path.as_str())).collect();
        got.sort_unstable_by_key(|(_, p)| *p);
        assert_eq!(
            got,
            [
                (ChangeKind::Created, "fresh"),
                (ChangeKind::Created, "fresh/deeper"),
                (ChangeKind::Created, "fresh/deeper/inner.txt"),
            ]
        );
    }

    #[test]
    fn too_many_paths_overflow() {
        let mut p = Pending::default();
        for i in 0..=MAX_PENDING {
            p.record(ChangeKind::Created, format!("f{i}"), None);
        }
        let (changes, overflow) = p.take();
        assert!(overflow);
        assert!(changes.is_empty());
    }
}
