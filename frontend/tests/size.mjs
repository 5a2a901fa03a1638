// Measures what the first page load fetches from frontend/dist: the entry script and every
// chunk it imports statically (dynamic `import()` chunks load later and are not counted),
// plus the stylesheet, gzipped (level 9, as a server would). Fails above 100 KB of JS.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist");
const html = fs.readFileSync(path.join(dist, "index.html"), "utf8");
const gz = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;

const entry = /<script type="module"[^>]*src="\/([^"]+)"/.exec(html)?.[1];
if (!entry) throw new Error("no entry script in dist/index.html");
const seen = new Set();
const walk = (rel) => {
  if (seen.has(rel)) return;
  seen.add(rel);
  const code = fs.readFileSync(path.join(dist, rel), "utf8");
  // Static imports only: `import … from "./x.js"` and `import "./x.js"`, not `import("./x.js")`.
  for (const m of code.matchAll(
    /(?:^|[;}\s])import\s*(?:[\w${},*\s]+from\s*)?["'](\.\/[^"']+)["']/g,
  )) {
    walk(path.posix.join(path.posix.dirname(rel), m[1]));
  }
};
walk(entry);
const preloads = [...html.matchAll(/<link rel="modulepreload"[^>]*href="\/([^"]+)"/g)].map(
  (m) => m[1],
);
for (const p of preloads) walk(p);
let js = 0;
for (const f of seen) {
  const n = gz(path.join(dist, f));
  js += n;
  console.log(`${f}\t${(n / 1024).toFixed(1)} KB gzip`);
}
const css = [...html.matchAll(/<link rel="stylesheet"[^>]*href="\/([^"]+)"/g)].reduce(
  (n, m) => n + gz(path.join(dist, m[1])),
  0,
);
const lazy = fs
  .readdirSync(path.join(dist, "assets"))
  .filter((f) => f.endsWith(".js") && !seen.has(`assets/${f}`))
  .reduce((n, f) => n + gz(path.join(dist, "assets", f)), 0);
console.log(`initial JS: ${(js / 1024).toFixed(1)} KB gzip (limit 100 KB)`);
console.log(`initial CSS: ${(css / 1024).toFixed(1)} KB gzip`);
console.log(
  `lazy chunks (highlighter, files pane, editor, languages, terminal): ${(lazy / 1024).toFixed(1)} KB gzip`,
);
if (js > 100 * 1024) {
  console.error("the initial JavaScript is over 100 KB gzipped");
  process.exit(1);
}
