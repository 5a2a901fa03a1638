//! `cargo bench -p oqto-files`: the three numbers of docs/benchmarks.md § oqto-files.
//!
//! 1. Read a 1 GiB file through `oqto-files` (raw frames, over a Unix socket and over the
//!    stdio pipes of `oqto-files --stdio`) vs `cat FILE > /dev/null` from the page cache.
//! 2. The first page of a 100,000-entry directory, and the server's peak RSS.
//! 3. A content search over a 100,000-file tree vs `rg` on the same tree.
//!
//! `OQTO_BENCH_READ_MIB` (default 1024) and `OQTO_BENCH_FILES` (default 100000) scale it
//! down for a quick run; `OQTO_BENCH_READ_RUNS` (default 7) sets the reads' best-of count;
//! `OQTO_BENCH_ONLY=read,list,search` picks parts. Everything lives in a temporary directory removed at the end.

// Throughput figures are printed as floats; the precision lost on byte counts is irrelevant.
// A benchmark's report is its stdout.
#![allow(clippy::cast_precision_loss, clippy::print_stdout)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use oqto_ipc::Spawn;
use oqto_protocol::{FilesReply, FilesServerMessage};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oqto-files"))
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server {
    child: Child,
    socket: PathBuf,
}

impl Server {
    fn start(root: &Path, sock_dir: &Path, extra: &[&str]) -> Self {
        let socket = sock_dir.join("files.sock");
        let child = Spawn::new(bin())
            .arg("--root")
            .arg(root)
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("start oqto-files");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !oqto_ipc::socket::is_live(&socket) {
            assert!(Instant::now() < deadline, "server did not come up");
            std::thread::yield_now();
        }
        Self { child, socket }
    }

    fn peak_rss_kib(&self) -> u64 {
        peak_rss_kib(self.child.id())
    }
}

/// Peak resident set (`VmHWM`) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    w: Box<dyn Write>,
    r: BufReader<Box<dyn Read>>,
    n: u64,
}

impl Client {
    fn connect(socket: &Path) -> Self {
        let w = UnixStream::connect(socket).expect("connect");
        let r = w.try_clone().unwrap();
        Self::start(Box::new(w), Box::new(r))
    }

    /// A client of `oqto-files --stdio` over a pair of pipes, as the relay runs it.
    fn stdio(root: &Path) -> (Child, Self) {
        let mut child = Spawn::new(bin())
            .arg("--root")
            .arg(root)
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start oqto-files --stdio");
        let w = child.stdin.take().unwrap();
        let r = child.stdout.take().unwrap();
        (child, Self::start(Box::new(w), Box::new(r)))
    }

    /// Lines go through a small buffer; a frame's bytes are read straight into the sink
    /// (what a client that forwards or stores them does), so they are copied once.
    fn start(w: Box<dyn Write>, r: Box<dyn Read>) -> Self {
        let r = BufReader::with_capacity(64 << 10, r);
        let mut c = Self { w, r, n: 0 };
        c.send(r#"{"type":"hello","protocol":1,"client":"bench"}"#);
        let line = c.line();
        assert!(line.contains("welcome"), "{line}");
        c
    }

    fn send(&mut self, line: &str) {
        self.w.write_all(line.as_bytes()).unwrap();
        self.w.write_all(b"\n").unwrap();
        self.w.flush().unwrap();
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        self.r.read_line(&mut s).unwrap();
        s
    }

    /// Sends a request and reads to its final line; returns it and the raw bytes received.
    fn call(&mut self, fields: &str) -> (FilesServerMessage, u64) {
        self.n += 1;
        let id = format!("b{}", self.n);
        self.send(&format!(r#"{{"id":"{id}",{fields}}}"#));
        let mut sink = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let line = self.line();
            let msg = FilesServerMessage::parse(line.trim_end()).expect("server line");
            match msg {
                FilesServerMessage::Data(h) => {
                    let mut left = h.len;
                    while left > 0 {
                        let want = usize::try_from(left.min(sink.len() as u64)).unwrap();
                        let n = self.r.read(&mut sink[..want]).unwrap();
                        assert!(n > 0, "cut frame");
                        left -= n as u64;
                    }
                    bytes += h.len;
                }
                FilesServerMessage::Ok(ref ok) if ok.id.as_str() == id => return (msg, bytes),
                FilesServerMessage::Error(ref e)
                    if e.id.as_ref().is_some_and(|i| i.as_str() == id) =>
                {
                    return (msg, bytes);
                }
                _ => {}
            }
        }
    }
}

fn best<T>(runs: usize, mut f: impl FnMut() -> (Duration, T)) -> (Duration, T) {
    let mut out = f();
    for _ in 1..runs {
        let next = f();
        if next.0 < out.0 {
            out = next;
        }
    }
    out
}

fn free_bytes(path: &Path) -> u64 {
    nix::sys::statvfs::statvfs(path).map_or(0, |s| s.blocks_available() * s.fragment_size())
}

fn read_bench(dir: &Path) {
    let mib = env_num("OQTO_BENCH_READ_MIB", 1024);
    let size = mib << 20;
    if free_bytes(dir) < size * 2 {
        println!(
            "read: skipped, less than {} MiB free in {}",
            mib * 2,
            dir.display()
        );
        return;
    }
    let root = dir.join("read");
    std::fs::create_dir_all(&root).unwrap();
    let path = root.join("big.bin");
    {
        let mut f = File::create(&path).unwrap();
        let block: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
        for _ in 0..mib {
            f.write_all(&block).unwrap();
        }
        f.sync_all().unwrap();
    }
    let cat = || (timed_to_null(Spawn::new("cat").arg(&path)), ());
    cat(); // warm the page cache
    let (cat_time, ()) = best(5, cat);
    let gib_s = |d: Duration| size as f64 / d.as_secs_f64() / f64::from(1u32 << 30);
    let runs = usize::try_from(env_num("OQTO_BENCH_READ_RUNS", 7)).unwrap_or(7);
    let read_all = |c: &mut Client| {
        best(runs, || {
            let start = Instant::now();
            let (msg, bytes) = c.call(r#""type":"read","path":"big.bin""#);
            assert!(matches!(msg, FilesServerMessage::Ok(_)), "{msg:?}");
            assert_eq!(bytes, size);
            (start.elapsed(), ())
        })
        .0
    };
    println!(
        "read {mib} MiB: cat {:.0} ms ({:.2} GiB/s), best of 5",
        cat_time.as_secs_f64() * 1e3,
        gib_s(cat_time),
    );
    let report = |how: &str, t: Duration, rss: u64| {
        println!(
            "read {mib} MiB over {how}: {:.0} ms ({:.2} GiB/s): {:.0}% of cat; server peak RSS {rss} KiB; best of {runs}",
            t.as_secs_f64() * 1e3,
            gib_s(t),
            100.0 * cat_time.as_secs_f64() / t.as_secs_f64(),
        );
    };
    {
        let server = Server::start(&root, &dir.join("sock-read"), &[]);
        let mut c = Client::connect(&server.socket);
        let t = read_all(&mut c);
        report("a Unix socket", t, server.peak_rss_kib());
    }
    {
        let (mut child, mut c) = Client::stdio(&root);
        let t = read_all(&mut c);
        report("stdio pipes", t, peak_rss_kib(child.id()));
        drop(c);
        let _ = child.wait();
    }
    std::fs::remove_file(&path).unwrap();
}

fn list_bench(dir: &Path, files: u64) {
    let root = dir.join("list");
    std::fs::create_dir_all(&root).unwrap();
    for i in 0..files {
        File::create(root.join(format!("entry-{i:06}.txt"))).unwrap();
    }
    let server = Server::start(&root, &dir.join("sock-list"), &[]);
    let mut c = Client::connect(&server.socket);
    let mut first_cold = None;
    let (t, total) = best(7, || {
        let start = Instant::now();
        let (msg, _) = c.call(r#""type":"list","path":"","limit":200"#);
        let took = start.elapsed();
        first_cold.get_or_insert(took);
        let FilesServerMessage::Ok(ok) = msg else {
            panic!("{msg:?}")
        };
        let FilesReply::Entries { total, entries, .. } = ok.result else {
            panic!()
        };
        assert_eq!(entries.len(), 200);
        (took, total)
    });
    let (t_mtime, ()) = best(3, || {
        let start = Instant::now();
        let (msg, _) = c.call(r#""type":"list","path":"","limit":200,"sort":"mtime""#);
        assert!(matches!(msg, FilesServerMessage::Ok(_)));
        (start.elapsed(), ())
    });
    println!(
        "list {total} entries, first page of 200 by name: {:.1} ms best, {:.1} ms first; by mtime (stats all): {:.1} ms; server peak RSS {} KiB",
        t.as_secs_f64() * 1e3,
        first_cold.unwrap_or_default().as_secs_f64() * 1e3,
        t_mtime.as_secs_f64() * 1e3,
        server.peak_rss_kib()
    );
}

fn search_bench(dir: &Path, files: u64) {
    let root = dir.join("search");
    for i in 0..files {
        let d = root.join(format!("d{:03}", i % 1000));
        if i < 1000 {
            std::fs::create_dir_all(&d).unwrap();
        }
        let body = if i % 100 == 0 {
            format!("line one of {i}\nfn needle_{i}() {{}}\nthe end\n")
        } else {
            format!("line one of {i}\nnothing to see in file {i}\nthe end\n")
        };
        std::fs::write(d.join(format!("f{i:06}.rs")), body).unwrap();
    }
    let server = Server::start(
        &root,
        &dir.join("sock-search"),
        &["--search-time-ms", "600000", "--max-results", "1000000"],
    );
    let mut c = Client::connect(&server.socket);
    let query = r#""type":"search","mode":"regex","pattern":"fn needle_\\d+""#;
    let (t_files, n) = best(3, || {
        let start = Instant::now();
        let (msg, _) = c.call(query);
        let FilesServerMessage::Ok(ok) = msg else {
            panic!("{msg:?}")
        };
        let FilesReply::Searched { matches, .. } = ok.result else {
            panic!()
        };
        (start.elapsed(), matches)
    });
    assert_eq!(u64::from(n), files.div_ceil(100));
    let rg = Path::new("/usr/bin/rg");
    if rg.exists() {
        let (t_rg, ()) = best(3, || {
            (
                timed_to_null(Spawn::new(rg).arg("fn needle_\\d+").arg(&root)),
                (),
            )
        });
        println!(
            "search {files} files ({n} matches): oqto-files {:.0} ms, rg {:.0} ms: ratio {:.2}x rg's time",
            t_files.as_secs_f64() * 1e3,
            t_rg.as_secs_f64() * 1e3,
            t_files.as_secs_f64() / t_rg.as_secs_f64()
        );
    } else {
        println!(
            "search {files} files ({n} matches): oqto-files {:.0} ms; rg not found at /usr/bin/rg, comparison skipped",
            t_files.as_secs_f64() * 1e3
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let tmp = tempfile::Builder::new()
        .prefix("oqto-files-bench-")
        .tempdir()
        .expect("temp dir");
    let files = if full {
        env_num("OQTO_BENCH_FILES", 100_000)
    } else {
        1000
    };
    let only = std::env::var("OQTO_BENCH_ONLY").unwrap_or_default();
    let want = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    if full && want("read") {
        read_bench(tmp.path());
    }
    if want("list") {
        list_bench(tmp.path(), files);
    }
    if want("search") {
        search_bench(tmp.path(), files);
    }
}

/// Runs `command` with stdout to /dev/null; how long it took (it must succeed).
fn timed_to_null(command: Spawn) -> Duration {
    let start = Instant::now();
    let status = command
        .stdout(File::create("/dev/null").unwrap())
        .std_command()
        .status()
        .unwrap();
    assert!(status.success());
    start.elapsed()
}
