// The password login page: a wrong password is refused and said so; the right one sets the
// cookie and the app connects.

import assert from "node:assert/strict";
import os from "node:os";
import { after, before, test } from "node:test";
import { launchBrowser, Stack, waitFor, withShots } from "./stack.mjs";

let stack;
let browser;
let page;

before(async () => {
  stack = new Stack();
  await stack.startRelay();
  stack.setPassword("correct horse battery");
  browser = await launchBrowser();
  page = await (await browser.newContext()).newPage();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test("log in with a password", async () => {
  await withShots(
    "login",
    () => page,
    async () => {
      await page.goto(stack.url);
      await page.getByRole("link", { name: "log in with your password" }).click();
      assert.equal(new URL(page.url()).pathname, "/login");
      const form = page.getByRole("region", { name: "Log in" });
      await form.getByLabel("Name").fill(os.userInfo().username);
      await form.getByLabel("Password").fill("wrong password");
      await form.getByRole("button", { name: "Log in" }).click();
      await waitFor("the refusal", async () =>
        (await form.getByRole("alert").textContent()).includes("Wrong name or password"),
      );
      await form.getByLabel("Password").fill("correct horse battery");
      await form.getByRole("button", { name: "Log in" }).click();
      await waitFor("the app, connected", () => page.locator('[data-status="open"]').isVisible());
      assert.equal(new URL(page.url()).pathname, "/");
    },
  );
});
