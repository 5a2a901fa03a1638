//! Vocabulary of the synthetic corpus: projects, prompt and prose templates, code lines and
//! error messages, with `%slot`s that [`fill`] replaces.
//!
//! Slots: `%file`, `%ident`, `%var`, `%type`, `%word`, `%crate`, `%dir` (from the session's
//! project), `%n` (a number), `%line`, `%col`, `%hash` (7 hex digits) and `%err` (an error
//! line of the project's language). A `%` not followed by one of these names is literal
//! (`%d`, `%w`, `[100%]`).

use crate::rng::Rng;

/// The language of a project: which build tools, tests, errors and code it produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    TypeScript,
    Python,
    Go,
}

/// A project the synthetic user works on.
#[derive(Debug)]
pub struct Project {
    pub name: &'static str,
    pub dir: &'static str,
    /// Directories below `dir` that some sessions start in.
    pub subdirs: &'static [&'static str],
    pub lang: Lang,
    pub files: &'static [&'static str],
    pub idents: &'static [&'static str],
    pub vars: &'static [&'static str],
    pub types: &'static [&'static str],
    pub words: &'static [&'static str],
}

pub const PROJECTS: &[Project] = &[
    Project {
        name: "oqto",
        dir: "/home/ada/src/oqto",
        subdirs: &["bins/oqto-runner", "shared/oqto-history", "frontend"],
        lang: Lang::Rust,
        files: &[
            "src/main.rs",
            "src/lib.rs",
            "src/config.rs",
            "bins/oqto-runner/src/session.rs",
            "bins/oqto-runner/src/harness/pi.rs",
            "shared/oqto-history/src/store.rs",
            "shared/oqto-protocol/src/message.rs",
            "tests/it/main.rs",
            "Cargo.toml",
        ],
        idents: &[
            "parse_config",
            "spawn_harness",
            "handle_event",
            "read_frame",
            "flush_batch",
            "apply_migration",
            "next_seq",
            "resolve_cwd",
            "parse_frame_header",
        ],
        vars: &[
            "cfg", "session", "frame", "buf", "seq", "events", "store", "line", "path",
        ],
        types: &[
            "SessionManager",
            "EventLog",
            "Config",
            "Frame",
            "RunnerError",
            "HarnessKind",
        ],
        words: &[
            "runner", "history", "protocol", "harness", "sandbox", "relay",
        ],
    },
    Project {
        name: "tidepool",
        dir: "/home/ada/src/tidepool",
        subdirs: &["crates/tidepool-core"],
        lang: Lang::Rust,
        files: &[
            "src/main.rs",
            "src/cli.rs",
            "src/tide/table.rs",
            "src/tide/predict.rs",
            "crates/tidepool-core/src/lib.rs",
            "tests/cli.rs",
        ],
        idents: &[
            "parse_station",
            "load_table",
            "predict_height",
            "harmonic_sum",
            "parse_args",
            "format_row",
        ],
        vars: &["station", "table", "rows", "height", "args", "t", "out"],
        types: &["Station", "TideTable", "Harmonic", "CliArgs", "ParseError"],
        words: &["tide", "station", "table", "predict", "cli"],
    },
    Project {
        name: "webshop",
        dir: "/home/ada/src/webshop",
        subdirs: &["packages/api", "packages/web"],
        lang: Lang::TypeScript,
        files: &[
            "src/app.tsx",
            "src/api/cart.ts",
            "src/components/Checkout.tsx",
            "src/lib/money.ts",
            "src/api/cart.test.ts",
            "package.json",
            "tsconfig.json",
        ],
        idents: &[
            "fetchCart",
            "useCheckout",
            "validateCoupon",
            "renderPrice",
            "parsePrice",
            "applyDiscount",
        ],
        vars: &["cart", "items", "total", "coupon", "res", "user", "price"],
        types: &["CartItem", "Checkout", "Coupon", "ApiError", "Money"],
        words: &["cart", "checkout", "coupon", "orders", "auth"],
    },
    Project {
        name: "dashboard",
        dir: "/home/ada/work/dashboard",
        subdirs: &["src/widgets"],
        lang: Lang::TypeScript,
        files: &[
            "src/main.ts",
            "src/widgets/Chart.tsx",
            "src/widgets/Table.tsx",
            "src/store/metrics.ts",
            "src/store/metrics.test.ts",
            "vite.config.ts",
        ],
        idents: &[
            "loadMetrics",
            "useSeries",
            "formatAxis",
            "parseQuery",
            "debounceRefresh",
        ],
        vars: &["series", "metrics", "query", "range", "rows", "el"],
        types: &["Series", "MetricPoint", "TimeRange", "WidgetProps"],
        words: &["metrics", "chart", "widgets", "store", "query"],
    },
    Project {
        name: "ml-pipeline",
        dir: "/home/ada/src/ml-pipeline",
        subdirs: &["notebooks"],
        lang: Lang::Python,
        files: &[
            "train.py",
            "data/loader.py",
            "models/resnet.py",
            "eval.py",
            "tests/test_loader.py",
            "requirements.txt",
            "configs/base.yaml",
        ],
        idents: &[
            "load_dataset",
            "compute_loss",
            "parse_args",
            "build_model",
            "collate_batch",
            "evaluate_split",
        ],
        vars: &["batch", "model", "loss", "epoch", "labels", "cfg", "preds"],
        types: &["TrainConfig", "EarlyStopping", "ImageDataset", "ResNet"],
        words: &["train", "eval", "loader", "models", "metrics"],
    },
    Project {
        name: "scraper",
        dir: "/home/ada/src/scraper",
        subdirs: &[],
        lang: Lang::Python,
        files: &[
            "scraper/fetch.py",
            "scraper/parse.py",
            "scraper/store.py",
            "tests/test_parse.py",
            "pyproject.toml",
        ],
        idents: &[
            "fetch_page",
            "parse_listing",
            "save_rows",
            "retry_request",
            "normalize_url",
        ],
        vars: &["url", "html", "rows", "session", "resp", "soup"],
        types: &["Listing", "Fetcher", "RowStore"],
        words: &["fetch", "parse", "store", "listing"],
    },
    Project {
        name: "gateway",
        dir: "/home/ada/work/gateway",
        subdirs: &["internal/server"],
        lang: Lang::Go,
        files: &[
            "main.go",
            "internal/server/handler.go",
            "internal/server/handler_test.go",
            "internal/auth/token.go",
            "go.mod",
        ],
        idents: &[
            "NewServer",
            "handleHealth",
            "parseFlags",
            "verifyToken",
            "proxyRequest",
        ],
        vars: &["srv", "req", "resp", "token", "ctx", "cfg"],
        types: &["Server", "Config", "TokenClaims", "Upstream"],
        words: &["server", "auth", "proxy", "health"],
    },
];

/// Replaces the slots of `template` (see the module docs) and appends the result to `out`.
pub fn fill(out: &mut String, template: &str, rng: &mut Rng, p: &Project) {
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let name_len = after
            .find(|c: char| !c.is_ascii_lowercase())
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if slot(out, name, rng, p) {
            rest = &after[name_len..];
        } else {
            out.push('%');
            rest = after;
        }
    }
    out.push_str(rest);
}

/// [`fill`] into a new string.
pub fn filled(template: &str, rng: &mut Rng, p: &Project) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    fill(&mut out, template, rng, p);
    out
}

/// Appends the value of slot `name`; false if `name` is not a slot.
fn slot(out: &mut String, name: &str, rng: &mut Rng, p: &Project) -> bool {
    use std::fmt::Write as _;
    match name {
        "file" => out.push_str(rng.pick(p.files)),
        "ident" => out.push_str(rng.pick(p.idents)),
        "var" => out.push_str(rng.pick(p.vars)),
        "type" => out.push_str(rng.pick(p.types)),
        "word" => out.push_str(rng.pick(p.words)),
        "crate" => out.push_str(p.name),
        "dir" => out.push_str(p.dir),
        "n" => {
            let n = rng.lognormal_count(12.0, 1.3, 0, 5000);
            let _ = write!(out, "{n}");
        }
        "line" => {
            let n = rng.range(1, 480);
            let _ = write!(out, "{n}");
        }
        "col" => {
            let n = rng.range(1, 60);
            let _ = write!(out, "{n}");
        }
        "hash" => {
            let h = rng.next_u64() & 0x0fff_ffff;
            let _ = write!(out, "{h:07x}");
        }
        "err" => {
            let template = rng.pick(errors(p.lang));
            fill(out, template, rng, p);
        }
        _ => return false,
    }
    true
}

/// One-line error messages a project of `lang` produces (no `%err` inside).
pub fn errors(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Rust => RUST_ERRORS,
        Lang::TypeScript => TS_ERRORS,
        Lang::Python => PY_ERRORS,
        Lang::Go => GO_ERRORS,
    }
}

const RUST_ERRORS: &[&str] = &[
    "error[E0382]: borrow of moved value: `%var`",
    "error[E0502]: cannot borrow `%var` as mutable because it is also borrowed as immutable",
    "error[E0425]: cannot find value `%var` in this scope",
    "error[E0308]: mismatched types: expected `%type`, found `Option<%type>`",
    "error[E0599]: no method named `%ident` found for struct `%type` in the current scope",
    "error[E0277]: the trait bound `%type: Send` is not satisfied",
    "thread 'main' panicked at %file:%line:%col: called `Result::unwrap()` on an `Err` value: Os { code: 2, kind: NotFound, message: \"No such file or directory\" }",
    "thread 'tokio-runtime-worker' panicked at %file:%line:%col: index out of bounds: the len is %n but the index is %n",
    "Error: failed to read config %dir/config.toml: No such file or directory (os error 2)",
    "error: linker `cc` not found",
];

const TS_ERRORS: &[&str] = &[
    "TypeError: Cannot read properties of undefined (reading '%var')",
    "%file(%line,%col): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'.",
    "%file(%line,%col): error TS2339: Property '%var' does not exist on type '%type'.",
    "ReferenceError: %ident is not defined",
    "Error: connect ECONNREFUSED 127.0.0.1:5432",
    "Error: ENOENT: no such file or directory, open '%dir/.env'",
    "SyntaxError: Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
    "Unhandled Runtime Error: Hydration failed because the initial UI does not match",
];

const PY_ERRORS: &[&str] = &[
    "ModuleNotFoundError: No module named 'torch'",
    "KeyError: '%var'",
    "AttributeError: 'NoneType' object has no attribute '%var'",
    "FileNotFoundError: [Errno 2] No such file or directory: 'data/%word.csv'",
    "ValueError: too many values to unpack (expected 2)",
    "TypeError: %ident() got an unexpected keyword argument '%var'",
    "RuntimeError: CUDA out of memory. Tried to allocate %n.00 MiB",
    "AssertionError: assert %n == %n",
];

const GO_ERRORS: &[&str] = &[
    "%file:%line:%col: undefined: %ident",
    "%file:%line:%col: cannot use %var (variable of type string) as int value in argument to %ident",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "dial tcp 127.0.0.1:6379: connect: connection refused",
    "open config.yaml: no such file or directory",
    "%file:%line:%col: declared and not used: %var",
];

/// Short user prompts.
pub const PROMPTS: &[&str] = &[
    "why does %ident fail when the config file is missing?",
    "can you fix the failing test in %file",
    "add a --verbose flag and wire it through %ident",
    "refactor %file so that %ident does not allocate on every call",
    "run the tests and tell me what is broken",
    "the build is broken after the last change, see %file",
    "explain what %ident does and who calls it",
    "write a test for %ident covering the empty input case",
    "rename %type to something clearer, it is confusing next to %type",
    "now do the same for %file",
    "%ident is slow on large inputs, can you profile it?",
    "add error handling to %ident, right now it just panics",
    "is there dead code in %file?",
    "update the README with the new %word options",
    "why is %var sometimes empty here?",
    "make %ident return a proper error instead of a string",
    "can we drop the %word dependency?",
    "look at the logs in /tmp/%word.log and tell me what happened",
    "split %file into smaller modules",
    "the CI job fails with exit code 101, can you check?",
];

/// Replies that are the whole prompt.
pub const SHORT_PROMPTS: &[&str] = &[
    "yes",
    "go ahead",
    "ok, commit that",
    "looks good, thanks",
    "no, revert that and try a different approach",
    "continue",
    "try again",
    "what about the other call sites?",
    "perfect",
    "hmm, that did not work",
];

/// Openers of a prompt that pastes an error.
pub const PASTE_PROMPTS: &[&str] = &[
    "I get this error when I run it:",
    "getting this now:",
    "the tests fail with",
    "CI says:",
    "after your change I see",
];

/// Sentences of a model's thinking.
pub const THOUGHTS: &[&str] = &[
    "The user wants me to look at %ident in %file.",
    "Let me read %file first to see how %ident is used.",
    "The error says %err, so %var is probably moved before the loop.",
    "I should check whether %type is constructed anywhere else.",
    "The test expects %n items but gets fewer, which suggests the parser drops the last line.",
    "This looks like a race between %ident and the writer.",
    "Maybe the config path is relative to the wrong directory.",
    "I need to run the build again to see if the error is gone.",
    "The simplest fix is to return early when %var is empty.",
    "There are two call sites; both pass a borrowed %var.",
    "I will add a regression test before changing the behaviour.",
    "Hmm, the diff touches more files than expected.",
    "Parsing happens twice here; caching the parsed %type would avoid that.",
    "The failing assertion compares %var with the old format.",
    "Let me grep for %ident to find every caller.",
    "That command failed because the directory does not exist yet.",
    "The user asked for a minimal change, so I should not refactor %file.",
    "I think the timeout is too short for the integration tests.",
];

/// One-line narration of an assistant message that calls a tool.
pub const NARRATION: &[&str] = &[
    "Let me look at %file.",
    "I'll run the tests to see the current state.",
    "Now I'll update %ident.",
    "Let me check where %ident is called.",
    "Running the build again.",
    "I'll fix the remaining error in %file.",
    "Let me see the recent changes.",
    "Checking the directory layout first.",
    "That fixed the first error; one left.",
    "I'll add the test now.",
];

/// Sentences of an assistant's final reply.
pub const SUMMARY: &[&str] = &[
    "The problem was that %ident returned early when %var was empty.",
    "I changed %file so that the error is propagated instead of unwrapped.",
    "All %n tests pass now.",
    "The build is green again.",
    "I renamed %type and updated every call site.",
    "The failure came from %err.",
    "I added a regression test, `%ident_handles_empty_input`, in %file.",
    "There is still a warning about an unused variable `%var`, which I left alone.",
    "Parsing is now done once, in %ident, and the result is passed down.",
    "You may want to bump the timeout in CI as well.",
    "I did not touch the public API.",
    "Let me know if you want me to commit this.",
];

/// Lines of code in `lang` (indentation included).
pub fn code(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Rust => RUST_CODE,
        Lang::TypeScript => TS_CODE,
        Lang::Python => PY_CODE,
        Lang::Go => GO_CODE,
    }
}

const RUST_CODE: &[&str] = &[
    "pub fn %ident(%var: &str) -> Result<%type, Error> {",
    "    let mut %var = Vec::with_capacity(%n);",
    "    for %var in %var.iter() {",
    "        if %var.is_empty() {",
    "            return Err(Error::InvalidInput(format!(\"empty %var at line {}\", %line)));",
    "        }",
    "    }",
    "    let %var = %ident(&%var)?;",
    "    Ok(%type { %var, %var })",
    "}",
    "",
    "#[derive(Debug, Clone, PartialEq)]",
    "pub struct %type {",
    "    pub %var: String,",
    "    pub %var: Option<u64>,",
    "impl %type {",
    "use std::collections::HashMap;",
    "use crate::%word::%type;",
    "    // TODO: handle the timeout case",
    "    match %var {",
    "        Some(%var) => %ident(%var),",
    "        None => return Ok(()),",
    "    %var.insert(%var.clone(), %n);",
    "    tracing::debug!(%var = %n, \"flushing batch\");",
    "#[test]",
    "fn %ident_rejects_empty_input() {",
    "    assert_eq!(%ident(\"\"), Err(Error::Empty));",
    "    let %var = std::fs::read_to_string(&path).with_context(|| format!(\"reading {}\", path.display()))?;",
    "        .map_err(|e| Error::Io { path: %var.clone(), source: e })?;",
    "    self.%var.lock().await.push(%var);",
];

const TS_CODE: &[&str] = &[
    "export async function %ident(%var: string): Promise<%type> {",
    "  const %var = await fetch(`/api/%word/${%var}`);",
    "  if (!%var.ok) throw new Error(`request failed: ${%var.status}`);",
    "  return (await %var.json()) as %type;",
    "}",
    "",
    "import { %ident } from './%word';",
    "export interface %type {",
    "  %var: string;",
    "  %var?: number;",
    "  const [%var, setValue] = useState<%type | null>(null);",
    "  useEffect(() => {",
    "  }, [%var]);",
    "  return <div className=\"%word\">{%var.map((x) => <Item key={x.id} {...x} />)}</div>;",
    "describe('%ident', () => {",
    "  it('handles an empty %word', async () => {",
    "    expect(await %ident('')).toEqual([]);",
    "  });",
    "  // eslint-disable-next-line @typescript-eslint/no-explicit-any",
    "  const %var = %ident(%var, { retries: %n });",
];

const PY_CODE: &[&str] = &[
    "def %ident(%var, %var=None):",
    "    \"\"\"Load the %word split from disk.\"\"\"",
    "    %var = []",
    "    for %var in %var:",
    "        if not %var:",
    "            raise ValueError(f\"empty %var at step {%var}\")",
    "    return %var",
    "",
    "class %type:",
    "    def __init__(self, %var: int = %n) -> None:",
    "        self.%var = %var",
    "import numpy as np",
    "from .%word import %ident",
    "    logger.info(\"epoch %d loss %.4f\", %var, %var)",
    "@pytest.fixture",
    "def test_%ident():",
    "    assert %ident([]) == []",
    "    with open(path, encoding=\"utf-8\") as f:",
    "        %var = json.load(f)",
    "    %var = torch.stack([x[\"%var\"] for x in %var])",
];

const GO_CODE: &[&str] = &[
    "func %ident(%var string) (*%type, error) {",
    "\tif %var == \"\" {",
    "\t\treturn nil, fmt.Errorf(\"empty %var: %w\", ErrInvalid)",
    "\t}",
    "\t%var, err := %ident(ctx, %var)",
    "\tif err != nil {",
    "\t\treturn nil, err",
    "}",
    "",
    "type %type struct {",
    "\tName string `json:\"%var\"`",
    "func (s *Server) %ident(w http.ResponseWriter, r *http.Request) {",
    "\tdefer %var.Close()",
    "\tlog.Printf(\"%word: %v\", err)",
    "import (",
    "\t\"context\"",
    "\t\"net/http\"",
    ")",
];

/// Commit subjects for `git log`.
pub const COMMITS: &[&str] = &[
    "fix: handle empty input in %ident",
    "refactor: split %file",
    "test: cover %ident edge cases",
    "feat: add --verbose to the %word command",
    "chore: bump dependencies",
    "docs: explain %type",
    "fix: do not panic when %var is missing",
    "perf: avoid reparsing in %ident",
];

/// Names in a directory listing besides the project's files.
pub const LISTING_NAMES: &[&str] = &[
    ".git",
    ".gitignore",
    "README.md",
    "LICENSE",
    "target",
    "node_modules",
    "build",
    "dist",
    ".env.example",
    "Makefile",
    "scripts",
    "docs",
    "tests",
    "src",
];

/// Dependencies that a Rust build compiles.
pub const CRATES: &[&str] = &[
    "proc-macro2 v1.0.92",
    "unicode-ident v1.0.14",
    "libc v0.2.169",
    "serde v1.0.217",
    "quote v1.0.38",
    "syn v2.0.96",
    "tokio v1.43.0",
    "serde_json v1.0.135",
    "memchr v2.7.4",
    "tracing v0.1.41",
    "anyhow v1.0.95",
    "clap v4.5.26",
    "rusqlite v0.32.1",
    "regex-syntax v0.8.5",
];
