//! `search`: names by glob or fuzzy match, contents by regex. The walk goes through
//! directory descriptors opened one component at a time without following symlinks, so it
//! never leaves the root, and honours `.gitignore`/`.ignore` files as ripgrep does. Matches
//! stream out in batches; the result count, a time budget and `cancel` stop it.

use std::io::Read as _;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use globset::{GlobBuilder, GlobMatcher};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use oqto_protocol::{
    EntryKind, ErrorCode, FilesEvent, FilesReply, FilesServerMessage, RequestId, SearchLimit,
    SearchMatch, SearchMode,
};
use regex::bytes::{Regex, RegexBuilder};

use crate::confine::{
    FsError, FsResult, RelPath, kind_of, lstat_at, open_child_dir, read_dir_names,
};
use crate::ignores::IgnoreStack;
use crate::ops::Fs;
use crate::outbox::Outbox;

/// Files larger than this are not searched for content.
const MAX_FILE: u64 = 64 << 20;
/// Bytes looked at to tell binary files (skipped) from text.
const BINARY_SNIFF: usize = 8192;
/// Longest line text sent back.
const MAX_LINE_TEXT: usize = 500;
/// Matches per `search.matches` line, and the longest a match waits to be sent.
const BATCH: usize = 64;
const BATCH_AGE: Duration = Duration::from_millis(50);
const MAX_DEPTH: usize = 256;

/// A validated search request.
#[derive(Clone, Debug)]
pub struct Query {
    pub mode: SearchMode,
    pub pattern: String,
    pub case_insensitive: bool,
    pub hidden: bool,
    pub gitignore: bool,
    pub include: Option<String>,
    pub max_results: u32,
    pub time: Duration,
}

enum Matcher {
    Glob { glob: GlobMatcher, name_only: bool },
    Fuzzy { needle: Vec<u8> },
    Regex(Regex),
}

fn glob(pattern: &str, case_insensitive: bool) -> FsResult<(GlobMatcher, bool)> {
    let g = GlobBuilder::new(pattern)
        .literal_separator(true)
        .case_insensitive(case_insensitive)
        .build()
        .map_err(|e| FsError::new(ErrorCode::BadRequest, format!("bad glob: {e}")))?;
    Ok((g.compile_matcher(), !pattern.contains('/')))
}

struct Walk<'a> {
    query: &'a Query,
    matcher: Matcher,
    include: Option<(GlobMatcher, bool)>,
    base: RelPath,
    id: &'a RequestId,
    out: &'a Outbox,
    cancel: &'a AtomicBool,
    deadline: Instant,
    batch: Vec<SearchMatch>,
    batch_since: Instant,
    matches: u32,
    files: u32,
    stop: Option<Stop>,
    buf: Vec<u8>,
}

enum Stop {
    Limit(SearchLimit),
    Cancelled,
    Gone,
}

/// Runs a search below `dir`, streaming matches to `out`; the reply is the summary.
pub fn run(
    fs: &Fs,
    dir: &RelPath,
    query: &Query,
    id: &RequestId,
    out: &Outbox,
    cancel: &AtomicBool,
) -> FsResult<FilesReply> {
    let matcher = match query.mode {
        SearchMode::Glob => {
            let (glob, name_only) = glob(&query.pattern, query.case_insensitive)?;
            Matcher::Glob { glob, name_only }
        }
        SearchMode::Fuzzy => Matcher::Fuzzy {
            needle: query
                .pattern
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .map(|b| b.to_ascii_lowercase())
                .collect(),
        },
        SearchMode::Regex => Matcher::Regex(
            RegexBuilder::new(&query.pattern)
                .case_insensitive(query.case_insensitive)
                .multi_line(true)
                .size_limit(10 << 20)
                .build()
                .map_err(|e| FsError::new(ErrorCode::BadRequest, format!("bad regex: {e}")))?,
        ),
    };
    let include = query
        .include
        .as_deref()
        .map(|p| glob(p, query.case_insensitive))
        .transpose()?;
    let fd = fs.root.open_dir(dir)?;
    let mut ignores = if query.gitignore {
        let mut parent = IgnoreStack::for_dir(&fs.root, dir);
        // `for_dir` includes `dir` itself; the walk pushes each directory as it enters.
        parent.pop();
        parent
    } else {
        IgnoreStack::default()
    };
    let now = Instant::now();
    let mut walk = Walk {
        query,
        matcher,
        include,
        base: dir.clone(),
        id,
        out,
        cancel,
        deadline: now + query.time,
        batch: Vec::new(),
        batch_since: now,
        matches: 0,
        files: 0,
        stop: None,
        buf: Vec::new(),
    };
    walk.dir(&fd, dir, &mut ignores, 0);
    walk.flush();
    match walk.stop {
        Some(Stop::Cancelled) => Err(FsError::new(ErrorCode::Cancelled, "cancelled")),
        Some(Stop::Gone) => Ok(FilesReply::Empty),
        Some(Stop::Limit(limit)) => Ok(FilesReply::Searched {
            matches: walk.matches,
            files: walk.files,
            limit: Some(limit),
        }),
        None => Ok(FilesReply::Searched {
            matches: walk.matches,
            files: walk.files,
            limit: None,
        }),
    }
}

impl Walk<'_> {
    fn dir(&mut self, fd: &OwnedFd, rel: &RelPath, ignores: &mut IgnoreStack, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        if self.query.gitignore {
            ignores.push(fd, rel);
        }
        let mut names = read_dir_names(fd).unwrap_or_default();
        names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in names {
            if self.stop.is_some() {
                break;
            }
            let Some(name) = name.to_str() else { continue };
            if !self.query.hidden && name.starts_with('.') {
                continue;
            }
            if self.query.gitignore && name == ".git" {
                continue;
            }
            let kind = match kind {
                Some(k) => k,
                None => match lstat_at(fd, name) {
                    Ok(e) => e.kind,
                    Err(_) => continue,
                },
            };
            let child = rel.join(name);
            if self.query.gitignore && ignores.is_ignored(&child, kind == EntryKind::Dir) {
                continue;
            }
            match kind {
                EntryKind::Dir => {
                    if let Ok(sub) = open_child_dir(fd, name) {
                        self.dir(&sub, &child, ignores, depth + 1);
                    }
                }
                EntryKind::File => self.file(fd, name, &child),
                // Symlinks are not followed; special files are never opened.
                _ => {}
            }
        }
        if self.query.gitignore {
            ignores.pop();
        }
    }

    fn check_stop(&mut self) -> bool {
        if self.stop.is_some() {
            return true;
        }
        if self.cancel.load(Ordering::Relaxed) {
            self.stop = Some(Stop::Cancelled);
        } else if Instant::now() >= self.deadline {
            self.stop = Some(Stop::Limit(SearchLimit::Time));
        } else if self.matches >= self.query.max_results {
            self.stop = Some(Stop::Limit(SearchLimit::MaxResults));
        }
        self.stop.is_some()
    }

    /// The path relative to the search directory (what globs see).
    fn local<'p>(&self, child: &'p RelPath) -> &'p str {
        let s = child.as_str();
        if self.base.is_root() {
            s
        } else {
            s.get(self.base.as_str().len() + 1..).unwrap_or(s)
        }
    }

    fn file(&mut self, dir: &OwnedFd, name: &str, child: &RelPath) {
        if self.check_stop() {
            return;
        }
        self.files += 1;
        let local = self.local(child);
        match &self.matcher {
            Matcher::Glob { glob, name_only } => {
                let subject = if *name_only { name } else { local };
                if glob.is_match(subject) {
                    self.push(SearchMatch {
                        path: child.as_str().to_owned(),
                        line: None,
                        text: None,
                        ranges: Vec::new(),
                        score: None,
                    });
                }
            }
            Matcher::Fuzzy { needle } => {
                if let Some(score) = fuzzy_score(needle, local.as_bytes()) {
                    self.push(SearchMatch {
                        path: child.as_str().to_owned(),
                        line: None,
                        text: None,
                        ranges: Vec::new(),
                        score: Some(score),
                    });
                }
            }
            Matcher::Regex(_) => {
                if let Some((inc, name_only)) = &self.include {
                    let subject = if *name_only { name } else { local };
                    if !inc.is_match(subject) {
                        return;
                    }
                }
                self.grep(dir, name, child);
            }
        }
    }

    fn grep(&mut self, dir: &OwnedFd, name: &str, child: &RelPath) {
        let Ok(fd) = openat2(
            dir,
            name,
            OpenHow::new()
                .flags(OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS),
        ) else {
            return;
        };
        let Ok(st) = nix::sys::stat::fstat(fd.as_fd()) else {
            return;
        };
        let size = u64::try_from(st.st_size).unwrap_or(0);
        if kind_of(st.st_mode) != EntryKind::File || size > MAX_FILE {
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let ok = std::fs::File::from(fd)
            .take(MAX_FILE)
            .read_to_end(&mut buf)
            .is_ok();
        if ok && !buf[..buf.len().min(BINARY_SNIFF)].contains(&0) {
            self.scan(&buf, child);
        }
        self.buf = buf;
    }

    // Lines are counted once per matching line only; a byte-count crate would not pay.
    #[allow(clippy::naive_bytecount)]
    fn scan(&mut self, buf: &[u8], child: &RelPath) {
        let Matcher::Regex(re) = &self.matcher else {
            return;
        };
        let mut line_no = 1u64;
        let mut counted_to = 0usize;
        let mut current: Option<(usize, usize, SearchMatch)> = None;
        let mut found = Vec::new();
        for m in re.find_iter(buf) {
            let start = m.start();
            let line_start = buf[..start]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let line_end = buf[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |i| start + i);
            if let Some((ls, _, _)) = &current {
                if *ls != line_start {
                    found.push(current.take().map(|c| c.2));
                }
            }
            if current.is_none() {
                line_no += buf[counted_to..line_start]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count() as u64;
                counted_to = line_start;
                let text_end = line_end.min(line_start + MAX_LINE_TEXT);
                let mut text_end = text_end;
                while text_end > line_start
                    && std::str::from_utf8(&buf[line_start..text_end])
                        .is_err_and(|e| e.error_len().is_none())
                {
                    text_end -= 1;
                }
                current = Some((
                    line_start,
                    text_end,
                    SearchMatch {
                        path: child.as_str().to_owned(),
                        line: Some(line_no),
                        text: Some(
                            String::from_utf8_lossy(&buf[line_start..text_end]).into_owned(),
                        ),
                        ranges: Vec::new(),
                        score: None,
                    },
                ));
            }
            if let Some((ls, te, sm)) = &mut current {
                let s = start.min(*te) - *ls;
                let e = m.end().min(*te).max(start.min(*te)) - *ls;
                if s < e || m.start() == m.end() {
                    sm.ranges.push([
                        u32::try_from(s).unwrap_or(u32::MAX),
                        u32::try_from(e).unwrap_or(u32::MAX),
                    ]);
                }
            }
            if found.len() as u64 + u64::from(self.matches) >= u64::from(self.query.max_results) {
                break;
            }
        }
        found.push(current.map(|c| c.2));
        for m in found.into_iter().flatten() {
            self.push(m);
            if self.check_stop() {
                return;
            }
        }
    }

    fn push(&mut self, m: SearchMatch) {
        if self.matches >= self.query.max_results {
            self.stop
                .get_or_insert(Stop::Limit(SearchLimit::MaxResults));
            return;
        }
        self.matches += 1;
        self.batch.push(m);
        if self.batch.len() >= BATCH || self.batch_since.elapsed() >= BATCH_AGE {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.batch_since = Instant::now();
        if self.batch.is_empty() {
            return;
        }
        let mut matches = std::mem::take(&mut self.batch);
        if matches!(self.matcher, Matcher::Fuzzy { .. }) {
            matches.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.path.cmp(&b.path)));
        }
        let sent = self
            .out
            .send(&FilesServerMessage::Event(FilesEvent::SearchMatches {
                id: self.id.clone(),
                matches,
            }));
        if !sent {
            self.stop = Some(Stop::Gone);
        }
    }
}

/// A fuzzy score: `needle` (lowercase) must be a subsequence of `hay`; consecutive letters,
/// letters at the start of a word and letters in the file name score higher.
pub fn fuzzy_score(needle: &[u8], hay: &[u8]) -> Option<u32> {
    if needle.is_empty() {
        return Some(0);
    }
    let name_start = hay.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let mut score = 0u32;
    let mut ni = 0;
    let mut prev_match: Option<usize> = None;
    for (i, &b) in hay.iter().enumerate() {
        if ni == needle.len() {
            break;
        }
        if b.to_ascii_lowercase() != needle[ni] {
            continue;
        }
        let mut s = 1;
        if prev_match == Some(i.wrapping_sub(1)) {
            s += 4;
        }
        let boundary = i == 0 || matches!(hay[i - 1], b'/' | b'_' | b'-' | b'.' | b' ');
        if boundary {
            s += 3;
        }
        if i >= name_start {
            s += 2;
        }
        score += s;
        prev_match = Some(i);
        ni += 1;
    }
    if ni < needle.len() {
        return None;
    }
    // Shorter paths win ties.
    let penalty = u32::try_from(hay.len() / 8).unwrap_or(u32::MAX);
    Some((score * 10).saturating_sub(penalty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_prefers_compact_name_matches() {
        let s = |h: &str| fuzzy_score(b"srvrs", h.as_bytes());
        assert!(s("src/server.rs").is_some());
        assert!(s("src/main.rs").is_none());
        assert!(s("src/server.rs") > s("some/really/verbose/resource.rs"));
        assert_eq!(fuzzy_score(b"", b"x"), Some(0));
    }
}
