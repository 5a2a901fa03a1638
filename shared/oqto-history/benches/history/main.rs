//! `cargo bench -p oqto-history --bench history [-- FILTER... --messages N --runs N]`: the
//! history store on a synthetic corpus of coding-agent sessions (default 1,000,000
//! messages; `--messages` or `OQTO_BENCH_MESSAGES`, `k`/`m` suffixes accepted).
//!
//! Parts (a FILTER word runs the parts whose name contains it; none runs all):
//!
//! * `ingest`: `put_messages` of the whole corpus in batches (`--batch`, default 1,000) into
//!   a fresh on-disk database; messages/s and disk use. Runs whenever a later part needs the
//!   database, and its report is printed then too.
//! * `search`: top-20 searches of several kinds, each run `--runs` times after a warm-up;
//!   p50/p95 latency.
//! * `page`: the newest page (50 messages) of the 100,000-message and of the 10-message
//!   session, and a page from the middle of the long one.
//! * `rss`: this executable, started again as a probe, opens the database, runs the searches
//!   and pages, and reports its own `VmRSS`; the same for a 10,000-message database.
//! * `rg`: the same corpus as pi JSONL session files, searched with `rg -c -i -F`.
//!
//! Nothing here fails on slowness: it measures and prints a report (markdown tables).
//! Temporary files go to a directory under `$TMPDIR` that is removed at the end (kept with
//! `--keep`, to look at the corpus).

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]
// Counts, byte sizes and durations here are far below 2^52: converting them to f64 for the
// report loses nothing.
#![allow(clippy::cast_precision_loss)]

mod corpus;
mod jsonl;
mod rng;
mod text;

use std::fmt::Write as _;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oqto_history::Store;
use oqto_ipc::spawn::Spawn;
use oqto_protocol::{Message, MessageId, Part, SearchFilters, SessionId};

use crate::corpus::{ABSENT_WORD, PLANTS, Plan};

/// The seed of the corpus: every run generates the same messages.
const SEED: u64 = 0x0071_2026;
/// The first argument that makes this executable the RSS probe (see [`probe`]).
const PROBE_FLAG: &str = "--oqto-history-rss-probe";
/// The project directory the filtered search is restricted to.
const FILTER_CWD: &str = "/home/ada/src/oqto";
/// Messages of the small database the `rss` part compares with.
const SMALL_DB_MESSAGES: usize = 10_000;
/// Timed runs of each `rg` search (each reads the whole corpus).
const RG_RUNS: usize = 5;
/// Messages in a page.
const PAGE: usize = 50;
/// Untimed runs of a search or page before the timed ones.
const WARM_UP: usize = 2;
/// Timed runs of one query stop after this much time ...
const RUN_BUDGET: Duration = Duration::from_secs(5);
/// ... once there are at least this many.
const MIN_RUNS: usize = 10;
/// Timed runs of the ranking step alone ([`fts_rank_only`]).
const FTS_ALONE_RUNS: usize = 5;
/// Runs of each search and page in the RSS probe.
const PROBE_RUNS: usize = 3;

type PartFn = fn(&mut Bench) -> anyhow::Result<()>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(PROBE_FLAG) {
        return match probe(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("probe: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Command-line options.
#[derive(Debug)]
struct Options {
    messages: usize,
    runs: usize,
    batch: usize,
    /// Keep the temporary directory (to look at the corpus).
    keep: bool,
    filters: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            messages: match std::env::var("OQTO_BENCH_MESSAGES") {
                Ok(v) => parse_count(&v).context("OQTO_BENCH_MESSAGES")?,
                Err(_) => 1_000_000,
            },
            runs: 50,
            batch: 1000,
            keep: false,
            filters: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| -> anyhow::Result<usize> {
                let v = args
                    .next()
                    .with_context(|| format!("{name} needs a value"))?;
                parse_count(v).with_context(|| format!("{name} {v}"))
            };
            match arg.as_str() {
                "--messages" => options.messages = value("--messages")?,
                "--runs" => options.runs = value("--runs")?.max(1),
                "--batch" => options.batch = value("--batch")?.max(1),
                "--keep" => options.keep = true,
                // cargo passes `--bench`; other flags of other harnesses mean nothing here.
                a if a.starts_with('-') => {}
                a => options.filters.push(a.to_owned()),
            }
        }
        if options.messages < 1000 {
            bail!("--messages must be at least 1000");
        }
        Ok(options)
    }

    fn wants(&self, part: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| part.contains(f.as_str()))
    }
}

/// `1000000`, `1_000_000`, `1000k` or `1m`.
fn parse_count(s: &str) -> anyhow::Result<usize> {
    let s = s.trim().replace('_', "").to_ascii_lowercase();
    let (digits, scale) = match s.strip_suffix('k') {
        Some(d) => (d.to_owned(), 1000),
        None => match s.strip_suffix('m') {
            Some(d) => (d.to_owned(), 1_000_000),
            None => (s.clone(), 1),
        },
    };
    Ok(digits.parse::<usize>().context("not a count")? * scale)
}

/// State shared by the parts of one run.
struct Bench {
    options: Options,
    dir: tempfile::TempDir,
    plan: Plan,
    /// The ingested database, once a part needed it.
    db: Option<Db>,
}

/// The database of the main corpus.
struct Db {
    path: PathBuf,
    store: Store,
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let options = Options::parse(args)?;
    let parts: [(&str, PartFn); 5] = [
        ("ingest", part_ingest),
        ("search", part_search),
        ("page", part_page),
        ("rss", part_rss),
        ("rg", part_rg),
    ];
    let selected: Vec<&(&str, PartFn)> = parts
        .iter()
        .filter(|(name, _)| options.wants(name))
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = parts.iter().map(|(name, _)| *name).collect();
        bail!(
            "no part matches {:?}; parts: {}",
            options.filters,
            names.join(", ")
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("oqto-history-bench-")
        .tempdir()
        .context("creating the temporary directory")?;
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!("# oqto-history benchmark");
    println!();
    println!(
        "- messages: {}, batch: {}, runs: {}, cores: {cores}, SQLite {}",
        thousands(options.messages),
        thousands(options.batch),
        options.runs,
        rusqlite::version()
    );
    println!("- temporary directory: {}", dir.path().display());
    let started = Instant::now();
    let plan = Plan::new(options.messages, SEED);
    let mut bench = Bench {
        options,
        dir,
        plan,
        db: None,
    };
    for (name, part) in selected {
        println!("\n## {name}\n");
        let t = Instant::now();
        part(&mut bench)?;
        println!("\n({name}: {:.1} s)", t.elapsed().as_secs_f64());
    }
    let Bench {
        db, dir, options, ..
    } = bench;
    drop(db);
    let path = dir.path().to_owned();
    let fate = if options.keep {
        format!("temporary files kept in {}", dir.keep().display())
    } else {
        dir.close()
            .with_context(|| format!("removing {}", path.display()))?;
        "temporary files removed".to_owned()
    };
    println!("\ntotal {:.1} s; {fate}", started.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ingest

/// What the ingest measured.
#[derive(Debug, Default)]
struct Ingest {
    /// Time inside `put_messages` only (generating the messages is not counted).
    put: Duration,
    /// Time of each `put_messages` call.
    batches: Vec<Duration>,
    sessions: Duration,
    corpus: CorpusStats,
}

/// Shape of the generated corpus.
#[derive(Debug, Default)]
struct CorpusStats {
    user: usize,
    assistant: usize,
    tool_calls: usize,
    tool_errors: usize,
    thinking: usize,
    /// Searchable bytes of each message: texts, tool inputs (as JSON) and outputs.
    sizes: Vec<u32>,
    tool_output_bytes: u64,
}

impl CorpusStats {
    fn add(&mut self, m: &Message) {
        let mut size = 0;
        if m.role == oqto_protocol::Role::User {
            self.user += 1;
        } else {
            self.assistant += 1;
        }
        for part in &m.parts {
            match part {
                Part::Text { text, .. } => size += text.len(),
                Part::Thinking { text, .. } => {
                    self.thinking += 1;
                    size += text.len();
                }
                Part::ToolCall {
                    input,
                    output,
                    is_error,
                    ..
                } => {
                    self.tool_calls += 1;
                    self.tool_errors += usize::from(*is_error);
                    size += input.to_string().len();
                    let out = output.as_deref().map_or(0, str::len);
                    self.tool_output_bytes += out as u64;
                    size += out;
                }
                Part::Error { message, .. } => size += message.len(),
                Part::Image { .. }
                | Part::FileRef { .. }
                | Part::Compaction { .. }
                | Part::Plan { .. }
                | Part::Diff { .. } => {}
            }
        }
        self.sizes.push(u32::try_from(size).unwrap_or(u32::MAX));
    }

    fn total_bytes(&self) -> u64 {
        self.sizes.iter().map(|&s| u64::from(s)).sum()
    }
}

/// Ingests `plan` into a new database at `path`; `progress` prints a line every tenth.
fn ingest(
    plan: &Plan,
    path: &Path,
    batch_size: usize,
    progress: bool,
) -> anyhow::Result<(Store, Ingest)> {
    let mut store = Store::open(path).context("opening the database")?;
    let mut result = Ingest::default();
    let t = Instant::now();
    for s in 0..plan.sessions.len() {
        store.insert_session(&plan.record(s))?;
    }
    result.sessions = t.elapsed();

    let step = plan.total.div_ceil(10);
    let mut next_report = step;
    let (mut done, mut last_done, mut last_put) = (0usize, 0usize, Duration::ZERO);
    let mut batch = Vec::with_capacity(batch_size);
    let mut flush = |store: &mut Store,
                     batch: &mut Vec<(Message, Option<u64>)>,
                     result: &mut Ingest|
     -> anyhow::Result<()> {
        let t = Instant::now();
        store.put_messages(batch).context("put_messages")?;
        let took = t.elapsed();
        result.put += took;
        result.batches.push(took);
        done += batch.len();
        batch.clear();
        if progress && done >= next_report {
            println!(
                "| {} | {} | {} | {:.1} |",
                thousands(done),
                per_second(done - last_done, result.put.saturating_sub(last_put)),
                per_second(done, result.put),
                mib(disk_bytes(path))
            );
            (last_done, last_put) = (done, result.put);
            next_report += step;
        }
        Ok(())
    };
    if progress {
        println!("| messages stored | msg/s (this tenth) | msg/s (so far) | disk MiB |");
        println!("|---:|---:|---:|---:|");
    }
    for s in 0..plan.sessions.len() {
        for (message, seq) in plan.messages(s) {
            result.corpus.add(&message);
            batch.push((message, Some(seq)));
            if batch.len() == batch_size {
                flush(&mut store, &mut batch, &mut result)?;
            }
        }
    }
    if !batch.is_empty() {
        flush(&mut store, &mut batch, &mut result)?;
    }
    Ok((store, result))
}

/// The main database, ingested on first use.
fn db(bench: &mut Bench) -> anyhow::Result<&Db> {
    if bench.db.is_none() {
        if !bench.options.wants("ingest") {
            println!("(building the database first: the ingest report follows)\n");
        }
        let path = bench.dir.path().join("history.db");
        let (store, result) = ingest(&bench.plan, &path, bench.options.batch, true)?;
        report_ingest(&bench.plan, &path, &result);
        bench.db = Some(Db { path, store });
    }
    Ok(bench.db.as_ref().expect("set above"))
}

fn part_ingest(bench: &mut Bench) -> anyhow::Result<()> {
    db(bench).map(|_| ())
}

fn report_ingest(plan: &Plan, path: &Path, r: &Ingest) {
    let c = &r.corpus;
    let n = c.sizes.len();
    let mut sizes = c.sizes.clone();
    sizes.sort_unstable();
    let mut others: Vec<usize> = plan
        .sessions
        .iter()
        .filter(|s| s.index != plan.big && s.index != plan.small)
        .map(|s| s.len)
        .collect();
    others.sort_unstable();
    let total = c.total_bytes();
    println!();
    println!("Corpus:");
    println!();
    println!(
        "- {} sessions: one of {} messages, one of {}, the other {} of {}..{} (median {}, mean {})",
        thousands(plan.sessions.len()),
        thousands(plan.sessions[plan.big].len),
        thousands(plan.sessions[plan.small].len),
        thousands(others.len()),
        thousands(others[0]),
        thousands(*others.last().unwrap_or(&0)),
        thousands(others[others.len() / 2]),
        thousands(others.iter().sum::<usize>() / others.len()),
    );
    println!(
        "- {} messages: {} user, {} assistant; {} thinking parts; {} tool calls ({} failed)",
        thousands(n),
        thousands(c.user),
        thousands(c.assistant),
        thousands(c.thinking),
        thousands(c.tool_calls),
        thousands(c.tool_errors)
    );
    println!(
        "- searchable text: {:.1} MiB, {:.0}% of it tool output; per message mean {} B, p50 {} B, p90 {} B, p99 {} B, max {} B",
        mib(total),
        c.tool_output_bytes as f64 * 100.0 / total as f64,
        total / n as u64,
        nearest_rank(&sizes, 0.50),
        nearest_rank(&sizes, 0.90),
        nearest_rank(&sizes, 0.99),
        sizes.last().copied().unwrap_or(0),
    );
    let planted: Vec<String> = PLANTS
        .iter()
        .map(|(ident, k)| format!("`{ident}` in {k} messages"))
        .collect();
    println!("- planted: {}", planted.join(", "));
    println!();
    let disk = disk_bytes(path);
    let (db_file, wal) = (file_len(path), file_len(&sidecar(path, "-wal")));
    let mut batches = r.batches.clone();
    batches.sort_unstable();
    println!("| ingest | value |");
    println!("|---|---:|");
    println!(
        "| `insert_session` x {} | {:.2} s |",
        thousands(plan.sessions.len()),
        r.sessions.as_secs_f64()
    );
    println!(
        "| `put_messages`, {} batches | {:.1} s |",
        thousands(batches.len()),
        r.put.as_secs_f64()
    );
    println!(
        "| **throughput** | **{} messages/s** ({:.1} MiB/s of searchable text) |",
        per_second(n, r.put),
        mib(total) / r.put.as_secs_f64()
    );
    println!(
        "| one batch: p50 / p95 / max | {} / {} / {} ms |",
        ms(nearest_rank(&batches, 0.50)),
        ms(nearest_rank(&batches, 0.95)),
        ms(batches.last().copied().unwrap_or_default())
    );
    println!(
        "| on disk (db + wal + shm) | {:.1} MiB (db {:.1}, wal {:.1}) |",
        mib(disk),
        mib(db_file),
        mib(wal)
    );
    println!(
        "| **disk per 1,000 messages** | **{:.0} KiB** ({:.2}x the searchable text) |",
        disk as f64 / n as f64 * 1000.0 / 1024.0,
        disk as f64 / total as f64
    );
}

// ---------------------------------------------------------------------------------------
// search

/// One kind of query.
struct Query {
    label: String,
    /// What the user types.
    text: String,
    /// The same as an FTS5 expression, to count every match.
    fts: String,
    filters: SearchFilters,
    /// The `rg -F` literal a user would search the JSONL files for (`None`: not compared).
    rg: Option<String>,
}

fn queries() -> Vec<Query> {
    let q = |label: &str, text: &str, fts: &str, rg: &str| Query {
        label: label.to_owned(),
        text: text.to_owned(),
        fts: fts.to_owned(),
        filters: SearchFilters::default(),
        rg: Some(rg.to_owned()),
    };
    let mut list = vec![q("common word", "error", "\"error\"", "error")];
    for (ident, k) in PLANTS {
        list.push(q(
            &format!("rare identifier ({k} planted)"),
            ident,
            &format!("\"{ident}\""),
            ident,
        ));
    }
    list.push(q(
        "phrase",
        "\"no such file or directory\"",
        "\"no such file or directory\"",
        "no such file or directory",
    ));
    list.push(q("prefix", "pars*", "\"pars\"*", "pars"));
    list.push(q(
        "no hits",
        ABSENT_WORD,
        &format!("\"{ABSENT_WORD}\""),
        ABSENT_WORD,
    ));
    list.push(Query {
        label: format!("common word, harness=pi, cwd={FILTER_CWD}"),
        text: "error".to_owned(),
        fts: "\"error\"".to_owned(),
        filters: SearchFilters {
            harness: Some("pi".to_owned()),
            cwd: Some(FILTER_CWD.to_owned()),
            ..SearchFilters::default()
        },
        rg: None,
    });
    list
}

/// Messages matching `q` (all of them, not only the top 20), counted with plain SQL.
fn count_matches(conn: &rusqlite::Connection, q: &Query) -> anyhow::Result<i64> {
    let mut sql = "SELECT count(*) FROM message_fts JOIN messages m ON m.pk = message_fts.rowid \
                   JOIN sessions s ON s.id = m.session WHERE message_fts MATCH ?1"
        .to_owned();
    let mut params = vec![q.fts.clone()];
    if let Some(h) = &q.filters.harness {
        sql.push_str(" AND s.harness = ?2");
        params.push(h.clone());
    }
    if let Some(cwd) = &q.filters.cwd {
        let p = params.len() + 1;
        let _ = write!(
            sql,
            " AND (s.cwd = ?{p} OR substr(s.cwd, 1, length(?{p}) + 1) = ?{p} || '/')"
        );
        params.push(cwd.clone());
    }
    Ok(conn.query_row(&sql, rusqlite::params_from_iter(params), |r| r.get(0))?)
}

fn part_search(bench: &mut Bench) -> anyhow::Result<()> {
    let runs = bench.options.runs;
    let db = db(bench)?;
    println!();
    println!(
        "Top-20 `Store::search` after {WARM_UP} warm-up runs (\"first\" is the first of them); {runs} timed runs, or fewer (at least {MIN_RUNS}) once {} s are spent on a query. \"matches\" counts every matching message (SQL `count(*)`), \"hits\" what the search returned; \"FTS5 alone\" is the ranking step by itself (`SELECT rowid FROM message_fts WHERE message_fts MATCH ? ORDER BY bm25(message_fts) LIMIT 20`, p50 of {FTS_ALONE_RUNS} runs):",
        RUN_BUDGET.as_secs()
    );
    println!();
    println!(
        "| query | typed | matches | hits | runs | first ms | p50 ms | p95 ms | max ms | FTS5 alone p50 ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let conn = rusqlite::Connection::open_with_flags(
        &db.path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    for q in queries() {
        let matches = count_matches(&conn, &q)?;
        let mut hits = 0;
        let mut first = Duration::ZERO;
        for i in 0..WARM_UP {
            let t = Instant::now();
            hits = db.store.search(&q.text, &q.filters, None)?.len();
            if i == 0 {
                first = t.elapsed();
            }
        }
        let times = timed_runs(runs, || {
            std::hint::black_box(db.store.search(&q.text, &q.filters, None)?);
            Ok(())
        })?;
        let fts_alone = if q.filters.is_empty() {
            ms(fts_rank_only(&conn, &q.fts)?)
        } else {
            "(as above)".to_owned()
        };
        println!(
            "| {} | `{}` | {} | {hits} | {} | {} | {} | {} | {} | {fts_alone} |",
            q.label,
            q.text,
            thousands(usize::try_from(matches).unwrap_or(0)),
            times.len(),
            ms(first),
            ms(nearest_rank(&times, 0.50)),
            ms(nearest_rank(&times, 0.95)),
            ms(times.last().copied().unwrap_or_default())
        );
    }
    Ok(())
}

/// The p50 of [`FTS_ALONE_RUNS`] runs (after one warm-up) of the ranking step alone: the
/// best 20 row ids by `bm25()`, without joins, snippets or tie-breaks. Shows how much of a
/// search's time is FTS5 scoring every match.
fn fts_rank_only(conn: &rusqlite::Connection, fts: &str) -> anyhow::Result<Duration> {
    let mut stmt = conn.prepare(
        "SELECT rowid FROM message_fts WHERE message_fts MATCH ?1 \
         ORDER BY bm25(message_fts) LIMIT 20",
    )?;
    let mut run = || -> anyhow::Result<Duration> {
        let t = Instant::now();
        let rows = stmt
            .query_map([fts], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        std::hint::black_box(rows);
        Ok(t.elapsed())
    };
    run()?;
    let mut times = (0..FTS_ALONE_RUNS)
        .map(|_| run())
        .collect::<anyhow::Result<Vec<_>>>()?;
    times.sort_unstable();
    Ok(nearest_rank(&times, 0.5))
}

/// Times `f` `runs` times, or fewer (at least [`MIN_RUNS`]) once [`RUN_BUDGET`] is spent;
/// sorted.
fn timed_runs(
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(runs);
    let mut spent = Duration::ZERO;
    while times.len() < runs && (times.len() < MIN_RUNS || spent < RUN_BUDGET) {
        let t = Instant::now();
        f()?;
        let took = t.elapsed();
        spent += took;
        times.push(took);
    }
    times.sort_unstable();
    Ok(times)
}

// ---------------------------------------------------------------------------------------
// page

fn part_page(bench: &mut Bench) -> anyhow::Result<()> {
    let runs = (bench.options.runs * 4).max(200);
    db(bench)?;
    let plan = &bench.plan;
    let (big, small) = (&plan.sessions[plan.big], &plan.sessions[plan.small]);
    let middle = plan
        .messages(plan.big)
        .nth(big.len / 2)
        .context("the long session is shorter than planned")?
        .0
        .id;
    let cases: [(String, &SessionId, Option<&MessageId>); 3] = [
        (
            format!("newest page, {}-message session", thousands(big.len)),
            &big.id,
            None,
        ),
        (
            format!("page before message {} of it", thousands(big.len / 2 + 1)),
            &big.id,
            Some(&middle),
        ),
        (
            format!("newest page, {}-message session", thousands(small.len)),
            &small.id,
            None,
        ),
    ];
    let db = bench.db.as_ref().expect("built above");
    println!();
    println!("`Store::messages(session, before, {PAGE})`, {runs} timed runs after 5 warm-up runs:");
    println!();
    println!("| page | messages | first ms | p50 ms | p95 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (label, session, before) in cases {
        let mut first = Duration::ZERO;
        let mut got = 0;
        for i in 0..5 {
            let t = Instant::now();
            got = db.store.messages(session, before, PAGE)?.messages.len();
            if i == 0 {
                first = t.elapsed();
            }
        }
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let page = db.store.messages(session, before, PAGE)?;
            times.push(t.elapsed());
            std::hint::black_box(page);
        }
        times.sort_unstable();
        println!(
            "| {label} | {got} | {} | {} | {} | {} |",
            ms(first),
            ms(nearest_rank(&times, 0.50)),
            ms(nearest_rank(&times, 0.95)),
            ms(times.last().copied().unwrap_or_default())
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// rss

/// Runs in a fresh process (this executable with [`PROBE_FLAG`]): opens the database at
/// `args[0]`, runs every search and pages sessions `args[1]` and `args[2]` [`PROBE_RUNS`]
/// times, and prints its `VmRSS` before opening, after opening and after the queries, and
/// its `VmHWM`, in kB.
fn probe(args: &[String]) -> anyhow::Result<()> {
    let [path, big, small] = args else {
        bail!("usage: {PROBE_FLAG} DB BIG_SESSION SMALL_SESSION");
    };
    let start = status_kb("VmRSS")?;
    let store = Store::open(Path::new(path))?;
    let opened = status_kb("VmRSS")?;
    for _ in 0..PROBE_RUNS {
        for q in queries() {
            std::hint::black_box(store.search(&q.text, &q.filters, None)?);
        }
        for session in [big, small] {
            let id = SessionId::new(session.clone());
            std::hint::black_box(store.messages(&id, None, PAGE)?);
        }
    }
    let searched = status_kb("VmRSS")?;
    let hwm = status_kb("VmHWM")?;
    println!("start={start} opened={opened} searched={searched} hwm={hwm}");
    Ok(())
}

/// A `/proc/self/status` field in kB.
fn status_kb(field: &str) -> anyhow::Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .with_context(|| format!("no {field} in /proc/self/status"))?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

/// The probe's four numbers for the database at `path`.
fn run_probe(path: &Path, plan: &Plan) -> anyhow::Result<[u64; 4]> {
    let me = std::env::current_exe()?;
    let mut child = Spawn::new(&me)
        .arg(PROBE_FLAG)
        .arg(path)
        .arg(plan.sessions[plan.big].id.as_str())
        .arg(plan.sessions[plan.small].id.as_str())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = String::new();
    child
        .stdout
        .take()
        .context("probe stdout")?
        .read_to_string(&mut out)?;
    let status = child.wait()?;
    if !status.success() {
        bail!("the probe failed ({status})");
    }
    let mut values = [0u64; 4];
    for (slot, key) in values
        .iter_mut()
        .zip(["start=", "opened=", "searched=", "hwm="])
    {
        *slot = out
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .with_context(|| format!("probe printed {out:?}"))?
            .parse()?;
    }
    Ok(values)
}

fn part_rss(bench: &mut Bench) -> anyhow::Result<()> {
    let big_path = db(bench)?.path.clone();
    let small_plan = Plan::new(SMALL_DB_MESSAGES, SEED);
    let small_path = bench.dir.path().join("small.db");
    drop(ingest(
        &small_plan,
        &small_path,
        bench.options.batch,
        false,
    )?);

    let conn = rusqlite::Connection::open_with_flags(
        &big_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let pragma = |name: &str| -> anyhow::Result<i64> {
        Ok(conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?)
    };
    let (cache, page_size, mmap) = (
        pragma("cache_size")?,
        pragma("page_size")?,
        pragma("mmap_size")?,
    );
    println!();
    println!(
        "A fresh process (this benchmark started again) opens the database with `Store::open`, runs each search of the `search` part and reads the newest page of the long and the short session, {PROBE_RUNS} times over, and reads its own `/proc/self/status`:"
    );
    println!();
    println!(
        "| database | on disk MiB | VmRSS before open | after open | after searches | VmHWM |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (label, path, plan) in [
        (thousands(bench.plan.total), &big_path, &bench.plan),
        (thousands(small_plan.total), &small_path, &small_plan),
    ] {
        let [start, opened, searched, hwm] = run_probe(path, plan)?;
        println!(
            "| {label} messages | {:.1} | {} | {} | {} | {} |",
            mib(disk_bytes(path)),
            kib_as_mib(start),
            kib_as_mib(opened),
            kib_as_mib(searched),
            kib_as_mib(hwm)
        );
    }
    println!();
    println!(
        "(MiB.) The connection's page cache: `PRAGMA cache_size` = {cache} ({}), page size {page_size} B, `mmap_size` = {mmap}.",
        if cache < 0 {
            format!("at most {} KiB", -cache)
        } else {
            format!("at most {cache} pages")
        }
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// rg

/// `rg` on `PATH`, if any.
fn find_rg() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("rg"))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Runs `rg` with `args`; its stdout and wall time.
fn rg(rg: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<(String, Duration)> {
    let t = Instant::now();
    let mut child = Spawn::new(rg)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut out = String::new();
    child
        .stdout
        .take()
        .context("rg stdout")?
        .read_to_string(&mut out)?;
    let status = child.wait()?;
    let took = t.elapsed();
    // 0: matches, 1: none.
    if !matches!(status.code(), Some(0 | 1)) {
        bail!("rg failed ({status})");
    }
    Ok((out, took))
}

fn part_rg(bench: &mut Bench) -> anyhow::Result<()> {
    let Some(rg_path) = find_rg() else {
        println!("rg not found; install ripgrep (apt install ripgrep)");
        return Ok(());
    };
    let (version, _) = rg(&rg_path, &["--version".as_ref()])?;
    let dir = bench.dir.path().join("pi-sessions");
    let t = Instant::now();
    let written = jsonl::write_all(&bench.plan, &dir)?;
    let took = t.elapsed();
    println!(
        "{} pi session files ({} lines, {:.1} MiB) written in {:.1} s; {}.",
        thousands(written.files),
        thousands(written.lines),
        mib(written.bytes),
        took.as_secs_f64(),
        version.lines().next().unwrap_or("rg")
    );
    println!();
    println!(
        "`rg -c -i -F TERM DIR` (case-insensitive like the index; the count is matching lines, i.e. JSONL entries), {RG_RUNS} timed runs after 1 warm-up run, files in the OS page cache:"
    );
    println!();
    println!("| query | rg term | matching lines | p50 ms | max ms |");
    println!("|---|---|---:|---:|---:|");
    let project_dirs: Vec<PathBuf> = fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let prefix = corpus::pi_dir_name(FILTER_CWD);
            let prefix = prefix.trim_end_matches('-');
            name.is_some_and(|n| {
                n == corpus::pi_dir_name(FILTER_CWD) || n.starts_with(&format!("{prefix}-"))
            })
        })
        .collect();
    for q in queries() {
        let (term, dirs, label) = match &q.rg {
            Some(term) => (term.clone(), vec![dir.clone()], q.label.clone()),
            None => (
                q.text.clone(),
                project_dirs.clone(),
                format!("common word, {FILTER_CWD} directories only"),
            ),
        };
        let mut args: Vec<&std::ffi::OsStr> =
            vec!["-c".as_ref(), "-i".as_ref(), "-F".as_ref(), term.as_ref()];
        args.extend(dirs.iter().map(|d| d.as_os_str()));
        let (out, _) = rg(&rg_path, &args)?;
        let lines: u64 = out
            .lines()
            .filter_map(|l| l.rsplit_once(':')?.1.parse::<u64>().ok())
            .sum();
        let mut times = Vec::with_capacity(RG_RUNS);
        for _ in 0..RG_RUNS {
            times.push(rg(&rg_path, &args)?.1);
        }
        times.sort_unstable();
        println!(
            "| {label} | `{term}` | {} | {} | {} |",
            thousands(usize::try_from(lines).unwrap_or(usize::MAX)),
            ms(nearest_rank(&times, 0.50)),
            ms(times.last().copied().unwrap_or_default())
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// helpers

/// Nearest-rank percentile of sorted `values`, `q` in (0, 1].
fn nearest_rank<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = to_count((q * sorted.len() as f64).ceil());
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A non-negative, finite `x` rounded down to a count.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "callers pass small non-negative values"
)]
fn to_count(x: f64) -> usize {
    x.max(0.0) as usize
}

/// `count` per second of `d`, with thousands separators.
fn per_second(count: usize, d: Duration) -> String {
    thousands(to_count(count as f64 / d.as_secs_f64()))
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn kib_as_mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

/// `path` with `suffix` appended to its file name (`history.db-wal`).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The database file with its `-wal` and `-shm` files.
fn disk_bytes(path: &Path) -> u64 {
    file_len(path) + file_len(&sidecar(path, "-wal")) + file_len(&sidecar(path, "-shm"))
}
