//! The byte stream of a connection: JSON lines with a maximum length, and raw frames.
//!
//! Unlike `oqto_ipc::LineReader`, an over-long line does not end the connection: it is
//! skipped up to its newline and reported once, so a client that sent a too-large `write`
//! gets a `too_large` error and can go on. Raw bytes (the body of an `upload.chunk`) are read
//! from the same buffer, right after their header line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;

use nix::errno::Errno;

/// One unit read from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    Line(String),
    /// A line longer than the limit (skipped).
    TooLong,
    /// A line that is not UTF-8 (skipped).
    NotUtf8,
}

/// Reads lines and raw frames from a client.
#[derive(Debug)]
pub struct Reader<R> {
    inner: BufReader<R>,
    max: usize,
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner: BufReader::with_capacity(256 * 1024, inner),
            max,
        }
    }

    /// The next non-empty line; `None` at the end of the stream.
    pub fn next_input(&mut self) -> io::Result<Option<Input>> {
        let mut line: Vec<u8> = Vec::new();
        let mut too_long = false;
        let mut seen_any = false;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                // End of stream: a last line without a newline still counts.
                if !seen_any {
                    return Ok(None);
                }
                return Ok(
                    Some(finish(line, too_long)).filter(|i| i != &Input::Line(String::new()))
                );
            }
            seen_any = true;
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let chunk = &buf[..if done { take - 1 } else { take }];
            if !too_long {
                if line.len() + chunk.len() > self.max {
                    too_long = true;
                    line = Vec::new();
                } else {
                    line.extend_from_slice(chunk);
                }
            }
            self.inner.consume(take);
            if done {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if !too_long && line.iter().all(u8::is_ascii_whitespace) {
                    line.clear();
                    seen_any = false;
                    continue;
                }
                return Ok(Some(finish(line, too_long)));
            }
        }
    }

    /// Passes exactly `len` raw bytes to `sink` in pieces. When `sink` fails, the rest is
    /// still read (and dropped) so the stream stays in step; the first sink error is
    /// returned as `Ok(Err(..))`. An `Err` is a read failure or a cut-off stream.
    pub fn raw<E>(
        &mut self,
        len: u64,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> io::Result<Result<(), E>> {
        let mut left = len;
        let mut failed = None;
        while left > 0 {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the stream ended inside a raw frame",
                ));
            }
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if failed.is_none() {
                if let Err(e) = sink(&buf[..n]) {
                    failed = Some(e);
                }
            }
            self.inner.consume(n);
            left -= n as u64;
        }
        Ok(failed.map_or(Ok(()), Err))
    }
}

fn finish(line: Vec<u8>, too_long: bool) -> Input {
    if too_long {
        return Input::TooLong;
    }
    match String::from_utf8(line) {
        Ok(s) => Input::Line(s),
        Err(_) => Input::NotUtf8,
    }
}

/// What the writer thread sends, in order.
#[derive(Debug)]
pub enum Out {
    /// One JSON line (without its newline).
    Line(String),
    /// A `data` header line, then `len` bytes of `file` from `offset`. If the file ends
    /// early, the rest of the frame is zeros and `short` is set.
    File {
        header: String,
        file: Arc<File>,
        offset: u64,
        len: u64,
        short: Arc<AtomicBool>,
    },
    /// The end of a `read`: `ok`, or `changed` when one of its frames came up short.
    ReadEnd {
        ok: String,
        changed: String,
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
            Out::ReadEnd { ok, changed, short } => {
                let line = if short.load(Ordering::Relaxed) {
                    changed
                } else {
                    ok
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
    use super::*;

    fn reader(bytes: &[u8], max: usize) -> Reader<&[u8]> {
        Reader::new(bytes, max)
    }

    #[test]
    fn lines_long_lines_and_raw_bytes() {
        let mut r = reader(
            b"{\"a\":1}\r\n\n   \nxxxxxxxxxxxx\nok\nhead\nRAWBYTES{\"b\":2}",
            8,
        );
        assert_eq!(
            r.next_input().unwrap(),
            Some(Input::Line("{\"a\":1}".into()))
        );
        assert_eq!(r.next_input().unwrap(), Some(Input::TooLong));
        assert_eq!(r.next_input().unwrap(), Some(Input::Line("ok".into())));
        assert_eq!(r.next_input().unwrap(), Some(Input::Line("head".into())));
        let mut got = Vec::new();
        r.raw::<()>(8, |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert_eq!(got, b"RAWBYTES");
        assert_eq!(
            r.next_input().unwrap(),
            Some(Input::Line("{\"b\":2}".into()))
        );
        assert_eq!(r.next_input().unwrap(), None);
    }

    #[test]
    fn a_failing_sink_still_consumes_the_frame() {
        let mut r = reader(b"0123456789next\n", 64);
        let res = r.raw(10, |_| Err("disk full")).unwrap();
        assert_eq!(res, Err("disk full"));
        assert_eq!(r.next_input().unwrap(), Some(Input::Line("next".into())));
        assert!(reader(b"abc", 64).raw::<()>(5, |_| Ok(())).is_err());
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

    #[test]
    fn invalid_utf8_is_reported_and_skipped() {
        let mut r = reader(b"\xff\xfe\nfine\n", 64);
        assert_eq!(r.next_input().unwrap(), Some(Input::NotUtf8));
        assert_eq!(r.next_input().unwrap(), Some(Input::Line("fine".into())));
    }
}
