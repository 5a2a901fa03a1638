//! Path confinement: the one module that turns a client's path into a file descriptor.
//!
//! Every path is a relative, `/`-separated string checked by [`RelPath::parse`] (no absolute
//! paths, no `..`, no NUL, no over-long names). Resolution then goes through `openat2(2)`
//! with `RESOLVE_BENEATH` from a descriptor of the root that is held for the server's whole
//! life: the kernel refuses, atomically, any resolution that would leave the root, whether
//! through a symlink (absolute or relative), a symlink chain, or a symlink swapped in between
//! a check and a use. Operations on an entry itself (stat, delete, rename, create) resolve its
//! parent directory that way and then use the `*at` calls on the single last component with
//! `AT_SYMLINK_NOFOLLOW` semantics, so the last component is never followed either.
//!
//! Regular files are opened for reading only after an `O_PATH` descriptor showed a regular
//! file; the real open is `O_NONBLOCK` (a FIFO swapped in would not block it) and must show
//! the same inode, so FIFOs, sockets and devices are never opened for reading.

use std::ffi::{CStr, OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use oqto_protocol::{Entry, EntryKind, ErrorCode, ErrorResponse, Millis};

/// Longest path accepted, in bytes (Linux `PATH_MAX` less the terminating NUL).
pub const MAX_PATH: usize = 4095;
/// Longest path component, in bytes (Linux `NAME_MAX`).
pub const MAX_NAME: usize = 255;

/// A typed failure of a file operation: the error code and a message naming the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsError {
    pub code: ErrorCode,
    pub message: String,
    /// For `bad_offset`: where an upload stands.
    pub offset: Option<u64>,
}

impl FsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            offset: None,
        }
    }

    /// Maps an errno from an operation on `path` (the client's spelling).
    pub fn errno(e: Errno, path: &str) -> Self {
        use ErrorCode as C;
        let (code, what) = match e {
            Errno::ENOENT => (C::NotFound, "does not exist"),
            Errno::EEXIST => (C::AlreadyExists, "exists"),
            Errno::ENOTDIR => (C::NotADirectory, "is not a directory (or a parent is not)"),
            Errno::EISDIR => (C::IsADirectory, "is a directory"),
            Errno::ENOTEMPTY => (C::NotEmpty, "is not empty"),
            Errno::EACCES | Errno::EPERM => (C::PermissionDenied, "permission denied"),
            Errno::EXDEV => (C::OutsideRoot, "resolves outside the root"),
            Errno::ELOOP => (C::OutsideRoot, "has too many levels of symlinks"),
            Errno::ENAMETOOLONG => (C::NameTooLong, "name too long"),
            Errno::EROFS => (C::ReadOnly, "read-only file system"),
            Errno::ENOSPC | Errno::EDQUOT => (C::Io, "no space left on device"),
            Errno::EINVAL => (C::InvalidPath, "invalid argument"),
            other => return Self::new(C::Io, format!("{}: {}", shown(path), other.desc())),
        };
        Self::new(code, format!("{} {what}", shown(path)))
    }

    pub fn io(e: &std::io::Error, path: &str) -> Self {
        match e.raw_os_error() {
            Some(n) => Self::errno(Errno::from_raw(n), path),
            None => Self::new(ErrorCode::Io, format!("{}: {e}", shown(path))),
        }
    }

    /// The error reply for request `id`.
    pub fn into_reply(self, id: Option<oqto_protocol::RequestId>) -> ErrorResponse {
        ErrorResponse {
            id,
            code: self.code,
            message: self.message,
            offset: self.offset,
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for FsError {}

/// How a path is shown in messages: `.` for the root, otherwise as given (cut when long).
fn shown(path: &str) -> String {
    if path.is_empty() || path == "." {
        return ".".to_owned();
    }
    if path.len() > 200 {
        let mut end = 200;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        return format!("{}…", &path[..end]);
    }
    path.to_owned()
}

pub type FsResult<T> = Result<T, FsError>;

/// A validated relative path: components that are neither empty, `.` nor `..`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath {
    /// Components joined by `/`; empty for the root.
    joined: String,
}

impl RelPath {
    /// The root itself.
    pub fn root() -> Self {
        Self {
            joined: String::new(),
        }
    }

    /// Checks a client's path. `""`, `"."` and `"./"` are the root; repeated and trailing
    /// slashes and `.` components are dropped.
    pub fn parse(path: &str) -> FsResult<Self> {
        use ErrorCode as C;
        if path.contains('\0') {
            return Err(FsError::new(
                C::InvalidPath,
                "a path must not contain a NUL byte",
            ));
        }
        if path.len() > MAX_PATH {
            return Err(FsError::new(
                C::NameTooLong,
                format!("a path is longer than {MAX_PATH} bytes"),
            ));
        }
        if path.starts_with('/') {
            return Err(FsError::new(
                C::InvalidPath,
                format!("absolute paths are not allowed: {}", shown(path)),
            ));
        }
        let mut joined = String::with_capacity(path.len());
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(FsError::new(
                        C::InvalidPath,
                        format!("`..` is not allowed in a path: {}", shown(path)),
                    ));
                }
                name if name.len() > MAX_NAME => {
                    return Err(FsError::new(
                        C::NameTooLong,
                        format!("a path component is longer than {MAX_NAME} bytes"),
                    ));
                }
                name => {
                    if !joined.is_empty() {
                        joined.push('/');
                    }
                    joined.push_str(name);
                }
            }
        }
        Ok(Self { joined })
    }

    pub fn is_root(&self) -> bool {
        self.joined.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.joined
    }

    /// The path for a syscall relative to the root: `.` for the root.
    fn for_syscall(&self) -> &str {
        if self.joined.is_empty() {
            "."
        } else {
            &self.joined
        }
    }

    /// The parent and the last component; `None` for the root.
    pub fn split_last(&self) -> Option<(RelPath, &str)> {
        if self.joined.is_empty() {
            return None;
        }
        Some(match self.joined.rsplit_once('/') {
            Some((parent, name)) => (
                RelPath {
                    joined: parent.to_owned(),
                },
                name,
            ),
            None => (RelPath::root(), self.joined.as_str()),
        })
    }

    /// `self/name` for a single valid component `name`.
    #[must_use]
    pub fn join(&self, name: &str) -> RelPath {
        if self.joined.is_empty() {
            RelPath {
                joined: name.to_owned(),
            }
        } else {
            RelPath {
                joined: format!("{}/{name}", self.joined),
            }
        }
    }

    /// The last component (`""` for the root).
    pub fn name(&self) -> &str {
        self.split_last().map_or("", |(_, name)| name)
    }

    /// Whether `self` is `other` or below it.
    pub fn starts_with(&self, other: &RelPath) -> bool {
        other.is_root()
            || self.joined == other.joined
            || (self.joined.starts_with(&other.joined)
                && self.joined.as_bytes().get(other.joined.len()) == Some(&b'/'))
    }

    /// The components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.joined.split('/').filter(|c| !c.is_empty())
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(shown(&self.joined).as_str())
    }
}

/// The served directory, held open for the server's life.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// The resolve flags of every lookup below the root.
fn beneath() -> ResolveFlag {
    ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

fn how(flags: OFlag) -> OpenHow {
    // openat2 refuses O_PATH with anything but O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC.
    let extra = if flags.contains(OFlag::O_PATH) {
        OFlag::O_CLOEXEC
    } else {
        OFlag::O_CLOEXEC | OFlag::O_NOCTTY
    };
    OpenHow::new().flags(flags | extra).resolve(beneath())
}

impl Root {
    /// Opens `path` (which must be a directory) as the root.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let path = std::fs::canonicalize(path)?;
        let fd = nix::fcntl::open(
            &path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { fd, path })
    }

    /// A second handle on the same directory (for a thread that outlives a borrow).
    pub fn try_clone(&self) -> FsResult<Self> {
        let fd = self.fd.try_clone().map_err(|e| FsError::io(&e, "."))?;
        Ok(Self {
            fd,
            path: self.path.clone(),
        })
    }

    /// The root's absolute path (for the watcher, which works by path).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `rel` with `flags`, following symlinks only while they stay beneath the root.
    pub fn open_beneath(&self, rel: &RelPath, flags: OFlag) -> FsResult<OwnedFd> {
        openat2(self.fd.as_fd(), rel.for_syscall(), how(flags))
            .map_err(|e| FsError::errno(e, rel.as_str()))
    }

    /// A directory, for reading its entries.
    pub fn open_dir(&self, rel: &RelPath) -> FsResult<OwnedFd> {
        self.open_beneath(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(|e| not_a_dir_message(e, rel))
    }

    /// The directory holding `rel`'s last component, and that component. The root itself
    /// has no parent: `invalid_path`.
    pub fn parent<'a>(&self, rel: &'a RelPath) -> FsResult<(OwnedFd, &'a str)> {
        let Some((parent, name)) = rel.split_last() else {
            return Err(FsError::new(
                ErrorCode::InvalidPath,
                "this operation needs a path below the root, not the root itself",
            ));
        };
        let dir = self.open_dir(&parent)?;
        Ok((dir, name))
    }

    /// Like [`Root::parent`], creating missing parent directories first.
    pub fn parent_created<'a>(&self, rel: &'a RelPath) -> FsResult<(OwnedFd, &'a str)> {
        let Some((parent, _)) = rel.split_last() else {
            return self.parent(rel);
        };
        self.mkdir_all(&parent)?;
        self.parent(rel)
    }

    /// Creates `rel` and its missing parents; succeeds when it exists as a directory.
    pub fn mkdir_all(&self, rel: &RelPath) -> FsResult<()> {
        let mut done = RelPath::root();
        for comp in rel.components() {
            let dir = self.open_dir(&done)?;
            match nix::sys::stat::mkdirat(&dir, comp, Mode::from_bits_truncate(0o777)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(FsError::errno(e, done.join(comp).as_str())),
            }
            done = done.join(comp);
        }
        // The last one must be a directory (beneath the root, possibly through a symlink).
        self.open_dir(rel).map(drop)
    }

    /// Metadata of `rel` itself (a symlink is not followed), with its target.
    pub fn lstat(&self, rel: &RelPath) -> FsResult<Entry> {
        if rel.is_root() {
            let st = fstat(self.fd.as_fd()).map_err(|e| FsError::errno(e, ""))?;
            return Ok(entry_from_stat(String::new(), &st, None));
        }
        let (dir, name) = self.parent(rel)?;
        lstat_at(&dir, name).map_err(|e| FsError::errno(e, rel.as_str()))
    }

    /// Metadata of what `rel` resolves to (symlinks followed beneath the root).
    pub fn stat(&self, rel: &RelPath) -> FsResult<Entry> {
        let fd = self.open_beneath(rel, OFlag::O_PATH)?;
        let st = fstat(&fd).map_err(|e| FsError::errno(e, rel.as_str()))?;
        Ok(entry_from_stat(rel.name().to_owned(), &st, None))
    }

    /// Opens a regular file for reading. Anything else is refused without opening it.
    pub fn open_read(&self, rel: &RelPath) -> FsResult<(File, FileStat)> {
        let probe = self.open_beneath(rel, OFlag::O_PATH)?;
        let st = fstat(&probe).map_err(|e| FsError::errno(e, rel.as_str()))?;
        check_regular(&st, rel)?;
        // The real open may resolve to another inode if the path changed meanwhile: it is
        // non-blocking (a FIFO would not block it) and checked before any read.
        let fd = self.open_beneath(rel, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
        let st2 = fstat(&fd).map_err(|e| FsError::errno(e, rel.as_str()))?;
        check_regular(&st2, rel)?;
        if (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino) {
            return Err(FsError::new(
                ErrorCode::Changed,
                format!("{rel} was replaced while it was opened"),
            ));
        }
        Ok((File::from(fd), st2))
    }
}

fn not_a_dir_message(e: FsError, rel: &RelPath) -> FsError {
    if e.code == ErrorCode::NotADirectory {
        FsError::new(
            ErrorCode::NotADirectory,
            format!("{rel} is not a directory"),
        )
    } else {
        e
    }
}

/// Refuses anything but a regular file: directories with `is_a_directory`, the rest with
/// `special_file`.
pub fn check_regular(st: &FileStat, rel: &RelPath) -> FsResult<()> {
    match kind_of(st.st_mode) {
        EntryKind::File => Ok(()),
        EntryKind::Dir => Err(FsError::new(
            ErrorCode::IsADirectory,
            format!("{rel} is a directory"),
        )),
        other => Err(FsError::new(
            ErrorCode::SpecialFile,
            format!("{rel} is a {}, not a regular file", kind_name(other)),
        )),
    }
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "directory",
        EntryKind::Symlink => "symlink",
        EntryKind::Fifo => "fifo",
        EntryKind::Socket => "socket",
        EntryKind::CharDevice => "character device",
        EntryKind::BlockDevice => "block device",
    }
}

pub fn kind_of(mode: u32) -> EntryKind {
    let fmt = SFlag::from_bits_truncate(mode) & SFlag::S_IFMT;
    match fmt {
        SFlag::S_IFDIR => EntryKind::Dir,
        SFlag::S_IFLNK => EntryKind::Symlink,
        SFlag::S_IFIFO => EntryKind::Fifo,
        SFlag::S_IFSOCK => EntryKind::Socket,
        SFlag::S_IFCHR => EntryKind::CharDevice,
        SFlag::S_IFBLK => EntryKind::BlockDevice,
        _ => EntryKind::File,
    }
}

/// Modification time in ms since the epoch (0 before it).
pub fn mtime_ms(st: &FileStat) -> Millis {
    let secs = u64::try_from(st.st_mtime).unwrap_or(0);
    let nanos = u64::try_from(st.st_mtime_nsec).unwrap_or(0);
    secs * 1000 + nanos / 1_000_000
}

pub fn entry_from_stat(name: String, st: &FileStat, target: Option<String>) -> Entry {
    Entry {
        name,
        kind: kind_of(st.st_mode),
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime: mtime_ms(st),
        mode: st.st_mode & 0o7777,
        target,
    }
}

/// `lstat` of `name` in `dir`, with a symlink's target.
pub fn lstat_at<P: nix::NixPath + ?Sized + AsRefOsStr>(
    dir: &impl AsFd,
    name: &P,
) -> Result<Entry, Errno> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let target = if kind_of(st.st_mode) == EntryKind::Symlink {
        Some(
            nix::fcntl::readlinkat(dir, name)?
                .to_string_lossy()
                .into_owned(),
        )
    } else {
        None
    };
    Ok(entry_from_stat(
        name.as_os_str().to_string_lossy().into_owned(),
        &st,
        target,
    ))
}

/// Names usable both as syscall paths and as display strings.
pub trait AsRefOsStr {
    fn as_os_str(&self) -> &OsStr;
}

impl AsRefOsStr for str {
    fn as_os_str(&self) -> &OsStr {
        OsStr::new(self)
    }
}

impl AsRefOsStr for CStr {
    fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(self.to_bytes())
    }
}

impl AsRefOsStr for OsStr {
    fn as_os_str(&self) -> &OsStr {
        self
    }
}

/// Opens the single component `name` of `dir` as a directory without following a symlink.
pub fn open_child_dir(
    dir: &impl AsFd,
    name: &(impl nix::NixPath + ?Sized),
) -> Result<OwnedFd, Errno> {
    openat2(
        dir,
        name,
        OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS),
    )
}

/// The names in a directory (without `.` and `..`), with the kind `readdir` reported.
pub fn read_dir_names(dir: &impl AsFd) -> Result<Vec<(OsString, Option<EntryKind>)>, Errno> {
    let names = DirNames::read(dir, |_| true)?;
    Ok(names
        .items
        .iter()
        .map(|item| (names.os_name(item).to_owned(), item.kind))
        .collect())
}

/// The `getdents64` buffer: glibc's `readdir` uses 32 KiB.
const DIR_BUFFER: usize = 64 << 10;

/// One entry of [`DirNames`]: where its name lies in the shared buffer, and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirItem {
    start: u32,
    len: u16,
    pub kind: Option<EntryKind>,
}

/// The entries of a directory with their names packed into one buffer: one allocation for
/// all names instead of one per name, and entries of 8 bytes that sort in cache.
#[derive(Debug, Default)]
pub struct DirNames {
    bytes: Vec<u8>,
    pub items: Vec<DirItem>,
}

impl DirNames {
    /// Reads every entry of `dir` (from its start) except `.`, `..` and those `keep`
    /// refuses.
    pub fn read(dir: &impl AsFd, mut keep: impl FnMut(&[u8]) -> bool) -> Result<Self, Errno> {
        let mut out = Self::default();
        let mut push = |name: &[u8], kind: Option<EntryKind>| -> Result<(), Errno> {
            if name == b"." || name == b".." || !keep(name) {
                return Ok(());
            }
            let start = u32::try_from(out.bytes.len()).map_err(|_| Errno::EOVERFLOW)?;
            let len = u16::try_from(name.len()).map_err(|_| Errno::ENAMETOOLONG)?;
            out.bytes.extend_from_slice(name);
            out.items.push(DirItem { start, len, kind });
            Ok(())
        };
        // From the start, whatever an earlier reader of this descriptor left.
        nix::unistd::lseek(dir.as_fd(), 0, nix::unistd::Whence::SeekSet)?;
        let mut buf = Vec::with_capacity(DIR_BUFFER);
        let mut entries = rustix::fs::RawDir::new(dir.as_fd(), buf.spare_capacity_mut());
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(|e| Errno::from_raw(e.raw_os_error()))?;
            let kind = match entry.file_type() {
                rustix::fs::FileType::RegularFile => Some(EntryKind::File),
                rustix::fs::FileType::Directory => Some(EntryKind::Dir),
                rustix::fs::FileType::Symlink => Some(EntryKind::Symlink),
                rustix::fs::FileType::Fifo => Some(EntryKind::Fifo),
                rustix::fs::FileType::Socket => Some(EntryKind::Socket),
                rustix::fs::FileType::CharacterDevice => Some(EntryKind::CharDevice),
                rustix::fs::FileType::BlockDevice => Some(EntryKind::BlockDevice),
                rustix::fs::FileType::Unknown => None,
            };
            push(entry.file_name().to_bytes(), kind)?;
        }
        Ok(out)
    }

    /// The bytes of an item's name.
    pub fn name(&self, item: &DirItem) -> &[u8] {
        name_in(&self.bytes, item)
    }

    pub fn os_name(&self, item: &DirItem) -> &OsStr {
        OsStr::from_bytes(self.name(item))
    }

    /// The name buffer and the items, to reorder the items by their names.
    pub fn split(&mut self) -> (&[u8], &mut Vec<DirItem>) {
        (&self.bytes, &mut self.items)
    }
}

/// The name of `item` in the buffer of its [`DirNames`].
pub fn name_in<'a>(bytes: &'a [u8], item: &DirItem) -> &'a [u8] {
    let start = item.start as usize;
    &bytes[start..start + usize::from(item.len)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalizes_and_refuses() {
        assert_eq!(RelPath::parse("").unwrap(), RelPath::root());
        assert_eq!(RelPath::parse("./").unwrap(), RelPath::root());
        assert_eq!(RelPath::parse("a//b/./c/").unwrap().as_str(), "a/b/c");
        let code = |p: &str| RelPath::parse(p).unwrap_err().code;
        assert_eq!(code("/etc/passwd"), ErrorCode::InvalidPath);
        assert_eq!(code("a/../b"), ErrorCode::InvalidPath);
        assert_eq!(code(".."), ErrorCode::InvalidPath);
        assert_eq!(code("a\0b"), ErrorCode::InvalidPath);
        assert_eq!(code(&"x".repeat(256)), ErrorCode::NameTooLong);
        assert_eq!(code(&"a/".repeat(2048)), ErrorCode::NameTooLong);
        assert!(RelPath::parse(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn dir_names_are_read_whole_from_the_start_and_filtered() {
        let tmp = tempfile::tempdir().unwrap();
        let mut want = vec![
            b".hidden".to_vec(),
            b"\xff-not-utf8".to_vec(),
            vec![b'x'; 255],
        ];
        // More entries than one 64 KiB getdents buffer holds.
        for i in 0..3000 {
            want.push(format!("entry-{i:05}").into_bytes());
        }
        for name in &want {
            std::fs::write(tmp.path().join(OsStr::from_bytes(name)), b"").unwrap();
        }
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        want.push(b"sub".to_vec());
        let dir = File::open(tmp.path()).unwrap();
        let read = |keep: &dyn Fn(&[u8]) -> bool| {
            let names = DirNames::read(&dir, keep).unwrap();
            let mut got: Vec<(Vec<u8>, Option<EntryKind>)> = names
                .items
                .iter()
                .map(|i| (names.name(i).to_vec(), i.kind))
                .collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            got
        };
        let mut all: Vec<_> = want
            .iter()
            .map(|n| {
                let kind = if n == b"sub" {
                    EntryKind::Dir
                } else {
                    EntryKind::File
                };
                (n.clone(), Some(kind))
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        // Twice on the same descriptor: the second read starts over.
        assert_eq!(read(&|_| true), all);
        assert_eq!(read(&|_| true), all);
        let visible: Vec<_> = all.iter().filter(|(n, _)| n[0] != b'.').cloned().collect();
        assert_eq!(read(&|n| n[0] != b'.'), visible);
        assert_eq!(read_dir_names(&dir).unwrap().len(), all.len());
    }

    #[test]
    fn split_join_and_prefix() {
        let p = RelPath::parse("a/b/c").unwrap();
        let (parent, name) = p.split_last().unwrap();
        assert_eq!((parent.as_str(), name), ("a/b", "c"));
        assert_eq!(parent.join("c"), p);
        assert!(p.starts_with(&RelPath::parse("a/b").unwrap()));
        assert!(!p.starts_with(&RelPath::parse("a/bc").unwrap()));
        assert!(
            !RelPath::parse("a/bc")
                .unwrap()
                .starts_with(&RelPath::parse("a/b").unwrap())
        );
        assert!(p.starts_with(&RelPath::root()));
        assert!(RelPath::root().split_last().is_none());
    }
}
