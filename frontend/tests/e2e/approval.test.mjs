// An ACP agent asks for permission (the scripted ACP agent, `oqto-fake-agent --acp`, through
// the runner's ACP adapter): the page shows an approval card with the agent's options; a
// click answers it, the card says how it was answered, and the turn goes on. A reload while
// the agent waits brings the card back.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  acpHarness,
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

before(async () => {
  stack = new Stack(acpHarness());
  await stack.startRelay();
  browser = await launchBrowser();
  page = await loggedInPage(browser, stack);
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test("an approval card is granted and the turn goes on", async () => {
  await withShots(
    "approval",
    () => page,
    async () => {
      await newSession(page, stack, "approval", "acp");
      await send(page, "ask");
      const card = page.locator("section.permission");
      await waitFor("the approval card", () => card.isVisible());
      await waitFor("the phase", async () =>
        (await page.getByTestId("phase").textContent())?.includes("awaiting permission"),
      );
      assert.equal(await card.getByRole("button").count(), 2);
      // A reload while the agent waits: the card comes back from the session's snapshot.
      await page.reload();
      await waitFor("the approval card after the reload", () => card.isVisible());
      await card.getByRole("button", { name: "Allow" }).click();
      await waitFor("the answer on the card", async () =>
        /Answered: Allow, by \S+/.test(await card.textContent()),
      );
      assert.equal(await card.getByRole("button").count(), 0, "no buttons once answered");
      await waitFor("the turn to go on", () =>
        page.locator(".msg.role-assistant", { hasText: "granted: yes" }).isVisible(),
      );
      await waitIdle(page);
    },
  );
});
