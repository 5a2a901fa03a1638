import { createMemo, createSignal, For, type JSX, Show } from "solid-js";
import { navigate, route } from "../lib/router";
import type { SessionInfo } from "../protocol/protocol";
import { ago, base, useStore } from "./ctx";

export function stateLabel(s: SessionInfo): string {
  if (s.state === "working") return s.phase ? `working: ${s.phase.replace("_", " ")}` : "working";
  return s.state;
}

export function SessionList(props: { onNew: () => void }): JSX.Element {
  const store = useStore();
  const [filter, setFilter] = createSignal("");
  const [menu, setMenu] = createSignal<string | null>(null);
  const [error, setError] = createSignal("");
  const shown = createMemo(() => {
    const f = filter().trim().toLowerCase();
    const list = store.sessions[0]();
    if (!f) return list;
    return list.filter((s) =>
      [s.title ?? "", s.cwd, s.harness, s.state, s.id].some((x) => x.toLowerCase().includes(f)),
    );
  });

  const act = async (fn: () => Promise<unknown>) => {
    setError("");
    try {
      await fn();
      await store.refreshSessions();
    } catch (e) {
      setError((e as Error).message);
    }
    setMenu(null);
  };

  const rename = (s: SessionInfo) => {
    const title = prompt("New title", s.title ?? "");
    if (title === null || !title.trim()) return;
    void act(() => store.request({ type: "session.rename", session: s.id, title: title.trim() }));
  };
  const close = (s: SessionInfo) =>
    void act(() => store.request({ type: "session.close", session: s.id }));
  const remove = (s: SessionInfo) => {
    if (!confirm(`Delete "${s.title ?? s.id}" and its history?`)) return;
    void act(async () => {
      await store.request({ type: "session.delete", session: s.id });
      if (route().session === s.id) navigate({ name: "home" });
    });
  };

  return (
    <div class="sessions">
      <div class="sessions-head">
        <input
          type="search"
          placeholder="Filter sessions"
          aria-label="Filter sessions"
          value={filter()}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        <button type="button" aria-label="New session" class="primary" onClick={props.onNew}>
          +
        </button>
      </div>
      <Show when={error()}>
        <p class="error" role="alert">
          {error()}
        </p>
      </Show>
      <Show when={store.listed[0]() && store.sessions[0]().length === 0}>
        <p class="muted">No sessions yet.</p>
      </Show>
      <ul class="session-list">
        <For each={shown()}>
          {(s) => (
            <li
              class="session-item"
              classList={{ current: route().session === s.id }}
              data-session={s.id}
              data-state={s.state}
            >
              <button
                type="button"
                class="session-open"
                aria-label={`Open session ${s.title ?? base(s.cwd)}`}
                onClick={() => navigate({ name: "session", session: s.id })}
              >
                <span class="row1">
                  <span class={`dot state-${s.state}`} aria-hidden="true" />
                  <span class="title">{s.title ?? base(s.cwd)}</span>
                  <Show when={route().session !== s.id && store.unread(s)}>
                    <span class="unread" title="New activity">
                      new
                    </span>
                  </Show>
                </span>
                <span class="row2">
                  <span class="state">{stateLabel(s)}</span> · <span>{s.harness}</span> ·{" "}
                  <span title={s.cwd}>{base(s.cwd)}</span> · <span>{ago(s.last_activity)}</span>
                </span>
              </button>
              <button
                type="button"
                class="more"
                aria-label={`Actions for ${s.title ?? base(s.cwd)}`}
                aria-expanded={menu() === s.id}
                onClick={() => setMenu(menu() === s.id ? null : s.id)}
              >
                ⋯
              </button>
              <Show when={menu() === s.id}>
                <div class="actions">
                  <button type="button" onClick={() => rename(s)}>
                    Rename
                  </button>
                  <button type="button" onClick={() => close(s)}>
                    Close
                  </button>
                  <button type="button" class="danger" onClick={() => remove(s)}>
                    Delete
                  </button>
                </div>
              </Show>
            </li>
          )}
        </For>
      </ul>
    </div>
  );
}
