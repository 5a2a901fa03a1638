//! Streams: chunked reads and their resume, chunked uploads and their resume, search,
//! watch, cancel.

use std::time::Duration;

use oqto_protocol::{
    ChangeKind, ErrorCode, FilesEvent, FilesReply, FilesServerMessage, SearchLimit,
};
use oqto_testkit::TestEnv;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::{Client, Frame};

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 251) % 256).unwrap())
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Changes seen so far: kind, path, and where a rename came from.
type Seen = Vec<(ChangeKind, String, Option<String>)>;

#[test]
fn large_reads_come_in_chunks_and_ranges() {
    let env = TestEnv::new();
    let data = pattern(3 * 65536 + 123);
    std::fs::write(env.work().join("big.bin"), &data).unwrap();
    let mut c = Client::stdio(&env, &["--max-chunk", "65536"]);
    let all = c.call(json!({"type":"read","path":"big.bin"}));
    assert_eq!(all.data.len(), 4);
    assert!(all.data.iter().all(|(_, b)| b.len() <= 65536));
    assert_eq!(all.bytes(), data);
    let FilesReply::Read {
        length,
        size,
        binary,
        ..
    } = all.ok()
    else {
        panic!()
    };
    assert_eq!((length, size), (data.len() as u64, data.len() as u64));
    assert!(binary);
    let part = c.call(json!({"type":"read","path":"big.bin","offset":100_000,"length":70_000}));
    assert_eq!(part.data[0].0, 100_000);
    assert_eq!(part.bytes(), &data[100_000..170_000]);
    c.call(json!({"type":"read","path":"big.bin","offset":10_000_000}))
        .err(ErrorCode::BadOffset);
}

#[test]
fn a_large_read_over_stdio_pipes_is_exact_frame_by_frame() {
    let env = TestEnv::new();
    // Default 1 MiB frames, so each one fills the widened pipe.
    let data = pattern((5 << 20) + 4321);
    std::fs::write(env.work().join("big.bin"), &data).unwrap();
    let mut c = Client::stdio(&env, &[]);
    let all = c.call(json!({"type":"read","path":"big.bin"}));
    assert_eq!(all.data.len(), 6);
    let mut at = 0u64;
    for (offset, bytes) in &all.data {
        assert_eq!(*offset, at);
        at += bytes.len() as u64;
    }
    assert_eq!(sha(&all.bytes()), sha(&data));
    all.ok();
    // Ranges that start and end inside frames, and one that runs past the end.
    for (offset, length) in [
        ((1 << 20) - 7, (2 << 20) + 11),
        (3, 1),
        ((5 << 20) + 4000, 1 << 20),
    ] {
        let part = c.call(json!({"type":"read","path":"big.bin","offset":offset,"length":length}));
        let end = (offset + length).min(data.len());
        assert_eq!(part.data[0].0, offset as u64);
        assert_eq!(
            sha(&part.bytes()),
            sha(&data[offset..end]),
            "{offset}+{length}"
        );
        part.ok();
    }
    assert_eq!(c.finish(), Some(0));
}

#[test]
fn an_interrupted_download_resumes_from_its_offset() {
    let env = TestEnv::new();
    let data = pattern(8 * 65536);
    std::fs::write(env.work().join("video.mp4"), &data).unwrap();
    let mut first = Client::stdio(&env, &["--max-chunk", "65536"]);
    let FilesReply::Stat { entry } = first.call(json!({"type":"stat","path":"video.mp4"})).ok()
    else {
        panic!()
    };
    first.send_line(r#"{"id":"dl","type":"read","path":"video.mp4"}"#);
    let (offset, got) = first.wait_for(|f| match f {
        Frame::Data { id, offset, bytes } if id == "dl" => Some((*offset, bytes.clone())),
        _ => None,
    });
    assert_eq!(offset, 0);
    // The connection dies mid-download.
    drop(first);
    let mut second = Client::stdio(&env, &["--max-chunk", "65536"]);
    let rest = second.call(json!({
        "type":"read","path":"video.mp4","offset":got.len(),"expect":{"mtime":entry.mtime}
    }));
    let mut whole = got.clone();
    whole.extend(rest.bytes());
    assert_eq!(whole, data);
    rest.ok();
    // Had the file changed meanwhile, the resume would say so instead of mixing versions.
    std::fs::write(env.work().join("video.mp4"), b"replaced").unwrap();
    let stale = entry.mtime.saturating_sub(5_000);
    second
        .call(json!({"type":"read","path":"video.mp4","offset":got.len(),"expect":{"mtime":stale}}))
        .err(ErrorCode::Conflict);
}

#[test]
fn an_interrupted_upload_resumes_and_finishes_atomically() {
    let env = TestEnv::new();
    env.write("work/assets/video.mp4", "old");
    let data = pattern(300_000);
    let mut c = Client::stdio(&env, &["--max-chunk", "131072"]);
    let FilesReply::Upload { upload, offset } = c
        .call(json!({"type":"upload.start","path":"assets/video.mp4"}))
        .ok()
    else {
        panic!()
    };
    assert_eq!(offset, 0);
    c.send_line(
        &json!({"id":"c1","type":"upload.chunk","upload":upload,"offset":0,"len":100_000})
            .to_string(),
    );
    c.send_raw(&data[..100_000]);
    let FilesReply::Upload { offset, .. } = c.answer("c1").ok() else {
        panic!()
    };
    assert_eq!(offset, 100_000);
    // Too large a chunk, or one at the wrong offset, is refused; its bytes are skipped.
    c.send_line(
        &json!({"id":"c2","type":"upload.chunk","upload":upload,"offset":0,"len":10}).to_string(),
    );
    c.send_raw(&[9; 10]);
    let e = c.answer("c2").err(ErrorCode::BadOffset);
    assert_eq!(e.offset, Some(100_000));
    c.send_line(
        &json!({"id":"c3","type":"upload.chunk","upload":upload,"offset":100_000,"len":200_000})
            .to_string(),
    );
    c.send_raw(&vec![1; 200_000]);
    c.answer("c3").err(ErrorCode::TooLarge);
    // Half a chunk, then the connection dies.
    c.send_line(
        &json!({"id":"c4","type":"upload.chunk","upload":upload,"offset":100_000,"len":100_000})
            .to_string(),
    );
    c.send_raw(&data[100_000..150_000]);
    drop(c);
    assert_eq!(
        std::fs::read_to_string(env.work().join("assets/video.mp4")).unwrap(),
        "old"
    );
    let mut c = Client::stdio(&env, &["--max-chunk", "131072"]);
    let FilesReply::Upload { offset, .. } = c
        .call(json!({"type":"upload.start","path":"assets/video.mp4","upload":upload}))
        .ok()
    else {
        panic!()
    };
    assert!((100_000..=150_000).contains(&offset), "{offset}");
    let mut at = usize::try_from(offset).unwrap();
    while at < data.len() {
        let end = (at + 131_072).min(data.len());
        c.send_line(
            &json!({"id":"c5","type":"upload.chunk","upload":upload,"offset":at,"len":end - at})
                .to_string(),
        );
        c.send_raw(&data[at..end]);
        let FilesReply::Upload { offset, .. } = c.answer("c5").ok() else {
            panic!()
        };
        assert_eq!(offset, end as u64);
        at = end;
    }
    c.call(json!({"type":"upload.finish","upload":upload,"sha256":sha(b"wrong")}))
        .err(ErrorCode::Conflict);
    let FilesReply::Written { sha256, entry } = c
        .call(json!({"type":"upload.finish","upload":upload,"sha256":sha(&data)}))
        .ok()
    else {
        panic!()
    };
    assert_eq!((sha256, entry.size), (sha(&data), data.len() as u64));
    assert_eq!(
        std::fs::read(env.work().join("assets/video.mp4")).unwrap(),
        data
    );
    let left: Vec<_> = std::fs::read_dir(env.work().join("assets"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1, "temporary file left behind");
    c.call(json!({"type":"upload.start","path":"assets/x","upload":"up_0000"}))
        .err(ErrorCode::UnknownId);
    c.call(json!({"type":"upload.abort","upload":upload}))
        .err(ErrorCode::UnknownId);
}

#[test]
fn search_names_and_contents_honouring_ignores_and_limits() {
    let env = TestEnv::new();
    env.write("work/.gitignore", "target/\n");
    env.write(
        "work/src/server.rs",
        "fn serve() {}\nlet x = 1;\nfn main() { serve() }\n",
    );
    env.write("work/src/main.rs", "fn main() {}\n");
    env.write("work/target/debug/gen.rs", "fn generated() {}\n");
    env.write("work/.hidden/h.rs", "fn hidden() {}\n");
    env.write("work/Cargo.toml", "[package]\n");
    std::fs::write(env.work().join("src/blob.bin"), b"fn \0binary").unwrap();
    let mut c = Client::stdio(&env, &[]);
    let found = c.call(json!({"type":"search","mode":"regex","pattern":"fn \\w+\\("}));
    let matches: Vec<_> = found
        .events
        .iter()
        .flat_map(|e| match e {
            FilesEvent::SearchMatches { matches, .. } => matches.clone(),
            _ => vec![],
        })
        .collect();
    let mut lines: Vec<(String, u64)> = matches
        .iter()
        .map(|m| (m.path.clone(), m.line.unwrap()))
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            ("src/main.rs".into(), 1),
            ("src/server.rs".into(), 1),
            ("src/server.rs".into(), 3)
        ]
    );
    let m = matches
        .iter()
        .find(|m| m.path == "src/server.rs" && m.line == Some(3))
        .unwrap();
    assert_eq!(m.text.as_deref(), Some("fn main() { serve() }"));
    assert_eq!(m.ranges, [[0, 8]]);
    let FilesReply::Searched {
        matches: n, limit, ..
    } = found.ok()
    else {
        panic!()
    };
    assert_eq!((n, limit), (3, None));
    let all = c.call(
        json!({"type":"search","mode":"regex","pattern":"fn","hidden":true,"gitignore":false}),
    );
    let n = all.events.len();
    let FilesReply::Searched { matches: total, .. } = all.ok() else {
        panic!()
    };
    assert!(n >= 1);
    assert_eq!(total, 5);
    let capped = c.call(json!({"type":"search","mode":"regex","pattern":"fn","max_results":2}));
    let FilesReply::Searched { matches, limit, .. } = capped.ok() else {
        panic!()
    };
    assert_eq!((matches, limit), (2, Some(SearchLimit::MaxResults)));
    let glob = c.call(json!({"type":"search","mode":"glob","pattern":"*.toml"}));
    assert_eq!(glob.events.len(), 1);
    let fuzzy = c.call(json!({"type":"search","mode":"fuzzy","pattern":"srvrs"}));
    let FilesEvent::SearchMatches { matches, .. } = &fuzzy.events[0] else {
        panic!()
    };
    assert_eq!(matches[0].path, "src/server.rs");
    c.call(json!({"type":"search","mode":"regex","pattern":"("}))
        .err(ErrorCode::BadRequest);
    c.call(json!({"type":"search","path":"../x","mode":"glob","pattern":"*"}))
        .err(ErrorCode::InvalidPath);
}

#[test]
fn watch_reports_edits_made_by_another_process() {
    let env = TestEnv::new();
    env.write("work/src/old.rs", "old");
    let mut c = Client::stdio(&env, &[]);
    let FilesReply::Watching { watch } = c.call(json!({"type":"watch","path":""})).ok() else {
        panic!()
    };
    let w = env.work();
    std::fs::write(w.join("src/new.rs"), "new").unwrap();
    std::fs::create_dir(w.join("fresh")).unwrap();
    let mut seen: Seen = Vec::new();
    let mut collect_until = |c: &mut Client, want: &dyn Fn(&Seen) -> bool| {
        while !want(&seen) {
            let changes = c.wait_for(|f| match f {
                Frame::Msg(FilesServerMessage::Event(FilesEvent::WatchChanges {
                    watch: w,
                    changes,
                })) if *w == watch => Some(changes.clone()),
                _ => None,
            });
            seen.extend(changes.into_iter().map(|ch| (ch.kind, ch.path, ch.from)));
        }
    };
    collect_until(&mut c, &|s| {
        s.iter()
            .any(|(k, p, _)| *k == ChangeKind::Created && p == "src/new.rs")
    });
    // A file in a directory created after the watch started is seen too (recursive).
    std::fs::write(w.join("fresh/inner.txt"), "x").unwrap();
    collect_until(&mut c, &|s| {
        s.iter().any(|(_, p, _)| p == "fresh/inner.txt")
    });
    std::fs::write(w.join("src/old.rs"), "edited").unwrap();
    collect_until(&mut c, &|s| {
        s.iter()
            .any(|(k, p, _)| *k == ChangeKind::Modified && p == "src/old.rs")
    });
    std::fs::rename(w.join("src/old.rs"), w.join("src/renamed.rs")).unwrap();
    collect_until(&mut c, &|s| {
        s.iter().any(|(k, p, f)| {
            *k == ChangeKind::Renamed && p == "src/renamed.rs" && f.as_deref() == Some("src/old.rs")
        })
    });
    std::fs::remove_file(w.join("src/new.rs")).unwrap();
    collect_until(&mut c, &|s| {
        s.iter()
            .any(|(k, p, _)| *k == ChangeKind::Deleted && p == "src/new.rs")
    });
    // The server's own atomic write shows as a change of the target, not its temp file.
    c.call(json!({"type":"write","path":"src/renamed.rs","content":"by server"}))
        .ok();
    collect_until(&mut c, &|s| {
        s.iter().filter(|(_, p, _)| p == "src/renamed.rs").count() >= 2
    });
    assert!(
        seen.iter().all(|(_, p, _)| !p.contains(".oqto-")),
        "{seen:?}"
    );
    c.call(json!({"type":"unwatch","watch":watch})).ok();
    c.call(json!({"type":"unwatch","watch":watch}))
        .err(ErrorCode::UnknownId);
    c.call(json!({"type":"watch","path":"src/renamed.rs"}))
        .err(ErrorCode::NotADirectory);
}

#[test]
fn a_running_search_can_be_cancelled() {
    let env = TestEnv::new();
    for i in 0..3000 {
        env.write(format!("work/d{}/f{i}.txt", i % 30), "needle\n".repeat(20));
    }
    let mut c = Client::stdio(&env, &["--max-concurrent", "2"]);
    c.send_line(
        r#"{"id":"s","type":"search","mode":"regex","pattern":"needle","max_results":1000000}"#,
    );
    c.wait_for(|f| {
        matches!(
            f,
            Frame::Msg(FilesServerMessage::Event(FilesEvent::SearchMatches { .. }))
        )
        .then_some(())
    });
    let cancel = c.call(json!({"type":"cancel","target":"s"}));
    let searched = c.answer("s");
    match (cancel.last, searched.last) {
        // Cancelled in time…
        (Ok(_), Err(e)) => assert_eq!(e.code, ErrorCode::Cancelled),
        // …or the search had already finished.
        (Err(e), Ok(_)) => assert_eq!(e.code, ErrorCode::UnknownId),
        other => panic!("{other:?}"),
    }
    // Either way the connection goes on.
    assert!(
        c.recv(Duration::from_millis(0))
            .is_none_or(|f| !matches!(f, Frame::End(_)))
    );
    c.call(json!({"type":"stat","path":""})).ok();
}
