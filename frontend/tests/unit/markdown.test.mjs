// The markdown pipeline: the repair of cut-off text (in node), and marked + DOMPurify in a
// real Chromium (DOMPurify needs a real DOM to be trusted).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { bundleForBrowser, load } from "./load.mjs";

const { repairMarkdown, snippetHtml } = await load("lib/markdown.ts");
const { parse, href } = await load("lib/router.ts");

test("repair closes what a cut-off text left open", () => {
  assert.equal(repairMarkdown("look:\n```rust\nfn main() {"), "look:\n```rust\nfn main() {\n```\n");
  assert.equal(repairMarkdown("~~~~\ncode\n~~~\nmore"), "~~~~\ncode\n~~~\nmore\n~~~~\n");
  assert.equal(repairMarkdown("```\ndone\n```\nafter"), "```\ndone\n```\nafter");
  assert.equal(repairMarkdown("run `cargo te"), "run `cargo te`");
  assert.equal(repairMarkdown("this is **bol"), "this is **bol**");
  assert.equal(repairMarkdown("an *emph"), "an *emph*");
  assert.equal(repairMarkdown("see [the docs](https://exa"), "see the docs");
  assert.equal(repairMarkdown("see [the do"), "see the do");
  assert.equal(repairMarkdown("a **b** and `c` done."), "a **b** and `c` done.");
  // Only the last paragraph is looked at.
  assert.equal(repairMarkdown("**a\n\nplain"), "**a\n\nplain");
});

test("search snippets are escaped; only the hits are marked", () => {
  assert.equal(
    snippetHtml("…<img src=x onerror=alert(1)> [build.sh] runs…"),
    "…&lt;img src=x onerror=alert(1)&gt; <mark>build.sh</mark> runs…",
  );
});

test("routes round-trip, deep links included", () => {
  const r = parse("/s/ses_01", "#msg_7", "");
  assert.deepEqual(r, { name: "session", session: "ses_01", message: "msg_7" });
  assert.equal(href(r), "/s/ses_01#msg_7");
  assert.deepEqual(parse("/search", "", "?q=a%20b"), { name: "search", query: "a b" });
  assert.deepEqual(parse("/elsewhere", "", ""), { name: "home" });
});

let browser;
let page;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--disable-dev-shm-usage", "--no-sandbox"],
  });
  page = await browser.newPage();
  await page.setContent("<!doctype html><html><body></body></html>");
  await page.addScriptTag({ content: await bundleForBrowser("lib/markdown.ts", "md") });
});
after(async () => browser?.close());

const render = (text, streaming = false) =>
  page.evaluate(([t, s]) => globalThis.md.renderMarkdown(t, s), [text, streaming]);

test("markdown renders; raw HTML and script URLs do not survive", async () => {
  assert.match(
    await render("**bold** and `code`"),
    /<strong>bold<\/strong> and <code>code<\/code>/,
  );
  const probes = [
    '<img src=x onerror="window.hit=1">',
    "[click](javascript:window.hit=2)",
    "[click](JaVaScRiPt:window.hit=3)",
    "<script>window.hit=4</script>",
    '<a href="javascript:window.hit=5">x</a>',
    "<svg><animate onbegin=window.hit=6 attributeName=x dur=1s>",
    "![i](javascript:window.hit=7)",
    '<iframe src="data:text/html,<script>parent.hit=8</script>"></iframe>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  ];
  for (const p of probes) {
    const html = await render(p);
    assert.doesNotMatch(
      html,
      /onerror|onbegin|javascript:|<script|<iframe|<svg|data:text/i,
      `${p} -> ${html}`,
    );
    // Put it in the page for real: nothing runs.
    await page.evaluate((h) => {
      const d = document.createElement("div");
      d.innerHTML = h;
      document.body.append(d);
      for (const a of d.querySelectorAll("a")) a.click();
    }, html);
  }
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => globalThis.hit), undefined);
  const link = await render("[docs](https://example.com)");
  assert.match(link, /href="https:\/\/example.com"/);
  assert.match(link, /rel="noopener noreferrer nofollow"/);
});

test("streaming text renders as what it will become", async () => {
  const html = await render("```js\nlet a = 1;", true);
  assert.match(html, /<pre><code class="language-js">let a = 1;\n<\/code><\/pre>/);
  assert.match(await render("so **bo", true), /<strong>bo<\/strong>/);
});
