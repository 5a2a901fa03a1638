// Scrolling back through a long session in a real Chromium against the real relay and
// runner: a pi session of 400 messages imported with `oqtoctl history import pi`, opened,
// then the mouse wheel: each older page is prepended without moving what is on screen,
// and the wheel goes on loading pages until the first message.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  importPi,
  launchBrowser,
  loggedInPage,
  Stack,
  waitFor,
  withShots,
  writePiSession,
} from "./stack.mjs";

const N = 400;
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

test("the wheel loads older pages in place, back to the first message", async () => {
  await withShots(
    "scrollback",
    () => page,
    async () => {
      const dir = path.join(stack.root, "pi-agent");
      writePiSession(dir, stack.workspace, N, (i) => `line ${i}`);
      importPi(stack, dir);
      await waitFor("the imported session in the list", () =>
        page.getByRole("button", { name: "Open session line 0" }).first().isVisible(),
      );
      await page.getByRole("button", { name: "Open session line 0" }).first().click();
      const last = page.locator(".msg", { hasText: `line ${N - 1}` });
      await waitFor("the newest message", () => last.isVisible());
      const loaded = () =>
        page.evaluate(() => document.querySelector(".vlist").textContent.match(/line \d+/g));
      const box = await page.locator(".messages").boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      let pages = 0;
      let shiftsChecked = 0;
      let wheels = 0;
      // Pages are counted by the list growing between two looks, so a page that lands
      // after the wait below gave up still counts.
      let lastSeen = -1;
      for (;;) {
        const count = await page.evaluate(
          () => window.oqto.store.views.values().next().value.model.order.length,
        );
        if (lastSeen >= 0 && count > lastSeen) pages++;
        lastSeen = count;
        if (count === N) break;
        // The message at the top of the viewport before and after a page comes in.
        const anchor = await page.evaluate(() => {
          const list = document.querySelector(".vlist");
          const top = list.getBoundingClientRect().top;
          const el = [...list.querySelectorAll("[data-msg-id]")].find(
            (e) => e.getBoundingClientRect().bottom > top + 1,
          );
          return el && { id: el.dataset.msgId, y: el.getBoundingClientRect().top };
        });
        await page.mouse.wheel(0, -400);
        await page.waitForTimeout(30);
        const size = () =>
          page.evaluate(() => window.oqto.store.views.values().next().value.model.order.length);
        let now = await size();
        // Near the top a page is asked for; wait for it.
        const nearTop = await page.evaluate(() => document.querySelector(".vlist").scrollTop < 200);
        for (let t = 0; nearTop && t < 20 && now === count; t++) {
          await page.waitForTimeout(50);
          now = await page.evaluate(
            () => window.oqto.store.views.values().next().value.model.order.length,
          );
        }
        if (now > count) {
          if (anchor) {
            const y = await page.evaluate(
              (id) => document.getElementById(id)?.getBoundingClientRect().top ?? null,
              anchor.id,
            );
            assert.notEqual(y, null, "the message that was on screen is still rendered");
            // The wheel moved it down by at most 400 px; the new page above it did not move
            // it further (without keeping the position it would be thousands of px down).
            assert.ok(Math.abs(y - anchor.y) <= 450, `moved from ${anchor.y} to ${y}`);
            shiftsChecked++;
          }
        }
        assert.ok(++wheels < 400, `stuck after ${pages} older pages`);
      }
      assert.ok(pages >= 3, `${pages} older pages loaded`);
      assert.ok(shiftsChecked >= 1);
      await waitFor("the first message", async () => {
        await page.mouse.wheel(0, -5000);
        return (await loaded())?.includes("line 0");
      });
    },
  );
});
