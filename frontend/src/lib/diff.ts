// Line diffs for tool cards: `diff` parts and the inputs of edit tools. A unified view
// (removed, added and context lines with their numbers) is enough to read a change in a
// chat; the editor's merge view stays in the files pane, loaded when a file is edited.

export type DiffLine = {
  kind: "same" | "add" | "del";
  text: string;
  /** Line number in the old text (same, del) and in the new one (same, add), from 1. */
  old?: number;
  new?: number;
};

/** One change as an edit tool asked for it: a path, the text before and after. */
export type TextChange = { path: string; before: string; after: string };

/** Above this many cells of the LCS table the middle is shown as removed then added. */
const MAX_CELLS = 4_000_000;

const split = (s: string) => (s === "" ? [] : s.replace(/\n$/, "").split("\n"));

/**
 * The lines of `before` and `after`, each marked same, add or del: the common head and
 * tail are cut first, the middle is an LCS (bounded by MAX_CELLS).
 */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = split(before);
  const b = split(after);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const ops: ("same" | "add" | "del")[] = [];
  if (am.length * bm.length > MAX_CELLS) {
    for (let i = 0; i < am.length; i++) ops.push("del");
    for (let j = 0; j < bm.length; j++) ops.push("add");
  } else {
    // lcs[i][j]: the longest common subsequence of am[i..] and bm[j..].
    const w = bm.length + 1;
    const lcs = new Uint32Array((am.length + 1) * w);
    for (let i = am.length - 1; i >= 0; i--) {
      for (let j = bm.length - 1; j >= 0; j--) {
        lcs[i * w + j] =
          am[i] === bm[j]
            ? lcs[(i + 1) * w + j + 1] + 1
            : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < am.length || j < bm.length) {
      if (i < am.length && j < bm.length && am[i] === bm[j]) {
        ops.push("same");
        i++;
        j++;
      } else if (i < am.length && (j === bm.length || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) {
        // Removals before additions on a tie: the old line, then its replacement.
        ops.push("del");
        i++;
      } else {
        ops.push("add");
        j++;
      }
    }
  }
  const out: DiffLine[] = [];
  let o = 0;
  let n = 0;
  const same = () => {
    out.push({ kind: "same", text: a[o], old: o + 1, new: n + 1 });
    o++;
    n++;
  };
  for (let k = 0; k < head; k++) same();
  for (const op of ops) {
    if (op === "same") same();
    else if (op === "del") out.push({ kind: "del", text: a[o], old: ++o });
    else out.push({ kind: "add", text: b[n], new: ++n });
  }
  for (let k = 0; k < tail; k++) same();
  return out;
}

/** Only the changed lines and `context` lines around them; `null` marks a gap. */
export function hunks(lines: DiffLine[], context = 3): (DiffLine | null)[] {
  const keep = new Uint8Array(lines.length);
  lines.forEach((l, i) => {
    if (l.kind === "same") return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++)
      keep[k] = 1;
  });
  const out: (DiffLine | null)[] = [];
  lines.forEach((l, i) => {
    if (keep[i]) out.push(l);
    else if (out.length === 0 || out[out.length - 1] !== null) out.push(null);
  });
  return out;
}

export function counts(lines: DiffLine[]): { add: number; del: number } {
  let add = 0;
  let del = 0;
  for (const l of lines) {
    if (l.kind === "add") add++;
    else if (l.kind === "del") del++;
  }
  return { add, del };
}

const str = (v: unknown): v is string => typeof v === "string";

/**
 * The changes an edit tool's input asks for, or none when it is not an edit. Knows pi's
 * `edit {path, edits: [{oldText, newText}]}`, the single-edit form `{path, oldText,
 * newText}` and the `old_string`/`new_string` (Claude Code) and `old_text`/`new_text`
 * spellings; `write {path, content}` is a whole new text.
 */
export function editChanges(name: string, input: unknown): TextChange[] {
  if (!input || typeof input !== "object") return [];
  const o = input as Record<string, unknown>;
  const path = [o.path, o.file_path, o.filePath].find(str) ?? "";
  const one = (e: Record<string, unknown>): TextChange | null => {
    const before = [e.oldText, e.old_string, e.old_text].find(str);
    const after = [e.newText, e.new_string, e.new_text].find(str);
    return before !== undefined && after !== undefined ? { path, before, after } : null;
  };
  if (Array.isArray(o.edits)) {
    return o.edits
      .map((e) => (e && typeof e === "object" ? one(e as Record<string, unknown>) : null))
      .filter((c): c is TextChange => c !== null);
  }
  const single = one(o);
  if (single) return [single];
  if (/^write/i.test(name) && path && str(o.content))
    return [{ path, before: "", after: o.content }];
  return [];
}
