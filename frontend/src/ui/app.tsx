import { createSignal, type JSX, Match, onCleanup, onMount, Show, Switch } from "solid-js";
import { navigate, route } from "../lib/router";
import type { Store } from "../lib/store";
import { cycleTheme, theme } from "../lib/theme";
import { Chat } from "./chat";
import { StoreCtx, typing } from "./ctx";
import { HelpDialog, NewSessionDialog } from "./dialogs";
import { LoginView } from "./login";
import { SearchView } from "./search";
import { SessionList } from "./sessions";

export function App(props: { store: Store }): JSX.Element {
  const store = props.store;
  const [help, setHelp] = createSignal(false);
  const [creating, setCreating] = createSignal(false);
  const [filesOpen, setFilesOpen] = createSignal(false);
  const [status] = store.status;

  const switchSession = (delta: number) => {
    const list = store.sessions[0]();
    if (list.length === 0) return;
    const r = route();
    const i = list.findIndex((s) => s.id === r.session);
    const next = list[(i + delta + list.length) % list.length] ?? list[0];
    navigate({ name: "session", session: next.id });
  };

  const onKey = (ev: KeyboardEvent) => {
    if (ev.defaultPrevented) return;
    const r = route();
    if (ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      const k = ev.key.toLowerCase();
      if (k === "n" || ev.code === "KeyN") setCreating(true);
      else if (ev.code === "KeyK") navigate({ name: "search" });
      else if (ev.code === "KeyX" && r.session) void abort(r.session);
      else if (ev.code === "KeyF" && r.session) setFilesOpen((v) => !v);
      else if (ev.code === "KeyT") cycleTheme();
      else if (ev.key === "ArrowUp") switchSession(-1);
      else if (ev.key === "ArrowDown") switchSession(1);
      else return;
      ev.preventDefault();
      return;
    }
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "k") {
      ev.preventDefault();
      navigate({ name: "search" });
      return;
    }
    if (typing(ev)) return;
    if (ev.key === "?") {
      ev.preventDefault();
      setHelp(true);
    } else if (ev.key === "/") {
      ev.preventDefault();
      navigate({ name: "search" });
    }
  };

  const abort = async (session: string) => {
    try {
      await store.request({ type: "abort", session });
    } catch {
      // shown by the state the session reports
    }
  };

  onMount(() => {
    document.addEventListener("keydown", onKey);
    // Keep the composer above an on-screen keyboard (iOS does not resize the layout).
    const vv = window.visualViewport;
    const fit = () => {
      if (!vv) return;
      document.documentElement.style.setProperty("--app-height", `${Math.round(vv.height)}px`);
    };
    vv?.addEventListener("resize", fit);
    fit();
    onCleanup(() => {
      document.removeEventListener("keydown", onKey);
      vv?.removeEventListener("resize", fit);
    });
  });

  const statusText = () => {
    switch (status()) {
      case "open":
        return "connected";
      case "connecting":
        return store.conn.welcomes > 0 ? "reconnecting…" : "connecting…";
      case "runner_down":
        return "runner restarting…";
      default:
        return "offline, reconnecting…";
    }
  };

  const themeLabel = () => `Theme: ${theme()} (switch)`;

  return (
    <StoreCtx.Provider value={store}>
      <div class="app" classList={{ "in-session": route().name !== "home" }}>
        <header class="topbar">
          <a
            class="brand"
            href="/"
            onClick={(e) => {
              e.preventDefault();
              navigate({ name: "home" });
            }}
          >
            Oqto
          </a>
          <span
            class="conn"
            classList={{ ok: status() === "open" }}
            role="status"
            aria-live="polite"
            data-status={status()}
          >
            {statusText()}
          </span>
          <span class="spacer" />
          <button
            type="button"
            aria-label="Search history"
            title="Search (/)"
            onClick={() => navigate({ name: "search" })}
          >
            Search
          </button>
          <button
            type="button"
            aria-label="New session"
            title="New session (Alt+N)"
            onClick={() => setCreating(true)}
          >
            New
          </button>
          <button type="button" aria-label={themeLabel()} title={themeLabel()} onClick={cycleTheme}>
            {theme() === "system" ? "Auto" : theme() === "dark" ? "Dark" : "Light"}
          </button>
          <button
            type="button"
            aria-label="Keyboard shortcuts"
            title="Shortcuts (?)"
            onClick={() => setHelp(true)}
          >
            ?
          </button>
        </header>
        <Show when={store.failing[0]()}>
          <div class="banner" role="alert">
            Cannot reach the relay: {store.failing[0]()}. If you are not logged in,{" "}
            <a
              href="/login"
              onClick={(e) => {
                e.preventDefault();
                navigate({ name: "login" });
              }}
            >
              log in with your password
            </a>{" "}
            or open a login link (<code>oqtoctl web</code> prints one).
          </div>
        </Show>
        <div class="body">
          <aside class="sidebar" aria-label="Sessions">
            <SessionList onNew={() => setCreating(true)} />
          </aside>
          <main class="main">
            <Switch fallback={<Welcome onNew={() => setCreating(true)} />}>
              <Match when={route().name === "session" && route().session}>
                {(id) => (
                  <Chat
                    id={id()}
                    message={route().message}
                    filesOpen={filesOpen()}
                    setFilesOpen={setFilesOpen}
                  />
                )}
              </Match>
              <Match when={route().name === "login"}>
                <LoginView />
              </Match>
              <Match when={route().name === "search"}>
                <SearchView query={route().query ?? ""} />
              </Match>
            </Switch>
          </main>
        </div>
        <Show when={help()}>
          <HelpDialog onClose={() => setHelp(false)} />
        </Show>
        <Show when={creating()}>
          <NewSessionDialog onClose={() => setCreating(false)} />
        </Show>
      </div>
    </StoreCtx.Provider>
  );
}

function Welcome(props: { onNew: () => void }) {
  return (
    <div class="welcome">
      <p>Pick a session, or start a new one.</p>
      <button type="button" class="primary" onClick={props.onNew}>
        New session
      </button>
    </div>
  );
}
