// Big sessions in headless Chromium against the real relay, runner and fake agent on
// loopback (the debug builds in target/, as the tests use them). Not a test: it prints numbers for docs/benchmarks.md.
//
//   1. A session of N messages (default 100,000): a pi session file written here and
//      imported with `oqtoctl history import pi`, the runner's own importer. Opening it:
//      time to the newest message painted, elements in the message list, long tasks while
//      scrolling back through SCROLL_PAGES pages of older messages.
//   2. A session of the `fake` harness (oqto-fake-agent) filled with M messages (default
//      10,000) by M/2 real turns, then `stream:12000@5` (200 deltas/s for 60 s) into it
//      in a fresh tab: long tasks, main-thread busy fraction (CDP Performance.getMetrics
//      TaskDuration over wall time), the tab's JS heap and DOM nodes after.
//
// Usage: node bench/history.mjs [N] [M] [SCROLL_PAGES] [DELTAS]
//   (npm run build, cargo build --workspace --bins, scripts/setup first)

import path from "node:path";
import {
  importPi,
  launchBrowser,
  loggedInPage,
  Stack,
  waitFor,
  writePiSession,
} from "../tests/e2e/stack.mjs";

const N = Number(process.argv[2] ?? 100_000);
const M = Number(process.argv[3] ?? 10_000);
const SCROLL_PAGES = Number(process.argv[4] ?? 30);
const DELTAS = Number(process.argv[5] ?? 12_000);

// Long tasks of the page, kept from the first script on.
const observe = () => {
  window.__long = [];
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__long.push(e.duration);
  }).observe({ type: "longtask", buffered: true });
};
const longTasks = (page) => page.evaluate(() => window.__long.splice(0));
const summary = (xs) =>
  xs.length === 0
    ? "none"
    : `${xs.length}, max ${Math.max(...xs).toFixed(0)} ms, total ${xs.reduce((a, b) => a + b, 0).toFixed(0)} ms`;
const listElements = (page) =>
  page.evaluate(() => document.querySelector(".messages")?.querySelectorAll("*").length ?? 0);
const newestShown = (page, text) =>
  page.evaluate((t) => {
    const msgs = document.querySelectorAll(".messages [data-msg-id]");
    return msgs.length > 0 && msgs[msgs.length - 1].textContent.includes(t);
  }, text);

const stack = new Stack();
await stack.startRelay();
const browser = await launchBrowser();
const out = [];
const say = (s) => {
  out.push(s);
  console.log(s);
};
try {
  const setup = await loggedInPage(browser, stack);

  // 1. N messages, imported.
  const piDir = path.join(stack.root, "pi-agent");
  let t = performance.now();
  writePiSession(piDir, stack.workspace, N, (i) =>
    i % 2 === 0
      ? `question ${i}: what does line ${i} of the log say?`
      : `answer ${i}: it says **ok** with \`code ${i}\` and a list:\n\n- one\n- two\n`,
  );
  importPi(stack, piDir);
  say(
    `setup: ${N} messages written and imported in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const big = await setup.evaluate(async () => {
    const r = await window.oqto.store.request({ type: "session.list" });
    return r.sessions.find((s) => s.harness === "pi").id;
  });

  const ctx1 = await browser.newContext();
  await ctx1.addInitScript(observe);
  const p1 = await ctx1.newPage();
  await p1.goto(stack.link());
  await waitFor("connected", () => p1.evaluate(() => window.oqto?.conn.ready), 20_000);
  const cdp1 = await ctx1.newCDPSession(p1);
  await cdp1.send("Performance.enable");
  await longTasks(p1);
  t = performance.now();
  await p1.evaluate((id) => {
    history.pushState(null, "", `/s/${id}`);
    dispatchEvent(new PopStateEvent("popstate"));
  }, big);
  await waitFor("the newest message", () => newestShown(p1, `answer ${N - 1}:`), 60_000);
  await p1.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
  say(
    `open ${N} messages: newest painted after ${(performance.now() - t).toFixed(0)} ms (in-app navigation, click to frame); ` +
      `list elements ${await listElements(p1)}; long tasks ${summary(await longTasks(p1))}`,
  );
  t = performance.now();
  let loaded = await p1.evaluate((id) => window.oqto.store.views.get(id).model.order.length, big);
  const first = loaded;
  for (let i = 0; i < SCROLL_PAGES; i++) {
    // The mouse wheel over the list, as a user scrolls back, until an older page is in.
    const before = loaded;
    const box = await p1.locator(".messages").boundingBox();
    await p1.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await waitFor(
      "an older page",
      async () => {
        loaded = await p1.evaluate((id) => window.oqto.store.views.get(id).model.order.length, big);
        if (loaded > before) return true;
        await p1.mouse.wheel(0, -2000);
        return false;
      },
      20_000,
    );
  }
  const scrollMs = performance.now() - t;
  say(
    `scroll back ${SCROLL_PAGES} pages (${first} -> ${loaded} messages loaded) in ${(scrollMs / 1000).toFixed(1)} s: ` +
      `long tasks ${summary(await longTasks(p1))}; list elements after ${await listElements(p1)}`,
  );
  await ctx1.close();

  // 2. M messages in a fake-agent session, then 60 s of streaming.
  t = performance.now();
  const fake = await setup.evaluate(
    async ({ cwd }) => {
      const r = await window.oqto.store.request({ type: "session.create", harness: "fake", cwd });
      return r.session.id;
    },
    { cwd: stack.workspace },
  );
  await setup.evaluate(
    async ({ id, turns }) => {
      const store = window.oqto.store;
      const v = store.open(id);
      // Each turn is two messages; the next prompt goes once both are in and the session
      // is idle again.
      const done = (n) =>
        new Promise((resolve) => {
          const tick = () =>
            v.model.messages.size >= n && v.model.info?.state === "idle"
              ? resolve()
              : setTimeout(tick, 2);
          tick();
        });
      for (let i = 0; i < turns; i++) {
        await store.request({ type: "prompt", session: id, text: `turn ${i} of the warm-up` });
        await done(2 * (i + 1));
      }
    },
    { id: fake, turns: M / 2 },
  );
  say(
    `setup: ${M} messages by ${M / 2} fake-agent turns in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const ctx2 = await browser.newContext();
  await ctx2.addInitScript(observe);
  const p2 = await ctx2.newPage();
  await p2.goto(stack.link());
  await waitFor("connected", () => p2.evaluate(() => window.oqto?.conn.ready), 20_000);
  await p2.evaluate((id) => {
    history.pushState(null, "", `/s/${id}`);
    dispatchEvent(new PopStateEvent("popstate"));
  }, fake);
  await waitFor("the newest message", () => newestShown(p2, `turn ${M / 2 - 1} of`), 60_000);
  const cdp2 = await ctx2.newCDPSession(p2);
  await cdp2.send("Performance.enable");
  const metric = async () =>
    Object.fromEntries(
      (await cdp2.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]),
    );
  await longTasks(p2);
  const m0 = await metric();
  t = performance.now();
  const box = p2.getByRole("textbox", { name: "Message" });
  await box.fill(`stream:${DELTAS}@5`);
  await box.press("Enter");
  await waitFor("the stream's end", () => newestShown(p2, `w${DELTAS} `), 180_000);
  await waitFor(
    "idle",
    async () => (await p2.getByTestId("session-state").textContent()) === "idle",
    30_000,
  );
  const wall = performance.now() - t;
  const m1 = await metric();
  const busy = (m1.TaskDuration - m0.TaskDuration) / (m1.Timestamp - m0.Timestamp);
  say(
    `stream ${DELTAS} deltas at 5 ms into ${M} messages: took ${(wall / 1000).toFixed(1)} s; ` +
      `long tasks ${summary(await longTasks(p2))}; main thread busy ${(busy * 100).toFixed(1)}% ` +
      `(script ${(m1.ScriptDuration - m0.ScriptDuration).toFixed(1)} s, layout ${(m1.LayoutDuration - m0.LayoutDuration).toFixed(1)} s, ` +
      `style ${(m1.RecalcStyleDuration - m0.RecalcStyleDuration).toFixed(1)} s)`,
  );
  await cdp2.send("HeapProfiler.collectGarbage");
  const m2 = await metric();
  say(
    `tab after: JS heap used ${(m2.JSHeapUsedSize / 2 ** 20).toFixed(1)} MB (total ${(m2.JSHeapTotalSize / 2 ** 20).toFixed(1)} MB), ` +
      `DOM nodes ${m2.Nodes}, list elements ${await listElements(p2)}`,
  );
  await ctx2.close();
} finally {
  await browser.close();
  await stack.stop();
}
