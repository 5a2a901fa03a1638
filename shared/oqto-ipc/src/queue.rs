//! The writing side of a connection served by threads: one writer thread drains a bounded
//! queue of lines and raw frames ([`Out`]) into the connection, so a slow client stalls the
//! threads that queue for it instead of making the server buffer.
//!
//! A raw frame is a header line and then exactly the number of bytes it announces (see
//! [`crate::framing`] for the reading side). Bytes from a file go by `sendfile(2)`, with no
//! copy through this process; [`widen_output`] grows the kernel buffer in front of the peer
//! so that it takes a whole frame per wakeup.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;

use nix::errno::Errno;

/// What the writer thread sends, in order.
#[derive(Debug)]
pub enum Out {
    /// One JSON line (without its newline).
    Line(String),
    /// A raw frame from memory: the `header` line, then `bytes`.
    Frame { header: String, bytes: Vec<u8> },
    /// A raw frame from a file: the `header` line, then `len` bytes of `file` from `offset`.
    /// If the file ends early, the rest of the frame is zeros and `short` is set, so the
    /// frame keeps the length its header announced.
    File {
        header: String,
        file: Arc<File>,
        offset: u64,
        len: u64,
        short: Arc<AtomicBool>,
    },
    /// The line that ends a run of `File` frames sharing the flag `short`: `whole` when every
    /// frame was sent whole, `cut` when one of them came up short (the file shrank while it
    /// was sent). Chosen when it is written, after those frames.
    Closing {
        whole: String,
        cut: String,
        short: Arc<AtomicBool>,
    },
}

/// Writes everything `rx` yields to `out` until the channel closes or the client goes.
/// Lines are buffered and flushed whenever the queue runs dry; file bytes go by
/// `sendfile(2)` (no copy through this process), falling back to read and write.
pub fn write_loop(out: File, rx: &Receiver<Out>) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(64 * 1024, out);
    loop {
        let item = if let Ok(item) = rx.try_recv() {
            item
        } else {
            w.flush()?;
            match rx.recv() {
                Ok(item) => item,
                Err(_) => return w.flush(),
            }
        };
        match item {
            Out::Line(line) => {
                w.write_all(line.as_bytes())?;
                w.write_all(b"\n")?;
            }
            Out::File {
                header,
                file,
                offset,
                len,
                short,
            } => {
                w.write_all(header.as_bytes())?;
                w.write_all(b"\n")?;
                w.flush()?;
                if !send_range(w.get_ref(), &file, offset, len)? {
                    short.store(true, Ordering::Relaxed);
                }
            }
            Out::Frame { header, bytes } => {
                w.write_all(header.as_bytes())?;
                w.write_all(b"\n")?;
                w.write_all(&bytes)?;
            }
            Out::Closing { whole, cut, short } => {
                let line = if short.load(Ordering::Relaxed) {
                    cut
                } else {
                    whole
                };
                w.write_all(line.as_bytes())?;
                w.write_all(b"\n")?;
            }
        }
    }
}

/// What a connection's output descriptor is, as far as [`widen_output`] cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    Pipe,
    Socket,
    Other,
}

/// Grows the kernel buffer of a connection's output (a pipe's capacity, a socket's send
/// buffer) to about `want(kind)` bytes, so that a reader on the same machine takes a whole frame
/// per wakeup instead of 64 KiB (a default pipe) or ~200 KiB (a default Unix socket). The
/// bytes in it are references to page-cache pages (`sendfile` into a pipe or a Unix socket
/// moves pages), so this costs the server no memory of its own. Never shrinks a buffer;
/// settles for less when the limits refuse (`/proc/sys/fs/pipe-max-size`, the per-user pipe
/// quota, `net.core.wmem_max`). Returns the kind and the buffer's size afterwards.
pub fn widen_output(
    out: &impl AsFd,
    want: impl FnOnce(OutputKind) -> usize,
) -> io::Result<(OutputKind, usize)> {
    use nix::fcntl::{FcntlArg, fcntl};
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    use nix::sys::stat::{SFlag, fstat};
    let st = fstat(out.as_fd())?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if kind == SFlag::S_IFIFO {
        let want = want(OutputKind::Pipe);
        let current = usize::try_from(fcntl(out.as_fd(), FcntlArg::F_GETPIPE_SZ)?).unwrap_or(0);
        let mut size = want.next_power_of_two();
        while size > current {
            let arg = i32::try_from(size).unwrap_or(i32::MAX);
            match fcntl(out.as_fd(), FcntlArg::F_SETPIPE_SZ(arg)) {
                Ok(n) => return Ok((OutputKind::Pipe, usize::try_from(n).unwrap_or(size))),
                // Over pipe-max-size or the user's pipe quota: try half.
                Err(Errno::EPERM | Errno::EINVAL | Errno::ENOMEM | Errno::EBUSY) => size /= 2,
                Err(e) => return Err(e.into()),
            }
        }
        Ok((OutputKind::Pipe, current))
    } else if kind == SFlag::S_IFSOCK {
        let want = want(OutputKind::Socket);
        let current = getsockopt(&out.as_fd(), sockopt::SndBuf)?;
        // The kernel doubles the value asked for (bookkeeping overhead) and caps it at
        // twice `net.core.wmem_max`.
        if current < want {
            setsockopt(&out.as_fd(), sockopt::SndBuf, &(want / 2))?;
        }
        Ok((
            OutputKind::Socket,
            getsockopt(&out.as_fd(), sockopt::SndBuf)?,
        ))
    } else {
        Ok((OutputKind::Other, 0))
    }
}

/// Sends `len` bytes of `file` from `offset` to `out`; pads with zeros and returns false
/// when the file is shorter.
fn send_range(out: &File, file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let mut off = i64::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
    let mut left = len;
    while left > 0 {
        let count = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
        match nix::sys::sendfile::sendfile(out, file, Some(&mut off), count) {
            Ok(0) => return pad(out, left).map(|()| false),
            Ok(n) => left -= n as u64,
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(Errno::EINVAL | Errno::ENOSYS) => {
                return copy_range(out, file, u64::try_from(off).unwrap_or(0), left);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

fn copy_range(mut out: &File, file: &File, mut offset: u64, mut left: u64) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 256 * 1024];
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = file.read_at(&mut buf[..want], offset)?;
        if n == 0 {
            return pad(out, left).map(|()| false);
        }
        out.write_all(&buf[..n])?;
        offset += n as u64;
        left -= n as u64;
    }
    Ok(true)
}

fn pad(mut out: &File, mut left: u64) -> io::Result<()> {
    let zeros = [0u8; 8192];
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        out.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;
    use crate::framing::LineReader;

    #[test]
    fn lines_frames_and_file_ranges_in_order() {
        use std::io::{Read, Seek};
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let file = Arc::new(file);
        let mut sink = tempfile::tempfile().unwrap();
        let (tx, rx) = sync_channel(8);
        let short = Arc::new(AtomicBool::new(false));
        tx.send(Out::Line("one".into())).unwrap();
        tx.send(Out::Frame {
            header: "mem".into(),
            bytes: b"ab\ncd".to_vec(),
        })
        .unwrap();
        tx.send(Out::File {
            header: "file".into(),
            file: Arc::clone(&file),
            offset: 2,
            len: 3,
            short: Arc::clone(&short),
        })
        .unwrap();
        // Past the end: padded with zeros, and the closing line says so.
        tx.send(Out::File {
            header: "past".into(),
            file,
            offset: 8,
            len: 4,
            short: Arc::clone(&short),
        })
        .unwrap();
        tx.send(Out::Closing {
            whole: "whole".into(),
            cut: "cut".into(),
            short,
        })
        .unwrap();
        drop(tx);
        write_loop(sink.try_clone().unwrap(), &rx).unwrap();
        sink.rewind().unwrap();
        let mut bytes = Vec::new();
        sink.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"one\nmem\nab\ncdfile\n234past\n89\0\0cut\n");
        let mut r = LineReader::new(&bytes[..]);
        assert_eq!(r.read_line().unwrap().as_deref(), Some("one"));
        assert_eq!(r.read_line().unwrap().as_deref(), Some("mem"));
        r.read_raw::<()>(5, |_| Ok(())).unwrap().unwrap();
        assert_eq!(r.read_line().unwrap().as_deref(), Some("file"));
    }

    #[test]
    fn output_buffers_grow_but_never_shrink() {
        use nix::fcntl::{FcntlArg, fcntl};
        use nix::sys::socket::{getsockopt, sockopt};
        let (_r, w) = nix::unistd::pipe().unwrap();
        let before = usize::try_from(fcntl(&w, FcntlArg::F_GETPIPE_SZ).unwrap()).unwrap();
        let (kind, size) = widen_output(&w, |_| 512 << 10).unwrap();
        assert_eq!(kind, OutputKind::Pipe);
        // 512 KiB is within the default pipe-max-size (1 MiB) for any user.
        assert_eq!(size, 512 << 10, "from {before}");
        assert_eq!(
            usize::try_from(fcntl(&w, FcntlArg::F_GETPIPE_SZ).unwrap()).unwrap(),
            512 << 10
        );
        assert_eq!(
            widen_output(&w, |_| 4096).unwrap(),
            (OutputKind::Pipe, 512 << 10)
        );

        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let before = getsockopt(&a, sockopt::SndBuf).unwrap();
        let (kind, size) = widen_output(&a, |_| before * 4).unwrap();
        assert_eq!(kind, OutputKind::Socket);
        assert!(size > before, "{size} <= {before}");
        assert_eq!(getsockopt(&a, sockopt::SndBuf).unwrap(), size);
        assert_eq!(
            widen_output(&a, |_| 4096).unwrap(),
            (OutputKind::Socket, size)
        );

        let file = tempfile::tempfile().unwrap();
        assert_eq!(
            widen_output(&file, |_| 1 << 20).unwrap(),
            (OutputKind::Other, 0)
        );
    }
}
