// The files pane over the relay's files channel: open a file from the tree, edit it in
// CodeMirror, save; a save after the file changed on disk is refused as a conflict, which
// the page shows with both versions, and the file on disk is left as it was.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { launchBrowser, loggedInPage, newSession, Stack, waitFor, withShots } from "./stack.mjs";

let stack;
let browser;
let page;

before(async () => {
  stack = new Stack();
  fs.mkdirSync(path.join(stack.workspace, "src"), { recursive: true });
  fs.writeFileSync(path.join(stack.workspace, "src/notes.md"), "first line\n");
  fs.writeFileSync(path.join(stack.workspace, "blob.bin"), Buffer.from([0, 1, 2, 255, 254]));
  await stack.startRelay();
  browser = await launchBrowser();
  page = await loggedInPage(browser, stack);
  await newSession(page, stack, "files");
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test("open, edit and save a file; a conflicting save shows the conflict", async () => {
  await withShots(
    "files",
    () => page,
    async () => {
      const file = path.join(stack.workspace, "src/notes.md");
      await page.getByRole("button", { name: "Show files" }).click();
      await page.locator('.tree-item[data-path="src"]').click();
      // The tree follows the disk (the file server's watch).
      fs.writeFileSync(path.join(stack.workspace, "src/added.txt"), "new\n");
      await waitFor("the new file in the tree", () =>
        page.locator('.tree-item[data-path="src/added.txt"]').isVisible(),
      );
      await page.locator('.tree-item[data-path="src/notes.md"]').click();
      await waitFor("the preview", async () =>
        (await page.locator(".files .preview").textContent())?.includes("first line"),
      );
      // A binary file is shown as hex.
      await page.locator('.tree-item[data-path="blob.bin"]').click();
      await waitFor("the hex view", async () =>
        (await page.locator(".files .hex").textContent())?.includes("00 01 02 ff fe"),
      );
      await page.locator('.tree-item[data-path="src/notes.md"]').click();
      await page.getByRole("button", { name: "Edit" }).click();
      const content = page.locator(".files .cm-content");
      await waitFor("the editor", () => content.isVisible());
      await content.click();
      await page.keyboard.press("Control+End");
      await page.keyboard.type("second line\n");
      await page.getByRole("button", { name: "Save" }).click();
      await waitFor("saved", async () =>
        (await page.getByRole("status").allTextContents()).includes("Saved"),
      );
      assert.equal(fs.readFileSync(file, "utf8"), "first line\nsecond line\n");

      // Someone else changes the file; our next save must not overwrite it.
      fs.writeFileSync(file, "changed elsewhere\n");
      const later = new Date(Date.now() + 5000);
      fs.utimesSync(file, later, later);
      await content.click();
      await page.keyboard.press("Control+End");
      await page.keyboard.type("third line\n");
      await page.getByRole("button", { name: "Save" }).click();
      const conflict = page.locator(".files .conflict");
      await waitFor("the conflict", () => conflict.isVisible());
      assert.match(await conflict.textContent(), /Conflict/);
      await waitFor("both versions side by side", async () =>
        (await page.locator(".files .merge").textContent())?.includes("changed elsewhere"),
      );
      assert.match(await page.locator(".files .merge").textContent(), /third line/);
      assert.equal(fs.readFileSync(file, "utf8"), "changed elsewhere\n", "disk left alone");

      // Overwriting is an explicit choice.
      await page.getByRole("button", { name: "Overwrite with mine" }).click();
      await waitFor(
        "saved over",
        () => fs.readFileSync(file, "utf8") === "first line\nsecond line\nthird line\n",
      );
    },
  );
});
