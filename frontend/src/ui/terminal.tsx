// A terminal pane: one runner terminal for the session, through the relay's `terminal`
// channel, in xterm.js (loaded with this pane). Its id is kept in sessionStorage, so after
// a reload (or a reconnect) the pane attaches again from offset 0 and shows the scrollback.

import "@xterm/xterm/css/xterm.css";
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { createSignal, type JSX, onCleanup, onMount, Show } from "solid-js";
import type { RequestError } from "../lib/conn";
import { effectiveTheme } from "../lib/theme";
import type { Reply } from "../protocol/protocol";
import { useStore } from "./ctx";

type TerminalReply = Extract<Reply, { type: "terminal" }>;
const key = (session: string) => `oqto.terminal.${session}`;

export default function TerminalPane(props: { session: string; onClose: () => void }): JSX.Element {
  const store = useStore();
  const conn = store.conn;
  const [status, setStatus] = createSignal("starting…");
  let host!: HTMLDivElement;
  let term: Terminal | null = null;
  let id: string | null = sessionStorage.getItem(key(props.session));
  // The next output offset expected: output before it (a repeat after re-attaching) is skipped.
  let next = 0;
  const cleanups: Array<() => void> = [];

  const attach = async () => {
    if (!term) return;
    try {
      if (id) {
        try {
          await conn.terminalRequest<TerminalReply>({
            type: "terminal.attach",
            terminal: id,
            after_offset: 0,
          });
          setStatus("");
          return;
        } catch (e) {
          if ((e as RequestError).code !== "terminal_not_found") throw e;
          id = null;
        }
      }
      const r = await conn.terminalRequest<TerminalReply>({
        type: "terminal.open",
        session: props.session,
        cols: term.cols,
        rows: term.rows,
      });
      id = r.terminal.id;
      sessionStorage.setItem(key(props.session), id);
      term.reset();
      next = 0;
      await conn.terminalRequest<TerminalReply>({
        type: "terminal.attach",
        terminal: id,
        after_offset: 0,
      });
      setStatus("");
    } catch (e) {
      setStatus(`Terminal: ${(e as Error).message}`);
    }
  };

  onMount(() => {
    const dark = effectiveTheme() === "dark";
    term = new Terminal({
      convertEol: false,
      fontSize: 13,
      scrollback: 5000,
      theme: dark
        ? { background: "#16181c" }
        : { background: "#ffffff", foreground: "#1c1e21", cursor: "#1c1e21" },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host);
    fit.fit();
    term.textarea?.setAttribute("aria-label", "Terminal input");
    const enc = new TextEncoder();
    term.onData((d) => {
      if (id) conn.terminalInput(id, enc.encode(d));
    });
    term.onResize(({ cols, rows }) => {
      if (id && conn.ready)
        void conn
          .terminalRequest({ type: "terminal.resize", terminal: id, cols, rows })
          .catch(() => {});
    });
    const ro = new ResizeObserver(() => fit.fit());
    ro.observe(host);
    cleanups.push(() => ro.disconnect());
    cleanups.push(
      conn.onTerminalOutput((tid, offset, bytes) => {
        if (tid !== id || !term) return;
        const end = offset + bytes.length;
        if (end <= next) return;
        term.write(offset < next ? bytes.subarray(next - offset) : bytes);
        next = end;
      }),
    );
    cleanups.push(
      conn.onTerminalEvent((msg) => {
        if (msg.terminal !== id) return;
        if (msg.type === "terminal.truncated") term?.write("\r\n[earlier output dropped]\r\n");
        if (msg.type === "terminal.closed") {
          setStatus("The terminal ended.");
          sessionStorage.removeItem(key(props.session));
          id = null;
        }
      }),
    );
    // Attach now, and again after every reconnect (a new socket has no attachment).
    cleanups.push(conn.onReady(() => void attach()));
    if (conn.ready) void attach();
  });

  onCleanup(() => {
    for (const c of cleanups) c();
    if (id && conn.ready)
      void conn.terminalRequest({ type: "terminal.detach", terminal: id }).catch(() => {});
    term?.dispose();
  });

  const restart = async () => {
    if (id) await conn.terminalRequest({ type: "terminal.close", terminal: id }).catch(() => {});
    sessionStorage.removeItem(key(props.session));
    id = null;
    await attach();
  };

  return (
    <aside class="files terminal-pane" aria-label="Terminal">
      <div class="files-head">
        <strong>Terminal</strong>
        <span class="spacer" />
        <button
          type="button"
          aria-label="Close the terminal and start a new one"
          onClick={() => void restart()}
        >
          New
        </button>
        <button type="button" aria-label="Close the terminal pane" onClick={props.onClose}>
          ✕
        </button>
      </div>
      <Show when={status()}>
        <p class="status small" role="status">
          {status()}
        </p>
      </Show>
      <div class="term-host" ref={host} data-testid="terminal" />
    </aside>
  );
}
