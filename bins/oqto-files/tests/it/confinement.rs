//! Every way out of the root, one test each: each gets a typed error and nothing outside
//! the root is read, written or listed.

use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oqto_files::confine::{RelPath, Root};
use oqto_protocol::{ErrorCode, FilesReply};
use oqto_testkit::TestEnv;
use proptest::prelude::*;
use serde_json::json;

use crate::support::Client;

/// A workspace with `secret` next to it (outside the root).
fn env_with_secret() -> TestEnv {
    let env = TestEnv::new();
    env.write("secret/passwd", "TOP SECRET");
    env.write("work/README.md", "hello");
    env
}

#[test]
fn dotdot_is_refused() {
    let env = env_with_secret();
    let mut c = Client::stdio(&env, &[]);
    for path in [
        "../../etc/passwd",
        "../secret/passwd",
        "a/../../secret/passwd",
        "..",
    ] {
        c.call(json!({"type":"read","path":path}))
            .err(ErrorCode::InvalidPath);
        c.call(json!({"type":"stat","path":path}))
            .err(ErrorCode::InvalidPath);
    }
}

#[test]
fn absolute_path_is_refused() {
    let env = env_with_secret();
    let mut c = Client::stdio(&env, &[]);
    let e = c
        .call(json!({"type":"read","path":"/etc/passwd"}))
        .err(ErrorCode::InvalidPath);
    assert!(e.message.contains("absolute"), "{e:?}");
    c.call(json!({"type":"list","path":"/"}))
        .err(ErrorCode::InvalidPath);
    c.call(json!({"type":"write","path":"/tmp/x","content":"x"}))
        .err(ErrorCode::InvalidPath);
}

#[test]
fn symlink_to_root_is_not_followed_out() {
    let env = env_with_secret();
    symlink("/", env.work().join("link-to-root")).unwrap();
    let mut c = Client::stdio(&env, &[]);
    c.call(json!({"type":"read","path":"link-to-root/etc/passwd"}))
        .err(ErrorCode::OutsideRoot);
    c.call(json!({"type":"list","path":"link-to-root"}))
        .err(ErrorCode::OutsideRoot);
    c.call(json!({"type":"stat","path":"link-to-root","follow":true}))
        .err(ErrorCode::OutsideRoot);
    c.call(json!({"type":"write","path":"link-to-root/tmp/oqto-escape","content":"x"}))
        .err(ErrorCode::OutsideRoot);
    assert!(!std::path::Path::new("/tmp/oqto-escape").exists());
    // The link itself is visible, with its target.
    let FilesReply::Stat { entry } = c.call(json!({"type":"stat","path":"link-to-root"})).ok()
    else {
        panic!()
    };
    assert_eq!(entry.target.as_deref(), Some("/"));
    // Deleting it removes the link, not what it points to.
    c.call(json!({"type":"delete","path":"link-to-root","recursive":true}))
        .ok();
    assert!(std::path::Path::new("/etc").exists());
}

#[test]
fn symlink_chain_out_is_refused_and_inside_is_followed() {
    let env = env_with_secret();
    let w = env.work();
    symlink("b", w.join("a")).unwrap();
    symlink("c", w.join("b")).unwrap();
    symlink("../secret", w.join("c")).unwrap();
    symlink("x", w.join("in1")).unwrap();
    symlink("README.md", w.join("x")).unwrap();
    let mut c = Client::stdio(&env, &[]);
    c.call(json!({"type":"read","path":"a/passwd"}))
        .err(ErrorCode::OutsideRoot);
    c.call(json!({"type":"hash","path":"a/passwd"}))
        .err(ErrorCode::OutsideRoot);
    c.call(json!({"type":"copy","from":"a/passwd","to":"stolen"}))
        .err(ErrorCode::OutsideRoot);
    let got = c.call(json!({"type":"read","path":"in1"}));
    assert_eq!(got.bytes(), b"hello");
    got.ok();
}

#[test]
fn symlink_swapped_between_check_and_use_never_leaks() {
    let env = env_with_secret();
    let w = env.work();
    std::fs::create_dir(w.join("real")).unwrap();
    std::fs::write(w.join("real/passwd"), "inside").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let w = w.clone();
        let outside = env.root().join("secret");
        std::thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::remove_file(w.join("swap.tmp"));
                if flips % 2 == 0 {
                    symlink(&outside, w.join("swap.tmp")).unwrap();
                } else {
                    symlink("real", w.join("swap.tmp")).unwrap();
                }
                std::fs::rename(w.join("swap.tmp"), w.join("swap")).unwrap();
                flips += 1;
            }
            flips
        })
    };
    let mut c = Client::stdio(&env, &[]);
    let (mut inside, mut refused) = (0, 0);
    for _ in 0..300 {
        let answer = c.call(json!({"type":"read","path":"swap/passwd"}));
        let bytes = answer.bytes();
        assert_ne!(bytes, b"TOP SECRET", "read through a swapped symlink");
        match answer.last {
            Ok(_) => {
                assert_eq!(bytes, b"inside");
                inside += 1;
            }
            Err(e) => {
                assert!(
                    matches!(e.code, ErrorCode::OutsideRoot | ErrorCode::NotFound),
                    "{e:?}"
                );
                refused += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = swapper.join().unwrap();
    assert!(flips > 0);
    assert_eq!(inside + refused, 300);
}

#[test]
fn nul_byte_in_a_name_is_refused() {
    let env = env_with_secret();
    let mut c = Client::stdio(&env, &[]);
    c.call(json!({"type":"read","path":"README.md\u{0}../../secret"}))
        .err(ErrorCode::InvalidPath);
    c.call(json!({"type":"write","path":"a\u{0}b","content":"x"}))
        .err(ErrorCode::InvalidPath);
}

#[test]
fn over_long_names_are_refused() {
    let env = env_with_secret();
    let mut c = Client::stdio(&env, &[]);
    let long_path = "a/".repeat(2048);
    c.call(json!({"type":"stat","path":long_path}))
        .err(ErrorCode::NameTooLong);
    let long_name = "x".repeat(4096);
    c.call(json!({"type":"write","path":long_name,"content":"x"}))
        .err(ErrorCode::NameTooLong);
    c.call(json!({"type":"mkdir","path":"y".repeat(256)}))
        .err(ErrorCode::NameTooLong);
    // 255 is the limit, and fine.
    c.call(json!({"type":"mkdir","path":"y".repeat(255)})).ok();
}

#[test]
fn a_fifo_is_never_opened() {
    let env = env_with_secret();
    nix::unistd::mkfifo(
        &env.work().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let mut c = Client::stdio(&env, &[]);
    // Opening a FIFO for reading would block until a writer comes: an answer means it was not.
    c.call(json!({"type":"read","path":"fifo"}))
        .err(ErrorCode::SpecialFile);
    c.call(json!({"type":"hash","path":"fifo"}))
        .err(ErrorCode::SpecialFile);
    c.call(json!({"type":"copy","from":"fifo","to":"copy"}))
        .err(ErrorCode::SpecialFile);
    c.call(json!({"type":"write","path":"fifo","content":"x"}))
        .err(ErrorCode::SpecialFile);
    let FilesReply::Stat { entry } = c.call(json!({"type":"stat","path":"fifo"})).ok() else {
        panic!()
    };
    assert_eq!(entry.kind, oqto_protocol::EntryKind::Fifo);
}

/// Path strings built from the pieces that matter.
fn path_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just("up".to_owned()),
        Just("abs".to_owned()),
        Just("chain".to_owned()),
        Just("dir".to_owned()),
        Just("file".to_owned()),
        Just("\0".to_owned()),
        Just("/".to_owned()),
        "[a-z.]{1,4}",
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|parts| parts.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Whatever the string, what opens is beneath the root.
    #[test]
    fn random_paths_never_reach_outside(path in path_strategy()) {
        let env = fixture();
        let root = Root::open(&env.work()).unwrap();
        let real_root = std::fs::canonicalize(env.work()).unwrap();
        let Ok(rel) = RelPath::parse(&path) else { return Ok(()) };
        prop_assert!(!rel.components().any(|c| c == ".." || c.is_empty()));
        for flags in [nix::fcntl::OFlag::O_PATH, nix::fcntl::OFlag::O_RDONLY] {
            if let Ok(fd) = root.open_beneath(&rel, flags) {
                let real = std::fs::read_link(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&fd)
                ))
                .unwrap();
                prop_assert!(real.starts_with(&real_root), "{path:?} opened {}", real.display());
            }
        }
        if let Ok((file, _)) = root.open_read(&rel) {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut &file, &mut s);
            prop_assert_ne!(s, "TOP SECRET");
        }
    }
}

/// A root with links out (`up`, `abs`, `chain`) and in (`dir`, `file`).
fn fixture() -> TestEnv {
    let env = env_with_secret();
    let w = env.work();
    std::fs::create_dir(w.join("dir")).unwrap();
    std::fs::write(w.join("dir/file"), "inside").unwrap();
    std::fs::write(w.join("file"), "inside").unwrap();
    symlink("../secret", w.join("up")).unwrap();
    symlink(env.root().join("secret"), w.join("abs")).unwrap();
    symlink("dir/../up", w.join("chain")).unwrap();
    symlink("../up", w.join("dir/up")).unwrap();
    symlink("..", w.join("dir/dotdot")).unwrap();
    env
}
