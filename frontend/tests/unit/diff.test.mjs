// Line diffs for tool cards: the diff itself, the hunks around changes, and the changes
// read from edit tools' inputs.

import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./load.mjs";

const { lineDiff, hunks, counts, editChanges } = await load("lib/diff.ts");

const show = (lines) =>
  lines.map((l) => (l === null ? "…" : `${{ same: " ", add: "+", del: "-" }[l.kind]}${l.text}`));

test("a changed line in the middle is a removal and an addition, numbered on both sides", () => {
  const d = lineDiff("a\nb\nc\n", "a\nB\nc\n");
  assert.deepEqual(show(d), [" a", "-b", "+B", " c"]);
  assert.deepEqual(
    d.map((l) => [l.old, l.new]),
    [
      [1, 1],
      [2, undefined],
      [undefined, 2],
      [3, 3],
    ],
  );
  assert.deepEqual(counts(d), { add: 1, del: 1 });
});

test("insertions and deletions between common lines follow the longest common subsequence", () => {
  assert.deepEqual(show(lineDiff("x\na\ny\nb\nz", "a\nq\nb\nz\nw")), [
    "-x",
    " a",
    "-y",
    "+q",
    " b",
    " z",
    "+w",
  ]);
  assert.deepEqual(show(lineDiff("", "new\nfile")), ["+new", "+file"]);
  assert.deepEqual(show(lineDiff("gone", "")), ["-gone"]);
  assert.deepEqual(
    lineDiff("same", "same").map((l) => l.kind),
    ["same"],
  );
});

test("hunks keep three lines of context and mark the gaps", () => {
  const before = Array.from({ length: 20 }, (_, i) => `l${i + 1}`).join("\n");
  const after = before.replace("l10", "L10");
  assert.deepEqual(show(hunks(lineDiff(before, after))), [
    "…",
    " l7",
    " l8",
    " l9",
    "-l10",
    "+L10",
    " l11",
    " l12",
    " l13",
    "…",
  ]);
});

test("edit tool inputs: pi's edits, single edits in three spellings, write", () => {
  assert.deepEqual(
    editChanges("edit", {
      path: "a.txt",
      edits: [
        { oldText: "x", newText: "y" },
        { oldText: "1", newText: "2" },
      ],
    }),
    [
      { path: "a.txt", before: "x", after: "y" },
      { path: "a.txt", before: "1", after: "2" },
    ],
  );
  assert.deepEqual(editChanges("Edit", { file_path: "/b", old_string: "o", new_string: "n" }), [
    { path: "/b", before: "o", after: "n" },
  ]);
  assert.deepEqual(editChanges("edit", { path: "c", old_text: "o", new_text: "n" }), [
    { path: "c", before: "o", after: "n" },
  ]);
  assert.deepEqual(editChanges("write", { path: "d", content: "hi" }), [
    { path: "d", before: "", after: "hi" },
  ]);
  assert.deepEqual(editChanges("bash", { command: "ls" }), []);
  assert.deepEqual(editChanges("edit", null), []);
  assert.deepEqual(editChanges("edit", { path: "e", edits: [{ oldText: "only" }] }), []);
});
