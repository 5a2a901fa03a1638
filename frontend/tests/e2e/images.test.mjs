// Images in the composer, in a real Chromium against the real relay, runner, pi and fake
// LLM: an image pasted into a pi session is sent as the prompt's `images` and comes back
// in the stored user message; one dropped on a session of the fake agent (whose agent has
// no `images` capability) is refused with a visible message and nothing runs.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  launchBrowser,
  loggedInPage,
  newSession,
  Stack,
  send,
  waitFor,
  waitIdle,
  withShots,
} from "./stack.mjs";

// A 1×1 PNG.
const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

let stack;
let browser;
let page;

before(async () => {
  stack = new Stack();
  await stack.startRelay();
  browser = await launchBrowser();
  page = await loggedInPage(browser, stack);
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** Dispatches a paste (on the message box) or a drop (on the composer) carrying a PNG. */
function deliver(how) {
  return page.evaluate(
    ({ how, png }) => {
      const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], "dot.png", { type: "image/png" }));
      const init = { bubbles: true, cancelable: true };
      if (how === "paste") {
        document
          .querySelector('textarea[aria-label="Message"]')
          .dispatchEvent(new ClipboardEvent("paste", { ...init, clipboardData: dt }));
      } else {
        document
          .querySelector("form.composer")
          .dispatchEvent(new DragEvent("drop", { ...init, dataTransfer: dt }));
      }
    },
    { how, png: PNG },
  );
}

test("a pasted image goes with the prompt to pi and is stored", async () => {
  await withShots(
    "image-paste",
    () => page,
    async () => {
      const session = await newSession(page, stack, "images");
      await deliver("paste");
      const thumb = page.locator(".attachments img");
      await waitFor("the thumbnail", () => thumb.isVisible());
      assert.equal(await thumb.getAttribute("alt"), "dot.png");
      await send(page, "what is in this picture");
      await waitFor("the attachment to go", async () => (await thumb.count()) === 0);
      await waitFor("the image in the user message", () =>
        page.locator(".msg.role-user img.inline-image").isVisible(),
      );
      await waitIdle(page);
      const stored = await page.evaluate(async (s) => {
        const r = await window.oqto.store.request({ type: "get_messages", session: s, limit: 10 });
        return r.messages.filter((m) => m.role === "user").map((m) => m.parts);
      }, session);
      assert.equal(stored.length, 1);
      const image = stored[0].find((p) => p.type === "image");
      assert.ok(image, `an image part in ${JSON.stringify(stored[0])}`);
      assert.equal(image.mime_type, "image/png");
      assert.equal(image.data, PNG);
    },
  );
});

test("an image dropped on a session whose agent takes none is refused, visibly", async () => {
  // The runner's welcome offers `images` for every kind of harness (what its protocol can
  // carry); the fake agent declares no `images` in its `ready`, so the runner refuses the
  // prompt (`unsupported`) and the page shows it as not sent, with the reason.
  await withShots(
    "image-refused",
    () => page,
    async () => {
      const first = new URL(page.url()).pathname;
      await newSession(page, stack, "no images", "fake");
      await waitFor("the new session's page", () => new URL(page.url()).pathname !== first);
      const session = decodeURIComponent(new URL(page.url()).pathname.split("/")[2]);
      await deliver("drop");
      await waitFor("the thumbnail", () => page.locator(".attachments img").isVisible());
      await send(page, "look at this");
      const pending = page.locator(".pending", { hasText: "look at this" });
      await waitFor("the refusal", async () => /not sent/.test(await pending.textContent()));
      assert.match(await pending.textContent(), /not sent: unsupported/);
      assert.match(await pending.textContent(), /with 1 image \(this session's agent may not/);
      const stored = await page.evaluate(async (s) => {
        const r = await window.oqto.store.request({ type: "get_messages", session: s, limit: 10 });
        return r.messages.map((m) => `${m.role}: ${JSON.stringify(m.parts)}`);
      }, session);
      assert.deepEqual(stored, [], "nothing ran");
      const out = await page.evaluate(() =>
        window.oqto.store.outbox.items.map((i) => [i.session, i.images?.length]),
      );
      assert.deepEqual(out, [[session, 1]], "the image stays with the failed prompt");
    },
  );
});
