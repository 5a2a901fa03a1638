// Starts the real stack for a browser test: oqto-relay (built by cargo, serving
// frontend/dist), which starts the real oqto-runner on demand; sessions use the `demo`
// harness, i.e. the real pi against the runner's bundled fake LLM on 127.0.0.1. Everything
// runs in a private temp HOME/XDG tree; nothing of the user's is read or written.
// Then a headless Debian Chromium driven by playwright-core (no browser download).

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "../../..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, "target");
const bin = (name) => path.join(targetDir, "debug", name);
export const artifacts =
  process.env.OQTO_ARTIFACTS ?? path.join(targetDir, "ci-artifacts", "web-ui");
export const WAIT = 30_000;

export async function waitFor(what, fn, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class Stack {
  /** `runnerToml` is added to runner.toml (more harnesses, say). */
  constructor(runnerToml = "") {
    for (const name of ["oqto-relay", "oqto-runner", "oqto-sandbox", "oqto-files", "oqtoctl"]) {
      if (!fs.existsSync(bin(name))) {
        throw new Error(`${bin(name)} is missing: run \`cargo build --workspace --bins\``);
      }
    }
    const pi = path.join(repo, ".local/pi/bin/pi");
    if (!fs.existsSync(pi)) throw new Error(`${pi} is missing: run scripts/setup`);
    if (!fs.existsSync(path.join(repo, "frontend/dist/index.html"))) {
      throw new Error("frontend/dist is missing: run `npm run build` in frontend/");
    }
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), "oqto-web-"));
    const d = (p) => {
      const full = path.join(this.root, p);
      fs.mkdirSync(full, { recursive: true, mode: 0o700 });
      return full;
    };
    this.workspace = d("work");
    this.env = {
      PATH: process.env.PATH,
      LANG: process.env.LANG ?? "C.UTF-8",
      HOME: d("home"),
      XDG_CONFIG_HOME: d("config"),
      XDG_DATA_HOME: d("data"),
      XDG_STATE_HOME: d("state"),
      XDG_CACHE_HOME: d("cache"),
      XDG_RUNTIME_DIR: d("run"),
      OQTO_RUNNER_BIN: bin("oqto-runner"),
      OQTO_SANDBOX_BIN: bin("oqto-sandbox"),
      OQTO_FILES_BIN: bin("oqto-files"),
      OQTO_RELAY_BIN: bin("oqto-relay"),
      OQTO_PI_BIN: pi,
    };
    fs.mkdirSync(path.join(this.env.XDG_CONFIG_HOME, "oqto"), { recursive: true });
    fs.writeFileSync(
      path.join(this.env.XDG_CONFIG_HOME, "oqto/runner.toml"),
      `[runner]\ndefault_harness = "demo"\n${runnerToml}`,
    );
    this.listen = "127.0.0.1:0";
    this.relay = null;
    this.log = path.join(this.root, "relay.log");
  }

  get stateFile() {
    return path.join(this.env.XDG_RUNTIME_DIR, "oqto/relay.json");
  }

  /** Starts the relay (on the same port as before, after the first start). */
  async startRelay() {
    fs.rmSync(this.stateFile, { force: true });
    const out = fs.openSync(this.log, "a");
    this.relay = spawn(bin("oqto-relay"), ["--listen", this.listen], {
      env: this.env,
      cwd: this.workspace,
      stdio: ["ignore", out, out],
    });
    fs.closeSync(out);
    const state = await waitFor("relay.json", () => {
      const text = fs.readFileSync(this.stateFile, "utf8");
      return JSON.parse(text);
    });
    this.url = state.url;
    this.loginUrl = state.login_url;
    this.listen = new URL(this.url).host;
    await waitFor(
      "the relay to answer",
      async () => (await fetch(`${this.url}/healthz`)).status > 0,
    );
    return this;
  }

  /** Stops the relay with SIGTERM (the runner, with its sessions, keeps running). */
  async stopRelay() {
    const child = this.relay;
    this.relay = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }

  /** A fresh one-time login link from `oqto-relay link`. */
  link() {
    const r = spawnSync(bin("oqto-relay"), ["link"], { env: this.env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`oqto-relay link: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** Sets the login password with `oqto-relay password` (one line on stdin). */
  setPassword(password) {
    const r = spawnSync(bin("oqto-relay"), ["password"], {
      env: this.env,
      input: `${password}\n`,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`oqto-relay password: ${r.stderr}`);
  }

  async stop() {
    await this.stopRelay();
    spawnSync(bin("oqtoctl"), ["--no-autostart", "runner", "stop"], {
      env: this.env,
      stdio: "ignore",
      timeout: 20_000,
    });
    if (!process.env.OQTO_KEEP) fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** runner.toml lines for `acp`: the scripted ACP agent (oqto-fake-agent --acp). */
export function acpHarness() {
  return `[harness.acp]\nkind = "acp"\ncommand = "${bin("oqto-fake-agent")}"\nargs = ["--acp"]\n`;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--disable-dev-shm-usage", "--no-sandbox"],
  });
}

/** A logged-in page: opens a fresh login link, which redirects to the app. */
export async function loggedInPage(browser, stack, contextOptions = {}) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  page.on("pageerror", (e) => {
    page.errors ??= [];
    page.errors.push(String(e));
  });
  page.on("dialog", (d) => {
    page.dialogs ??= [];
    page.dialogs.push(d.message());
    void d.dismiss().catch(() => {});
  });
  await page.goto(stack.link());
  await waitFor("the connection", () => page.locator('[data-status="open"]').isVisible());
  return page;
}

/** Runs `fn`; on failure saves a screenshot of `page()` under the artifacts dir. */
export async function withShots(name, page, fn) {
  try {
    await fn();
  } catch (e) {
    const p = page();
    if (p) {
      fs.mkdirSync(artifacts, { recursive: true });
      const file = path.join(artifacts, `${name.replace(/[^\w.-]+/g, "_")}.png`);
      await p.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.error(`screenshot: ${file}`);
    }
    throw e;
  }
}

/** Creates a session through the New session dialog and waits until it is idle. */
export async function newSession(page, stack, title, harness) {
  await page.getByRole("button", { name: "New session" }).first().click();
  const dialog = page.getByRole("dialog", { name: "New session" });
  if (harness) await dialog.getByLabel("Harness").selectOption(harness);
  await dialog.getByLabel("Workspace directory").fill(stack.workspace);
  if (title) await dialog.getByLabel("Title (optional)").fill(title);
  await dialog.getByRole("button", { name: "Start" }).click();
  await waitFor("the session page", () => /\/s\/ses_/.test(new URL(page.url()).pathname));
  await waitFor(
    "the session to be idle",
    async () => (await page.getByTestId("session-state").textContent()) === "idle",
    60_000,
  );
  return decodeURIComponent(new URL(page.url()).pathname.split("/")[2]);
}

/** Types a message into the composer and sends it with Enter. */
export async function send(page, text) {
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill(text);
  await box.press("Enter");
}

/** The messages on screen: id, role and text, in order. */
export async function shownMessages(page) {
  return page.$$eval("[data-msg-id]", (els) =>
    els.map((e) => ({
      id: e.getAttribute("data-msg-id"),
      role: /role-(\w+)/.exec(e.className)?.[1],
      text: e.textContent,
    })),
  );
}

/** The session's stored messages, asked of the runner through the page's own socket. */
export async function storedMessages(page, session) {
  return page.evaluate(async (s) => {
    const r = await window.oqto.store.request({ type: "get_messages", session: s, limit: 500 });
    return r.messages.map((m) => ({ id: m.id, role: m.role, stop_reason: m.stop_reason }));
  }, session);
}

export async function waitIdle(page, timeout = 60_000) {
  await waitFor(
    "the session to be idle",
    async () => (await page.getByTestId("session-state").textContent()) === "idle",
    timeout,
  );
}

/**
 * Writes a pi session file (pi's format version 3) of `n` messages, prompts and answers in
 * turn, `text(i)` each, under `dir/sessions/`, for `oqtoctl history import pi dir`.
 */
export function writePiSession(dir, cwd, n, text) {
  fs.mkdirSync(path.join(dir, "sessions"), { recursive: true });
  const t0 = Date.parse("2026-12-01T00:00:00Z");
  const lines = [
    JSON.stringify({
      type: "session",
      version: 3,
      id: "0b1a0000-0000-7000-8000-000000000001",
      timestamp: new Date(t0).toISOString(),
      cwd,
    }),
  ];
  for (let i = 0; i < n; i++) {
    const ts = t0 + i * 1000;
    const content = [{ type: "text", text: text(i) }];
    const message =
      i % 2 === 0
        ? { role: "user", content, timestamp: ts }
        : { role: "assistant", content, stopReason: "stop", timestamp: ts };
    lines.push(
      JSON.stringify({
        type: "message",
        id: `e${i}`,
        parentId: i === 0 ? null : `e${i - 1}`,
        timestamp: new Date(ts).toISOString(),
        message,
      }),
    );
  }
  fs.writeFileSync(path.join(dir, "sessions", "imported.jsonl"), `${lines.join("\n")}\n`);
}

/** Imports the pi sessions under `dir` with `oqtoctl history import pi`. */
export function importPi(stack, dir) {
  const r = spawnSync(bin("oqtoctl"), ["history", "import", "pi", dir], {
    env: stack.env,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`oqtoctl history import pi: ${r.stderr}`);
}
