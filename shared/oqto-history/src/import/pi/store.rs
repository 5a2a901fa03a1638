//! Storing parsed pi session files: new sessions, updates of sessions imported before, and
//! the files that are skipped because the runner, not the importer, owns their messages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oqto_protocol::{ErrorCode, SessionId};

use super::{HARNESS, ParsedSession, parse_session_file};
use crate::import::ImportReport;
use crate::{SessionRecord, Store, StoreError};

/// Imports every `*.jsonl` file under `dir/sessions` (recursively, in name order): `dir`
/// is a pi agent directory (`$PI_CODING_AGENT_DIR`, by default `~/.pi/agent`), which the
/// caller resolves. See [`import_pi_file`] for what happens to each file.
///
/// Directories that cannot be read are listed in `skipped`. Fails only when the store
/// fails with a `storage` error (disk full, read-only database); what was imported before
/// stays.
pub fn import_pi_dir(store: &mut Store, dir: &Path) -> Result<ImportReport, StoreError> {
    let root = std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_owned())
        .join("sessions");
    let mut importer = Importer::new(store)?;
    let mut files = Vec::new();
    find_session_files(&root, &mut files, &mut importer.report.skipped);
    for file in files {
        importer.file(store, &file)?;
    }
    Ok(importer.report)
}

/// Imports one pi session file:
///
/// - a session not in the store yet is stored with all its messages (`sessions_new`);
/// - a stored one whose messages, name and path are what the file gives is left alone
///   (`sessions_unchanged`);
/// - otherwise (the file grew, a tool result arrived, pi renamed the session, the file
///   moved) the new and changed messages are stored and the record updated
///   (`sessions_updated`); messages already stored keep their place, and none are deleted.
///
/// A file is skipped, with the reason in `skipped`, when it is not a pi session file, when
/// another stored session already runs pi on it (a session oqto created), when another
/// file with the same pi session id was imported, and when new entries arrived after the
/// session was continued in oqto (the runner already stored those messages itself).
pub fn import_pi_file(store: &mut Store, path: &Path) -> Result<ImportReport, StoreError> {
    let mut importer = Importer::new(store)?;
    importer.file(store, path)?;
    Ok(importer.report)
}

/// The state of one import run: the report so far, and which pi files stored sessions use.
struct Importer {
    report: ImportReport,
    /// Canonical `harness_ref` of every stored pi session, to its session.
    owners: HashMap<PathBuf, SessionId>,
}

/// What importing one parsed file did.
enum Outcome {
    New(usize),
    Updated(usize),
    Unchanged,
    Skipped(String),
}

impl Importer {
    fn new(store: &Store) -> Result<Self, StoreError> {
        let owners = store
            .sessions()?
            .into_iter()
            .filter(|s| s.harness == HARNESS)
            .filter_map(|s| Some((canonical(Path::new(s.harness_ref.as_deref()?)), s.id)))
            .collect();
        Ok(Self {
            report: ImportReport::default(),
            owners,
        })
    }

    fn file(&mut self, store: &mut Store, path: &Path) -> Result<(), StoreError> {
        self.report.files += 1;
        let parsed = match parse_session_file(path) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.report.skipped.push((path.to_owned(), e.to_string()));
                return Ok(());
            }
        };
        self.report.warnings += parsed.warnings.len();
        let outcome = match self.apply(store, &parsed) {
            Ok(outcome) => outcome,
            Err(e) if e.code() == ErrorCode::Storage => return Err(e),
            // Anything else is about this file only (e.g. an id clash): skip it.
            Err(e) => Outcome::Skipped(e.to_string()),
        };
        match outcome {
            Outcome::New(messages) => {
                self.report.sessions_new += 1;
                self.report.messages += messages;
                self.owners
                    .insert(canonical(path), parsed.record.id.clone());
            }
            Outcome::Updated(messages) => {
                self.report.sessions_updated += 1;
                self.report.messages += messages;
            }
            Outcome::Unchanged => self.report.sessions_unchanged += 1,
            Outcome::Skipped(reason) => self.report.skipped.push((path.to_owned(), reason)),
        }
        Ok(())
    }

    fn apply(&self, store: &mut Store, parsed: &ParsedSession) -> Result<Outcome, StoreError> {
        let record = &parsed.record;
        let path = Path::new(record.harness_ref.as_deref().unwrap_or_default());
        if let Some(owner) = self.owners.get(&canonical(path))
            && *owner != record.id
        {
            return Ok(Outcome::Skipped(format!(
                "already in the history as session `{owner}`, which oqto runs on this file"
            )));
        }
        let Some(stored) = store.session(&record.id)? else {
            store.write_import(record, true, &parsed.messages)?;
            return Ok(Outcome::New(parsed.messages.len()));
        };

        // Compared as canonical paths: the runner keeps the path as pi reports it.
        let moved = stored
            .harness_ref
            .as_deref()
            .is_none_or(|stored| canonical(Path::new(stored)) != canonical(path));
        if moved
            && let Some(other) = stored.harness_ref.as_deref()
            && Path::new(other).exists()
        {
            return Ok(Outcome::Skipped(format!(
                "has the same pi session id ({}) as {other}, which is imported as session `{}`",
                parsed.pi_session, record.id
            )));
        }
        let (changed, foreign) =
            store.import_changes(&record.id, &parsed.messages, &parsed.own_ids)?;
        // A name given in pi after the session's last activity in the history wins over the
        // stored title; an older one does not undo a rename done in oqto.
        let retitle = record.title != stored.title
            && (stored.title.is_none() || parsed.named_at.is_some_and(|at| at > stored.updated_at));
        if changed.is_empty() && !retitle && !moved {
            return Ok(Outcome::Unchanged);
        }
        if !changed.is_empty() && foreign > 0 {
            return Ok(Outcome::Skipped(format!(
                "session `{}` was continued in oqto since it was imported: the {} new or \
                 changed messages are not imported again",
                record.id,
                changed.len()
            )));
        }
        let updated = SessionRecord {
            harness_ref: if moved {
                record.harness_ref.clone()
            } else {
                stored.harness_ref.clone()
            },
            title: if retitle {
                record.title.clone()
            } else {
                stored.title.clone()
            },
            model: record.model.clone().or_else(|| stored.model.clone()),
            updated_at: stored.updated_at.max(record.updated_at),
            ..stored
        };
        store.write_import(&updated, false, &changed)?;
        Ok(Outcome::Updated(changed.len()))
    }
}

/// `path` with symlinks resolved when it exists, as given otherwise.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Appends every `*.jsonl` file below `dir` to `files` (sorted by name, directories
/// recursively; symlinked directories are not followed). Unreadable directories go to
/// `skipped`.
fn find_session_files(dir: &Path, files: &mut Vec<PathBuf>, skipped: &mut Vec<(PathBuf, String)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            skipped.push((dir.to_owned(), format!("cannot read the directory: {e}")));
            return;
        }
    };
    let mut children: Vec<(PathBuf, bool)> = Vec::new();
    for entry in entries {
        match entry.and_then(|e| Ok((e.path(), e.file_type()?))) {
            Ok((path, kind)) if kind.is_dir() => children.push((path, true)),
            Ok((path, _)) => {
                let is_session = path.extension().is_some_and(|ext| ext == "jsonl")
                    && path.metadata().is_ok_and(|m| m.is_file());
                if is_session {
                    children.push((path, false));
                }
            }
            Err(e) => skipped.push((dir.to_owned(), format!("cannot read the directory: {e}"))),
        }
    }
    children.sort();
    for (path, is_dir) in children {
        if is_dir {
            find_session_files(&path, files, skipped);
        } else {
            files.push(path);
        }
    }
}
