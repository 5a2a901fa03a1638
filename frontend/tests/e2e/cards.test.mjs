// Tool cards that show changes, in a real Chromium against the real relay, runner, pi and
// fake LLM: pi's `edit` tool card shows its change as a diff; and a recorded ACP turn with
// a `plan` and a `diff` part (no agent here emits those: pi has no plans, the scripted ACP
// agent no tool calls) fed into the page's store renders as a checklist and a diff.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
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

let stack;
let browser;
let page;
let session;

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

test("pi's edit tool card shows the change as a diff", async () => {
  await withShots(
    "edit-diff",
    () => page,
    async () => {
      const file = path.join(stack.workspace, "notes.txt");
      fs.writeFileSync(file, "alpha\nbeta\ngamma\n");
      session = await newSession(page, stack, "diffs");
      await send(
        page,
        'tool:edit {"path":"notes.txt","edits":[{"oldText":"beta","newText":"BETA\\nbeta2"}]}',
      );
      const card = page.locator('details.tool[data-tool="edit"]');
      await waitFor("the edit card", () => card.isVisible());
      await waitFor(
        "the edit to finish",
        async () => (await card.getAttribute("data-status")) === "done",
      );
      await waitIdle(page);
      assert.equal(fs.readFileSync(file, "utf8"), "alpha\nBETA\nbeta2\ngamma\n", "pi edited");
      await card.locator("summary").click();
      const diff = card.locator(".diff");
      await waitFor("the diff", () => diff.isVisible());
      assert.equal(await diff.getAttribute("data-path"), "notes.txt");
      assert.deepEqual(await diff.locator(".dl-del").allTextContents(), ["-beta"]);
      assert.deepEqual(await diff.locator(".dl-add").allTextContents(), ["+BETA", "+beta2"]);
      assert.match(await diff.locator(".diff-head").textContent(), /\+2\s*−1/);
    },
  );
});

test("a recorded ACP turn's plan and diff parts render as a checklist and a diff", async () => {
  await withShots(
    "plan-diff",
    () => page,
    async () => {
      const plan = {
        type: "plan",
        id: "prt_plan",
        entries: [
          { content: "Read the config", priority: "medium", status: "completed" },
          { content: "Fix the parser", priority: "high", status: "in_progress" },
          { content: "Run the tests", priority: "low", status: "pending" },
        ],
      };
      const diff = {
        type: "diff",
        id: "prt_diff",
        call_id: "call_1",
        path: "/work/src/parse.rs",
        old_text: "fn parse() {\n    todo!()\n}\n",
        new_text: "fn parse() {\n    Ok(())\n}\n",
      };
      await page.evaluate(
        ({ session, plan, diff }) => {
          const store = window.oqto.store;
          let seq = store.views.get(session).model.lastSeq;
          const ev = (type, f) => ({ type, ...f, session, seq: ++seq, ts: Date.now() });
          const message = {
            id: "msg_recorded",
            session,
            role: "assistant",
            parts: [plan, diff],
            created_at: Date.now(),
            stop_reason: "stop",
          };
          for (const e of [
            ev("message.start", { message_id: message.id, role: "assistant" }),
            ev("part.start", { message_id: message.id, part: plan }),
            ev("part.end", { message_id: message.id, part: plan }),
            ev("part.start", { message_id: message.id, part: diff }),
            ev("part.end", { message_id: message.id, part: diff }),
            ev("message.end", { message }),
          ])
            store.onEvent(e);
        },
        { session, plan, diff },
      );
      const list = page.getByRole("region", { name: "Plan" });
      await waitFor("the plan", () => list.isVisible());
      assert.match(await list.locator(".tool-label").textContent(), /1\/3 done/);
      const items = await list
        .locator("li")
        .evaluateAll((els) =>
          els.map((e) => [e.dataset.status, e.querySelector(".plan-text").textContent]),
        );
      assert.deepEqual(items, [
        ["completed", "Read the config"],
        ["in_progress", "Fix the parser"],
        ["pending", "Run the tests"],
      ]);
      assert.equal(await list.getByRole("img", { name: "in progress" }).count(), 1);
      const d = page.locator('.msg .diff[data-path="/work/src/parse.rs"]');
      await waitFor("the diff part", () => d.isVisible());
      // Numbered: old line, new line, mark, text.
      assert.deepEqual(await d.locator(".dl-del").allTextContents(), ["2-    todo!()"]);
      assert.deepEqual(await d.locator(".dl-add").allTextContents(), ["2+    Ok(())"]);
      assert.equal(await d.locator(".dl-same").count(), 2);
    },
  );
});
