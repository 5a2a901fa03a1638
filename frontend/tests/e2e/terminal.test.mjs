// A terminal pane through the relay's terminal channel: typed input runs in the runner's
// sandboxed shell, the output shows in xterm.js, and after a reload the pane attaches to
// the same terminal and shows its scrollback.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, loggedInPage, newSession, Stack, waitFor, withShots } from "./stack.mjs";

let stack;
let browser;
let page;

before(async () => {
  stack = new Stack();
  await stack.startRelay();
  browser = await launchBrowser();
  page = await loggedInPage(browser, stack);
  await newSession(page, stack, "terminal");
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

const screen = () => page.locator('[data-testid="terminal"] .xterm-rows').textContent();
const termId = () =>
  page.evaluate(
    () => Object.entries(sessionStorage).find(([k]) => k.startsWith("oqto.terminal."))?.[1],
  );

test("terminal echo, and resume after a reload", async () => {
  await withShots(
    "terminal",
    () => page,
    async () => {
      await page.getByRole("button", { name: "Show the terminal" }).click();
      await waitFor("the terminal", () =>
        page.locator('[data-testid="terminal"] .xterm').isVisible(),
      );
      await waitFor("a terminal id", termId);
      await page.locator('[data-testid="terminal"]').click();
      await page.keyboard.type("echo hello-$((6*7))\n");
      await waitFor("the echo", async () => /hello-42/.test(await screen()));
      const first = await termId();

      await page.reload();
      await waitFor("the connection", () => page.locator('[data-status="open"]').isVisible());
      await page.getByRole("button", { name: "Show the terminal" }).click();
      await waitFor("the scrollback after the reload", async () =>
        /hello-42/.test((await screen()) ?? ""),
      );
      assert.equal(await termId(), first, "the same terminal");
      await page.locator('[data-testid="terminal"]').click();
      await page.keyboard.type("echo again-$((2+3))\n");
      await waitFor("input after the reload", async () => /again-5/.test(await screen()));
    },
  );
});
