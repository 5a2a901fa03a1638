//! The one-reply operations over --stdio and --socket.

use std::os::unix::fs::PermissionsExt;

use oqto_protocol::{EntryKind, ErrorCode, FilesReply};
use oqto_testkit::TestEnv;
use serde_json::json;

use crate::support::{Client, Server};

fn entries(reply: FilesReply) -> (Vec<oqto_protocol::Entry>, u64) {
    match reply {
        FilesReply::Entries { entries, total, .. } => (entries, total),
        other => panic!("not entries: {other:?}"),
    }
}

fn names(entries: &[oqto_protocol::Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn list_is_paged_sorted_and_filtered() {
    let env = TestEnv::new();
    for i in 0..25 {
        env.write(format!("work/f{i:02}.txt"), "x".repeat(i));
    }
    env.write("work/.hidden", "");
    env.write("work/.gitignore", "ignored/\n*.log\n");
    env.write("work/ignored/a", "");
    env.write("work/app.log", "");
    std::fs::create_dir(env.work().join("zdir")).unwrap();
    let mut c = Client::stdio(&env, &[]);
    let (page, total) = entries(c.call(json!({"type":"list","path":"","limit":10})).ok());
    assert_eq!(total, 28);
    assert_eq!(names(&page)[..3], ["app.log", "f00.txt", "f01.txt"]);
    assert_eq!(page.len(), 10);
    let (page2, _) = entries(
        c.call(json!({"type":"list","path":"","offset":10,"limit":10}))
            .ok(),
    );
    assert_eq!(page2[0].name, "f09.txt");
    let (all, total) = entries(
        c.call(json!({"type":"list","path":"","hidden":true,"gitignore":true,"dirs_first":true}))
            .ok(),
    );
    assert_eq!(total, 28, "{:?}", names(&all));
    assert_eq!(all[0].name, "zdir");
    assert_eq!(all[0].kind, EntryKind::Dir);
    assert!(!names(&all).contains(&"ignored") && !names(&all).contains(&"app.log"));
    assert!(names(&all).contains(&".hidden"));
    let (by_size, _) = entries(
        c.call(json!({"type":"list","path":"","sort":"size","desc":true,"limit":1}))
            .ok(),
    );
    assert_eq!(by_size[0].name, "zdir"); // a directory's size is its block size
    let f = all.iter().find(|e| e.name == "f03.txt").unwrap();
    assert_eq!((f.size, f.kind), (3, EntryKind::File));
    assert!(f.mtime > 0 && f.mode & 0o400 != 0);
    c.call(json!({"type":"list","path":"f00.txt"}))
        .err(ErrorCode::NotADirectory);
    c.call(json!({"type":"list","path":"missing"}))
        .err(ErrorCode::NotFound);
}

#[test]
fn write_read_stat_hash() {
    let env = TestEnv::new();
    let mut c = Client::stdio(&env, &[]);
    let FilesReply::Written { entry, sha256 } = c
        .call(json!({"type":"write","path":"a/b/c.txt","content":"abc","create_parents":true}))
        .ok()
    else {
        panic!()
    };
    assert_eq!(
        sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!((entry.name.as_str(), entry.size), ("c.txt", 3));
    assert_eq!(std::fs::read(env.work().join("a/b/c.txt")).unwrap(), b"abc");
    let FilesReply::Hash { sha256: h, size } =
        c.call(json!({"type":"hash","path":"a/b/c.txt"})).ok()
    else {
        panic!()
    };
    assert_eq!((h, size), (sha256, 3));
    let read = c.call(json!({"type":"read","path":"a/b/c.txt"}));
    assert_eq!(read.bytes(), b"abc");
    let FilesReply::Read {
        mime, binary, size, ..
    } = read.ok()
    else {
        panic!()
    };
    assert_eq!((mime.as_str(), binary, size), ("text/plain", false, 3));
    c.call(json!({"type":"write","path":"x/y.txt","content":"abc"}))
        .err(ErrorCode::NotFound);
    c.call(json!({"type":"write","path":"a","content":"abc"}))
        .err(ErrorCode::IsADirectory);
    // Permissions of an existing file survive a write.
    std::fs::set_permissions(
        env.work().join("a/b/c.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    c.call(json!({"type":"write","path":"a/b/c.txt","content":"new"}))
        .ok();
    let mode = std::fs::metadata(env.work().join("a/b/c.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::write(env.work().join("bin.dat"), [0u8, 1, 2, 255]).unwrap();
    let FilesReply::Read { binary, mime, .. } =
        c.call(json!({"type":"read","path":"bin.dat"})).ok()
    else {
        panic!()
    };
    assert!(binary);
    assert_eq!(mime, "application/octet-stream");
}

#[test]
fn precondition_conflict_is_typed_and_changes_nothing() {
    let env = TestEnv::new();
    env.write("work/doc.md", "v1");
    let mut c = Client::stdio(&env, &[]);
    let FilesReply::Stat { entry } = c.call(json!({"type":"stat","path":"doc.md"})).ok() else {
        panic!()
    };
    let FilesReply::Hash { sha256: v1, .. } = c.call(json!({"type":"hash","path":"doc.md"})).ok()
    else {
        panic!()
    };
    // Editor A saves on top of v1.
    let FilesReply::Written { sha256: v2, .. } = c
        .call(
            json!({"type":"write","path":"doc.md","content":"A's version","expect":{"sha256":v1}}),
        )
        .ok()
    else {
        panic!()
    };
    // Editor B still holds v1: its save is a conflict, by hash and by mtime alike.
    let e = c
        .call(
            json!({"type":"write","path":"doc.md","content":"B's version","expect":{"sha256":v1}}),
        )
        .err(ErrorCode::Conflict);
    assert!(e.message.contains("doc.md"), "{e:?}");
    std::fs::write(env.work().join("doc.md"), "someone else").unwrap();
    let old_mtime = entry.mtime.saturating_sub(10_000);
    c.call(json!({"type":"write","path":"doc.md","content":"B","expect":{"mtime":old_mtime}}))
        .err(ErrorCode::Conflict);
    c.call(json!({"type":"write","path":"doc.md","content":"B","expect":{"sha256":v2}}))
        .err(ErrorCode::Conflict);
    c.call(json!({"type":"write","path":"doc.md","content":"B","expect":{"absent":true}}))
        .err(ErrorCode::Conflict);
    assert_eq!(
        std::fs::read_to_string(env.work().join("doc.md")).unwrap(),
        "someone else"
    );
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(env.work())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    c.call(json!({"type":"write","path":"new.md","content":"n","expect":{"absent":true}}))
        .ok();
}

#[test]
fn mkdir_rename_copy_delete() {
    let env = TestEnv::new();
    env.write("work/src/a.rs", "a");
    env.write("work/src/sub/b.rs", "b");
    std::os::unix::fs::symlink("a.rs", env.work().join("src/link")).unwrap();
    let mut c = Client::stdio(&env, &[]);
    c.call(json!({"type":"mkdir","path":"x/y/z","parents":true}))
        .ok();
    c.call(json!({"type":"mkdir","path":"x/y/z","parents":true}))
        .ok();
    c.call(json!({"type":"mkdir","path":"x"}))
        .err(ErrorCode::AlreadyExists);
    c.call(json!({"type":"mkdir","path":"q/r"}))
        .err(ErrorCode::NotFound);
    c.call(json!({"type":"copy","from":"src","to":"copy"}))
        .err(ErrorCode::IsADirectory);
    c.call(json!({"type":"copy","from":"src","to":"copy","recursive":true}))
        .ok();
    assert_eq!(
        std::fs::read_to_string(env.work().join("copy/sub/b.rs")).unwrap(),
        "b"
    );
    assert_eq!(
        std::fs::read_link(env.work().join("copy/link"))
            .unwrap()
            .to_str(),
        Some("a.rs")
    );
    c.call(json!({"type":"copy","from":"src","to":"src/inner","recursive":true}))
        .err(ErrorCode::InvalidPath);
    c.call(json!({"type":"copy","from":"src/a.rs","to":"copy/sub/b.rs"}))
        .err(ErrorCode::AlreadyExists);
    c.call(json!({"type":"copy","from":"src/a.rs","to":"copy/sub/b.rs","overwrite":true}))
        .ok();
    assert_eq!(
        std::fs::read_to_string(env.work().join("copy/sub/b.rs")).unwrap(),
        "a"
    );
    c.call(json!({"type":"rename","from":"copy/sub/b.rs","to":"x/y/z/moved.rs"}))
        .ok();
    assert!(env.work().join("x/y/z/moved.rs").exists());
    c.call(json!({"type":"rename","from":"src/a.rs","to":"x/y/z/moved.rs"}))
        .err(ErrorCode::AlreadyExists);
    c.call(json!({"type":"rename","from":"nope","to":"x/nope"}))
        .err(ErrorCode::NotFound);
    c.call(json!({"type":"rename","from":"x","to":"x/y/inside"}))
        .err(ErrorCode::InvalidPath);
    c.call(json!({"type":"delete","path":"x"}))
        .err(ErrorCode::IsADirectory);
    c.call(json!({"type":"delete","path":"x","recursive":true}))
        .ok();
    assert!(!env.work().join("x").exists());
    c.call(json!({"type":"delete","path":""}))
        .err(ErrorCode::InvalidPath);
    c.call(json!({"type":"delete","path":"src/link"})).ok();
    assert!(env.work().join("src/a.rs").exists());
}

#[test]
fn read_only_rejects_every_mutation() {
    let env = TestEnv::new();
    env.write("work/a.txt", "a");
    let mut c = Client::stdio(&env, &["--read-only"]);
    assert!(c.welcome.as_ref().unwrap().read_only);
    for op in [
        json!({"type":"write","path":"a.txt","content":"b"}),
        json!({"type":"mkdir","path":"d"}),
        json!({"type":"rename","from":"a.txt","to":"b.txt"}),
        json!({"type":"copy","from":"a.txt","to":"b.txt"}),
        json!({"type":"delete","path":"a.txt"}),
        json!({"type":"upload.start","path":"u.bin"}),
        json!({"type":"upload.finish","upload":"up_1"}),
        json!({"type":"upload.abort","upload":"up_1"}),
    ] {
        c.call(op).err(ErrorCode::ReadOnly);
    }
    // A refused chunk's bytes are still consumed: the next request is understood.
    c.send_line(r#"{"id":"chunk","type":"upload.chunk","upload":"up_1","offset":0,"len":5}"#);
    c.send_raw(b"12345");
    c.answer("chunk").err(ErrorCode::ReadOnly);
    assert_eq!(c.call(json!({"type":"read","path":"a.txt"})).bytes(), b"a");
    assert_eq!(
        std::fs::read_to_string(env.work().join("a.txt")).unwrap(),
        "a"
    );
}

#[test]
fn socket_mode_serves_several_clients() {
    let env = TestEnv::new();
    env.write("work/a.txt", "a");
    let server = Server::start(&env, &[]);
    let mode = std::fs::metadata(&server.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(server.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let mut a = Client::connect(&server.socket);
    let mut b = Client::connect(&server.socket);
    a.call(json!({"type":"write","path":"b.txt","content":"from a"}))
        .ok();
    assert_eq!(
        b.call(json!({"type":"read","path":"b.txt"})).bytes(),
        b"from a"
    );
    drop(a);
    let (list, _) = entries(b.call(json!({"type":"list","path":""})).ok());
    assert_eq!(names(&list), ["a.txt", "b.txt"]);
}

#[test]
fn pages_put_together_are_the_whole_sorted_listing() {
    let env = TestEnv::new();
    // Names in a scrambled creation order, some directories among them.
    for i in 0..97u32 {
        let name = format!("n{:03}", (i * 37) % 97);
        if i % 7 == 0 {
            std::fs::create_dir(env.work().join(&name)).unwrap();
        } else {
            env.write(format!("work/{name}"), "");
        }
    }
    let mut c = Client::stdio(&env, &[]);
    for (desc, dirs_first) in [(false, false), (true, false), (false, true), (true, true)] {
        let (all, total) = entries(
            c.call(
                json!({"type":"list","path":"","desc":desc,"dirs_first":dirs_first,"limit":1000}),
            )
            .ok(),
        );
        assert_eq!(total, 97);
        let mut paged = Vec::new();
        for offset in (0..97).step_by(10) {
            let (page, _) = entries(
                c.call(json!({"type":"list","path":"","desc":desc,"dirs_first":dirs_first,"offset":offset,"limit":10}))
                    .ok(),
            );
            paged.extend(page);
        }
        assert_eq!(
            names(&paged),
            names(&all),
            "desc {desc}, dirs_first {dirs_first}"
        );
        let mut expected: Vec<&str> = names(&all);
        expected.sort_by(|a, b| {
            let dir = |n: &str| all.iter().any(|e| e.name == n && e.kind == EntryKind::Dir);
            let ord = if desc { b.cmp(a) } else { a.cmp(b) };
            if dirs_first {
                dir(b).cmp(&dir(a)).then(ord)
            } else {
                ord
            }
        });
        assert_eq!(names(&all), expected);
    }
}
