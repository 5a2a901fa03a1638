// Agent text is untrusted: markdown goes through marked, then DOMPurify, and only then
// into the page. While a message streams, its text is usually cut in the middle of
// something (an open code fence, a half-written link); `repairMarkdown` closes what is
// open so the partial text renders as what it will become instead of jumping around.

import DOMPurify from "dompurify";
import { Marked } from "marked";

const marked = new Marked({ gfm: true, breaks: false, async: false });

/** Closes what a cut-off markdown text left open. Pure; the text itself is not changed. */
export function repairMarkdown(text: string): string {
  let out = text;
  // An open fenced code block: close it (the fence must match the one that opened it).
  const fences = [...out.matchAll(/^( {0,3})(`{3,}|~{3,})/gm)];
  let open: string | null = null;
  for (const f of fences) {
    const mark = f[2];
    if (open === null) open = mark;
    else if (mark[0] === open[0] && mark.length >= open.length) open = null;
  }
  if (open !== null) return `${out}${out.endsWith("\n") ? "" : "\n"}${open}\n`;

  // The rest only concerns the last paragraph.
  const lastBreak = out.lastIndexOf("\n\n");
  const head = out.slice(0, lastBreak + 1);
  let tail = out.slice(lastBreak + 1);
  // A link or image whose target is not finished: show its text only.
  tail = tail.replace(/!?\[([^\]\n]*)\]\([^)\n]*$/, "$1");
  tail = tail.replace(/!?\[([^\]\n]*)$/, "$1");
  // Unbalanced inline code, then emphasis markers.
  const ticks = (tail.match(/`/g) ?? []).length;
  if (ticks % 2 === 1) tail += "`";
  else {
    const code = tail.replace(/`[^`]*`/g, "");
    for (const mark of ["**", "__", "~~"]) {
      const n = code.split(mark).length - 1;
      if (n % 2 === 1) tail = tail.replace(/\s+$/, "") + mark;
    }
    const single = code.replace(/\*\*|__/g, "");
    const stars = (single.match(/(^|[^\\*])\*(?=\S)/g) ?? []).length;
    const closers = (single.match(/\S\*(?!\*)/g) ?? []).length;
    if (stars > closers) tail = `${tail.replace(/\s+$/, "")}*`;
  }
  out = head + tail;
  return out;
}

let hooked = false;
function hook() {
  if (hooked) return;
  hooked = true;
  // Links open in a new tab without handing it this page.
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      const href = node.getAttribute("href") ?? "";
      if (!/^(https?:|mailto:|#|\/)/i.test(href)) node.removeAttribute("href");
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
    if (node.tagName === "IMG") {
      const src = node.getAttribute("src") ?? "";
      // No remote fetches from agent text (tracking pixels); inline images only.
      if (!/^data:image\/(png|jpeg|gif|webp);/i.test(src)) node.removeAttribute("src");
    }
  });
}

const PURIFY = {
  ALLOWED_TAGS: [
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "input",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
  ],
  ALLOWED_ATTR: ["href", "title", "alt", "src", "class", "type", "checked", "disabled", "align"],
  ALLOW_DATA_ATTR: false,
};

/** Markdown to sanitised HTML. `streaming` repairs a cut-off text first. */
export function renderMarkdown(text: string, streaming = false): string {
  hook();
  const src = streaming ? repairMarkdown(text) : text;
  const html = marked.parse(src) as string;
  return DOMPurify.sanitize(html, PURIFY) as string;
}

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );
}

/** A search snippet (hits in `[` `]`) as HTML with the hits in <mark>. */
export function snippetHtml(snippet: string): string {
  return escapeHtml(snippet).replace(/\[([^\]]*)\]/g, "<mark>$1</mark>");
}
