//! `cargo bench -p oqto-sandbox`: the cost of `oqto-sandbox -- true` against bare `bwrap`
//! with the same mounts and namespaces, and against bare `true`; and, to show how much of
//! it any wrapper pays, a minimal wrapper (this binary, re-run with `--wrap`) around the
//! same bwrap. Prints mean, p50 and p95 over N interleaved rounds (`OQTO_BENCH_RUNS`,
//! default 200) and the per-round differences.

#![allow(clippy::print_stdout)] // a bench binary's report is its output

use std::ffi::OsString;
use std::process::Stdio;
use std::time::{Duration, Instant};

use oqto_ipc::spawn::Spawn;
use oqto_testkit::TestEnv;

const BIN: &str = env!("CARGO_BIN_EXE_oqto-sandbox");

/// Starts one process and waits for it.
fn once(make: &dyn Fn() -> Spawn) -> Duration {
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
    took
}

/// Runs each command `runs` times, interleaved (the order rotates every round), so that
/// the machine's drift over the run, which on a shared VM is as large as the effect being
/// measured, falls on all of them alike. Round 0 warms up and is not counted.
fn time_interleaved(runs: usize, commands: &[&dyn Fn() -> Spawn]) -> Vec<Vec<Duration>> {
    let mut out = vec![Vec::with_capacity(runs); commands.len()];
    for round in 0..=runs {
        for k in 0..commands.len() {
            let which = (round + k) % commands.len();
            let took = once(commands[which]);
            if round > 0 {
                out[which].push(took);
            }
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn report(name: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let n = sorted.len();
    let mean = sorted.iter().sum::<Duration>() / u32::try_from(n).unwrap();
    println!(
        "{name:<28} mean {:>7.2} ms  p50 {:>7.2} ms  p95 {:>7.2} ms  (n={n})",
        ms(mean),
        ms(percentile(&sorted, 50)),
        ms(percentile(&sorted, 95))
    );
}

/// `a - b` per round: the median and the mean of the differences, in ms.
fn overhead(a: &[Duration], b: &[Duration]) -> (f64, f64) {
    let mut diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| ms(*x) - ms(*y)).collect();
    diffs.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)] // a few hundred samples
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    (diffs[diffs.len() / 2], mean)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `--wrap PROGRAM ARGS...`: the least a second process can do (start PROGRAM, wait,
/// pass its status on), to show what part of the overhead any wrapper pays.
fn wrap(args: &[String]) -> ! {
    let status = Spawn::new(&args[0])
        .args(&args[1..])
        .spawn()
        .expect("spawn")
        .wait()
        .expect("wait");
    std::process::exit(status.code().unwrap_or(1));
}

fn main() {
    let cli: Vec<String> = std::env::args().collect();
    if cli.get(1).map(String::as_str) == Some("--wrap") {
        wrap(&cli[2..]);
    }
    let me = std::env::current_exe().unwrap();
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
        "oqto-sandbox -- true, {runs} rounds, interleaved (workspace {})",
        ws.display()
    );
    let bare = || Spawn::new("/usr/bin/true").current_dir(&ws);
    let bw = || Spawn::new(bwrap).args(bwrap_args).envs(vars.clone());
    let ours = || sandbox().args(["--", "true"]);
    let wrapped = || {
        Spawn::new(&me)
            .arg("--wrap")
            .arg(bwrap)
            .args(bwrap_args)
            .envs(vars.clone())
    };
    let times = time_interleaved(runs, &[&bare, &bw, &ours, &wrapped]);
    report("true", &times[0]);
    report("bwrap (same mounts) true", &times[1]);
    report("oqto-sandbox -- true", &times[2]);
    report("minimal wrapper + bwrap", &times[3]);
    let (median, mean) = overhead(&times[2], &times[1]);
    println!("overhead over bare bwrap: median {median:.2} ms, mean {mean:.2} ms (per round)");
    let (median, mean) = overhead(&times[3], &times[1]);
    println!(
        "  any second process:     median {median:.2} ms, mean {mean:.2} ms (a minimal wrapper)"
    );
    let (median, mean) = overhead(&times[2], &times[3]);
    println!(
        "  oqto-sandbox's own:     median {median:.2} ms, mean {mean:.2} ms (over that wrapper)"
    );
    let (median, mean) = overhead(&times[1], &times[0]);
    println!("bwrap over bare true:     median {median:.2} ms, mean {mean:.2} ms (per round)");
}
