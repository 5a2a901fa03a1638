//! Chunked, resumable uploads. The bytes so far live in `.oqto-upload-<id>` beside the
//! target, so an upload survives a dropped connection (or a restarted server): `upload.start`
//! with the same id reopens it and answers with its size, where the next chunk goes.
//! `upload.finish` moves it into place atomically.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, fstat};
use nix::unistd::UnlinkatFlags;
use oqto_ipc::framing::LineReader;
use oqto_protocol::{ErrorCode, FilesReply, Precondition};

use crate::confine::{FsError, FsResult, RelPath, check_regular};
use crate::ops::{Fs, hex, sha256_of};

/// One upload in progress on this connection.
#[derive(Debug)]
struct Upload {
    rel: RelPath,
    dir: OwnedFd,
    tmp: String,
    file: File,
    offset: u64,
}

/// The uploads a connection has started or resumed.
#[derive(Debug, Default)]
pub struct Uploads {
    open: HashMap<String, Upload>,
}

fn temp_for(id: &str) -> String {
    format!(".oqto-upload-{id}")
}

/// Upload ids are `up_` and hex digits: they become part of a file name.
fn valid_id(id: &str) -> bool {
    id.strip_prefix("up_").is_some_and(|hex| {
        !hex.is_empty() && hex.len() <= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn new_id() -> String {
    use sha2::{Digest, Sha256};
    let seed = format!(
        "{}-{}-{:?}",
        std::process::id(),
        crate::ops::temp_name("id"),
        std::time::SystemTime::now()
    );
    let digest = Sha256::digest(seed.as_bytes());
    format!("up_{}", &hex(&digest)[..16])
}

impl Uploads {
    // Resuming and starting differ in every step but the bookkeeping.
    #[allow(clippy::single_match_else)]
    pub fn start(
        &mut self,
        fs: &Fs,
        rel: &RelPath,
        resume: Option<&str>,
        create_parents: bool,
    ) -> FsResult<FilesReply> {
        let (dir, _) = if create_parents {
            fs.root.parent_created(rel)?
        } else {
            fs.root.parent(rel)?
        };
        let (id, file) = match resume {
            Some(id) => {
                if !valid_id(id) {
                    return Err(FsError::new(
                        ErrorCode::UnknownId,
                        format!("no upload {id}"),
                    ));
                }
                self.open.remove(id);
                let fd = nix::fcntl::openat(
                    &dir,
                    temp_for(id).as_str(),
                    OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| match e {
                    Errno::ENOENT => {
                        FsError::new(ErrorCode::UnknownId, format!("no upload {id} for {rel}"))
                    }
                    e => FsError::errno(e, rel.as_str()),
                })?;
                (id.to_owned(), File::from(fd))
            }
            None => {
                let id = new_id();
                let fd = nix::fcntl::openat(
                    &dir,
                    temp_for(&id).as_str(),
                    OFlag::O_RDWR
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o666),
                )
                .map_err(|e| FsError::errno(e, rel.as_str()))?;
                (id, File::from(fd))
            }
        };
        let st = fstat(file.as_fd()).map_err(|e| FsError::errno(e, rel.as_str()))?;
        check_regular(&st, rel)?;
        let offset = u64::try_from(st.st_size).unwrap_or(0);
        // Chunks are appended: start writing at the end of what is there.
        io::Seek::seek(&mut &file, io::SeekFrom::Start(offset))
            .map_err(|e| FsError::io(&e, rel.as_str()))?;
        self.open.insert(
            id.clone(),
            Upload {
                rel: rel.clone(),
                dir,
                tmp: temp_for(&id),
                file,
                offset,
            },
        );
        Ok(FilesReply::Upload { upload: id, offset })
    }

    /// Reads a chunk's `len` bytes from the client (always, so the stream stays in step)
    /// and appends them. An `Err` is a failure of the connection itself.
    /// Chunks over `max_chunk` bytes are refused (and their bytes skipped).
    pub fn chunk<R: BufRead>(
        &mut self,
        max_chunk: usize,
        reader: &mut LineReader<R>,
        id: &str,
        offset: u64,
        len: u64,
    ) -> io::Result<FsResult<FilesReply>> {
        let max = max_chunk as u64;
        let refuse = |e: FsError, reader: &mut LineReader<R>| -> io::Result<FsResult<FilesReply>> {
            reader.read_raw::<()>(len, |_| Ok(()))?.ok();
            Ok(Err(e))
        };
        if len > max {
            return refuse(
                FsError::new(
                    ErrorCode::TooLarge,
                    format!("chunk of {len} bytes; at most {max} per chunk"),
                ),
                reader,
            );
        }
        let Some(up) = self.open.get_mut(id) else {
            return refuse(
                FsError::new(ErrorCode::UnknownId, format!("no upload {id}")),
                reader,
            );
        };
        if offset != up.offset {
            let mut e = FsError::new(
                ErrorCode::BadOffset,
                format!("upload {id} is at offset {}, not {offset}", up.offset),
            );
            e.offset = Some(up.offset);
            return refuse(e, reader);
        }
        let file = &mut up.file;
        let mut written = 0u64;
        let res = reader.read_raw(len, |bytes| {
            file.write_all(bytes)?;
            written += bytes.len() as u64;
            Ok::<(), io::Error>(())
        });
        up.offset += written;
        match res {
            Ok(Ok(())) => Ok(Ok(FilesReply::Upload {
                upload: id.to_owned(),
                offset: up.offset,
            })),
            Ok(Err(e)) => {
                // Keep what was written whole: the client resumes from the reported offset.
                let mut err = FsError::io(&e, up.rel.as_str());
                err.offset = Some(up.offset);
                Ok(Err(err))
            }
            Err(e) => {
                let _ = up.file.sync_data();
                Err(e)
            }
        }
    }

    pub fn finish(
        &mut self,
        fs: &Fs,
        id: &str,
        sha256: Option<&str>,
        expect: Option<&Precondition>,
    ) -> FsResult<FilesReply> {
        let Some(up) = self.open.remove(id) else {
            return Err(FsError::new(
                ErrorCode::UnknownId,
                format!("no upload {id}"),
            ));
        };
        let rel = &up.rel;
        let name = rel.name();
        up.file
            .sync_all()
            .map_err(|e| FsError::io(&e, rel.as_str()))?;
        let mut reader = &up.file;
        io::Seek::rewind(&mut reader).map_err(|e| FsError::io(&e, rel.as_str()))?;
        let (have, _) = sha256_of(reader).map_err(|e| FsError::io(&e, rel.as_str()))?;
        if let Some(want) = sha256 {
            if !have.eq_ignore_ascii_case(want) {
                // Keep the bytes: the client may resume or abort.
                let offset = up.offset;
                self.open.insert(id.to_owned(), up);
                let mut e = FsError::new(
                    ErrorCode::Conflict,
                    format!("upload {id}: sha256 of the {offset} bytes received differs"),
                );
                e.offset = Some(offset);
                return Err(e);
            }
        }
        {
            let _guard = fs.lock_writes();
            if let Some(expect) = expect {
                fs.check(&up.dir, name, rel, expect)?;
            }
            nix::fcntl::renameat(&up.dir, up.tmp.as_str(), &up.dir, name)
                .map_err(|e| FsError::errno(e, rel.as_str()))?;
        }
        let entry = crate::ops::entry_of(&up.file, rel)?;
        Ok(FilesReply::Written {
            entry,
            sha256: have,
        })
    }

    pub fn abort(&mut self, id: &str) -> FsResult<FilesReply> {
        let Some(up) = self.open.remove(id) else {
            return Err(FsError::new(
                ErrorCode::UnknownId,
                format!("no upload {id}"),
            ));
        };
        nix::unistd::unlinkat(&up.dir, up.tmp.as_str(), UnlinkatFlags::NoRemoveDir)
            .map_err(|e| FsError::errno(e, up.rel.as_str()))?;
        Ok(FilesReply::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_file_name_safe() {
        assert!(valid_id(&new_id()));
        assert!(valid_id("up_5f1c9a0e7b3d"));
        for bad in ["up_", "up_../x", "x_12", "up_12/3", "up_zz"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
