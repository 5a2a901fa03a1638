import { createEffect, createSignal, For, type JSX, on, onCleanup, Show } from "solid-js";
import { loadHighlighter } from "../lib/code";
import { RequestError } from "../lib/conn";
import { decodeText, Files, hexDump } from "../lib/files";
import { effectiveTheme } from "../lib/theme";
import type { Entry } from "../protocol/protocol";
import { useStore } from "./ctx";
import type { Editor } from "./editor";

interface Opened {
  path: string;
  mime: string;
  size: number;
  mtime: number;
  text: string | null;
  bytes: Uint8Array;
}

function join(dir: string, name: string) {
  return dir ? `${dir}/${name}` : name;
}

function Dir(props: {
  files: Files;
  path: string;
  gitignore: boolean;
  depth: number;
  onOpen: (path: string) => void;
  selected: string | null;
  refresh: number;
}): JSX.Element {
  const [entries, setEntries] = createSignal<Entry[] | null>(null);
  const [error, setError] = createSignal("");
  const [open, setOpen] = createSignal<Set<string>>(new Set());
  createEffect(
    on(
      () => [props.gitignore, props.refresh] as const,
      async () => {
        try {
          setEntries(await props.files.list(props.path, props.gitignore));
          setError("");
        } catch (e) {
          setError((e as Error).message);
        }
      },
    ),
  );
  const toggle = (name: string) => {
    const next = new Set(open());
    if (next.has(name)) next.delete(name);
    else next.add(name);
    setOpen(next);
  };
  return (
    <ul class="tree">
      <Show when={error()}>
        <li class="error">{error()}</li>
      </Show>
      <Show when={entries() === null && !error()}>
        <li class="muted">…</li>
      </Show>
      <For each={entries() ?? []}>
        {(e) => {
          const path = join(props.path, e.name);
          return (
            <li>
              <button
                type="button"
                class="tree-item"
                classList={{ dir: e.kind === "dir", selected: props.selected === path }}
                style={{ "padding-left": `${0.5 + props.depth}rem` }}
                data-path={path}
                aria-expanded={e.kind === "dir" ? open().has(e.name) : undefined}
                onClick={() => (e.kind === "dir" ? toggle(e.name) : props.onOpen(path))}
              >
                {e.kind === "dir" ? (open().has(e.name) ? "▾ " : "▸ ") : ""}
                {e.name}
              </button>
              <Show when={e.kind === "dir" && open().has(e.name)}>
                <Dir {...props} path={path} depth={props.depth + 1} />
              </Show>
            </li>
          );
        }}
      </For>
    </ul>
  );
}

/** A text file, highlighted by its extension once the highlighter has loaded. */
function Preview(props: { path: string; text: string }) {
  let code!: HTMLElement;
  createEffect(() => {
    const { path, text } = props;
    code.textContent = text;
    code.classList.remove("hljs");
    if (text.length > 512 * 1024) return;
    void loadHighlighter().then(({ highlight, langForPath }) => {
      if (code.textContent !== text) return;
      const html = highlight(text, langForPath(path));
      if (html !== null) {
        code.innerHTML = html;
        code.classList.add("hljs");
      }
    });
  });
  return (
    <pre class="preview">
      <code ref={code} />
    </pre>
  );
}

export default function FilesPane(props: {
  session: string;
  open: string | null;
  onClose: () => void;
}): JSX.Element {
  const store = useStore();
  const files = new Files(store.conn, props.session);
  const [gitignore, setGitignore] = createSignal(true);
  const [refresh, setRefresh] = createSignal(0);
  const [file, setFile] = createSignal<Opened | null>(null);
  const [error, setError] = createSignal("");
  const [status, setStatus] = createSignal("");
  const [dirty, setDirty] = createSignal(false);
  const [conflict, setConflict] = createSignal<string | null>(null);
  const [editing, setEditing] = createSignal(false);
  let editorEl!: HTMLDivElement;
  let mergeEl!: HTMLDivElement;
  let editor: Editor | null = null;
  let closeMerge: (() => void) | null = null;

  const dropEditor = () => {
    editor?.destroy();
    editor = null;
    closeMerge?.();
    closeMerge = null;
    setEditing(false);
    setConflict(null);
    setDirty(false);
  };
  onCleanup(dropEditor);

  // Live updates: the tree reloads (at most every 300 ms) when the workspace changes.
  let watchId: string | null = null;
  let pendingRefresh: ReturnType<typeof setTimeout> | undefined;
  const stopListening = store.conn.onFiles((root, msg) => {
    if (root !== props.session) return;
    if ((msg.type === "watch.changes" || msg.type === "watch.overflow") && msg.watch === watchId) {
      pendingRefresh ??= setTimeout(() => {
        pendingRefresh = undefined;
        setRefresh((n) => n + 1);
      }, 300);
    }
  });
  const startWatch = async () => {
    try {
      watchId = await files.watch("");
    } catch {
      watchId = null; // the tree still works; it just does not update by itself
    }
  };
  void startWatch();
  // A new connection has a new file server: watch again.
  const stopReady = store.conn.onReady(() => {
    if (watchId !== null) void startWatch();
  });
  onCleanup(() => {
    stopListening();
    stopReady();
    clearTimeout(pendingRefresh);
    if (watchId) void files.unwatch(watchId).catch(() => {});
    watchId = null;
  });

  const openFile = async (path: string) => {
    if (dirty() && !confirm("Discard unsaved changes?")) return;
    dropEditor();
    setError("");
    setStatus("");
    try {
      const { bytes, info } = await files.read(path, 4 * 1024 * 1024);
      const text = info.binary ? null : decodeText(bytes);
      setFile({ path, mime: info.mime, size: info.size, mtime: info.mtime, text, bytes });
    } catch (e) {
      setFile(null);
      setError(`${path}: ${(e as Error).message}`);
    }
  };

  createEffect(
    on(
      () => props.open,
      (p) => {
        if (p) void openFile(p);
      },
    ),
  );

  const edit = async () => {
    const f = file();
    if (!f || f.text === null) return;
    setEditing(true);
    const { createEditor } = await import("./editor");
    editor = await createEditor(
      editorEl,
      f.path,
      f.text,
      () => setDirty(true),
      effectiveTheme() === "dark",
    );
  };

  const save = async (force = false) => {
    const f = file();
    if (!f || !editor) return;
    const content = editor.text();
    setStatus("Saving…");
    try {
      const r = await files.write(f.path, content, force ? undefined : { mtime: f.mtime });
      setFile({ ...f, text: content, mtime: r.entry.mtime, size: r.entry.size });
      setDirty(false);
      setConflict(null);
      closeMerge?.();
      closeMerge = null;
      setStatus("Saved");
    } catch (e) {
      const err = e as RequestError;
      if (err instanceof RequestError && err.code === "conflict") {
        setStatus("");
        let onDisk = "";
        try {
          const { bytes } = await files.read(f.path);
          onDisk = decodeText(bytes) ?? "(binary)";
        } catch (re) {
          onDisk = `(could not read the file: ${(re as Error).message})`;
        }
        setConflict(onDisk);
        const { showMerge } = await import("./editor");
        closeMerge?.();
        closeMerge = showMerge(mergeEl, onDisk, content);
      } else {
        setStatus(`Not saved: ${(e as Error).message}`);
      }
    }
  };

  const reloadFromDisk = async () => {
    const f = file();
    if (!f) return;
    setDirty(false);
    await openFile(f.path);
  };

  const download = () => {
    const f = file();
    if (!f) return;
    const url = URL.createObjectURL(new Blob([f.bytes as BlobPart], { type: f.mime }));
    const a = document.createElement("a");
    a.href = url;
    a.download = f.path.split("/").pop() ?? "download";
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  };

  const upload = async (list: FileList | null) => {
    if (!list) return;
    const chunk = Math.min(store.conn.welcome?.max_frame ?? 1 << 20, 1 << 20);
    for (const f of list) {
      try {
        await files.upload(f.name, f, chunk, (done) =>
          setStatus(`Uploading ${f.name}: ${done} / ${f.size}`),
        );
        setStatus(`Uploaded ${f.name}`);
      } catch (e) {
        setStatus(`Upload of ${f.name} failed: ${(e as Error).message}`);
      }
    }
    setRefresh((n) => n + 1);
  };

  const rename = async () => {
    const f = file();
    if (!f) return;
    const to = prompt("Rename to", f.path);
    if (!to || to === f.path) return;
    try {
      await files.rename(f.path, to);
      setRefresh((n) => n + 1);
      await openFile(to);
    } catch (e) {
      setStatus((e as Error).message);
    }
  };

  const remove = async () => {
    const f = file();
    if (!f || !confirm(`Delete ${f.path}?`)) return;
    try {
      await files.remove(f.path, false);
      dropEditor();
      setFile(null);
      setRefresh((n) => n + 1);
    } catch (e) {
      setStatus((e as Error).message);
    }
  };

  const create = async () => {
    const path = prompt("New file (path in the workspace)");
    if (!path) return;
    try {
      await files.write(path, "", { absent: true });
      setRefresh((n) => n + 1);
      await openFile(path);
    } catch (e) {
      setStatus((e as Error).message);
    }
  };

  const preview = () => {
    const f = file();
    if (!f) return null;
    if (f.mime.startsWith("image/") && f.mime !== "image/svg+xml") {
      return URL.createObjectURL(new Blob([f.bytes as BlobPart], { type: f.mime }));
    }
    return null;
  };

  return (
    <aside
      class="files"
      aria-label="Files"
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        void upload(e.dataTransfer?.files ?? null);
      }}
    >
      <div class="files-head">
        <strong>Files</strong>
        <label class="small">
          <input
            type="checkbox"
            checked={gitignore()}
            onChange={(e) => setGitignore(e.currentTarget.checked)}
          />{" "}
          hide ignored
        </label>
        <button
          type="button"
          aria-label="Refresh the file tree"
          onClick={() => setRefresh((n) => n + 1)}
        >
          ↻
        </button>
        <button type="button" aria-label="New file" onClick={create}>
          +
        </button>
        <label class="button" aria-label="Upload files">
          Upload
          <input type="file" multiple hidden onChange={(e) => void upload(e.currentTarget.files)} />
        </label>
        <button type="button" aria-label="Close the files pane" onClick={props.onClose}>
          ✕
        </button>
      </div>
      <div class="files-body">
        <nav class="files-tree">
          <Dir
            files={files}
            path=""
            gitignore={gitignore()}
            depth={0}
            onOpen={(p) => void openFile(p)}
            selected={file()?.path ?? null}
            refresh={refresh()}
          />
        </nav>
        <section class="files-view" aria-label="File">
          <Show when={error()}>
            <p class="error" role="alert">
              {error()}
            </p>
          </Show>
          <Show when={file()}>
            {(f) => (
              <>
                <div class="file-head">
                  <span class="path" data-testid="file-path">
                    {f().path}
                  </span>
                  <span class="muted small">
                    {f().size} bytes · {f().mime}
                  </span>
                  <span class="spacer" />
                  <Show when={f().text !== null && !editing()}>
                    <button type="button" onClick={edit}>
                      Edit
                    </button>
                  </Show>
                  <Show when={editing()}>
                    <button
                      type="button"
                      class="primary"
                      disabled={!dirty() && !conflict()}
                      onClick={() => void save()}
                    >
                      Save
                    </button>
                  </Show>
                  <button type="button" aria-label={`Download ${f().path}`} onClick={download}>
                    Download
                  </button>
                  <button type="button" aria-label={`Rename ${f().path}`} onClick={rename}>
                    Rename
                  </button>
                  <button
                    type="button"
                    class="danger"
                    aria-label={`Delete ${f().path}`}
                    onClick={remove}
                  >
                    Delete
                  </button>
                </div>
                <Show when={status()}>
                  <p class="status small" role="status">
                    {status()}
                  </p>
                </Show>
                <Show when={conflict() !== null}>
                  <div class="conflict" role="alert">
                    <p>
                      <strong>Conflict:</strong> the file changed on disk since you opened it. Left:
                      the file now; right: your version.
                    </p>
                    <div class="row-actions">
                      <button type="button" class="danger" onClick={() => void save(true)}>
                        Overwrite with mine
                      </button>
                      <button type="button" onClick={reloadFromDisk}>
                        Discard mine, reload
                      </button>
                    </div>
                  </div>
                </Show>
                <div class="merge" ref={mergeEl} />
                <div class="editor" ref={editorEl} classList={{ hidden: !editing() }} />
                <Show when={!editing()}>
                  <Show
                    when={f().text !== null}
                    fallback={
                      <Show
                        when={preview()}
                        fallback={
                          <pre class="hex" title="Binary contents (hex)">
                            {hexDump(f().bytes)}
                          </pre>
                        }
                      >
                        {(src) => <img class="preview-image" alt={f().path} src={src()} />}
                      </Show>
                    }
                  >
                    <Preview path={f().path} text={f().text ?? ""} />
                  </Show>
                </Show>
              </>
            )}
          </Show>
        </section>
      </div>
    </aside>
  );
}
