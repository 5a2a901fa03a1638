//! JSON-lines framing with a maximum line length, blocking and async.
//!
//! A frame is the bytes up to a `\n`. Only `\n` splits: peers write raw U+2028 and U+2029
//! inside JSON strings, and those stay inside the line. One trailing `\r` is stripped, empty
//! lines are skipped, and a last line without a newline before EOF is still a line. Framing
//! does not parse JSON: a malformed line is just a line, for the protocol layer to reject.
//!
//! What happens on a bad line:
//! A malformed line gets a `bad_request` reply and the connection goes on; an over-long line
//! gets `too_large` and a clean close; invalid UTF-8 gets `bad_request` and the connection goes
//! on. [`reply_for`] builds the reply and [`closes_connection`] says whether to close.
//!
//! The readers never hold more than `max + 1` bytes of a line: they read with
//! `fill_buf`/`consume` and give up as soon as a line cannot fit.

use std::io::{self, BufRead, Write};

use oqto_protocol::{ErrorCode, ErrorResponse};
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// The default maximum line length in bytes, newline excluded: 16 MiB.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024 * 1024;

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The line is longer than `limit` bytes. The stream has no usable line boundary left:
    /// the reader is finished and the connection should close.
    #[error("line exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The line is not UTF-8. The line boundary is intact: the next read returns the next line.
    #[error("line is not valid UTF-8 ({} bytes)", line.len())]
    InvalidUtf8 { line: Vec<u8> },
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The error reply a server sends for `err`, or `None` when there is no one to reply to.
///
/// A malformed line gets a `bad_request` reply and the connection goes on; an over-long line
/// gets `too_large` and a clean close; invalid UTF-8 gets `bad_request` and the connection goes
/// on. An I/O error gets no reply.
pub fn reply_for(err: &FrameError) -> Option<ErrorResponse> {
    match err {
        FrameError::TooLarge { limit } => Some(ErrorResponse::new(
            None,
            ErrorCode::TooLarge,
            format!("line exceeds the limit of {limit} bytes; closing the connection"),
        )),
        FrameError::InvalidUtf8 { .. } => Some(ErrorResponse::new(
            None,
            ErrorCode::BadRequest,
            "line is not valid UTF-8",
        )),
        FrameError::Io(_) => None,
    }
}

/// Whether the connection must close after `err` (after sending [`reply_for`], if any).
///
/// True for [`FrameError::TooLarge`] and [`FrameError::Io`]; false for
/// [`FrameError::InvalidUtf8`], after which the next line can be read.
pub fn closes_connection(err: &FrameError) -> bool {
    match err {
        FrameError::TooLarge { .. } | FrameError::Io(_) => true,
        FrameError::InvalidUtf8 { .. } => false,
    }
}

/// The line-assembly state shared by [`LineReader`] and [`AsyncLineReader`].
#[derive(Debug)]
struct Assembler {
    /// The current line so far; never longer than `max + 1` (room for a `\r`).
    buf: Vec<u8>,
    max: usize,
    /// Set after `TooLarge`: every later read fails the same way.
    too_large: bool,
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
            too_large: false,
        }
    }

    fn too_large(&mut self) -> FrameError {
        self.too_large = true;
        self.buf = Vec::new();
        FrameError::TooLarge { limit: self.max }
    }

    /// Takes what it can from `chunk`; returns how many bytes it used and what it found.
    fn feed(&mut self, chunk: &[u8]) -> (usize, Fed) {
        let Some(i) = chunk.iter().position(|&b| b == b'\n') else {
            if self.buf.len() + chunk.len() > self.max.saturating_add(1) {
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
        self.take_line()
    }

    /// Turns the buffer into a line; `None` for an empty line.
    fn take_line(&mut self) -> Option<Result<String, FrameError>> {
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.len() > self.max {
            return Some(Err(self.too_large()));
        }
        if self.buf.is_empty() {
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

/// Reads JSON lines from a blocking reader, at most `max` bytes each.
///
/// After [`FrameError::TooLarge`], every call returns `TooLarge` again (never `Ok(None)`, so
/// a cut-off stream is not mistaken for a clean end). After [`FrameError::InvalidUtf8`] the
/// next call reads the next line. After [`FrameError::Io`] a call resumes where reading
/// stopped; `Interrupted` is retried internally.
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
        if self.asm.too_large {
            return Err(FrameError::TooLarge {
                limit: self.asm.max,
            });
        }
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
        if self.asm.too_large {
            return Err(FrameError::TooLarge {
                limit: self.asm.max,
            });
        }
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
                Err(e @ FrameError::TooLarge { .. }) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
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
    fn too_large_is_sticky() {
        let mut reader = LineReader::with_max(&b"toolong\nok\n"[..], 3);
        assert!(matches!(
            reader.read_line(),
            Err(FrameError::TooLarge { limit: 3 })
        ));
        assert!(matches!(
            reader.read_line(),
            Err(FrameError::TooLarge { limit: 3 })
        ));
    }

    #[test]
    fn writer_refuses_embedded_newline() {
        let mut writer = LineWriter::new(Vec::new());
        let err = writer.write_line("a\nb").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(writer.get_ref().is_empty());
    }
}
