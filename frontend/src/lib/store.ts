// The page's state over one Conn: the sessions list, one view per opened session (kept
// subscribed, resubscribed with its last seq after every reconnect), and the outbox of
// sends. Events are applied to plain models as they arrive; the page hears about them once
// per animation frame, per message, so a burst of deltas costs one render.

import { type Accessor, createSignal, type Setter } from "solid-js";
import type {
  Event,
  ImageInput,
  Message,
  RelayWelcome,
  Reply,
  SessionInfo,
} from "../protocol/protocol";
import { type Conn, type ConnStatus, RequestError } from "./conn";
import { type KV, Outbox, type OutItem, type SendKind } from "./outbox";
import {
  applyEvent,
  type Change,
  emptyChange,
  loadSnapshot,
  newModel,
  prependPage,
  type Row,
  rows,
  type SessionModel,
} from "./session-model";

type Sig<T> = [Accessor<T>, Setter<T>];

/**
 * The `after_seq` of a first subscribe: beyond any seq, so the runner answers with a
 * `resync` (`seq_from_future`) carrying the newest stored messages, the message in flight
 * and the seq they reflect, then continues live. Replaying the ring from seq 0 instead
 * would miss messages that never were events here (a fork's copied history, imports).
 */
export const SNAPSHOT = Number.MAX_SAFE_INTEGER;

export class View {
  readonly model: SessionModel;
  readonly rows: Sig<Row[]>;
  readonly info: Sig<SessionInfo | null>;
  readonly missing: Sig<string>;
  /** The queue of steers and follow-ups the runner reported. */
  readonly queue: Sig<{ steering: string[]; follow_up: string[] }>;
  private versions = new Map<string, Sig<number>>();
  pending: Change | null = null;
  subscribed = false;
  subscribing = false;
  /** A (re)connect asked to subscribe while a subscribe was still under way. */
  again = false;

  constructor(id: string) {
    this.model = newModel(id);
    this.rows = createSignal<Row[]>([]);
    this.info = createSignal<SessionInfo | null>(null, { equals: false });
    this.missing = createSignal("");
    this.queue = createSignal(this.model.queue);
  }

  version(id: string): Sig<number> {
    let v = this.versions.get(id);
    if (!v) {
      v = createSignal(0);
      this.versions.set(id, v);
    }
    return v;
  }

  /** The message, tracked: a component that reads it re-renders when it changes. */
  message(id: string): Message | undefined {
    this.version(id)[0]();
    return this.model.messages.get(id);
  }

  /** Raw tool input text while it streams. */
  toolInput(partId: string): string | undefined {
    return this.model.toolInput.get(partId);
  }
}

function sessionStorageKV(): KV | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

export class Store {
  readonly sessions: Sig<SessionInfo[]> = createSignal<SessionInfo[]>([]);
  readonly status: Sig<ConnStatus> = createSignal<ConnStatus>("connecting");
  readonly welcome: Sig<RelayWelcome | null> = createSignal<RelayWelcome | null>(null);
  readonly outboxVersion: Sig<number> = createSignal(0);
  readonly views = new Map<string, View>();
  readonly outbox: Outbox;
  /** Sessions loaded at least once by session.list (to tell "not yet" from "none"). */
  readonly listed: Sig<boolean> = createSignal(false);
  readonly seen: Map<string, number>;
  /** Why the first connection keeps failing (not logged in, relay down); "" once welcomed. */
  readonly failing: Sig<string> = createSignal("");
  private scheduled = false;
  private dirtyViews = new Set<View>();
  private pollTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly conn: Conn,
    kv: KV | null = sessionStorageKV(),
  ) {
    this.outbox = new Outbox(kv, () => this.outboxVersion[1]((v) => v + 1));
    this.seen = loadSeen();
    conn.onEvent((ev) => this.onEvent(ev));
    conn.onStatus((s) => {
      this.status[1](s);
      if (s === "closed" && conn.welcomes === 0) this.failing[1](conn.lastError);
      if (s !== "open") for (const v of this.views.values()) v.subscribed = false;
    });
    conn.onReady(() => {
      this.welcome[1](conn.welcome);
      this.failing[1]("");
      this.status[1]("open");
      for (const v of this.views.values()) void this.subscribe(v);
      void this.refreshSessions();
      void this.flushOutbox();
    });
  }

  start() {
    this.conn.start();
    this.pollTimer ??= setInterval(() => {
      if (this.conn.ready && globalThis.document?.visibilityState !== "hidden") {
        void this.refreshSessions();
      }
    }, 5000);
  }

  async request<R extends Reply>(cmd: Parameters<Conn["request"]>[0]): Promise<R> {
    return this.conn.request<R>(cmd);
  }

  async refreshSessions() {
    try {
      const r = await this.conn.request<Extract<Reply, { type: "sessions" }>>({
        type: "session.list",
      });
      // Subscribed views know the newest state; the list may be a moment older.
      const list = r.sessions.map((s) => {
        const v = this.views.get(s.id);
        const live = v?.subscribed ? v.model.info : null;
        return live && live.last_seq >= s.last_seq ? { ...live } : s;
      });
      this.sessions[1](list);
      this.listed[1](true);
    } catch {
      // Disconnected: the next welcome lists again.
    }
  }

  /** The view of a session, subscribing to it when new. */
  open(id: string): View {
    let v = this.views.get(id);
    if (!v) {
      v = new View(id);
      this.views.set(id, v);
      const known = this.sessions[0]().find((s) => s.id === id);
      if (known) {
        v.model.info = { ...known };
        v.info[1]({ ...known });
      }
      if (this.conn.ready) void this.subscribe(v);
    }
    this.markSeen(id);
    return v;
  }

  markSeen(id: string) {
    const v = this.views.get(id);
    const seq = v?.model.lastSeq || this.sessions[0]().find((s) => s.id === id)?.last_seq || 0;
    if ((this.seen.get(id) ?? 0) < seq) {
      this.seen.set(id, seq);
      saveSeen(this.seen);
    }
  }

  unread(s: SessionInfo): boolean {
    const seen = this.seen.get(s.id);
    return seen !== undefined && s.last_seq > seen;
  }

  private async subscribe(v: View) {
    if (v.subscribing) {
      v.again = true;
      return;
    }
    v.subscribing = true;
    try {
      await this.conn.request({
        type: "session.subscribe",
        session: v.model.id,
        after_seq: v.model.lastSeq > 0 ? v.model.lastSeq : SNAPSHOT,
      });
      v.subscribed = true;
      v.missing[1]("");
    } catch (e) {
      const err = e as RequestError;
      if (err.code === "session_not_found") v.missing[1](err.message);
    } finally {
      v.subscribing = false;
      if (v.again && this.conn.ready) {
        v.again = false;
        void this.subscribe(v);
      }
    }
  }

  private onEvent(ev: Event) {
    const v = this.views.get(ev.session);
    if (!v) return;
    v.pending ??= emptyChange();
    const before = v.model.lastSeq;
    const wasWorking = v.model.info?.state === "working";
    applyEvent(v.model, ev, v.pending);
    if (ev.type === "permission.request" && ev.seq > before) {
      notifyHidden(v.model.info, `asking to ${ev.tool.kind}: ${ev.tool.title}`);
    }
    if (ev.type === "state" && wasWorking && ev.state !== "working" && ev.seq > before) {
      notifyHidden(v.model.info, ev.state === "error" ? `failed: ${ev.reason ?? ""}` : "done");
    }
    if (ev.type === "resync") {
      for (const msg of v.model.messages.values()) {
        if (msg.client_msg_id) this.outbox.confirm(msg.client_msg_id);
      }
    }
    if (ev.type === "state" && ev.state !== "working" && ev.seq > before) {
      this.outbox.settle(ev.session, ev.seq);
    }
    this.schedule(v);
  }

  private schedule(v: View) {
    this.dirtyViews.add(v);
    if (this.scheduled) return;
    this.scheduled = true;
    let done = false;
    const run = () => {
      if (done) return;
      done = true;
      this.flush();
    };
    if (typeof requestAnimationFrame === "function") requestAnimationFrame(run);
    // A hidden tab gets no animation frames; it still keeps its views current.
    setTimeout(run, 250);
  }

  /** Tells the page what changed since the last frame. */
  flush() {
    this.scheduled = false;
    const views = [...this.dirtyViews];
    this.dirtyViews.clear();
    for (const v of views) {
      const ch = v.pending;
      v.pending = null;
      if (!ch) continue;
      for (const msg of ch.ended) {
        if (msg.client_msg_id) this.outbox.confirm(msg.client_msg_id);
      }
      if (ch.structural) v.rows[1](rows(v.model));
      for (const id of ch.dirty) {
        const [, set] = v.version(id);
        set((n) => n + 1);
      }
      if (ch.info || ch.structural) {
        // A fresh object: memos downstream compare by identity, and the model's is mutated.
        v.info[1](v.model.info ? { ...v.model.info } : null);
        v.queue[1]({ ...v.model.queue });
        const info = v.model.info;
        if (info) this.updateListed(info, v.model.deleted);
      }
    }
  }

  private updateListed(info: SessionInfo, deleted: boolean) {
    const list = this.sessions[0]();
    const i = list.findIndex((s) => s.id === info.id);
    if (deleted) {
      if (i >= 0) this.sessions[1](list.filter((s) => s.id !== info.id));
      return;
    }
    const next = [...list];
    if (i >= 0) next[i] = { ...info };
    else next.unshift({ ...info });
    this.sessions[1](next);
  }

  /** Loads the page of messages before the oldest shown. */
  async loadOlder(v: View): Promise<boolean> {
    if (!v.model.hasMore) return false;
    const before = v.model.order[0];
    const r = await this.conn.request<Extract<Reply, { type: "messages" }>>({
      type: "get_messages",
      session: v.model.id,
      ...(before ? { before } : {}),
      limit: 100,
    });
    const ch = prependPage(v.model, r.messages, r.has_more);
    if (ch.structural) v.rows[1](rows(v.model));
    return ch.structural;
  }

  /** Makes sure a message is loaded (paging back as far as needed). */
  async reveal(v: View, messageId: string): Promise<boolean> {
    for (let i = 0; i < 200 && !v.model.messages.has(messageId); i++) {
      if (!(await this.loadOlder(v))) break;
    }
    return v.model.messages.has(messageId);
  }

  /** A snapshot from `get_messages`, for a session this tab cannot subscribe to. */
  async loadStored(v: View) {
    const r = await this.conn.request<Extract<Reply, { type: "messages" }>>({
      type: "get_messages",
      session: v.model.id,
      limit: 100,
    });
    const ch = emptyChange();
    loadSnapshot(v.model, r.messages, r.has_more, undefined, ch);
    v.rows[1](rows(v.model));
  }

  send(session: string, kind: SendKind, text: string, images?: ImageInput[]): OutItem {
    const item = this.outbox.add(session, kind, text, Date.now(), images);
    void this.flushOutbox();
    return item;
  }

  retry(item: OutItem) {
    this.outbox.discard(item.cmid);
    this.send(item.session, item.kind, item.text, item.images);
  }

  async flushOutbox() {
    await this.outbox.flush(
      async (item) => {
        await this.conn.request({
          type: item.kind,
          session: item.session,
          text: item.text,
          ...(item.images ? { images: item.images } : {}),
          client_msg_id: item.cmid,
        });
        return this.views.get(item.session)?.model.lastSeq ?? 0;
      },
      () => this.conn.ready,
    );
  }
}

/** A browser notification when a turn ends while the tab is hidden (if the user allowed). */
function notifyHidden(info: SessionInfo | null, what: string) {
  if (typeof document === "undefined" || document.visibilityState !== "hidden") return;
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  const name = info?.title ?? info?.cwd ?? "a session";
  new Notification(`Oqto: ${name}`, { body: `The agent is ${what}.`, tag: info?.id });
}

/** Asks for notification permission once, from a user's action (sending a prompt). */
export function askNotifications() {
  if (typeof Notification !== "undefined" && Notification.permission === "default") {
    void Notification.requestPermission().catch(() => {});
  }
}

const SEEN_KEY = "oqto.seen";

function loadSeen(): Map<string, number> {
  try {
    const raw = globalThis.localStorage?.getItem(SEEN_KEY);
    return new Map(Object.entries(JSON.parse(raw ?? "{}") as Record<string, number>));
  } catch {
    return new Map();
  }
}

function saveSeen(seen: Map<string, number>) {
  try {
    globalThis.localStorage?.setItem(SEEN_KEY, JSON.stringify(Object.fromEntries(seen)));
  } catch {
    // private mode: unread markers are not kept
  }
}

export { RequestError };
