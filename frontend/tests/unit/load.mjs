// Bundles a TypeScript module of src/ with esbuild (the one Vite uses) into a temp file
// and imports it, so `node --test` can test the stores without a browser. Solid's browser
// build is used: its signals work in node without a DOM.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src");
const out = fs.mkdtempSync(path.join(os.tmpdir(), "oqto-unit-"));
process.on("exit", () => fs.rmSync(out, { recursive: true, force: true }));

export async function load(rel, options = {}) {
  const file = path.join(out, `${rel.replace(/\W+/g, "_")}.mjs`);
  await build({
    entryPoints: [path.join(src, rel)],
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["browser", "import", "default"],
    outfile: file,
    logLevel: "error",
    ...options,
  });
  return import(pathToFileURL(file).href);
}

/** An IIFE bundle of a module as text, exposing its exports as `globalThis[name]`. */
export async function bundleForBrowser(rel, name) {
  const r = await build({
    entryPoints: [path.join(src, rel)],
    bundle: true,
    format: "iife",
    globalName: name,
    platform: "browser",
    write: false,
    logLevel: "error",
  });
  return r.outputFiles[0].text;
}
