// One session's view, rebuilt from the runner's events (docs/protocol.md, "Streaming a
// message" and "Subscribing and replay"). Plain data and plain functions, no framework:
// the store applies events here as they arrive and tells the page, once per animation
// frame, which messages changed.

import type {
  Answerer,
  Event,
  Message,
  Part,
  PermissionOption,
  PermissionTool,
  Phase,
  SessionInfo,
  State,
} from "../protocol/protocol";

/** An agent's request to run a tool, and how it was answered once it was. */
export interface Permission {
  request: string;
  tool: PermissionTool;
  options: PermissionOption[];
  resolved?: { option?: string; kind?: string; answered: Answerer };
}

/** Something to show between messages that is not a message: a session error, a retry. */
export interface Notice {
  key: string;
  /** Shown after this message (or at the top when null). */
  after: string | null;
  kind: "error" | "retry" | "closed" | "permission";
  text: string;
  permission?: Permission;
}

export interface SessionModel {
  id: string;
  info: SessionInfo | null;
  /** Message ids, oldest first. */
  order: string[];
  messages: Map<string, Message>;
  /** The newest seq applied; 0 before any. */
  lastSeq: number;
  /** Older stored messages exist (page them with `get_messages`). */
  hasMore: boolean;
  /** Raw JSON text of tool inputs being streamed, by part id. */
  toolInput: Map<string, string>;
  queue: { steering: string[]; follow_up: string[] };
  notices: Notice[];
  deleted: boolean;
  /** Seqs that arrived out of order (should never happen; counted for the tests). */
  gaps: number;
}

export function newModel(id: string): SessionModel {
  return {
    id,
    info: null,
    order: [],
    messages: new Map(),
    lastSeq: 0,
    hasMore: false,
    toolInput: new Map(),
    queue: { steering: [], follow_up: [] },
    notices: [],
    deleted: false,
    gaps: 0,
  };
}

/** What one event changed, for the page to re-render only that. */
export interface Change {
  /** Messages whose content changed. */
  dirty: Set<string>;
  /** The list itself changed (a message added or removed, a resync, a notice). */
  structural: boolean;
  /** Session info (state, title, model) changed. */
  info: boolean;
  /** Messages that just ended (stored), by client_msg_id when they carry one. */
  ended: Message[];
}

export function emptyChange(): Change {
  return { dirty: new Set(), structural: false, info: false, ended: [] };
}

function putMessage(m: SessionModel, msg: Message, ch: Change) {
  if (!m.messages.has(msg.id)) {
    m.order.push(msg.id);
    ch.structural = true;
  }
  m.messages.set(msg.id, msg);
  ch.dirty.add(msg.id);
}

function findPart(m: SessionModel, messageId: string, partId: string): Part | undefined {
  return m.messages.get(messageId)?.parts.find((p) => p.id === partId);
}

function replacePart(m: SessionModel, messageId: string, part: Part, ch: Change) {
  const msg = m.messages.get(messageId);
  if (!msg) return;
  const i = msg.parts.findIndex((p) => p.id === part.id);
  if (i >= 0) msg.parts[i] = part;
  else msg.parts.push(part);
  ch.dirty.add(messageId);
}

function setState(m: SessionModel, state: State, phase: Phase | undefined, reason?: string) {
  if (!m.info) return;
  m.info.state = state;
  if (phase) m.info.phase = phase;
  else delete m.info.phase;
  if (reason) m.info.reason = reason;
  else delete m.info.reason;
}

/** Replaces the view with a snapshot (a `resync`, or a first page of `get_messages`). */
export function loadSnapshot(
  m: SessionModel,
  messages: Message[],
  hasMore: boolean,
  inFlight: Message | undefined,
  ch: Change,
) {
  m.order = [];
  m.messages.clear();
  m.toolInput.clear();
  m.notices = [];
  for (const msg of messages) putMessage(m, msg, ch);
  if (inFlight) putMessage(m, inFlight, ch);
  m.hasMore = hasMore;
  ch.structural = true;
}

/** Prepends an older page (from `get_messages {before}`); ids already shown are skipped. */
export function prependPage(m: SessionModel, messages: Message[], hasMore: boolean): Change {
  const ch = emptyChange();
  const fresh = messages.filter((msg) => !m.messages.has(msg.id));
  for (const msg of fresh) m.messages.set(msg.id, msg);
  m.order = [...fresh.map((msg) => msg.id), ...m.order];
  m.hasMore = hasMore;
  ch.structural = fresh.length > 0;
  return ch;
}

/**
 * Applies one event. Events at or below the last applied seq are dropped (a replay that
 * overlaps what was seen), so applying the same stream twice changes nothing.
 */
export function applyEvent(m: SessionModel, ev: Event, ch: Change = emptyChange()): Change {
  if (ev.type === "resync") {
    m.info = ev.info;
    loadSnapshot(m, ev.messages, ev.has_more, ev.in_flight, ch);
    // Requests still waiting for an answer (a page reloaded while the agent asks): their
    // approval cards come back with the snapshot.
    for (const p of ev.info.permissions ?? []) {
      m.notices.push({
        key: `perm-${p.request}`,
        after: m.order.at(-1) ?? null,
        kind: "permission",
        text: p.tool.title,
        permission: { request: p.request, tool: p.tool, options: p.options },
      });
    }
    m.lastSeq = ev.seq;
    ch.info = true;
    return ch;
  }
  if (ev.seq <= m.lastSeq) return ch;
  if (m.lastSeq > 0 && ev.seq !== m.lastSeq + 1) m.gaps += 1;
  m.lastSeq = ev.seq;
  if (m.info) m.info.last_seq = ev.seq;
  switch (ev.type) {
    case "session.created":
    case "session.updated":
      m.info = { ...ev.info };
      ch.info = true;
      break;
    case "session.closed":
      m.notices.push({
        key: `n${ev.seq}`,
        after: m.order.at(-1) ?? null,
        kind: "closed",
        text: ev.reason ? `Session closed: ${ev.reason}` : "Session closed",
      });
      ch.structural = true;
      break;
    case "session.deleted":
      m.deleted = true;
      ch.info = true;
      break;
    case "state":
      setState(m, ev.state, ev.phase, ev.reason);
      if (m.info) m.info.last_activity = ev.ts;
      ch.info = true;
      break;
    case "message.start":
      if (!m.messages.has(ev.message_id)) {
        putMessage(
          m,
          {
            id: ev.message_id,
            session: ev.session,
            role: ev.role,
            parts: [],
            created_at: ev.ts,
            ...(ev.model ? { model: ev.model } : {}),
          },
          ch,
        );
      }
      break;
    case "part.start":
      replacePart(m, ev.message_id, structuredClone(ev.part), ch);
      break;
    case "part.delta": {
      const part = findPart(m, ev.message_id, ev.part_id);
      if (!part) break;
      if (part.type === "text" || part.type === "thinking") part.text += ev.delta;
      else if (part.type === "tool_call")
        m.toolInput.set(part.id, (m.toolInput.get(part.id) ?? "") + ev.delta);
      ch.dirty.add(ev.message_id);
      break;
    }
    case "part.end":
    case "tool.end":
      m.toolInput.delete(ev.part.id);
      replacePart(m, ev.message_id, ev.part, ch);
      break;
    case "message.end":
      putMessage(m, ev.message, ch);
      ch.ended.push(ev.message);
      break;
    case "tool.start": {
      const part = findPart(m, ev.message_id, ev.part_id);
      if (part && part.type === "tool_call") {
        part.status = "running";
        part.input = ev.input;
        ch.dirty.add(ev.message_id);
      }
      break;
    }
    case "tool.output": {
      const part = findPart(m, ev.message_id, ev.part_id);
      if (part && part.type === "tool_call") {
        part.output = (part.output ?? "") + ev.delta;
        ch.dirty.add(ev.message_id);
      }
      break;
    }
    case "queue.update":
      m.queue = { steering: ev.steering, follow_up: ev.follow_up };
      ch.info = true;
      break;
    case "retry.start":
      m.notices.push({
        key: `n${ev.seq}`,
        after: m.order.at(-1) ?? null,
        kind: "retry",
        text: `Retrying (attempt ${ev.attempt} of ${ev.max_attempts}) after: ${ev.error}`,
      });
      ch.structural = true;
      break;
    case "permission.request":
      m.notices.push({
        key: `perm-${ev.request}`,
        after: m.order.at(-1) ?? null,
        kind: "permission",
        text: ev.tool.title,
        permission: { request: ev.request, tool: ev.tool, options: ev.options },
      });
      ch.structural = true;
      break;
    case "permission.resolved": {
      const n = m.notices.find((x) => x.permission?.request === ev.request);
      if (n?.permission) {
        // A new object, so the card re-renders.
        const resolved = {
          answered: ev.answered,
          ...(ev.option !== undefined ? { option: ev.option } : {}),
          ...(ev.kind !== undefined ? { kind: ev.kind } : {}),
        };
        n.permission = { ...n.permission, resolved };
        ch.structural = true;
      }
      break;
    }
    case "session.error":
      m.notices.push({
        key: `n${ev.seq}`,
        after: m.order.at(-1) ?? null,
        kind: "error",
        text: `${ev.code}: ${ev.message}`,
      });
      ch.structural = true;
      break;
    case "model.changed":
      if (m.info) m.info.model = ev.model;
      ch.info = true;
      break;
    default:
      break;
  }
  return ch;
}

/** Rows of the message list: messages with the notices that follow them. */
export type Row = { kind: "message"; id: string } | { kind: "notice"; notice: Notice };

export function rows(m: SessionModel): Row[] {
  const out: Row[] = [];
  const byAfter = new Map<string | null, Notice[]>();
  for (const n of m.notices) {
    const list = byAfter.get(n.after) ?? [];
    list.push(n);
    byAfter.set(n.after, list);
  }
  for (const n of byAfter.get(null) ?? []) out.push({ kind: "notice", notice: n });
  for (const id of m.order) {
    out.push({ kind: "message", id });
    for (const n of byAfter.get(id) ?? []) out.push({ kind: "notice", notice: n });
  }
  return out;
}

/** The text of a message's text parts, joined (what a user message says). */
export function messageText(msg: Message): string {
  return msg.parts
    .filter((p): p is Extract<Part, { type: "text" }> => p.type === "text")
    .map((p) => p.text)
    .join("\n");
}
