// Chat in a real Chromium against the real relay, runner, pi and fake LLM: log in by link,
// a new session, streamed markdown and a tool card, abort, reload mid-stream, an XSS
// probe, and the history search with a jump to the message.

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
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test("a login link opens the app; without it the socket is refused", async () => {
  const context = await browser.newContext();
  const anon = await context.newPage();
  await anon.goto(stack.url);
  await waitFor("the not-logged-in banner", () =>
    anon.getByRole("alert").filter({ hasText: "login link" }).isVisible(),
  );
  await context.close();
  page = await loggedInPage(browser, stack);
  assert.equal(new URL(page.url()).pathname, "/", "the link redirects to / without the token");
  await waitFor("the session list", () => page.getByLabel("Filter sessions").isVisible());
});

test("new session, prompt: the tool card and the streamed markdown appear", async () => {
  await withShots(
    "new-session",
    () => page,
    async () => {
      session = await newSession(page, stack, "web test");
      await send(page, "tool:bash echo hi");
      const card = page.locator('details.tool[data-tool="bash"]');
      await waitFor("the tool card", () => card.isVisible());
      await waitFor(
        "the tool to finish",
        async () => (await card.getAttribute("data-status")) === "done",
      );
      assert.match(await card.locator("summary").textContent(), /echo hi/);
      await card.locator("summary").click();
      await waitFor("the tool output", async () =>
        /\bhi\b/.test(await card.locator(".tool-output").textContent()),
      );
      // The fake LLM answers a tool result with `done: <first line>`.
      await waitFor("the answer after the tool", () =>
        page.locator(".msg.role-assistant .md", { hasText: "done: hi" }).isVisible(),
      );
      await waitIdle(page);

      await send(page, "Some **bold** text and `code` here");
      await waitFor("markdown rendered", () =>
        page.locator(".msg.role-assistant .md strong", { hasText: "bold" }).isVisible(),
      );
      assert.equal(
        await page.locator(".msg.role-assistant .md code", { hasText: "code" }).count(),
        1,
      );
      await waitIdle(page);
      // The list shows the session with its title.
      await waitFor("the session in the list", () =>
        page.locator(`[data-session="${session}"]`, { hasText: "web test" }).isVisible(),
      );
    },
  );
});

test("abort during a slow reply stops the turn", async () => {
  await withShots(
    "abort",
    () => page,
    async () => {
      await send(page, "slow:400");
      await waitFor("the working indicator", () =>
        page.getByRole("button", { name: "Abort the turn" }).isVisible(),
      );
      await waitFor("some streamed words", async () =>
        /word3\b/.test((await page.locator(".msg.role-assistant").last().textContent()) ?? ""),
      );
      await page.getByRole("button", { name: "Abort the turn" }).click();
      await waitIdle(page);
      const stored = await storedMessages(page, session);
      assert.equal(stored.at(-1).role, "assistant");
      assert.equal(stored.at(-1).stop_reason, "aborted");
      const text = await page.locator(".msg.role-assistant").last().textContent();
      assert.ok(!/word400\b/.test(text), "the reply was cut short");
      assert.match(text, /aborted/);
    },
  );
});

test("reload mid-stream and after: the same messages, same ids, none lost or doubled", async () => {
  await withShots(
    "reload",
    () => page,
    async () => {
      await send(page, "slow:60");
      await waitFor("some streamed words", async () =>
        /word5\b/.test((await page.locator(".msg.role-assistant").last().textContent()) ?? ""),
      );
      const during = await shownMessages(page);
      await page.reload();
      await waitFor(
        "the streamed message again",
        async () => (await shownMessages(page)).length >= during.length,
      );
      await waitIdle(page);
      await waitFor("the whole reply", async () =>
        /word60\b/.test((await page.locator(".msg.role-assistant").last().textContent()) ?? ""),
      );
      const afterStream = await shownMessages(page);
      const ids = afterStream.map((m) => m.id);
      assert.equal(new Set(ids).size, ids.length, "no message shown twice");
      for (const m of during) assert.ok(ids.includes(m.id), `message ${m.id} kept its id`);
      const stored = (await storedMessages(page, session)).map((m) => m.id);
      assert.deepEqual(ids, stored, "what is shown is what the runner stored, in order");
      const last = afterStream.at(-1).text;
      assert.equal((last.match(/word1\b/g) ?? []).length, 1, "no delta applied twice");

      await page.reload();
      await waitFor(
        "the messages after a second reload",
        async () => (await shownMessages(page)).length === afterStream.length,
      );
      assert.deepEqual(await shownMessages(page), afterStream);
    },
  );
});

test("agent text cannot run script: <img onerror> and javascript: links are neutralised", async () => {
  await withShots(
    "xss",
    () => page,
    async () => {
      await send(
        page,
        'probe <img src=x onerror="window.__xss=1"> and [click me](javascript:window.__xss=2) <script>window.__xss=3</script>',
      );
      const answer = page.locator(".msg.role-assistant .md", { hasText: "click me" });
      await waitFor("the echoed probe", () => answer.isVisible());
      await waitIdle(page);
      assert.equal(await page.locator("[onerror]").count(), 0);
      assert.equal(await page.locator('a[href^="javascript:"]').count(), 0);
      assert.equal(await page.locator(".msg script").count(), 0);
      await answer.getByText("click me").click();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await page.evaluate(() => window.__xss), undefined);
      assert.deepEqual(page.errors ?? [], []);
    },
  );
});

test("history search finds a message and jumps to it", async () => {
  await withShots(
    "search",
    () => page,
    async () => {
      const word = `zebra${Date.now()}`;
      await send(page, `remember ${word} please`);
      await waitFor("the echo", () =>
        page.locator(".msg.role-assistant", { hasText: word }).isVisible(),
      );
      await waitIdle(page);
      await page.goto(`${stack.url}/`);
      await page.keyboard.press("/");
      await page.getByRole("searchbox", { name: "Search every session" }).fill(word);
      await page.getByRole("searchbox", { name: "Search every session" }).press("Enter");
      const hit = page.locator("a.hit").first();
      await waitFor("a hit", () => hit.isVisible());
      assert.match(await hit.locator("mark").first().textContent(), new RegExp(word));
      const target = await hit.getAttribute("data-message");
      await hit.click();
      await waitFor("the session page at the message", () => page.url().endsWith(`#${target}`));
      const el = page.locator(`[data-msg-id="${target}"]`);
      await waitFor("the message highlighted", async () =>
        (await el.getAttribute("class"))?.includes("highlight"),
      );
      assert.ok(await el.isVisible());
      assert.match(await el.textContent(), new RegExp(word));
    },
  );
});

test("model switch and fork from a message", async () => {
  await withShots(
    "model-fork",
    () => page,
    async () => {
      await page.goto(`${stack.url}/s/${session}`);
      await waitIdle(page);
      await page.getByRole("button", { name: "Session settings" }).click();
      const select = page.getByRole("combobox", { name: "Model" });
      await waitFor("the models", async () => (await select.locator("option").count()) >= 2);
      await select.selectOption("demo/oqto-demo-2");
      await waitFor("the new model in the header", async () =>
        (await page.locator(".chat-title").textContent()).includes("oqto-demo-2"),
      );

      // Fork before the second prompt: the new session holds the first turn only.
      const users = (await shownMessages(page)).filter((m) => m.role === "user");
      await page
        .locator(`[data-msg-id="${users[1].id}"]`)
        .getByRole("button", {
          name: "Fork: a new session with the conversation before this message",
        })
        .click();
      await waitFor("the forked session", () => !page.url().includes(session));
      const forked = decodeURIComponent(new URL(page.url()).pathname.split("/")[2]);
      assert.notEqual(forked, session);
      await waitFor("the forked session in the list", () =>
        page.locator(`[data-session="${forked}"]`).isVisible(),
      );
      await waitFor("the first turn in the fork", async () =>
        (await shownMessages(page)).some((m) => m.text.includes("done: hi")),
      );
      const texts = (await shownMessages(page)).map((m) => m.text).join("\n");
      assert.ok(
        !texts.includes(users[1].text.replace("Fork before this", "")),
        "nothing from the second prompt on",
      );
    },
  );
});
