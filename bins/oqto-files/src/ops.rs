//! The file operations that answer with one reply: list, stat, write, mkdir, rename, copy,
//! delete, hash. Every path goes through [`crate::confine`].

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, RenameFlags, renameat2};
use nix::sys::stat::{Mode, fchmod, fstat, fstatat};
use nix::unistd::UnlinkatFlags;
use oqto_protocol::{Entry, EntryKind, ErrorCode, Precondition, SortKey};
use sha2::{Digest, Sha256};

use crate::confine::{
    DirItem, DirNames, FsError, FsResult, RelPath, Root, check_regular, entry_from_stat, lstat_at,
    name_in, open_child_dir, read_dir_names,
};
use crate::ignores::IgnoreStack;

/// Deepest directory tree `copy` and `delete` descend into.
const MAX_DEPTH: usize = 256;

/// The served tree and the lock that makes check-and-replace atomic between requests.
#[derive(Debug)]
pub struct Fs {
    pub root: Root,
    /// Held from a precondition check to the rename that replaces the file, so two
    /// editors' conditional writes cannot interleave.
    write_lock: Mutex<()>,
}

/// Options of `list`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListOptions {
    pub offset: u64,
    pub limit: usize,
    pub sort: SortKey,
    pub desc: bool,
    pub dirs_first: bool,
    pub hidden: bool,
    pub gitignore: bool,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary name for a file being written in a directory.
pub fn temp_name(kind: &str) -> String {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(".oqto-{kind}-{}-{n}-{nanos:x}", std::process::id())
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of everything `file` yields.
pub fn sha256_of(mut file: impl Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

impl Fs {
    pub fn new(root: Root) -> Self {
        Self {
            root,
            write_lock: Mutex::new(()),
        }
    }

    pub fn lock_writes(&self) -> MutexGuard<'_, ()> {
        self.write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One page of `dir`. Names are read in full (they must be sorted), but only the page's
    /// entries are stat'ed when sorting by name.
    pub fn list(&self, dir: &RelPath, opts: ListOptions) -> FsResult<(Vec<Entry>, u64)> {
        let fd = self.root.open_dir(dir)?;
        let mut names = DirNames::read(&fd, |name| opts.hidden || name.first() != Some(&b'.'))
            .map_err(|e| FsError::errno(e, dir.as_str()))?;
        if opts.gitignore {
            let ig = IgnoreStack::for_dir(&self.root, dir);
            let (bytes, items) = names.split();
            items.retain(|item| {
                let Ok(name) = std::str::from_utf8(name_in(bytes, item)) else {
                    return true;
                };
                !ig.is_ignored(&dir.join(name), item.kind == Some(EntryKind::Dir))
            });
        }
        let total = names.items.len() as u64;
        let is_dir = |k: Option<EntryKind>| k == Some(EntryKind::Dir);
        let page: Vec<Entry> = if opts.sort == SortKey::Name {
            let (bytes, items) = names.split();
            let order = |a: &DirItem, b: &DirItem| {
                let ord = name_in(bytes, a).cmp(name_in(bytes, b));
                let ord = if opts.desc { ord.reverse() } else { ord };
                if opts.dirs_first {
                    is_dir(b.kind).cmp(&is_dir(a.kind)).then(ord)
                } else {
                    ord
                }
            };
            // Only the entries up to the end of the page need sorting: select them first
            // (linear), then sort that prefix. Names in a directory are unique, so the
            // order is total and every page agrees with a full sort.
            let end = usize::try_from(opts.offset)
                .unwrap_or(usize::MAX)
                .saturating_add(opts.limit);
            if end < items.len() {
                items.select_nth_unstable_by(end, order);
                items.truncate(end);
            }
            items.sort_unstable_by(order);
            names
                .items
                .iter()
                .skip(usize::try_from(opts.offset).unwrap_or(usize::MAX))
                .take(opts.limit)
                .filter_map(|item| lstat_at(&fd, names.os_name(item)).ok())
                .collect()
        } else {
            let mut entries: Vec<Entry> = names
                .items
                .iter()
                .filter_map(|item| lstat_at(&fd, names.os_name(item)).ok())
                .collect();
            entries.sort_unstable_by(|a, b| {
                let ord = match opts.sort {
                    SortKey::Mtime => a.mtime.cmp(&b.mtime),
                    SortKey::Size => a.size.cmp(&b.size),
                    SortKey::Name => std::cmp::Ordering::Equal,
                }
                .then_with(|| a.name.cmp(&b.name));
                let ord = if opts.desc { ord.reverse() } else { ord };
                if opts.dirs_first {
                    (b.kind == EntryKind::Dir)
                        .cmp(&(a.kind == EntryKind::Dir))
                        .then(ord)
                } else {
                    ord
                }
            });
            entries
                .into_iter()
                .skip(usize::try_from(opts.offset).unwrap_or(usize::MAX))
                .take(opts.limit)
                .collect()
        };
        Ok((page, total))
    }

    pub fn stat(&self, rel: &RelPath, follow: bool) -> FsResult<Entry> {
        if follow {
            self.root.stat(rel)
        } else {
            self.root.lstat(rel)
        }
    }

    pub fn hash(&self, rel: &RelPath) -> FsResult<(String, u64)> {
        let (file, _) = self.root.open_read(rel)?;
        sha256_of(file).map_err(|e| FsError::io(&e, rel.as_str()))
    }

    pub fn mkdir(&self, rel: &RelPath, parents: bool) -> FsResult<()> {
        if parents {
            return self.root.mkdir_all(rel);
        }
        let (dir, name) = self.root.parent(rel)?;
        nix::sys::stat::mkdirat(&dir, name, Mode::from_bits_truncate(0o777))
            .map_err(|e| FsError::errno(e, rel.as_str()))
    }

    /// Checks `expect` against the current `name` in `dir`. The caller holds the write lock.
    pub fn check(
        &self,
        dir: &OwnedFd,
        name: &str,
        rel: &RelPath,
        expect: &Precondition,
    ) -> FsResult<()> {
        let conflict = |why: String| {
            FsError::new(
                ErrorCode::Conflict,
                format!("{rel} changed since it was read ({why})"),
            )
        };
        let current = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(FsError::errno(e, rel.as_str())),
        };
        match (expect.absent, &current) {
            (Some(true), Some(_)) => return Err(conflict("it exists".into())),
            (Some(false), None) => return Err(conflict("it does not exist".into())),
            _ => {}
        }
        let needs_file = expect.mtime.is_some() || expect.sha256.is_some();
        let Some(st) = current else {
            return if needs_file {
                Err(conflict("it does not exist".into()))
            } else {
                Ok(())
            };
        };
        if let Some(mtime) = expect.mtime {
            let now = crate::confine::mtime_ms(&st);
            if now != mtime {
                return Err(conflict(format!("mtime {now}, expected {mtime}")));
            }
        }
        if let Some(want) = &expect.sha256 {
            let (file, _) = self.root.open_read(rel)?;
            let (have, _) = sha256_of(file).map_err(|e| FsError::io(&e, rel.as_str()))?;
            if !have.eq_ignore_ascii_case(want) {
                return Err(conflict("sha256 differs".into()));
            }
        }
        Ok(())
    }

    /// Atomically replaces `rel` with `content`: a temporary file in the same directory,
    /// synced, then renamed over the target. The old file's permissions are kept.
    pub fn write(
        &self,
        rel: &RelPath,
        content: &[u8],
        create_parents: bool,
        expect: Option<&Precondition>,
    ) -> FsResult<(Entry, String)> {
        let (dir, name) = if create_parents {
            self.root.parent_created(rel)?
        } else {
            self.root.parent(rel)?
        };
        let mode = existing_mode(&dir, name, rel)?;
        let tmp = temp_name("write");
        let mut file = create_temp(&dir, &tmp, rel)?;
        let result = (|| {
            file.write_all(content)
                .map_err(|e| FsError::io(&e, rel.as_str()))?;
            if let Some(mode) = mode {
                fchmod(file.as_fd(), mode).map_err(|e| FsError::errno(e, rel.as_str()))?;
            }
            file.sync_all().map_err(|e| FsError::io(&e, rel.as_str()))?;
            let _guard = self.lock_writes();
            if let Some(expect) = expect {
                self.check(&dir, name, rel, expect)?;
            }
            nix::fcntl::renameat(&dir, tmp.as_str(), &dir, name)
                .map_err(|e| FsError::errno(e, rel.as_str()))
        })();
        if let Err(e) = result {
            let _ = nix::unistd::unlinkat(&dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
            return Err(e);
        }
        let entry = lstat_at(&dir, name).map_err(|e| FsError::errno(e, rel.as_str()))?;
        let mut hasher = Sha256::new();
        hasher.update(content);
        Ok((entry, hex(&hasher.finalize())))
    }

    pub fn rename(&self, from: &RelPath, to: &RelPath, overwrite: bool) -> FsResult<()> {
        if to.starts_with(from) && to != from {
            return Err(FsError::new(
                ErrorCode::InvalidPath,
                format!("cannot move {from} into itself ({to})"),
            ));
        }
        let (from_dir, from_name) = self.root.parent(from)?;
        let (to_dir, to_name) = self.root.parent(to)?;
        // Make sure the source exists first, so a missing source is reported as such.
        fstatat(&from_dir, from_name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| FsError::errno(e, from.as_str()))?;
        let flags = if overwrite {
            RenameFlags::empty()
        } else {
            RenameFlags::RENAME_NOREPLACE
        };
        let _guard = self.lock_writes();
        renameat2(&from_dir, from_name, &to_dir, to_name, flags).map_err(|e| match e {
            Errno::EEXIST | Errno::ENOTEMPTY | Errno::EISDIR | Errno::ENOTDIR => {
                FsError::errno(e, to.as_str())
            }
            Errno::EXDEV => FsError::new(
                ErrorCode::Io,
                format!("cannot move {from} to {to}: another file system"),
            ),
            e => FsError::errno(e, from.as_str()),
        })
    }

    pub fn copy(
        &self,
        from: &RelPath,
        to: &RelPath,
        overwrite: bool,
        recursive: bool,
    ) -> FsResult<()> {
        if to.starts_with(from) {
            return Err(FsError::new(
                ErrorCode::InvalidPath,
                format!("cannot copy {from} into itself ({to})"),
            ));
        }
        let (from_dir, from_name) = self.root.parent(from)?;
        let (to_dir, to_name) = self.root.parent(to)?;
        let entry = lstat_at(&from_dir, from_name).map_err(|e| FsError::errno(e, from.as_str()))?;
        if !overwrite {
            match fstatat(&to_dir, to_name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(_) => return Err(FsError::errno(Errno::EEXIST, to.as_str())),
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(FsError::errno(e, to.as_str())),
            }
        }
        match entry.kind {
            EntryKind::Dir if !recursive => Err(FsError::new(
                ErrorCode::IsADirectory,
                format!("{from} is a directory: copy it with `recursive`"),
            )),
            EntryKind::Dir => copy_tree(&from_dir, from_name, &to_dir, to_name, from, 0),
            _ => copy_entry(
                &self.root, &from_dir, from_name, &to_dir, to_name, from, &entry,
            ),
        }
    }

    pub fn delete(&self, rel: &RelPath, recursive: bool) -> FsResult<()> {
        let (dir, name) = self.root.parent(rel)?;
        let entry = lstat_at(&dir, name).map_err(|e| FsError::errno(e, rel.as_str()))?;
        if entry.kind == EntryKind::Dir {
            if !recursive {
                return Err(FsError::new(
                    ErrorCode::IsADirectory,
                    format!("{rel} is a directory: delete it with `recursive`"),
                ));
            }
            remove_tree(&dir, name, rel, 0)
        } else {
            nix::unistd::unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir)
                .map_err(|e| FsError::errno(e, rel.as_str()))
        }
    }
}

/// The permissions of an existing `name`, refusing to replace a directory or special file.
fn existing_mode(dir: &OwnedFd, name: &str, rel: &RelPath) -> FsResult<Option<Mode>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => {
            if crate::confine::kind_of(st.st_mode) != EntryKind::Symlink {
                check_regular(&st, rel)?;
            }
            Ok(Some(Mode::from_bits_truncate(st.st_mode & 0o7777)))
        }
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(FsError::errno(e, rel.as_str())),
    }
}

/// Creates a new temporary file `tmp` in `dir` (never an existing one, never via a symlink).
pub fn create_temp(dir: &OwnedFd, tmp: &str, rel: &RelPath) -> FsResult<File> {
    nix::fcntl::openat(
        dir,
        tmp,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o666),
    )
    .map(File::from)
    .map_err(|e| FsError::errno(e, rel.as_str()))
}

fn copy_entry(
    root: &Root,
    from_dir: &OwnedFd,
    from_name: &str,
    to_dir: &OwnedFd,
    to_name: &str,
    from: &RelPath,
    entry: &Entry,
) -> FsResult<()> {
    match entry.kind {
        EntryKind::Symlink => {
            let target = nix::fcntl::readlinkat(from_dir, from_name)
                .map_err(|e| FsError::errno(e, from.as_str()))?;
            let tmp = temp_name("copy");
            nix::unistd::symlinkat(target.as_os_str(), to_dir, tmp.as_str())
                .map_err(|e| FsError::errno(e, to_name))?;
            nix::fcntl::renameat(to_dir, tmp.as_str(), to_dir, to_name)
                .map_err(|e| FsError::errno(e, to_name))
        }
        EntryKind::File => {
            let (mut src, st) = root.open_read(from)?;
            copy_file_into(&mut src, &st, to_dir, to_name, from)
        }
        _ => Err(FsError::new(
            ErrorCode::SpecialFile,
            format!("{from} is not a regular file, directory or symlink"),
        )),
    }
}

fn copy_file_into(
    src: &mut File,
    st: &nix::sys::stat::FileStat,
    to_dir: &OwnedFd,
    to_name: &str,
    from: &RelPath,
) -> FsResult<()> {
    let tmp = temp_name("copy");
    let mut dst = create_temp(to_dir, &tmp, from)?;
    let result = (|| {
        // `io::copy` between files uses copy_file_range on Linux.
        std::io::copy(src, &mut dst).map_err(|e| FsError::io(&e, from.as_str()))?;
        fchmod(dst.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))
            .map_err(|e| FsError::errno(e, to_name))?;
        nix::fcntl::renameat(to_dir, tmp.as_str(), to_dir, to_name)
            .map_err(|e| FsError::errno(e, to_name))
    })();
    if result.is_err() {
        let _ = nix::unistd::unlinkat(to_dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    result
}

/// Copies directory `from_name` of `from_dir` to `to_name` of `to_dir`, never following a
/// symlink (symlinks are copied as symlinks).
fn copy_tree(
    from_dir: &OwnedFd,
    from_name: &str,
    to_dir: &OwnedFd,
    to_name: &str,
    from: &RelPath,
    depth: usize,
) -> FsResult<()> {
    if depth > MAX_DEPTH {
        return Err(FsError::new(
            ErrorCode::TooLarge,
            format!("{from} is nested deeper than {MAX_DEPTH} directories"),
        ));
    }
    let src = open_child_dir(from_dir, from_name).map_err(|e| FsError::errno(e, from.as_str()))?;
    let st = fstat(&src).map_err(|e| FsError::errno(e, from.as_str()))?;
    match nix::sys::stat::mkdirat(
        to_dir,
        to_name,
        Mode::from_bits_truncate(st.st_mode & 0o7777),
    ) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(FsError::errno(e, to_name)),
    }
    let dst = open_child_dir(to_dir, to_name).map_err(|e| FsError::errno(e, to_name))?;
    let names = read_dir_names(&src).map_err(|e| FsError::errno(e, from.as_str()))?;
    for (name, _) in names {
        let Some(name) = name.to_str() else {
            continue;
        };
        let child = from.join(name);
        let entry = lstat_at(&src, name).map_err(|e| FsError::errno(e, child.as_str()))?;
        match entry.kind {
            EntryKind::Dir => copy_tree(&src, name, &dst, name, &child, depth + 1)?,
            EntryKind::Symlink => {
                let target = nix::fcntl::readlinkat(&src, name)
                    .map_err(|e| FsError::errno(e, child.as_str()))?;
                match nix::unistd::symlinkat(target.as_os_str(), &dst, name) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(FsError::errno(e, child.as_str())),
                }
            }
            EntryKind::File => {
                let fd = nix::fcntl::openat(
                    &src,
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| FsError::errno(e, child.as_str()))?;
                let st = fstat(&fd).map_err(|e| FsError::errno(e, child.as_str()))?;
                check_regular(&st, &child)?;
                copy_file_into(&mut File::from(fd), &st, &dst, name, &child)?;
            }
            // Special files are not copied.
            _ => {}
        }
    }
    Ok(())
}

/// Removes directory `name` of `dir` and everything below it, never following a symlink.
fn remove_tree(dir: &OwnedFd, name: &str, rel: &RelPath, depth: usize) -> FsResult<()> {
    if depth > MAX_DEPTH {
        return Err(FsError::new(
            ErrorCode::TooLarge,
            format!("{rel} is nested deeper than {MAX_DEPTH} directories"),
        ));
    }
    let sub = open_child_dir(dir, name).map_err(|e| FsError::errno(e, rel.as_str()))?;
    let names = read_dir_names(&sub).map_err(|e| FsError::errno(e, rel.as_str()))?;
    for (child, kind) in names {
        let child_rel = rel.join(&child.to_string_lossy());
        let kind = match kind {
            Some(k) => k,
            None => {
                lstat_at(&sub, child.as_os_str())
                    .map_err(|e| FsError::errno(e, child_rel.as_str()))?
                    .kind
            }
        };
        if kind == EntryKind::Dir {
            let Some(child_name) = child.to_str() else {
                return Err(FsError::new(
                    ErrorCode::InvalidPath,
                    format!("{child_rel}: a name that is not UTF-8"),
                ));
            };
            remove_tree(&sub, child_name, &child_rel, depth + 1)?;
        } else {
            nix::unistd::unlinkat(&sub, child.as_os_str(), UnlinkatFlags::NoRemoveDir)
                .map_err(|e| FsError::errno(e, child_rel.as_str()))?;
        }
    }
    nix::unistd::unlinkat(dir, name, UnlinkatFlags::RemoveDir)
        .map_err(|e| FsError::errno(e, rel.as_str()))
}

/// An entry for a file just written (the name of `rel`).
pub fn entry_of(file: &File, rel: &RelPath) -> FsResult<Entry> {
    let st = fstat(file.as_fd()).map_err(|e| FsError::errno(e, rel.as_str()))?;
    Ok(entry_from_stat(rel.name().to_owned(), &st, None))
}
