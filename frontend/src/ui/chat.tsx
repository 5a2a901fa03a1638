import {
  createEffect,
  createMemo,
  createSignal,
  For,
  type JSX,
  lazy,
  on,
  onCleanup,
  Show,
  Suspense,
} from "solid-js";
import { VList, type VListHandle } from "virtua/solid";
import { onCopyClick } from "../lib/code";
import type { OutItem, SendKind } from "../lib/outbox";
import { navigate } from "../lib/router";
import type { Permission, Row } from "../lib/session-model";
import { askNotifications } from "../lib/store";
import type { ImageInput, ModelInfo, Reply, ThinkingLevel } from "../protocol/protocol";
import { base, useStore } from "./ctx";
import { MessageView } from "./message";
import { stateLabel } from "./sessions";

const FilesPane = lazy(() => import("./files"));
const TerminalPane = lazy(() => import("./terminal"));

type Item = Row | { kind: "pending"; item: OutItem } | { kind: "older" };

export function Chat(props: {
  id: string;
  message?: string;
  filesOpen: boolean;
  setFilesOpen: (v: boolean) => void;
}): JSX.Element {
  const store = useStore();
  // A new view per session id (the component is re-created when the id changes).
  const view = createMemo(() => store.open(props.id));
  const info = () => view().info[0]();
  const [openPath, setOpenPath] = createSignal<string | null>(null);
  const [termOpen, setTermOpen] = createSignal(false);
  const hasTerminal = () => store.welcome[0]()?.channels.includes("terminal") ?? false;
  const [error, setError] = createSignal("");
  let list: VListHandle | undefined;
  let atBottom = true;

  const pending = createMemo(() => {
    store.outboxVersion[0]();
    return store.outbox.forSession(props.id);
  });
  const items = createMemo<Item[]>(() => {
    const out: Item[] = [];
    if (view().model.hasMore) out.push({ kind: "older" });
    out.push(...view().rows[0]());
    for (const item of pending()) out.push({ kind: "pending", item });
    return out;
  });

  const working = () => info()?.state === "working";
  const caps = createMemo(
    () =>
      store.welcome[0]()?.runner.harnesses.find((h) => h.name === info()?.harness)?.capabilities ??
      [],
  );
  const [tools, setTools] = createSignal(false);
  const [models, setModels] = createSignal<ModelInfo[]>([]);
  const [busy, setBusy] = createSignal("");
  const run = async (what: string, fn: () => Promise<unknown>) => {
    setError("");
    setBusy(what);
    try {
      await fn();
    } catch (e) {
      setError(`${what}: ${(e as Error).message}`);
    } finally {
      setBusy("");
    }
  };
  const openTools = () => {
    setTools(!tools());
    if (tools() && caps().includes("models") && models().length === 0) {
      void run("Models", async () => {
        const r = await store.request<Extract<Reply, { type: "models" }>>({
          type: "get_models",
          session: props.id,
        });
        setModels(r.models);
      });
    }
  };
  const setModel = (key: string) => {
    const m = models().find((x) => `${x.provider}/${x.id}` === key);
    if (!m) return;
    void run("Model", () =>
      store.request({ type: "set_model", session: props.id, provider: m.provider, model: m.id }),
    );
  };
  const setThinking = (level: ThinkingLevel) =>
    void run("Thinking level", () =>
      store.request({ type: "set_thinking_level", session: props.id, level }),
    );
  const compact = () =>
    void run("Compact", () => store.request({ type: "compact", session: props.id }));
  const fork = (messageId: string) =>
    void run("Fork", async () => {
      const r = await store.request<Extract<Reply, { type: "session" }>>({
        type: "fork",
        session: props.id,
        message_id: messageId,
      });
      await store.refreshSessions();
      navigate({ name: "session", session: r.session.id });
    });
  const scrollToEnd = () => {
    const n = items().length;
    if (list && n > 0) list.scrollToIndex(n - 1, { align: "end" });
  };

  // Follow the stream while the reader is at the bottom.
  createEffect(
    on(items, () => {
      if (atBottom && !props.message) queueMicrotask(scrollToEnd);
    }),
  );
  let followTimer: ReturnType<typeof setInterval> | undefined;
  createEffect(() => {
    if (working()) {
      followTimer ??= setInterval(() => {
        if (atBottom && !props.message) scrollToEnd();
      }, 200);
    } else if (followTimer) {
      clearInterval(followTimer);
      followTimer = undefined;
    }
  });
  onCleanup(() => followTimer && clearInterval(followTimer));

  // A deep link to a message: load pages back until it is there, then scroll to it.
  createEffect(
    on(
      () => [props.message, view().rows[0]().length] as const,
      async ([target]) => {
        if (!target) return;
        const v = view();
        if (!v.model.messages.has(target)) {
          if (v.model.lastSeq === 0) return; // not loaded yet; runs again when rows come
          if (!(await store.reveal(v, target))) {
            setError(`Message ${target} is not in this session.`);
            return;
          }
        }
        const i = items().findIndex((it) => it.kind === "message" && it.id === target);
        if (i >= 0) {
          atBottom = false;
          list?.scrollToIndex(i, { align: "center" });
        }
      },
    ),
  );

  const onScroll = (offset: number) => {
    if (!list) return;
    atBottom = offset + list.viewportSize >= list.scrollSize - 48;
    if (offset < 200 && view().model.hasMore && !loadingOlder) void older();
  };
  let loadingOlder = false;
  // While an older page is prepended, the list keeps what is on screen where it is
  // (virtua's `shift`); without it the view jumped to the top of the new page, and at
  // offset 0 no scroll event came to load the next one.
  const [shift, setShift] = createSignal(false);
  const older = async () => {
    loadingOlder = true;
    setShift(true);
    try {
      await store.loadOlder(view());
    } catch (e) {
      setError((e as Error).message);
    } finally {
      requestAnimationFrame(() => {
        setShift(false);
        loadingOlder = false;
      });
    }
  };

  const abort = async () => {
    try {
      await store.request({ type: "abort", session: props.id });
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const openFile = (path: string) => {
    setOpenPath(path);
    props.setFilesOpen(true);
  };

  const render = (it: Item) => {
    switch (it.kind) {
      case "message":
        return (
          <MessageView
            id={it.id}
            view={view()}
            highlight={props.message === it.id}
            onFile={openFile}
            onFork={caps().includes("fork") ? fork : undefined}
          />
        );
      case "notice":
        if (it.notice.permission) {
          return <PermissionCard session={props.id} permission={it.notice.permission} />;
        }
        return (
          <div
            class={`notice notice-${it.notice.kind}`}
            role={it.notice.kind === "error" ? "alert" : undefined}
          >
            {it.notice.text}
          </div>
        );
      case "older":
        return (
          <div class="older">
            <button type="button" class="link" onClick={older}>
              Load older messages
            </button>
          </div>
        );
      case "pending":
        return <PendingView item={it.item} />;
    }
  };

  return (
    <div class="chat-wrap" classList={{ "with-files": props.filesOpen || termOpen() }}>
      <section class="chat" aria-label="Conversation">
        <div class="chat-head">
          <button
            type="button"
            class="back"
            aria-label="Back to sessions"
            onClick={() => navigate({ name: "home" })}
          >
            ‹
          </button>
          <div class="chat-title">
            <h1>{info()?.title ?? (info() ? base(info()!.cwd) : props.id)}</h1>
            <div class="muted small">
              <Show when={info()}>
                {(i) => (
                  <>
                    <span data-testid="session-state">{stateLabel(i())}</span> · {i().harness} ·{" "}
                    <span title={i().cwd}>{i().cwd}</span>
                    <Show when={i().model}>{(m) => <> · {m().id}</>}</Show>
                  </>
                )}
              </Show>
            </div>
          </div>
          <button
            type="button"
            aria-label="Session settings"
            aria-expanded={tools()}
            onClick={openTools}
          >
            ⚙
          </button>
          <Show when={hasTerminal()}>
            <button
              type="button"
              aria-label={termOpen() ? "Hide the terminal" : "Show the terminal"}
              aria-pressed={termOpen()}
              onClick={() => {
                setTermOpen(!termOpen());
                if (termOpen()) props.setFilesOpen(false);
              }}
            >
              Term
            </button>
          </Show>
          <button
            type="button"
            aria-label={props.filesOpen ? "Hide files" : "Show files"}
            aria-pressed={props.filesOpen}
            onClick={() => props.setFilesOpen(!props.filesOpen)}
          >
            Files
          </button>
        </div>
        <Show when={tools()}>
          <div class="session-tools">
            <Show when={caps().includes("models")}>
              <label>
                Model{" "}
                <select
                  aria-label="Model"
                  value={info()?.model ? `${info()?.model?.provider}/${info()?.model?.id}` : ""}
                  onChange={(e) => setModel(e.currentTarget.value)}
                >
                  <Show when={models().length === 0}>
                    <option value="">{info()?.model?.id ?? "…"}</option>
                  </Show>
                  {models().map((m) => (
                    <option value={`${m.provider}/${m.id}`}>{m.name ?? m.id}</option>
                  ))}
                </select>
              </label>
            </Show>
            <Show when={caps().includes("thinking")}>
              <label>
                Thinking{" "}
                <select
                  aria-label="Thinking level"
                  onChange={(e) => setThinking(e.currentTarget.value as ThinkingLevel)}
                >
                  {(["off", "minimal", "low", "medium", "high", "xhigh"] as const).map((l) => (
                    <option value={l}>{l}</option>
                  ))}
                </select>
              </label>
            </Show>
            <Show when={caps().includes("compact")}>
              <button type="button" disabled={working() || busy() !== ""} onClick={compact}>
                {busy() === "Compact" ? "Compacting…" : "Compact"}
              </button>
            </Show>
          </div>
        </Show>
        <Show when={view().missing[0]()}>
          <p class="error" role="alert">
            {view().missing[0]()}
          </p>
        </Show>
        <Show when={error()}>
          <p class="error" role="alert">
            {error()}
          </p>
        </Show>
        {/* biome-ignore lint/a11y/noStaticElementInteractions: delegated copy-button clicks */}
        {/* biome-ignore lint/a11y/useKeyWithClickEvents: the buttons themselves are focusable */}
        <div class="messages" onClick={onCopyClick}>
          <VList
            ref={(h) => {
              list = h;
            }}
            data={items()}
            class="vlist"
            onScroll={onScroll}
            shift={shift()}
          >
            {(it) => render(it)}
          </VList>
        </div>
        <Show when={working()}>
          <div class="working" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true" />
            <span data-testid="phase">{info()?.phase?.replace("_", " ") ?? "working"}</span>
            <Show when={view().queue[0]().steering.length + view().queue[0]().follow_up.length > 0}>
              <span class="muted small">
                · queued: {view().queue[0]().steering.length + view().queue[0]().follow_up.length}
              </span>
            </Show>
            <button type="button" class="danger" aria-label="Abort the turn" onClick={abort}>
              Abort
            </button>
          </div>
        </Show>
        <Composer
          session={props.id}
          working={working()}
          images={caps().includes("images")}
          harness={info()?.harness ?? ""}
        />
      </section>
      <Show when={termOpen() && !props.filesOpen}>
        <Suspense fallback={<aside class="files">Loading the terminal…</aside>}>
          <TerminalPane session={props.id} onClose={() => setTermOpen(false)} />
        </Suspense>
      </Show>
      <Show when={props.filesOpen}>
        <Suspense fallback={<aside class="files">Loading files…</aside>}>
          <FilesPane
            session={props.id}
            open={openPath()}
            onClose={() => props.setFilesOpen(false)}
          />
        </Suspense>
      </Show>
    </div>
  );
}

function answeredBy(p: Permission): string {
  const r = p.resolved;
  if (!r) return "";
  const chosen = p.options.find((o) => o.id === r.option)?.name ?? r.kind ?? "cancelled";
  const by =
    r.answered.by === "user"
      ? `by ${r.answered.client}`
      : r.answered.by === "policy"
        ? `by the policy (${r.answered.rule})`
        : r.answered.by === "abort"
          ? "by the abort"
          : "as the session stopped";
  return `${chosen}, ${by}`;
}

/** An agent asks to run a tool: its options as buttons, until someone answers. */
function PermissionCard(props: { session: string; permission: Permission }) {
  const store = useStore();
  const [error, setError] = createSignal("");
  const [sending, setSending] = createSignal(false);
  const reply = async (option: string) => {
    setError("");
    setSending(true);
    try {
      await store.request({
        type: "permission.reply",
        session: props.session,
        request: props.permission.request,
        option,
      });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSending(false);
    }
  };
  const input = () => {
    const i = props.permission.tool.input;
    return i === undefined ? "" : JSON.stringify(i, null, 2);
  };
  return (
    <section
      class="permission"
      classList={{ resolved: !!props.permission.resolved }}
      aria-label={`Permission request: ${props.permission.tool.title}`}
      data-request={props.permission.request}
    >
      <div>
        <strong>The agent asks to {props.permission.tool.kind}:</strong>{" "}
        <code>{props.permission.tool.title}</code>
      </div>
      <Show when={input()}>
        <pre>
          <code>{input()}</code>
        </pre>
      </Show>
      <Show
        when={props.permission.resolved}
        fallback={
          <div class="row-actions">
            {props.permission.options.map((o) => (
              <button
                type="button"
                class={o.kind.startsWith("allow") ? "primary" : "danger"}
                disabled={sending()}
                onClick={() => void reply(o.id)}
              >
                {o.name}
              </button>
            ))}
          </div>
        }
      >
        <div class="muted small">Answered: {answeredBy(props.permission)}</div>
      </Show>
      <Show when={error()}>
        <p class="error" role="alert">
          {error()}
        </p>
      </Show>
    </section>
  );
}

function PendingView(props: { item: OutItem }) {
  const store = useStore();
  const label = () => {
    switch (props.item.state) {
      case "queued":
        return "waiting for the connection";
      case "sending":
        return "sending…";
      case "sent":
        return "sent";
      case "failed":
        return `not sent: ${props.item.error ?? ""}`;
    }
  };
  return (
    <article
      class="msg role-user pending"
      data-pending={props.item.cmid}
      aria-label="pending message"
    >
      <div class="plain">{props.item.text}</div>
      <Show when={props.item.images?.length}>
        <div class="muted small">
          with {props.item.images?.length} image{props.item.images?.length === 1 ? "" : "s"}
          <Show when={props.item.state === "failed"}>
            {" "}
            (this session's agent may not take images: Discard and send the text alone)
          </Show>
        </div>
      </Show>
      <div class="muted small" data-testid="pending-state">
        {props.item.kind === "prompt" ? "" : `${props.item.kind.replace("_", "-")} · `}
        {label()}
      </div>
      <Show when={props.item.state === "failed"}>
        <div class="row-actions">
          <button type="button" onClick={() => store.retry(props.item)}>
            Retry
          </button>
          <button type="button" onClick={() => store.outbox.discard(props.item.cmid)}>
            Discard
          </button>
        </div>
      </Show>
    </article>
  );
}

/** An image attached to the composer, as the prompt will carry it. */
type Attached = ImageInput & { name: string };

/** Larger images are refused in the page: the relay's frame limit is well above this. */
const MAX_IMAGE = 5 * 1024 * 1024;

function readImage(file: File): Promise<Attached> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => {
      const url = String(r.result);
      resolve({ mime_type: file.type, data: url.slice(url.indexOf(",") + 1), name: file.name });
    };
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

function Composer(props: { session: string; working: boolean; images: boolean; harness: string }) {
  const store = useStore();
  const [text, setText] = createSignal("");
  const [attached, setAttached] = createSignal<Attached[]>([]);
  const [note, setNote] = createSignal("");
  let ta!: HTMLTextAreaElement;
  const touch = typeof matchMedia === "function" && matchMedia("(pointer: coarse)").matches;

  /** Images pasted or dropped: attached when the harness takes images, refused otherwise. */
  const attach = async (files: File[]) => {
    const images = files.filter((f) => f.type.startsWith("image/"));
    if (images.length === 0) return false;
    if (!props.images) {
      setNote(`${props.harness || "This harness"} does not take images; nothing was attached.`);
      return true;
    }
    const big = images.find((f) => f.size > MAX_IMAGE);
    if (big) {
      setNote(`${big.name || "The image"} is larger than 5 MB; nothing was attached.`);
      return true;
    }
    setNote("");
    const read = await Promise.all(images.map(readImage));
    setAttached((a) => [...a, ...read]);
    return true;
  };
  const onPaste = (e: ClipboardEvent) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (files.some((f) => f.type.startsWith("image/"))) {
      e.preventDefault();
      void attach(files);
    }
  };
  const onDrop = (e: DragEvent) => {
    const files = [...(e.dataTransfer?.files ?? [])];
    if (files.length === 0) return;
    e.preventDefault();
    void attach(files);
  };

  const send = (kind: SendKind) => {
    const t = text().trim();
    if (!t) return;
    // Images go with a prompt; a steer or follow-up leaves them attached for the next one.
    const images = kind === "prompt" ? attached() : [];
    store.send(
      props.session,
      kind,
      t,
      images.length ? images.map(({ mime_type, data }) => ({ mime_type, data })) : undefined,
    );
    if (images.length) setAttached([]);
    setNote("");
    askNotifications();
    setText("");
    ta.style.height = "";
    ta.focus();
  };
  const primary = (): SendKind => (props.working ? "follow_up" : "prompt");

  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !touch) {
      e.preventDefault();
      send(primary());
    }
  };
  const grow = () => {
    ta.style.height = "auto";
    ta.style.height = `${Math.min(ta.scrollHeight, 240)}px`;
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send(primary());
      }}
      onDragOver={(e) => e.preventDefault()}
      onDrop={onDrop}
    >
      <Show when={attached().length > 0 || note()}>
        <div class="attachments">
          <For each={attached()}>
            {(img, i) => (
              <span class="attachment">
                <img
                  alt={img.name || `attachment ${i() + 1}`}
                  src={`data:${img.mime_type};base64,${img.data}`}
                />
                <button
                  type="button"
                  class="link small"
                  aria-label={`Remove image ${i() + 1}`}
                  onClick={() => setAttached((a) => a.filter((_, k) => k !== i()))}
                >
                  ✕
                </button>
              </span>
            )}
          </For>
          <Show when={attached().length > 0 && props.working}>
            <span class="muted small">sent with the next prompt</span>
          </Show>
          <Show when={note()}>
            <span class="error small" role="alert">
              {note()}
            </span>
          </Show>
        </div>
      </Show>
      <textarea
        ref={ta}
        rows={1}
        aria-label="Message"
        placeholder={props.working ? "Steer or queue a follow-up…" : "Ask the agent…"}
        enterkeyhint={touch ? "enter" : "send"}
        value={text()}
        onInput={(e) => {
          setText(e.currentTarget.value);
          grow();
        }}
        onKeyDown={onKey}
        onPaste={onPaste}
      />
      <Show when={props.working}>
        <button type="button" aria-label="Steer: deliver now" onClick={() => send("steer")}>
          Steer
        </button>
      </Show>
      <button type="submit" class="primary" aria-label={props.working ? "Queue follow-up" : "Send"}>
        {props.working ? "Follow up" : "Send"}
      </button>
    </form>
  );
}
