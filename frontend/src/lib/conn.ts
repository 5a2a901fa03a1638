// One WebSocket per tab to oqto-relay's /ws, carrying the envelope of docs/protocol.md
// ("The relay's WebSocket"). It says hello, waits for the relay's welcome, answers pings,
// pings on its own (a hidden tab that comes back stale reconnects at once), reconnects
// with a growing pause, and matches replies to requests by id. What to do after a
// (re)connect (resubscribing, resending queued prompts) belongs to the stores, which
// register with `onReady`.

import type {
  ClientMessage,
  Command,
  ErrorCode,
  Event,
  FilesClientMessage,
  FilesServerMessage,
  RelayFrame,
  RelayWelcome,
  Reply,
  ServerMessage,
} from "../protocol/protocol";
import { PROTOCOL_VERSION } from "../protocol/protocol";

export type ConnStatus = "connecting" | "open" | "runner_down" | "closed";

/** A failed request: the protocol's error code, or `disconnected` when the socket went away. */
export class RequestError extends Error {
  constructor(
    readonly code: ErrorCode | "disconnected",
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

export interface Socket {
  readyState: number;
  binaryType: BinaryType;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

export interface ConnOptions {
  url: string;
  /** Makes the socket; tests pass a fake. */
  socket?: (url: string) => Socket;
  /** Clock and timers, for tests. */
  now?: () => number;
  client?: string;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: RequestError) => void;
}

/** What a files request collects: its `data` chunks in order, then the reply. */
interface FilesPending extends Pending {
  chunks: Uint8Array[];
}

type FilesMsgHandler = (root: string, msg: FilesServerMessage) => void;

/** A text message of the terminal channel (the runner's shapes). */
interface TermMsg {
  type: string;
  id?: string | null;
  terminal?: string;
  result?: unknown;
  code?: string;
  message?: string;
}

export class Conn {
  status: ConnStatus = "connecting";
  welcome: RelayWelcome | null = null;
  /** Why the last connection failed, for people. */
  lastError = "";
  /** How many times a welcome arrived (1 on the first connect). */
  welcomes = 0;
  private ws: Socket | null = null;
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private filesPending = new Map<string, FilesPending>();
  private expectBinary: string | null = null;
  private lastHeard = 0;
  private retryMs = 250;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private readonly now: () => number;
  private readonly makeSocket: (url: string) => Socket;
  private readyHandlers: Array<() => void> = [];
  private eventHandlers: Array<(ev: Event) => void> = [];
  private statusHandlers: Array<(s: ConnStatus) => void> = [];
  private filesHandlers: FilesMsgHandler[] = [];
  private rawHandlers: Array<(frame: RelayFrame) => void> = [];
  private termPending = new Map<string, Pending>();
  private termOutput: Array<(id: string, offset: number, bytes: Uint8Array) => void> = [];
  private termEvents: Array<(msg: { type: string; terminal?: string }) => void> = [];

  constructor(readonly opts: ConnOptions) {
    this.now = opts.now ?? (() => Date.now());
    this.makeSocket = opts.socket ?? ((url) => new WebSocket(url) as unknown as Socket);
  }

  /** Called after every welcome (first connect, reconnect, runner back). */
  onReady(fn: () => void): () => void {
    this.readyHandlers.push(fn);
    return () => {
      this.readyHandlers = this.readyHandlers.filter((h) => h !== fn);
    };
  }
  onEvent(fn: (ev: Event) => void) {
    this.eventHandlers.push(fn);
  }
  onStatus(fn: (s: ConnStatus) => void) {
    this.statusHandlers.push(fn);
  }
  /** Listens to every files message; returns a function that stops listening. */
  onFiles(fn: FilesMsgHandler): () => void {
    this.filesHandlers.push(fn);
    return () => {
      this.filesHandlers = this.filesHandlers.filter((h) => h !== fn);
    };
  }
  /** Terminal output bytes (binary frames of the `terminal` channel). */
  onTerminalOutput(fn: (id: string, offset: number, bytes: Uint8Array) => void): () => void {
    this.termOutput.push(fn);
    return () => {
      this.termOutput = this.termOutput.filter((h) => h !== fn);
    };
  }
  /** Terminal events (`terminal.exit`, `terminal.closed`, …) and errors without a request. */
  onTerminalEvent(fn: (msg: { type: string; terminal?: string }) => void): () => void {
    this.termEvents.push(fn);
    return () => {
      this.termEvents = this.termEvents.filter((h) => h !== fn);
    };
  }

  /** Every text frame, for channels this file does not know (terminal, permissions). */
  onFrame(fn: (frame: RelayFrame) => void) {
    this.rawHandlers.push(fn);
  }

  start() {
    this.stopped = false;
    this.open();
    if (!this.heartbeat) this.heartbeat = setInterval(() => this.tick(), 5000);
  }

  stop() {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, "bye");
    this.ws = null;
  }

  /** Drops the socket and connects again now (a stale connection, or the user asked). */
  reconnect(reason: string) {
    this.lastError = reason;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(4000, reason.slice(0, 100));
      } catch {
        // already closed
      }
    }
    this.failAll("the connection was replaced");
    this.retryMs = 250;
    this.open();
  }

  /** The tab became visible: a connection silent for longer than a ping interval is stale. */
  visible() {
    if (this.status !== "open" && this.status !== "runner_down") {
      if (this.timer) clearTimeout(this.timer);
      this.retryMs = 250;
      this.open();
      return;
    }
    const limit = (this.welcome?.ping_interval_ms ?? 15000) + 5000;
    if (this.now() - this.lastHeard > limit) this.reconnect("stale after the tab was hidden");
    else this.sendRaw({ ch: "relay", msg: { type: "ping" } });
  }

  private setStatus(s: ConnStatus) {
    if (this.status === s) return;
    this.status = s;
    for (const fn of this.statusHandlers) fn(s);
  }

  private open() {
    if (this.stopped) return;
    this.setStatus("connecting");
    let ws: Socket;
    try {
      ws = this.makeSocket(this.opts.url);
    } catch (e) {
      this.lastError = String(e);
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.lastHeard = this.now();
      const hello: RelayFrame = {
        ch: "relay",
        msg: { type: "hello", protocol: PROTOCOL_VERSION, client: this.opts.client ?? "oqto-web" },
      };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastHeard = this.now();
      if (typeof ev.data === "string") this.onText(ev.data);
      else this.onBinary(new Uint8Array(ev.data as ArrayBuffer));
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.welcomes === 0 || this.status === "connecting") {
        this.lastError =
          ev.code === 1006
            ? "the relay refused or could not be reached (not logged in, or not running)"
            : `closed (${ev.code})`;
      } else {
        this.lastError = `the connection closed (${ev.code})`;
      }
      this.failAll("the connection closed");
      this.setStatus("closed");
      this.scheduleRetry();
    };
    ws.onerror = () => {};
  }

  private scheduleRetry() {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const wait = this.retryMs * (0.75 + Math.random() * 0.5);
    this.retryMs = Math.min(this.retryMs * 2, 5000);
    this.timer = setTimeout(() => this.open(), wait);
  }

  private tick() {
    if (this.status !== "open" && this.status !== "runner_down") return;
    const interval = this.welcome?.ping_interval_ms ?? 15000;
    const silent = this.now() - this.lastHeard;
    if (silent > interval * 3) this.reconnect("no answer from the relay");
    else if (silent > interval) this.sendRaw({ ch: "relay", msg: { type: "ping" } });
  }

  private failAll(why: string) {
    this.expectBinary = null;
    const all = [
      ...this.pending.values(),
      ...this.filesPending.values(),
      ...this.termPending.values(),
    ];
    this.pending.clear();
    this.filesPending.clear();
    this.termPending.clear();
    for (const p of all) p.reject(new RequestError("disconnected", why));
  }

  private onText(text: string) {
    let frame: RelayFrame;
    try {
      frame = JSON.parse(text) as RelayFrame;
    } catch {
      return;
    }
    for (const fn of this.rawHandlers) fn(frame);
    if (frame.ch === "relay") this.onRelay(frame.msg);
    else if (frame.ch === "agent") this.onAgent(frame.msg as ServerMessage);
    else if (frame.ch === "files") this.onFilesMsg(frame.root, frame.msg as FilesServerMessage);
    else if ((frame as { ch: string }).ch === "terminal") {
      this.onTerminalMsg((frame as unknown as { msg: TermMsg }).msg);
    }
  }

  private onRelay(msg: Extract<RelayFrame, { ch: "relay" }>["msg"]) {
    switch (msg.type) {
      case "welcome":
        this.welcome = msg;
        this.welcomes += 1;
        this.retryMs = 250;
        this.lastError = "";
        this.setStatus("open");
        for (const fn of this.readyHandlers) fn();
        break;
      case "ping":
        this.sendRaw({ ch: "relay", msg: { type: "pong" } });
        break;
      case "error": {
        if (msg.id != null) {
          const p = this.pending.get(msg.id) ?? this.filesPending.get(msg.id);
          this.pending.delete(msg.id);
          this.filesPending.delete(msg.id);
          // A request the relay could not pass on is as good as never sent.
          const code = msg.code === "runner_unavailable" ? "disconnected" : msg.code;
          p?.reject(new RequestError(code, msg.message));
        } else if (msg.code === "runner_unavailable") {
          this.lastError = msg.message;
          this.failAll(msg.message);
          this.setStatus("runner_down");
        } else {
          this.lastError = msg.message;
        }
        break;
      }
      default:
        break;
    }
  }

  private onAgent(msg: ServerMessage) {
    if (msg.type === "ok" || msg.type === "error") {
      const id = msg.id;
      if (id == null) {
        if (msg.type === "error") this.lastError = msg.message;
        return;
      }
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (msg.type === "ok") p.resolve(msg.result);
      else p.reject(new RequestError(msg.code, msg.message, msg.offset));
      return;
    }
    if (msg.type === "welcome") return;
    if ("seq" in msg && "session" in msg) {
      for (const fn of this.eventHandlers) fn(msg as Event);
    }
  }

  private onFilesMsg(root: string, msg: FilesServerMessage) {
    for (const fn of this.filesHandlers) fn(root, msg);
    if (msg.type === "data") {
      this.expectBinary = msg.id;
      return;
    }
    if (msg.type === "ok" || msg.type === "error") {
      if (msg.id == null) return;
      const p = this.filesPending.get(msg.id);
      if (!p) return;
      this.filesPending.delete(msg.id);
      if (msg.type === "ok") p.resolve({ result: msg.result, data: p.chunks });
      else p.reject(new RequestError(msg.code, msg.message, msg.offset));
    }
  }

  private onTerminalMsg(msg: TermMsg) {
    if ((msg.type === "ok" || msg.type === "error") && msg.id != null) {
      const p = this.termPending.get(msg.id);
      if (p) {
        this.termPending.delete(msg.id);
        if (msg.type === "ok") p.resolve(msg.result);
        else p.reject(new RequestError(msg.code as ErrorCode, msg.message ?? ""));
        return;
      }
    }
    for (const fn of this.termEvents) fn(msg);
  }

  private onBinary(bytes: Uint8Array) {
    const id = this.expectBinary;
    this.expectBinary = null;
    if (id != null) {
      this.filesPending.get(id)?.chunks.push(bytes);
      return;
    }
    // Terminal output: 0x01 | n | id (n bytes) | offset (u64 big-endian) | bytes.
    if (bytes[0] === 1 && bytes.length >= 10) {
      const n = bytes[1];
      const term = new TextDecoder().decode(bytes.subarray(2, 2 + n));
      const view = new DataView(bytes.buffer, bytes.byteOffset + 2 + n, 8);
      const offset = Number(view.getBigUint64(0));
      const data = bytes.subarray(10 + n);
      for (const fn of this.termOutput) fn(term, offset, data);
    }
  }

  /** A `terminal.*` request on the terminal channel; resolves with its reply. */
  terminalRequest<R>(cmd: Record<string, unknown> & { type: string }): Promise<R> {
    if (!this.ready) {
      return Promise.reject(new RequestError("disconnected", "not connected to the relay"));
    }
    const id = this.newId("t");
    return new Promise<R>((resolve, reject) => {
      this.termPending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws?.send(JSON.stringify({ ch: "terminal", msg: { id, ...cmd } }));
    });
  }

  /** Input bytes for a terminal: 0x02 | n | id (n bytes) | bytes. */
  terminalInput(term: string, data: Uint8Array) {
    const ws = this.ws;
    if (ws?.readyState !== 1) return false;
    const id = new TextEncoder().encode(term);
    const frame = new Uint8Array(2 + id.length + data.length);
    frame[0] = 2;
    frame[1] = id.length;
    frame.set(id, 2);
    frame.set(data, 2 + id.length);
    ws.send(frame);
    return true;
  }

  private sendRaw(frame: RelayFrame): boolean {
    const ws = this.ws;
    if (ws?.readyState !== 1) return false;
    if (!ws) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  private newId(prefix: string) {
    return `${prefix}${this.nextId++}`;
  }

  get ready() {
    return this.status === "open" && this.ws != null;
  }

  /** Sends one runner command; resolves with its reply, rejects with a RequestError. */
  request<R extends Reply = Reply>(cmd: Command): Promise<R> {
    if (!this.ready) {
      return Promise.reject(new RequestError("disconnected", "not connected to the relay"));
    }
    const id = this.newId("w");
    const msg = { id, ...cmd } as ClientMessage;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sendRaw({ ch: "agent", msg });
    });
  }

  /**
   * Sends one file server request for the workspace of session `root`, with an optional
   * binary frame after it (an `upload.chunk`'s bytes). Resolves with the reply and the
   * bytes of every `data` frame that came before it.
   */
  filesRequest<R>(
    root: string,
    cmd: Record<string, unknown> & { type: string },
    bytes?: Uint8Array,
  ): Promise<{ result: R; data: Uint8Array[] }> {
    if (!this.ready) {
      return Promise.reject(new RequestError("disconnected", "not connected to the relay"));
    }
    const id = this.newId("f");
    const msg = { id, ...cmd } as unknown as FilesClientMessage;
    return new Promise((resolve, reject) => {
      this.filesPending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        chunks: [],
      });
      this.sendRaw({ ch: "files", root, msg });
      if (bytes) this.ws?.send(bytes);
    });
  }
}

/** The relay's /ws address for this page. */
export function wsUrl(loc: { protocol: string; host: string }): string {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/ws`;
}
