import { createMemo, createSignal, For, type JSX, onMount, Show } from "solid-js";
import { snippetHtml } from "../lib/markdown";
import { navigate } from "../lib/router";
import type { Reply, Role, SearchHit } from "../protocol/protocol";
import { ago, base, useStore } from "./ctx";

export function SearchView(props: { query: string }): JSX.Element {
  const store = useStore();
  const [q, setQ] = createSignal(props.query);
  const [harness, setHarness] = createSignal("");
  const [role, setRole] = createSignal("");
  const [cwd, setCwd] = createSignal("");
  const [since, setSince] = createSignal("");
  const [hits, setHits] = createSignal<SearchHit[] | null>(null);
  const [error, setError] = createSignal("");
  let input!: HTMLInputElement;
  const harnesses = createMemo(() => store.welcome[0]()?.runner.harnesses.map((h) => h.name) ?? []);

  const run = async (e?: SubmitEvent) => {
    e?.preventDefault();
    const query = q().trim();
    if (!query) return;
    navigate({ name: "search", query }, true);
    setError("");
    const filters = {
      ...(harness() ? { harness: harness() } : {}),
      ...(role() ? { role: role() as Role } : {}),
      ...(cwd().trim() ? { cwd: cwd().trim() } : {}),
      ...(since() ? { since: new Date(since()).getTime() } : {}),
    };
    try {
      const r = await store.request<Extract<Reply, { type: "search_results" }>>({
        type: "history.search",
        query,
        limit: 50,
        ...(Object.keys(filters).length ? { filters } : {}),
      });
      setHits(r.hits);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  onMount(() => {
    input.focus();
    if (props.query) {
      // Wait for the connection when the page was opened on a search link.
      const tryRun = () => (store.conn.ready ? void run() : setTimeout(tryRun, 200));
      tryRun();
    }
  });

  return (
    <section class="search" aria-label="Search the history">
      <form class="search-form" onSubmit={run}>
        <input
          ref={input}
          type="search"
          aria-label="Search every session"
          placeholder="Search every session"
          value={q()}
          onInput={(e) => setQ(e.currentTarget.value)}
        />
        <button type="submit" class="primary">
          Search
        </button>
        <div class="filters">
          <select
            aria-label="Harness"
            value={harness()}
            onChange={(e) => setHarness(e.currentTarget.value)}
          >
            <option value="">any harness</option>
            <For each={harnesses()}>{(h) => <option value={h}>{h}</option>}</For>
          </select>
          <select aria-label="Role" value={role()} onChange={(e) => setRole(e.currentTarget.value)}>
            <option value="">any role</option>
            <option value="user">user</option>
            <option value="assistant">assistant</option>
            <option value="system">system</option>
          </select>
          <input
            aria-label="Workspace directory"
            placeholder="workspace (dir or below)"
            value={cwd()}
            onInput={(e) => setCwd(e.currentTarget.value)}
          />
          <input
            aria-label="Since date"
            type="date"
            value={since()}
            onInput={(e) => setSince(e.currentTarget.value)}
          />
        </div>
      </form>
      <Show when={error()}>
        <p class="error" role="alert">
          {error()}
        </p>
      </Show>
      <Show when={hits()?.length === 0}>
        <p class="muted">Nothing found.</p>
      </Show>
      <ul class="hits">
        <For each={hits() ?? []}>
          {(h) => (
            <li>
              <a
                class="hit"
                href={`/s/${encodeURIComponent(h.session)}#${encodeURIComponent(h.message_id)}`}
                data-message={h.message_id}
                onClick={(e) => {
                  e.preventDefault();
                  navigate({ name: "session", session: h.session, message: h.message_id });
                }}
              >
                <span class="hit-meta small muted">
                  {h.title ?? base(h.cwd)} · {h.role} · {h.harness} · {ago(h.created_at)}
                </span>
                {/* snippetHtml escapes the text; only <mark> is added */}
                <span class="snippet" innerHTML={snippetHtml(h.snippet)} />
              </a>
            </li>
          )}
        </For>
      </ul>
    </section>
  );
}
