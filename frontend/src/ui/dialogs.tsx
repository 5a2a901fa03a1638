import { createMemo, createSignal, For, type JSX, onMount, Show } from "solid-js";
import { navigate } from "../lib/router";
import type { Reply } from "../protocol/protocol";
import { useStore } from "./ctx";

function Modal(props: { title: string; onClose: () => void; children: JSX.Element }) {
  let el!: HTMLDialogElement;
  onMount(() => {
    el.showModal();
  });
  return (
    <dialog
      ref={el}
      class="modal"
      aria-label={props.title}
      onClose={props.onClose}
      onCancel={props.onClose}
    >
      <div class="modal-head">
        <h2>{props.title}</h2>
        <button type="button" aria-label="Close" onClick={() => el.close()}>
          ✕
        </button>
      </div>
      {props.children}
    </dialog>
  );
}

export const SHORTCUTS: Array<[string, string]> = [
  ["Alt+N", "new session"],
  ["/ or Ctrl+K", "search the history"],
  ["Alt+X", "abort the running turn"],
  ["Alt+↑ / Alt+↓", "previous / next session"],
  ["Alt+F", "show or hide the files pane"],
  ["Alt+T", "switch the theme (auto, dark, light)"],
  ["Enter", "send (Shift+Enter: new line; on touch screens Enter is a new line)"],
  ["?", "this help"],
  ["Esc", "close a dialog"],
];

export function HelpDialog(props: { onClose: () => void }) {
  return (
    <Modal title="Keyboard shortcuts" onClose={props.onClose}>
      <table class="shortcuts">
        <tbody>
          <For each={SHORTCUTS}>
            {([k, what]) => (
              <tr>
                <th scope="row">
                  <kbd>{k}</kbd>
                </th>
                <td>{what}</td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
    </Modal>
  );
}

export function NewSessionDialog(props: { onClose: () => void }) {
  const store = useStore();
  const welcome = store.welcome[0];
  const harnesses = createMemo(() => welcome()?.runner.harnesses ?? []);
  const recent = createMemo(() => {
    const seen = new Set<string>();
    for (const s of store.sessions[0]()) seen.add(s.cwd);
    return [...seen].slice(0, 12);
  });
  const [harness, setHarness] = createSignal(welcome()?.runner.default_harness ?? "");
  const [cwd, setCwd] = createSignal(recent()[0] ?? "");
  const [title, setTitle] = createSignal("");
  const [model, setModel] = createSignal("");
  const [profile, setProfile] = createSignal("");
  const [error, setError] = createSignal("");
  const [busy, setBusy] = createSignal(false);

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    setError("");
    const dir = cwd().trim();
    if (!dir.startsWith("/")) {
      setError("The workspace must be an absolute directory, like /home/you/project.");
      return;
    }
    setBusy(true);
    try {
      const r = await store.request<Extract<Reply, { type: "session" }>>({
        type: "session.create",
        harness: harness() || (welcome()?.runner.default_harness ?? "pi"),
        cwd: dir,
        ...(title().trim() ? { title: title().trim() } : {}),
        ...(model().trim() ? { model: model().trim() } : {}),
        ...(profile().trim() ? { sandbox_profile: profile().trim() } : {}),
      });
      await store.refreshSessions();
      props.onClose();
      navigate({ name: "session", session: r.session.id });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title="New session" onClose={props.onClose}>
      <form class="form" onSubmit={submit}>
        <label>
          Harness
          <select
            name="harness"
            value={harness()}
            onChange={(e) => setHarness(e.currentTarget.value)}
          >
            <For each={harnesses()}>
              {(h) => (
                <option value={h.name} disabled={!h.available} title={h.detail ?? ""}>
                  {h.name}
                  {h.available ? "" : " (unavailable)"}
                  {h.name === welcome()?.runner.default_harness ? " (default)" : ""}
                </option>
              )}
            </For>
          </select>
        </label>
        <Show when={welcome()?.runner.default_harness_note}>
          <p class="muted">{welcome()?.runner.default_harness_note}</p>
        </Show>
        <label>
          Workspace directory
          <input
            name="cwd"
            list="recent-dirs"
            required
            placeholder="/home/you/project"
            value={cwd()}
            onInput={(e) => setCwd(e.currentTarget.value)}
          />
          <datalist id="recent-dirs">
            <For each={recent()}>{(d) => <option value={d} />}</For>
          </datalist>
        </label>
        <label>
          Title (optional)
          <input name="title" value={title()} onInput={(e) => setTitle(e.currentTarget.value)} />
        </label>
        <details>
          <summary>More</summary>
          <label>
            Model (optional)
            <input name="model" value={model()} onInput={(e) => setModel(e.currentTarget.value)} />
          </label>
          <label>
            Sandbox profile (optional)
            <input
              name="sandbox_profile"
              placeholder="development"
              value={profile()}
              onInput={(e) => setProfile(e.currentTarget.value)}
            />
          </label>
        </details>
        <Show when={error()}>
          <p class="error" role="alert">
            {error()}
          </p>
        </Show>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy()}>
            {busy() ? "Starting…" : "Start"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
