// The network cut mid-stream (the relay stopped, then started again on the same port): the
// page reconnects, resubscribes with its last seq and the turn completes on screen; a
// prompt typed while disconnected is queued, sent on reconnect, and runs exactly once.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  launchBrowser,
  loggedInPage,
  newSession,
  Stack,
  send,
  shownMessages,
  storedMessages,
  waitFor,
  waitIdle,
  withShots,
} from "./stack.mjs";

let stack;
let browser;
let page;
let session;

before(async () => {
  stack = new Stack();
  await stack.startRelay();
  browser = await launchBrowser();
  page = await loggedInPage(browser, stack);
  session = await newSession(page, stack, "reconnect");
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

const status = () => page.locator(".conn").getAttribute("data-status");
const lastReply = async () =>
  (await page.locator(".msg.role-assistant").last().textContent()) ?? "";

test("relay stopped and restarted mid-stream: the turn completes on screen", async () => {
  await withShots(
    "relay-restart",
    () => page,
    async () => {
      await send(page, "slow:80");
      await waitFor("some streamed words", async () => /word3\b/.test(await lastReply()));
      await stack.stopRelay();
      await waitFor("the page to notice", async () => (await status()) !== "open");
      const seenWhileDown = await lastReply();
      // The runner keeps streaming meanwhile; the page must fetch what it missed.
      await new Promise((r) => setTimeout(r, 1500));
      await stack.startRelay();
      await waitFor("the page to reconnect", async () => (await status()) === "open");
      await waitFor("the whole reply", async () => /word80\b/.test(await lastReply()), 60_000);
      await waitIdle(page);
      const text = await lastReply();
      assert.ok(text.length > seenWhileDown.length);
      for (let i = 1; i <= 80; i++) {
        assert.equal(
          (text.match(new RegExp(`\\bword${i}\\b`, "g")) ?? []).length,
          1,
          `word${i} exactly once`,
        );
      }
      const shown = (await shownMessages(page)).map((m) => m.id);
      const stored = (await storedMessages(page, session)).map((m) => m.id);
      assert.deepEqual(shown, stored);
    },
  );
});

test("a prompt typed while disconnected is sent on reconnect and runs exactly once", async () => {
  await withShots(
    "offline-prompt",
    () => page,
    async () => {
      const word = `offline${Date.now()}`;
      await stack.stopRelay();
      await waitFor("the page to notice", async () => (await status()) !== "open");
      await send(page, word);
      const pending = page.locator("[data-pending]", { hasText: word });
      await waitFor("the pending message", () => pending.isVisible());
      assert.match(await pending.getByTestId("pending-state").textContent(), /waiting|sending/);
      await stack.startRelay();
      await waitFor(
        "the echo",
        () => page.locator(".msg.role-assistant", { hasText: `echo: ${word}` }).isVisible(),
        60_000,
      );
      await waitIdle(page);
      await waitFor(
        "the pending copy to go",
        async () => (await page.locator("[data-pending]").count()) === 0,
      );
      const users = (await shownMessages(page)).filter(
        (m) => m.role === "user" && m.text.includes(word),
      );
      assert.equal(users.length, 1, "one user message on screen");
      // A reload after it ran sends nothing again.
      await page.reload();
      await waitFor("the echo after a reload", () =>
        page.locator(".msg.role-assistant", { hasText: `echo: ${word}` }).isVisible(),
      );
      assert.equal(await page.locator("[data-pending]").count(), 0);
      const stored = await page.evaluate(async (s) => {
        const r = await window.oqto.store.request({ type: "get_messages", session: s, limit: 500 });
        return r.messages.map((m) => m.parts.map((p) => p.text ?? "").join(""));
      }, session);
      assert.equal(stored.filter((t) => t === word).length, 1, "the runner ran it once");
      assert.equal(stored.filter((t) => t === `echo: ${word}`).length, 1, "and answered once");
    },
  );
});
