//! `cargo bench -p oqto-sandbox`: the cost of `oqto-sandbox -- true` against bare `bwrap`
//! with the same mounts and namespaces, and against bare `true`. Prints mean, p50 and p95
//! over N runs (`OQTO_BENCH_RUNS`, default 200).

#![allow(clippy::print_stdout)] // a bench binary's report is its output

use std::ffi::OsString;
use std::process::Stdio;
use std::time::{Duration, Instant};

use oqto_ipc::spawn::Spawn;
use oqto_testkit::TestEnv;

const BIN: &str = env!("CARGO_BIN_EXE_oqto-sandbox");

fn time(runs: usize, make: &dyn Fn() -> Spawn) -> Vec<Duration> {
    // Run 0 warms up and is not counted.
    let mut out = Vec::with_capacity(runs);
    for i in 0..=runs {
        let start = Instant::now();
        let status = make()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn")
            .wait()
            .expect("wait");
        let took = start.elapsed();
        assert!(status.success(), "run failed: {status}");
        if i > 0 {
            out.push(took);
        }
    }
    out
}

fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / u32::try_from(n).unwrap();
    let p50 = samples[n / 2];
    let p95 = samples[(n * 95 / 100).min(n - 1)];
    println!(
        "{name:<28} mean {:>7.2} ms  p50 {:>7.2} ms  p95 {:>7.2} ms  (n={n})",
        ms(mean),
        ms(p50),
        ms(p95)
    );
    mean
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runs: usize = std::env::var("OQTO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let env = TestEnv::new();
    let ws = env.work();
    let vars = env.vars();
    let system = env.root().join("no-system-policy.toml");
    let sandbox = || {
        Spawn::new(BIN)
            .envs(vars.clone())
            .env("OQTO_SANDBOX_SYSTEM_CONFIG", &system)
            .current_dir(&ws)
    };

    // The exact bwrap command oqto-sandbox runs, minus the two descriptors it adds
    // (the seccomp program and the status pipe).
    let printed = sandbox()
        .args(["--print", "--", "true"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap();
    assert!(printed.status.success());
    let mut argv: Vec<OsString> = Vec::new();
    let mut lines = std::str::from_utf8(&printed.stdout).unwrap().lines();
    while let Some(arg) = lines.next() {
        if arg == "--seccomp" || arg == "--json-status-fd" {
            lines.next();
            continue;
        }
        argv.push(arg.into());
    }
    let (bwrap, bwrap_args) = argv.split_first().unwrap();

    println!(
        "oqto-sandbox -- true, {runs} runs each (workspace {})",
        ws.display()
    );
    let bare = report(
        "true",
        time(runs, &|| Spawn::new("/usr/bin/true").current_dir(&ws)),
    );
    let bw = report(
        "bwrap (same mounts) true",
        time(runs, &|| {
            Spawn::new(bwrap).args(bwrap_args).envs(vars.clone())
        }),
    );
    let ours = report(
        "oqto-sandbox -- true",
        time(runs, &|| sandbox().args(["--", "true"])),
    );
    println!(
        "overhead over bare bwrap: {:.2} ms (mean); bwrap over bare true: {:.2} ms",
        ms(ours.saturating_sub(bw)),
        ms(bw.saturating_sub(bare))
    );
}
