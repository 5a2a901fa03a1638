//! `cargo bench -p oqtoctl --bench prompt`: the real `oqtoctl prompt` against a real runner
//! and the fake agent, timed from the outside.
//!
//! * `warm.new`: runner already running; `oqtoctl prompt hi` (a new session: the fake agent
//!   is spawned and answers its readiness handshake): process start to the first event
//!   line on stdout, and to exit.
//! * `warm.continue`: the same with `--session ID` (the session's harness already live):
//!   the path of a cron job or a script that keeps one session.
//! * `cold`: no runner; `oqtoctl` starts one on demand first (then it is stopped again).
//!
//! Nothing here fails on slowness: it measures and reports (docs/benchmarks.md).

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]
#![allow(clippy::cast_precision_loss)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use oqto_ipc::spawn::Spawn;
use oqto_testkit::TestEnv;

const RUNS: usize = 200;
const COLD_RUNS: usize = 30;

struct Env {
    env: TestEnv,
    oqtoctl: PathBuf,
}

impl Env {
    fn command(&self, args: &[&str]) -> Spawn {
        Spawn::new(&self.oqtoctl)
            .envs(self.env.vars())
            .current_dir(self.env.work())
            .args(args)
            .stdin(Stdio::null())
    }

    fn quiet(&self, args: &[&str]) -> String {
        let out = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start oqtoctl")
            .wait_with_output()
            .expect("oqtoctl");
        assert!(out.status.success(), "oqtoctl {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// (time to the first stdout line, time to exit).
    fn timed(&self, args: &[&str]) -> (Duration, Duration) {
        let start = Instant::now();
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oqtoctl");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).expect("read");
        let first = start.elapsed();
        while out.read_line(&mut line).expect("read") > 0 {}
        let status = child.wait().expect("wait");
        if !status.success() {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
            panic!("oqtoctl {args:?}: {status}: {err}");
        }
        (first, start.elapsed())
    }
}

fn report(name: &str, samples: &mut [(Duration, Duration)]) {
    let mut firsts: Vec<f64> = samples.iter().map(|s| s.0.as_secs_f64() * 1e3).collect();
    let mut exits: Vec<f64> = samples.iter().map(|s| s.1.as_secs_f64() * 1e3).collect();
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let pick = |percent: usize| v[(v.len() - 1) * percent / 100];
        (pick(50), pick(95), v.iter().sum::<f64>() / v.len() as f64)
    };
    let (f50, f95, fmean) = stats(&mut firsts);
    let (e50, e95, emean) = stats(&mut exits);
    println!(
        "{name:<14} n={:<4} first event p50 {f50:6.2} ms  p95 {f95:6.2} ms  mean {fmean:6.2} ms | exit p50 {e50:6.2} ms  p95 {e95:6.2} ms  mean {emean:6.2} ms",
        samples.len()
    );
}

fn main() -> ExitCode {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    // target/release/deps/prompt-HASH → target/release/
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(PathBuf::from))
        .expect("bench location");
    let bins = ["oqtoctl", "oqto-runner", "oqto-fake-agent"].map(|b| dir.join(b));
    if let Some(missing) = bins.iter().find(|b| !b.exists()) {
        eprintln!(
            "{} is missing: run `cargo build --release -p oqtoctl -p oqto-runner -p oqto-fake-agent` first",
            missing.display()
        );
        return ExitCode::FAILURE;
    }
    let env = TestEnv::new();
    env.write(
        "config/oqto/runner.toml",
        format!(
            "[runner]\ndefault_harness = \"fake\"\nmax_sessions = 1000\n[harness.fake]\ncommand = \"{}\"\n",
            bins[2].display()
        ),
    );
    let bench = Env {
        env,
        oqtoctl: bins[0].clone(),
    };
    println!(
        "oqtoctl prompt, fake agent, {} (release build)",
        dir.display()
    );
    if wants("warm.new") {
        bench.quiet(&["runner", "start"]);
        let mut samples: Vec<_> = (0..RUNS).map(|_| bench.timed(&["prompt", "hi"])).collect();
        report("warm.new", &mut samples);
        bench.quiet(&["runner", "stop"]);
    }
    if wants("warm.continue") {
        bench.quiet(&["runner", "start"]);
        let id = bench.quiet(&["prompt", "--detach", "hi"]).trim().to_owned();
        let mut samples: Vec<_> = (0..RUNS)
            .map(|_| bench.timed(&["prompt", "--session", &id, "hi"]))
            .collect();
        report("warm.continue", &mut samples);
        bench.quiet(&["runner", "stop"]);
    }
    if wants("cold") {
        let mut samples = Vec::new();
        for _ in 0..COLD_RUNS {
            samples.push(bench.timed(&["prompt", "hi"]));
            bench.quiet(&["runner", "stop"]);
        }
        report("cold", &mut samples);
    }
    ExitCode::SUCCESS
}
