//! JSON-lines framing, blocking and async.

use std::io::{self, BufReader, Read};

use oqto_ipc::framing::{
    AsyncLineReader, AsyncLineWriter, DEFAULT_MAX_LINE, FrameError, LineReader, LineWriter,
};
use oqto_protocol::{ErrorCode, ErrorResponse, ServerMessage};
use proptest::prelude::*;
use tokio::io::{AsyncWriteExt, BufReader as AsyncBufReader};

/// What one `read_line` gave, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Line(String),
    Invalid(Vec<u8>),
    TooLarge(usize),
}

fn out_of(result: Result<Option<String>, FrameError>) -> Option<Out> {
    match result {
        Ok(Some(line)) => Some(Out::Line(line)),
        Ok(None) => None,
        Err(FrameError::InvalidUtf8 { line }) => Some(Out::Invalid(line)),
        Err(FrameError::TooLarge { limit }) => Some(Out::TooLarge(limit)),
        Err(FrameError::Io(e)) => panic!("unexpected i/o error: {e}"),
    }
}

/// Reads everything with a blocking reader whose buffer holds `cap` bytes.
fn read_all(input: &[u8], max: usize, cap: usize) -> Vec<Out> {
    let mut reader = LineReader::with_max(BufReader::with_capacity(cap, input), max);
    let mut outs = Vec::new();
    while let Some(out) = out_of(reader.read_line()) {
        outs.push(out);
    }
    outs
}

/// The async twin of [`read_all`].
async fn read_all_async(input: &[u8], max: usize, cap: usize) -> Vec<Out> {
    let mut reader = AsyncLineReader::with_max(AsyncBufReader::with_capacity(cap, input), max);
    let mut outs = Vec::new();
    while let Some(out) = out_of(reader.read_line().await) {
        outs.push(out);
    }
    outs
}

fn read_both(input: &[u8], max: usize, cap: usize) -> Vec<Out> {
    let sync = read_all(input, max, cap);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let not_sync = rt.block_on(read_all_async(input, max, cap));
    assert_eq!(sync, not_sync, "blocking and async readers agree");
    sync
}

/// The rules, written the obvious way over the whole input.
fn model(input: &[u8], max: usize) -> Vec<Out> {
    let mut outs = Vec::new();
    for segment in input.split(|&b| b == b'\n') {
        let segment = segment.strip_suffix(b"\r").unwrap_or(segment);
        if segment.len() > max {
            outs.push(Out::TooLarge(max));
            continue;
        }
        if segment.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        outs.push(match std::str::from_utf8(segment) {
            Ok(s) => Out::Line(s.to_owned()),
            Err(_) => Out::Invalid(segment.to_vec()),
        });
    }
    outs
}

fn line(s: &str) -> Out {
    Out::Line(s.to_owned())
}

#[test]
fn normal_lines() {
    let input = b"{\"type\":\"hello\"}\n{\"type\":\"ping\",\"id\":\"1\"}\n";
    assert_eq!(
        read_both(input, 100, 8192),
        vec![
            line("{\"type\":\"hello\"}"),
            line("{\"type\":\"ping\",\"id\":\"1\"}")
        ]
    );
}

#[test]
fn crlf_is_stripped() {
    assert_eq!(
        read_both(b"one\r\ntwo\r\n", 100, 8192),
        vec![line("one"), line("two")]
    );
}

#[test]
fn empty_lines_are_skipped() {
    assert_eq!(
        read_both(b"\n\none\n\r\n\ntwo\n\n", 100, 8192),
        vec![line("one"), line("two")]
    );
    assert_eq!(read_both(b"", 100, 8192), vec![]);
    assert_eq!(read_both(b"\n\r\n\n", 100, 8192), vec![]);
}

#[test]
fn final_line_without_newline() {
    assert_eq!(
        read_both(b"one\ntwo", 100, 8192),
        vec![line("one"), line("two")]
    );
}

#[test]
fn unicode_line_separators_stay_inside_the_line() {
    let text = "{\"text\":\"a\u{2028}b\u{2029}c\u{85}d\u{b}e\u{c}f\rg\"}";
    let input = format!("{text}\nnext\n");
    assert_eq!(
        read_both(input.as_bytes(), 100, 8192),
        vec![line(text), line("next")]
    );
}

#[test]
fn exactly_max_is_fine_and_one_more_is_too_large() {
    for cap in [1, 3, 7, 8192] {
        let max = 10;
        let exact = format!("{}\nafter\n", "x".repeat(max));
        assert_eq!(
            read_both(exact.as_bytes(), max, cap),
            vec![line(&"x".repeat(max)), line("after")],
            "cap {cap}"
        );
        let exact_crlf = format!("{}\r\n", "x".repeat(max));
        assert_eq!(
            read_both(exact_crlf.as_bytes(), max, cap),
            vec![line(&"x".repeat(max))],
            "cap {cap}"
        );
        let over = format!("ok\n{}\nafter\n", "x".repeat(max + 1));
        assert_eq!(
            read_both(over.as_bytes(), max, cap),
            vec![line("ok"), Out::TooLarge(max), line("after")],
            "cap {cap}"
        );
        let over_at_eof = "x".repeat(max + 1);
        assert_eq!(
            read_both(over_at_eof.as_bytes(), max, cap),
            vec![Out::TooLarge(max)],
            "cap {cap}"
        );
    }
}

#[test]
fn invalid_utf8_then_a_valid_line() {
    let input = b"\xff\xfe bad\n\xc3\n{\"ok\":true}\n";
    assert_eq!(
        read_both(input, 100, 8192),
        vec![
            Out::Invalid(b"\xff\xfe bad".to_vec()),
            Out::Invalid(b"\xc3".to_vec()),
            line("{\"ok\":true}")
        ]
    );
}

#[test]
fn malformed_json_is_just_a_line() {
    assert_eq!(
        read_both(b"{\"type\": \nnot json at all\n", 100, 8192),
        vec![line("{\"type\": "), line("not json at all")]
    );
}

#[test]
fn default_max_is_16_mib() {
    assert_eq!(DEFAULT_MAX_LINE, 16 * 1024 * 1024);
    assert_eq!(LineReader::new(&b""[..]).max(), DEFAULT_MAX_LINE);
}

/// A reader that counts the bytes taken from it.
struct Counting<R> {
    inner: R,
    taken: usize,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken += n;
        Ok(n)
    }
}

#[test]
fn endless_input_gives_too_large_with_bounded_reading() {
    let max = 1024 * 1024;
    let endless = Counting {
        inner: io::repeat(b'a'),
        taken: 0,
    };
    let mut reader = LineReader::with_max(BufReader::new(endless), max);
    assert!(matches!(
        reader.read_line(),
        Err(FrameError::TooLarge { limit }) if limit == max
    ));
    let taken = reader.get_ref().get_ref().taken;
    assert!(
        taken <= max + 2 * 8192,
        "read {taken} bytes for a {max}-byte limit"
    );
}

#[tokio::test]
async fn endless_input_gives_too_large_async() {
    let max = 1024 * 1024;
    let mut reader = AsyncLineReader::with_max(AsyncBufReader::new(tokio::io::repeat(b'a')), max);
    assert!(matches!(
        reader.read_line().await,
        Err(FrameError::TooLarge { limit }) if limit == max
    ));
}

/// What a server answers for a bad line, as the runner and the file server do.
fn reply_for(err: &FrameError) -> Option<ErrorResponse> {
    match err {
        FrameError::TooLarge { limit } => Some(ErrorResponse::line_too_large(*limit)),
        FrameError::InvalidUtf8 { .. } => Some(ErrorResponse::line_not_utf8()),
        FrameError::Io(_) => None,
    }
}

#[tokio::test]
async fn over_a_socket_too_large_gets_a_reply_and_the_connection_goes_on() {
    let (client, server) = tokio::net::UnixStream::pair().unwrap();
    let server = tokio::spawn(async move {
        let (read, write) = server.into_split();
        let mut reader = AsyncLineReader::with_max(AsyncBufReader::new(read), 64);
        let mut writer = AsyncLineWriter::new(write);
        loop {
            match reader.read_line().await {
                Ok(Some(line)) => writer.write_line(&format!("echo {line}")).await.unwrap(),
                Ok(None) => return,
                Err(err) => {
                    if let Some(reply) = reply_for(&err) {
                        writer
                            .write_json(&ServerMessage::Error(reply))
                            .await
                            .unwrap();
                    }
                    if err.closes_connection() {
                        return;
                    }
                }
            }
        }
    });
    let (read, mut write) = client.into_split();
    let mut replies = AsyncLineReader::new(AsyncBufReader::new(read));
    write.write_all(b"hi\n\xff\n").await.unwrap();
    assert_eq!(replies.read_line().await.unwrap().unwrap(), "echo hi");
    let bad = ServerMessage::parse(&replies.read_line().await.unwrap().unwrap()).unwrap();
    let ServerMessage::Error(bad) = bad else {
        panic!("expected an error, got {bad:?}")
    };
    assert_eq!(bad.code, ErrorCode::BadRequest);
    // The reply comes as soon as the line cannot fit, before the line ends.
    write.write_all(&[b'x'; 100]).await.unwrap();
    let big = ServerMessage::parse(&replies.read_line().await.unwrap().unwrap()).unwrap();
    let ServerMessage::Error(big) = big else {
        panic!("expected an error, got {big:?}")
    };
    assert_eq!(big.code, ErrorCode::TooLarge);
    assert!(big.message.contains("64"), "{}", big.message);
    write.write_all(&[b'x'; 1000]).await.unwrap();
    write.write_all(b"\nstill here\n").await.unwrap();
    assert_eq!(
        replies.read_line().await.unwrap().unwrap(),
        "echo still here"
    );
    drop(write);
    assert_eq!(replies.read_line().await.unwrap(), None, "server closed");
    server.await.unwrap();
}

#[test]
fn frame_errors_map_to_replies() {
    let too_large = FrameError::TooLarge { limit: 1024 };
    let reply = reply_for(&too_large).unwrap();
    assert_eq!(reply.code, ErrorCode::TooLarge);
    assert_eq!(reply.id, None);
    assert!(reply.message.contains("1024"), "{}", reply.message);
    assert!(!too_large.closes_connection());

    let invalid = FrameError::InvalidUtf8 { line: vec![0xff] };
    assert_eq!(
        reply_for(&invalid),
        Some(ErrorResponse::new(
            None,
            ErrorCode::BadRequest,
            "line is not valid UTF-8"
        ))
    );
    assert!(!invalid.closes_connection());

    let io = FrameError::Io(io::Error::from(io::ErrorKind::ConnectionReset));
    assert_eq!(reply_for(&io), None);
    assert!(io.closes_connection());
}

#[test]
fn too_large_reply_on_the_wire() {
    let reply = reply_for(&FrameError::TooLarge { limit: 8 }).unwrap();
    let line = ServerMessage::Error(reply).to_line();
    assert!(line.contains("\"code\":\"too_large\""), "{line}");
    assert!(line.contains("\"id\":null"), "{line}");
}

#[tokio::test]
async fn raw_frames_round_trip_async() {
    let mut writer = AsyncLineWriter::new(Vec::new());
    writer.write_frame("{\"len\":4}", b"\n\r\0x").await.unwrap();
    writer.write_line("next").await.unwrap();
    let bytes = writer.into_inner();
    for cap in [1, 3, 8192] {
        let mut reader =
            AsyncLineReader::with_max(AsyncBufReader::with_capacity(cap, &bytes[..]), 64);
        assert_eq!(reader.read_line().await.unwrap().unwrap(), "{\"len\":4}");
        let mut body = Vec::new();
        reader
            .read_raw::<()>(4, |b| {
                body.extend_from_slice(b);
                Ok(())
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, b"\n\r\0x", "cap {cap}");
        assert_eq!(reader.read_line().await.unwrap().unwrap(), "next");
        assert_eq!(reader.read_line().await.unwrap(), None);
    }
}

#[test]
fn writer_appends_newline_and_round_trips() {
    let mut writer = LineWriter::new(Vec::new());
    writer.write_line("plain").unwrap();
    let reply = ErrorResponse::new(None, ErrorCode::BadRequest, "a\nb\u{2028}c");
    writer
        .write_json(&ServerMessage::Error(reply.clone()))
        .unwrap();
    let bytes = writer.into_inner();
    assert!(bytes.ends_with(b"\n"));
    let mut reader = LineReader::new(&bytes[..]);
    assert_eq!(reader.read_line().unwrap().unwrap(), "plain");
    let parsed = ServerMessage::parse(&reader.read_line().unwrap().unwrap()).unwrap();
    assert_eq!(parsed, ServerMessage::Error(reply));
    assert_eq!(reader.read_line().unwrap(), None);
}

#[tokio::test]
async fn async_writer_round_trips() {
    let mut writer = AsyncLineWriter::new(Vec::new());
    writer.write_line("one").await.unwrap();
    writer
        .write_json(&serde_json::json!({"type": "x", "s": "two\nlines"}))
        .await
        .unwrap();
    let err = writer.write_line("a\nb").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let bytes = writer.into_inner();
    assert_eq!(
        read_all_async(&bytes, 100, 8192).await,
        vec![line("one"), line(r#"{"s":"two\nlines","type":"x"}"#)]
    );
}

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => Just(b'\n'),
        2 => Just(b'\r'),
        4 => Just(b'a'),
        2 => any::<u8>(),
        1 => Just(0xe2), // the start of U+2028
    ]
}

proptest! {
    #[test]
    fn arbitrary_input_matches_the_rules(
        input in prop::collection::vec(byte(), 0..200),
        max in 0usize..40,
        cap in 1usize..20,
    ) {
        let outs = read_both(&input, max, cap);
        for out in &outs {
            if let Out::Line(line) = out {
                prop_assert!(line.len() <= max);
                prop_assert!(!line.contains('\n'));
            }
        }
        prop_assert_eq!(outs, model(&input, max));
    }

    #[test]
    fn any_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..2000)) {
        let outs = read_all(&input, 64, 16);
        for out in outs {
            if let Out::Line(line) = out {
                prop_assert!(line.len() <= 64);
            }
        }
    }
}
