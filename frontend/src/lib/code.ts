// Code blocks in rendered markdown: copy buttons at once, highlighting once the text is
// final (highlight.js is loaded on first use).

let hl: Promise<typeof import("./hl")> | null = null;
export function loadHighlighter() {
  hl ??= import("./hl");
  return hl;
}

/** Adds a copy button to each <pre> in `root`, and highlights them when `final`. */
export function decorateCode(root: HTMLElement, final: boolean) {
  const pres = root.querySelectorAll("pre");
  if (pres.length === 0) return;
  for (const pre of pres) {
    if (!pre.querySelector(":scope > button.copy")) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "copy";
      b.textContent = "Copy";
      b.setAttribute("aria-label", "Copy code");
      pre.prepend(b);
    }
  }
  if (!final) return;
  void loadHighlighter().then(({ highlight }) => {
    for (const code of root.querySelectorAll<HTMLElement>("pre > code")) {
      if (code.dataset.hl) continue;
      const lang = /language-([\w+-]+)/.exec(code.className)?.[1] ?? "";
      const html = highlight(code.textContent ?? "", lang);
      code.dataset.hl = "1";
      if (html !== null) {
        code.innerHTML = html;
        code.classList.add("hljs");
      }
    }
  });
}

/** Click handler for copy buttons (delegated from the message list). */
export function onCopyClick(ev: MouseEvent) {
  const b = (ev.target as HTMLElement).closest("button.copy");
  if (!b) return;
  const code = b.parentElement?.querySelector("code")?.textContent ?? "";
  void navigator.clipboard?.writeText(code).then(
    () => {
      b.textContent = "Copied";
      setTimeout(() => {
        b.textContent = "Copy";
      }, 1200);
    },
    () => {
      b.textContent = "Copy failed";
    },
  );
}
