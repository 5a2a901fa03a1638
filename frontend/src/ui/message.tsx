import {
  createEffect,
  createMemo,
  createSignal,
  For,
  type JSX,
  Match,
  onCleanup,
  Show,
  Switch,
} from "solid-js";
import { decorateCode } from "../lib/code";
import { counts, editChanges, hunks, lineDiff, type TextChange } from "../lib/diff";
import { renderMarkdown } from "../lib/markdown";
import type { View } from "../lib/store";
import type { Message, Part, PlanEntry } from "../protocol/protocol";

type P<T extends Part["type"]> = Extract<Part, { type: T }>;

/**
 * Markdown that re-renders only when its text changes; code is highlighted once final.
 * While streaming, a render waits until three times the previous render's cost (markdown,
 * DOM and layout) has passed: a short message still updates every frame, a very long one
 * keeps the main thread at most about a quarter busy instead of re-laying it out per frame.
 */
function Markdown(props: { text: string; final: boolean }) {
  let el!: HTMLDivElement;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let nextAt = 0;
  const paint = () => {
    clearTimeout(timer);
    timer = undefined;
    const t0 = performance.now();
    el.innerHTML = renderMarkdown(props.text, !props.final);
    decorateCode(el, props.final);
    // The layout the frame would do anyway, done now so that its cost is counted.
    void el.offsetHeight;
    const now = performance.now();
    nextAt = now + 3 * (now - t0);
  };
  createEffect(() => {
    props.text;
    if (props.final || performance.now() >= nextAt) paint();
    else timer ??= setTimeout(paint, nextAt - performance.now());
  });
  onCleanup(() => clearTimeout(timer));
  return <div class="md" ref={el} />;
}

const FOLD_LINES = 20;

function Output(props: { text: string; error: boolean }) {
  const [all, setAll] = createSignal(false);
  const lines = createMemo(() => props.text.split("\n"));
  const long = () => lines().length > FOLD_LINES;
  const shown = () => (all() || !long() ? props.text : lines().slice(-FOLD_LINES).join("\n"));
  return (
    <div class="tool-output" classList={{ error: props.error }}>
      <Show when={long() && !all()}>
        <button type="button" class="link" onClick={() => setAll(true)}>
          Show all {lines().length} lines
        </button>
      </Show>
      <pre>
        <code>{shown()}</code>
      </pre>
    </div>
  );
}

function inputSummary(input: unknown): string {
  if (input && typeof input === "object") {
    const o = input as Record<string, unknown>;
    for (const k of ["command", "path", "file_path", "pattern", "query", "url"]) {
      if (typeof o[k] === "string") return o[k] as string;
    }
  }
  const s = JSON.stringify(input);
  return s === "{}" ? "" : s;
}

/**
 * A unified diff of one change: removed and added lines with context, numbered when the
 * texts are whole files (an edit tool's texts are snippets: their line numbers would lie).
 */
function DiffView(props: { change: TextChange; numbered: boolean }) {
  const lines = createMemo(() => lineDiff(props.change.before, props.change.after));
  const n = () => counts(lines());
  return (
    <div class="diff" data-path={props.change.path}>
      <div class="diff-head">
        <span class="diff-path">{props.change.path || "(no path)"}</span>
        <span class="diff-add">+{n().add}</span> <span class="diff-del">−{n().del}</span>
      </div>
      <pre class="diff-lines">
        <For each={hunks(lines())}>
          {(l) =>
            l === null ? (
              <div class="diff-gap">⋯</div>
            ) : (
              <div class={`dl dl-${l.kind}`}>
                <Show when={props.numbered}>
                  <span class="ln">{l.old ?? ""}</span>
                  <span class="ln">{l.new ?? ""}</span>
                </Show>
                <span class="mark">{l.kind === "add" ? "+" : l.kind === "del" ? "-" : " "}</span>
                {l.text}
              </div>
            )
          }
        </For>
      </pre>
    </div>
  );
}

const PLAN_MARK: Record<PlanEntry["status"], string> = {
  pending: "○",
  in_progress: "◐",
  completed: "●",
};

/** An agent's plan as a checklist: each entry with its status and priority. */
function PlanView(props: { entries: PlanEntry[] }) {
  const done = () => props.entries.filter((e) => e.status === "completed").length;
  return (
    <section class="plan" aria-label="Plan">
      <div class="tool-label">
        Plan · {done()}/{props.entries.length} done
      </div>
      <ul>
        <For each={props.entries}>
          {(e) => (
            <li data-status={e.status} data-priority={e.priority}>
              <span class="plan-mark" role="img" aria-label={e.status.replace("_", " ")}>
                {PLAN_MARK[e.status]}
              </span>{" "}
              <span class="plan-text">{e.content}</span>
              <Show when={e.priority === "high"}>
                <span class="badge">high</span>
              </Show>
            </li>
          )}
        </For>
      </ul>
    </section>
  );
}

function ToolCard(props: { part: P<"tool_call">; view: View }) {
  const input = () => props.view.toolInput(props.part.id);
  const status = () => (props.part.is_error ? "failed" : props.part.status);
  // The diff is worked out when the card is first opened, not for every card in the list.
  const [opened, setOpened] = createSignal(false);
  const changes = createMemo(() =>
    opened() ? editChanges(props.part.name, props.part.input) : [],
  );
  return (
    <details
      class="tool"
      data-status={status()}
      data-tool={props.part.name}
      onToggle={(e) => e.currentTarget.open && setOpened(true)}
    >
      <summary>
        <span class="tool-name">{props.part.name}</span>
        <span class="tool-arg">{inputSummary(props.part.input) || input() || ""}</span>
        <span class={`badge status-${status()}`}>{status()}</span>
      </summary>
      <div class="tool-body">
        <Show
          when={changes().length > 0}
          fallback={
            <>
              <div class="tool-label">Input</div>
              <pre>
                <code>{input() ?? JSON.stringify(props.part.input, null, 2)}</code>
              </pre>
            </>
          }
        >
          <div class="tool-label">Changes</div>
          <For each={changes()}>{(c) => <DiffView change={c} numbered={false} />}</For>
        </Show>
        <Show when={props.part.output !== undefined}>
          <div class="tool-label">Output</div>
          <Output text={props.part.output ?? ""} error={props.part.is_error} />
        </Show>
      </div>
    </details>
  );
}

function PartView(props: {
  pid: string;
  msg: () => Message | undefined;
  view: View;
  final: boolean;
  onFile: (path: string) => void;
}): JSX.Element {
  // Looked up by id on every change of the message: parts are mutated in place while
  // they stream and replaced when they end.
  const part = () => props.msg()?.parts.find((p) => p.id === props.pid);
  const as = <T extends Part["type"]>(_t: T) => part() as P<T>;
  return (
    <Switch>
      <Match when={part()?.type === "text"}>
        <Show
          when={props.msg()?.role !== "user"}
          fallback={<div class="plain">{as("text").text}</div>}
        >
          <Markdown text={as("text").text} final={props.final} />
        </Show>
      </Match>
      <Match when={part()?.type === "thinking"}>
        <details class="thinking">
          <summary>Thinking</summary>
          <div class="plain">{as("thinking").text}</div>
        </details>
      </Match>
      <Match when={part()?.type === "tool_call"}>
        <ToolCard part={as("tool_call")} view={props.view} />
      </Match>
      <Match when={part()?.type === "image"}>
        <Show
          when={as("image").data}
          fallback={<span class="muted">[image: {as("image").url}]</span>}
        >
          <img
            class="inline-image"
            alt="attached"
            src={`data:${as("image").mime_type};base64,${as("image").data}`}
          />
        </Show>
      </Match>
      <Match when={part()?.type === "file_ref"}>
        <button type="button" class="file-ref" onClick={() => props.onFile(as("file_ref").path)}>
          {as("file_ref").path}
        </button>
      </Match>
      <Match when={part()?.type === "compaction"}>
        <details class="compaction">
          <summary>Earlier context compacted</summary>
          <div class="plain">{as("compaction").summary}</div>
        </details>
      </Match>
      <Match when={part()?.type === "diff"}>
        <DiffView
          numbered={true}
          change={{
            path: as("diff").path,
            before: as("diff").old_text ?? "",
            after: as("diff").new_text,
          }}
        />
      </Match>
      <Match when={part()?.type === "plan"}>
        <PlanView entries={as("plan").entries} />
      </Match>
      <Match when={part()?.type === "error"}>
        <div class="part-error" role="alert">
          {as("error").message}
        </div>
      </Match>
    </Switch>
  );
}

const sameIds = (a: string[], b: string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

export function MessageView(props: {
  id: string;
  view: View;
  highlight: boolean;
  onFile: (path: string) => void;
  onFork?: (messageId: string) => void;
}): JSX.Element {
  const [version] = props.view.version(props.id);
  const msg = createMemo(
    () => {
      version();
      return props.view.model.messages.get(props.id);
    },
    undefined,
    { equals: false },
  );
  const partIds = createMemo(() => msg()?.parts.map((p) => p.id) ?? [], [], { equals: sameIds });
  const final = () => {
    const m = msg();
    return !!m && (m.role !== "assistant" || !!m.stop_reason);
  };
  // Clicking a path in the text opens it in the files pane.
  const onClick = (ev: MouseEvent) => {
    const code = (ev.target as HTMLElement).closest("code");
    if (!code || code.closest("pre")) return;
    const text = code.textContent ?? "";
    if (/^[\w.@~/-]+\.[\w]+$/.test(text) && !text.includes("..") && !text.startsWith("/")) {
      props.onFile(text);
    }
  };
  return (
    <Show when={msg() !== undefined}>
      {/* biome-ignore lint/a11y/useKeyWithClickEvents: a shortcut for pointer users; the files pane opens the same files by keyboard */}
      <article
        class={`msg role-${msg()?.role}`}
        classList={{ highlight: props.highlight, streaming: !final() }}
        data-msg-id={props.id}
        id={props.id}
        aria-label={`${msg()?.role} message`}
        onClick={onClick}
      >
        <For each={partIds()}>
          {(pid) => (
            <PartView pid={pid} msg={msg} view={props.view} final={final()} onFile={props.onFile} />
          )}
        </For>
        <Show when={msg()?.stop_reason === "aborted"}>
          <div class="muted small">aborted</div>
        </Show>
        {/* The runner forks before a user message: the new session holds what came earlier. */}
        <Show when={props.onFork && msg()?.role === "user"}>
          <button
            type="button"
            class="link small fork"
            aria-label="Fork: a new session with the conversation before this message"
            onClick={() => props.onFork?.(props.id)}
          >
            Fork before this
          </button>
        </Show>
        <Show when={msg()?.usage?.cost !== undefined}>
          <div class="muted small">
            {msg()?.usage?.input} in · {msg()?.usage?.output} out · $
            {msg()?.usage?.cost?.toFixed(4)}
          </div>
        </Show>
      </article>
    </Show>
  );
}
