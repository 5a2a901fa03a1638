//! JSON-lines framing with a maximum line length, and raw byte frames; blocking and async.
//!
//! A line is the bytes up to a `\n`. Only `\n` splits: peers write raw U+2028 and U+2029
//! inside JSON strings, and those stay inside the line. One trailing `\r` is stripped, blank
//! lines (nothing but ASCII whitespace) are skipped, and a last line without a newline before
//! EOF is still a line. Framing does not parse JSON and knows no protocol: a malformed line is
//! just a line, and a bad one is a [`FrameError`] for the caller to answer in its own terms.
//!
//! A raw frame is a header line followed by exactly `len` raw bytes, `len` being announced by
//! the header (the protocol layer reads it): [`LineReader::read_raw`] passes them to a sink,
//! [`LineWriter::write_frame`] writes header and bytes in one go.
//!
//! What happens on a bad line:
//! - over-long ([`FrameError::TooLarge`]): the reader reports it as soon as the line cannot
//!   fit, then skips the rest of it up to its newline without keeping it; the next read
//!   returns the next line, so the connection goes on;
//! - not UTF-8 ([`FrameError::InvalidUtf8`]): the line is reported and the next read returns
//!   the next line;
//! - a read failure ([`FrameError::Io`]): the connection is over
//!   ([`FrameError::closes_connection`]).
//!
//! The readers never hold more than `max + 1` bytes of a line: they read with
//! `fill_buf`/`consume` and stop keeping bytes as soon as a line cannot fit.

use std::io::{self, BufRead, Write};

use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// The default maximum line length in bytes, newline excluded: 16 MiB.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024 * 1024;

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The line is longer than `limit` bytes. The reader skips the rest of it: the next read
    /// returns the next line.
    #[error("line exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The line is not UTF-8. The line boundary is intact: the next read returns the next line.
    #[error("line is not valid UTF-8 ({} bytes)", line.len())]
    InvalidUtf8 { line: Vec<u8> },
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl FrameError {
    /// Whether the stream is unusable after this error: true only for [`FrameError::Io`].
    /// After `TooLarge` and `InvalidUtf8` the next line can be read.
    pub fn closes_connection(&self) -> bool {
        matches!(self, FrameError::Io(_))
    }
}

/// The line-assembly state shared by [`LineReader`] and [`AsyncLineReader`].
#[derive(Debug)]
struct Assembler {
    /// The current line so far; never longer than `max + 1` (room for a `\r`).
    buf: Vec<u8>,
    max: usize,
    /// Set after `TooLarge` in the middle of a line: the rest of it, up to and including its
    /// newline, is dropped.
    skipping: bool,
}

/// What [`Assembler::feed`] made of a chunk.
enum Fed {
    /// Keep reading.
    More,
    /// A complete line (or a line-level error).
    Line(Result<String, FrameError>),
}

impl Assembler {
    fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
            skipping: false,
        }
    }

    fn too_large(&mut self) -> FrameError {
        self.buf = Vec::new();
        FrameError::TooLarge { limit: self.max }
    }

    /// Takes what it can from `chunk`; returns how many bytes it used and what it found.
    fn feed(&mut self, chunk: &[u8]) -> (usize, Fed) {
        let newline = chunk.iter().position(|&b| b == b'\n');
        if self.skipping {
            return match newline {
                Some(i) => {
                    self.skipping = false;
                    (i + 1, Fed::More)
                }
                None => (chunk.len(), Fed::More),
            };
        }
        let Some(i) = newline else {
            if self.buf.len() + chunk.len() > self.max.saturating_add(1) {
                // Reported now; the rest of the line is dropped as it arrives.
                self.skipping = true;
                return (chunk.len(), Fed::Line(Err(self.too_large())));
            }
            self.buf.extend_from_slice(chunk);
            return (chunk.len(), Fed::More);
        };
        // `max + 1` leaves room for a `\r` that is stripped below.
        if self.buf.len() + i > self.max.saturating_add(1) {
            return (i + 1, Fed::Line(Err(self.too_large())));
        }
        self.buf.extend_from_slice(&chunk[..i]);
        match self.take_line() {
            Some(line) => (i + 1, Fed::Line(line)),
            None => (i + 1, Fed::More),
        }
    }

    /// At EOF: the last line, if it was not terminated.
    fn finish(&mut self) -> Option<Result<String, FrameError>> {
        if self.skipping {
            self.skipping = false;
            return None;
        }
        self.take_line()
    }

    /// Turns the buffer into a line; `None` for a blank line.
    fn take_line(&mut self) -> Option<Result<String, FrameError>> {
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.len() > self.max {
            return Some(Err(self.too_large()));
        }
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            self.buf.clear();
            return None;
        }
        let bytes = std::mem::take(&mut self.buf);
        Some(
            String::from_utf8(bytes).map_err(|e| FrameError::InvalidUtf8 {
                line: e.into_bytes(),
            }),
        )
    }
}

/// The progress of one raw frame, shared by the blocking and the async reader.
struct Raw<E> {
    left: u64,
    failed: Option<E>,
}

impl<E> Raw<E> {
    fn new(len: u64) -> Self {
        Self {
            left: len,
            failed: None,
        }
    }

    /// Hands what belongs to the frame in `chunk` to `sink` (until it fails); returns how many
    /// bytes were used.
    fn feed(
        &mut self,
        chunk: &[u8],
        sink: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> io::Result<usize> {
        if chunk.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream ended inside a raw frame",
            ));
        }
        let n = chunk
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if self.failed.is_none() {
            if let Err(e) = sink(&chunk[..n]) {
                self.failed = Some(e);
            }
        }
        self.left -= n as u64;
        Ok(n)
    }

    fn finish(self) -> Result<(), E> {
        self.failed.map_or(Ok(()), Err)
    }
}

/// Reads JSON lines from a blocking reader, at most `max` bytes each.
///
/// After [`FrameError::TooLarge`] and [`FrameError::InvalidUtf8`] the next call reads the
/// next line (the rest of an over-long line is skipped). After [`FrameError::Io`] a call
/// resumes where reading stopped; `Interrupted` is retried internally.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    asm: Assembler,
}

impl<R: BufRead> LineReader<R> {
    /// A reader with [`DEFAULT_MAX_LINE`].
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, DEFAULT_MAX_LINE)
    }

    /// A reader whose lines are at most `max` bytes, newline and trailing `\r` excluded.
    pub fn with_max(inner: R, max: usize) -> Self {
        Self {
            inner,
            asm: Assembler::new(max),
        }
    }

    /// The next non-empty line without its line ending; `Ok(None)` at a clean EOF.
    pub fn read_line(&mut self) -> Result<Option<String>, FrameError> {
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if chunk.is_empty() {
                return self.asm.finish().transpose();
            }
            let (used, fed) = self.asm.feed(chunk);
            self.inner.consume(used);
            if let Fed::Line(line) = fed {
                return line.map(Some);
            }
        }
    }

    /// Reads the body of a raw frame: exactly `len` bytes, passed to `sink` in pieces as they
    /// arrive (never more than `len` in all), right after the header line that announced them.
    ///
    /// When `sink` fails, the rest of the frame is still read and dropped, so the stream stays
    /// in step; the first sink error is returned as `Ok(Err(..))`. An `Err` is a read failure
    /// or a stream that ended inside the frame (`UnexpectedEof`): the connection is over.
    pub fn read_raw<E>(
        &mut self,
        len: u64,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> io::Result<Result<(), E>> {
        debug_assert!(self.asm.buf.is_empty() && !self.asm.skipping);
        let mut raw = Raw::new(len);
        while raw.left > 0 {
            let chunk = match self.inner.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let used = raw.feed(chunk, &mut sink)?;
            self.inner.consume(used);
        }
        Ok(raw.finish())
    }

    /// The maximum line length.
    pub fn max(&self) -> usize {
        self.asm.max
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader; reading from it directly breaks the framing.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The underlying reader; a partly read line is lost.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Reads JSON lines from an async reader, at most `max` bytes each.
///
/// Same rules as [`LineReader`]. [`AsyncLineReader::read_line`] is cancel-safe: dropping
/// its future (in `tokio::select!`) loses no data, and the next call picks up the line.
/// [`AsyncLineReader::read_raw`] is not: dropping it in the middle of a frame loses the
/// stream's place.
#[derive(Debug)]
pub struct AsyncLineReader<R> {
    inner: R,
    asm: Assembler,
}

impl<R: AsyncBufRead + Unpin> AsyncLineReader<R> {
    /// A reader with [`DEFAULT_MAX_LINE`].
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, DEFAULT_MAX_LINE)
    }

    /// A reader whose lines are at most `max` bytes, newline and trailing `\r` excluded.
    pub fn with_max(inner: R, max: usize) -> Self {
        Self {
            inner,
            asm: Assembler::new(max),
        }
    }

    /// The next non-empty line without its line ending; `Ok(None)` at a clean EOF.
    pub async fn read_line(&mut self) -> Result<Option<String>, FrameError> {
        loop {
            let chunk = match self.inner.fill_buf().await {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if chunk.is_empty() {
                return self.asm.finish().transpose();
            }
            let (used, fed) = self.asm.feed(chunk);
            self.inner.consume(used);
            if let Fed::Line(line) = fed {
                return line.map(Some);
            }
        }
    }

    /// The async twin of [`LineReader::read_raw`]. Not cancel-safe.
    pub async fn read_raw<E>(
        &mut self,
        len: u64,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> io::Result<Result<(), E>> {
        debug_assert!(self.asm.buf.is_empty() && !self.asm.skipping);
        let mut raw = Raw::new(len);
        while raw.left > 0 {
            let chunk = match self.inner.fill_buf().await {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let used = raw.feed(chunk, &mut sink)?;
            self.inner.consume(used);
        }
        Ok(raw.finish())
    }

    /// The maximum line length.
    pub fn max(&self) -> usize {
        self.asm.max
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader; reading from it directly breaks the framing.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The underlying reader; a partly read line is lost.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// `line` plus its `\n`, or an error if `line` would not be one line.
fn framed(mut bytes: Vec<u8>) -> io::Result<Vec<u8>> {
    if bytes.contains(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a line must not contain a newline",
        ));
    }
    bytes.push(b'\n');
    Ok(bytes)
}

fn json_line<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec(value)?;
    // Compact JSON never contains a raw newline, except inside a `RawValue`.
    if bytes.contains(&b'\n') {
        bytes.retain(|&b| b != b'\n');
    }
    framed(bytes)
}

/// Writes JSON lines to a blocking writer, flushing after each line.
#[derive(Debug)]
pub struct LineWriter<W> {
    inner: W,
}

impl<W: Write> LineWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    /// Writes `line` and a `\n`, then flushes. A `line` containing `\n` is refused
    /// (`InvalidInput`): it would arrive as two lines.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let bytes = framed(line.as_bytes().to_vec())?;
        self.inner.write_all(&bytes)?;
        self.inner.flush()
    }

    /// Serializes `value` as compact JSON and writes it as one line.
    pub fn write_json<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        let bytes = json_line(value)?;
        self.inner.write_all(&bytes)?;
        self.inner.flush()
    }

    /// Writes a raw frame: `header` as one line (refused if it contains `\n`), then exactly
    /// `bytes`, then flushes. The header must announce `bytes.len()`; framing does not read it.
    pub fn write_frame(&mut self, header: &str, bytes: &[u8]) -> io::Result<()> {
        let line = framed(header.as_bytes().to_vec())?;
        self.inner.write_all(&line)?;
        self.inner.write_all(bytes)?;
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Writes JSON lines to an async writer: one `write_all` of line and newline, then a flush.
#[derive(Debug)]
pub struct AsyncLineWriter<W> {
    inner: W,
}

impl<W: AsyncWrite + Unpin> AsyncLineWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    /// Writes `line` and a `\n`, then flushes. A `line` containing `\n` is refused
    /// (`InvalidInput`): it would arrive as two lines.
    pub async fn write_line(&mut self, line: &str) -> io::Result<()> {
        let bytes = framed(line.as_bytes().to_vec())?;
        self.inner.write_all(&bytes).await?;
        self.inner.flush().await
    }

    /// Serializes `value` as compact JSON and writes it as one line.
    pub async fn write_json<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        let bytes = json_line(value)?;
        self.inner.write_all(&bytes).await?;
        self.inner.flush().await
    }

    /// The async twin of [`LineWriter::write_frame`].
    pub async fn write_frame(&mut self, header: &str, bytes: &[u8]) -> io::Result<()> {
        let line = framed(header.as_bytes().to_vec())?;
        self.inner.write_all(&line).await?;
        self.inner.write_all(bytes).await?;
        self.inner.flush().await
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Result<String, String>> {
        let mut reader = LineReader::with_max(input, max);
        let mut out = Vec::new();
        loop {
            match reader.read_line() {
                Ok(Some(line)) => out.push(Ok(line)),
                Ok(None) => return out,
                Err(e) => out.push(Err(e.to_string())),
            }
        }
    }

    #[test]
    fn crlf_and_empty_lines() {
        assert_eq!(
            lines(b"\r\n\na\r\nb\n\r\n", 10),
            vec![Ok("a".to_owned()), Ok("b".to_owned())]
        );
    }

    #[test]
    fn a_lone_cr_line_is_empty() {
        assert_eq!(lines(b"\r", 10), vec![]);
    }

    #[test]
    fn only_one_cr_is_stripped() {
        assert_eq!(lines(b"a\r\r\n", 10), vec![Ok("a\r".to_owned())]);
    }

    #[test]
    fn max_plus_cr_fits() {
        assert_eq!(lines(b"abc\r\n", 3), vec![Ok("abc".to_owned())]);
        assert_eq!(lines(b"abc\r", 3), vec![Ok("abc".to_owned())]);
        assert_eq!(
            lines(b"abcd\n", 3),
            vec![Err("line exceeds the limit of 3 bytes".to_owned())]
        );
        assert_eq!(
            lines(b"abcd", 3),
            vec![Err("line exceeds the limit of 3 bytes".to_owned())]
        );
    }

    #[test]
    fn zero_max_allows_only_empty_lines() {
        assert_eq!(lines(b"\n\r\n", 0), vec![]);
        assert_eq!(
            lines(b"\na", 0),
            vec![Err("line exceeds the limit of 0 bytes".to_owned())]
        );
    }

    #[test]
    fn too_large_skips_to_the_next_line() {
        let mut reader = LineReader::with_max(&b"toolong\nok\n"[..], 3);
        assert!(matches!(
            reader.read_line(),
            Err(FrameError::TooLarge { limit: 3 })
        ));
        assert_eq!(reader.read_line().unwrap().as_deref(), Some("ok"));
        assert_eq!(reader.read_line().unwrap(), None);
        // Reported once, as soon as it cannot fit, even when the line ends much later.
        let mut reader = LineReader::with_max(
            std::io::BufReader::with_capacity(2, &b"abcdefgh\nok"[..]),
            3,
        );
        assert!(matches!(
            reader.read_line(),
            Err(FrameError::TooLarge { limit: 3 })
        ));
        assert_eq!(reader.read_line().unwrap().as_deref(), Some("ok"));
        assert_eq!(reader.read_line().unwrap(), None);
    }

    #[test]
    fn blank_lines_are_skipped() {
        assert_eq!(
            lines(b"  \n\t\r\n{\"a\":1}\n \n", 10),
            vec![Ok("{\"a\":1}".to_owned())]
        );
    }

    #[test]
    fn lines_long_lines_and_raw_bytes() {
        let mut r = LineReader::with_max(
            &b"{\"a\":1}\r\n\n   \nxxxxxxxxxxxx\nok\nhead\nRAWBYTES{\"b\":2}"[..],
            8,
        );
        assert_eq!(r.read_line().unwrap().as_deref(), Some("{\"a\":1}"));
        assert!(matches!(
            r.read_line(),
            Err(FrameError::TooLarge { limit: 8 })
        ));
        assert_eq!(r.read_line().unwrap().as_deref(), Some("ok"));
        assert_eq!(r.read_line().unwrap().as_deref(), Some("head"));
        let mut got = Vec::new();
        r.read_raw::<()>(8, |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert_eq!(got, b"RAWBYTES");
        assert_eq!(r.read_line().unwrap().as_deref(), Some("{\"b\":2}"));
        assert_eq!(r.read_line().unwrap(), None);
    }

    #[test]
    fn a_failing_sink_still_consumes_the_frame() {
        let mut r = LineReader::with_max(&b"0123456789next\n"[..], 64);
        let res = r.read_raw(10, |_| Err("disk full")).unwrap();
        assert_eq!(res, Err("disk full"));
        assert_eq!(r.read_line().unwrap().as_deref(), Some("next"));
        let err = LineReader::with_max(&b"abc"[..], 64)
            .read_raw::<()>(5, |_| Ok(()))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn invalid_utf8_is_reported_and_skipped() {
        let mut r = LineReader::with_max(&b"\xff\xfe\nfine\n"[..], 64);
        assert!(matches!(
            r.read_line(),
            Err(FrameError::InvalidUtf8 { line }) if line == b"\xff\xfe"
        ));
        assert_eq!(r.read_line().unwrap().as_deref(), Some("fine"));
    }

    #[test]
    fn closes_connection_only_on_io_errors() {
        assert!(!FrameError::TooLarge { limit: 1 }.closes_connection());
        assert!(!FrameError::InvalidUtf8 { line: vec![0xff] }.closes_connection());
        assert!(FrameError::Io(io::Error::from(io::ErrorKind::BrokenPipe)).closes_connection());
    }

    #[test]
    fn a_written_frame_reads_back() {
        let mut writer = LineWriter::new(Vec::new());
        writer.write_frame("{\"len\":3}", b"a\nb").unwrap();
        writer.write_line("after").unwrap();
        assert!(writer.write_frame("two\nlines", b"").is_err());
        let bytes = writer.into_inner();
        let mut r = LineReader::new(&bytes[..]);
        assert_eq!(r.read_line().unwrap().as_deref(), Some("{\"len\":3}"));
        let mut body = Vec::new();
        r.read_raw::<()>(3, |b| {
            body.extend_from_slice(b);
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert_eq!(body, b"a\nb");
        assert_eq!(r.read_line().unwrap().as_deref(), Some("after"));
    }

    #[test]
    fn writer_refuses_embedded_newline() {
        let mut writer = LineWriter::new(Vec::new());
        let err = writer.write_line("a\nb").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(writer.get_ref().is_empty());
    }
}
