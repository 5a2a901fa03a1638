// CodeMirror 6, loaded only when a file is opened for editing (its own chunk), with the
// language picked by the file name and the merge view for a conflicting save.

import { MergeView } from "@codemirror/merge";
import { EditorState, type Extension } from "@codemirror/state";
import { basicSetup, EditorView } from "codemirror";

async function language(path: string): Promise<Extension[]> {
  const ext = path.split(".").pop()?.toLowerCase() ?? "";
  switch (ext) {
    case "js":
    case "mjs":
    case "jsx":
      return [(await import("@codemirror/lang-javascript")).javascript({ jsx: true })];
    case "ts":
    case "tsx":
      return [
        (await import("@codemirror/lang-javascript")).javascript({
          typescript: true,
          jsx: ext === "tsx",
        }),
      ];
    case "json":
      return [(await import("@codemirror/lang-json")).json()];
    case "md":
      return [(await import("@codemirror/lang-markdown")).markdown()];
    case "py":
      return [(await import("@codemirror/lang-python")).python()];
    case "rs":
      return [(await import("@codemirror/lang-rust")).rust()];
    default:
      return [];
  }
}

export interface Editor {
  text(): string;
  set(text: string): void;
  destroy(): void;
}

export async function createEditor(
  parent: HTMLElement,
  path: string,
  text: string,
  onChange: () => void,
  dark: boolean,
): Promise<Editor> {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        basicSetup,
        ...(await language(path)),
        EditorView.theme({}, { dark }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange();
        }),
        EditorView.contentAttributes.of({ "aria-label": `Contents of ${path}` }),
      ],
    }),
  });
  return {
    text: () => view.state.doc.toString(),
    set: (t) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: t } }),
    destroy: () => view.destroy(),
  };
}

/** Side by side: the file as it is now on disk (a), and the user's version (b). */
export function showMerge(parent: HTMLElement, onDisk: string, mine: string): () => void {
  const mv = new MergeView({
    parent,
    a: {
      doc: onDisk,
      extensions: [basicSetup, EditorState.readOnly.of(true), EditorView.editable.of(false)],
    },
    b: {
      doc: mine,
      extensions: [basicSetup, EditorState.readOnly.of(true), EditorView.editable.of(false)],
    },
  });
  return () => mv.destroy();
}
