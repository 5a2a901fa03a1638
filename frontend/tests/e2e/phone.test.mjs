// A 390x844 touch phone: no horizontal scroll, one pane at a time, the composer on screen,
// Enter inserts a newline (sending is the button), and a prompt gets its answer.

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
  page = await loggedInPage(browser, stack, {
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
  });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

const noSideScroll = () =>
  page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

test("the phone layout works one-handed", async () => {
  await withShots(
    "phone",
    () => page,
    async () => {
      assert.ok(await noSideScroll(), "no horizontal scroll on the list");
      const session = await newSession(page, stack, "phone");
      assert.ok(await noSideScroll(), "no horizontal scroll in the chat");
      assert.equal(await page.locator(".sidebar").isVisible(), false, "one pane at a time");
      const box = page.getByRole("textbox", { name: "Message" });
      const r = await box.boundingBox();
      assert.ok(
        r && r.y + r.height <= 844 && r.y > 600,
        `composer at the bottom: ${JSON.stringify(r)}`,
      );
      await box.tap();
      await box.fill("line one");
      await box.press("Enter");
      await box.type("line two");
      assert.equal(await box.inputValue(), "line one\nline two", "Enter is a newline on touch");
      assert.equal(await page.locator(".msg").count(), 0, "nothing was sent");
      await page.getByRole("button", { name: "Send" }).tap();
      await waitFor(
        "the answer",
        () => page.locator(".msg.role-assistant", { hasText: "line two" }).isVisible(),
        60_000,
      );
      assert.ok(await noSideScroll(), "no horizontal scroll with messages");
      // Actions are buttons, not hover: back to the list, open the session's actions.
      await page.getByRole("button", { name: "Back to sessions" }).tap();
      await waitFor("the list", () => page.locator(`[data-session="${session}"]`).isVisible());
      await page.getByRole("button", { name: "Actions for phone" }).tap();
      assert.ok(await page.getByRole("button", { name: "Rename" }).isVisible());
    },
  );
});
