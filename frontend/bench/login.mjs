// Login link -> sessions list interactive, in headless Chromium against the real relay and
// runner on loopback (debug builds, as the tests use them). Not a test: it prints numbers.
// Usage: node bench/login.mjs [RUNS]   (build frontend/dist and the binaries first)

import { launchBrowser, Stack, waitFor } from "../tests/e2e/stack.mjs";

const runs = Number(process.argv[2] ?? 10);
const stack = new Stack();
await stack.startRelay();
const browser = await launchBrowser();
const times = [];
try {
  // One warm-up: it starts the runner.
  for (let i = 0; i <= runs; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const link = stack.link();
    const t0 = performance.now();
    await page.goto(link);
    // Interactive: connected, the session list answered, the filter box usable.
    await waitFor(
      "the list",
      () => page.evaluate(() => window.oqto?.store.listed[0]() && window.oqto.conn.ready),
      10_000,
    );
    await page.getByLabel("Filter sessions").fill("x");
    const ms = performance.now() - t0;
    if (i > 0) times.push(ms);
    await context.close();
  }
} finally {
  await browser.close();
  await stack.stop();
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(0);
console.log(
  `login link -> sessions list interactive, ${runs} runs: p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${q(1)} ms`,
);
