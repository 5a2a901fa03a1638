// Prompts, steers and follow-ups on their way to the runner. Each gets a client_msg_id
// when typed; it is shown as pending until the user message that carries the id arrives.
// While the socket is down sends wait here; on every (re)connect they are sent in order,
// and one whose answer was lost is sent again with the same id, which the runner answers
// with its first answer instead of running it twice (docs/protocol.md, "Sending once").
// The queue lives in sessionStorage, so a reload of the tab does not lose it.

import type { ImageInput } from "../protocol/protocol";

export type SendKind = "prompt" | "steer" | "follow_up";

export interface OutItem {
  cmid: string;
  session: string;
  kind: SendKind;
  text: string;
  /** Images sent with a prompt (base64), when the harness takes them. */
  images?: ImageInput[];
  /** queued: not sent yet; sending: sent, no answer yet; sent: accepted; failed: refused. */
  state: "queued" | "sending" | "sent" | "failed";
  error?: string;
  /** The session's last seq when the runner accepted it. */
  ackSeq?: number;
  created: number;
}

export interface KV {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Why a send failed: `disconnected` keeps it queued, any other code fails it. */
export interface SendError {
  code: string;
  message: string;
}

const KEY = "oqto.outbox";

export function newCmid(): string {
  const c = globalThis.crypto;
  if (c && "randomUUID" in c) return c.randomUUID();
  return `cm-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export class Outbox {
  items: OutItem[] = [];
  private flushing = false;
  private again = false;

  constructor(
    private readonly kv: KV | null,
    private readonly onChange: () => void = () => {},
  ) {
    if (kv) {
      try {
        const saved = JSON.parse(kv.getItem(KEY) ?? "[]") as OutItem[];
        if (Array.isArray(saved)) this.items = saved;
      } catch {
        this.items = [];
      }
    }
  }

  private save() {
    try {
      this.kv?.setItem(KEY, JSON.stringify(this.items));
    } catch {
      // Storage full (large images): the queue still lives in memory for this page.
    }
    this.onChange();
  }

  add(
    session: string,
    kind: SendKind,
    text: string,
    now = Date.now(),
    images?: ImageInput[],
  ): OutItem {
    const item: OutItem = { cmid: newCmid(), session, kind, text, state: "queued", created: now };
    if (images?.length) item.images = images;
    this.items.push(item);
    this.save();
    return item;
  }

  forSession(session: string): OutItem[] {
    return this.items.filter((i) => i.session === session);
  }

  /** The user message carrying `cmid` arrived: the send is done. */
  confirm(cmid: string): boolean {
    const before = this.items.length;
    this.items = this.items.filter((i) => i.cmid !== cmid);
    if (this.items.length !== before) {
      this.save();
      return true;
    }
    return false;
  }

  /** The turn of accepted sends ended (the session went idle after `seq`). */
  settle(session: string, seq: number) {
    const before = this.items.length;
    this.items = this.items.filter(
      (i) => !(i.session === session && i.state === "sent" && (i.ackSeq ?? 0) < seq),
    );
    if (this.items.length !== before) this.save();
  }

  discard(cmid: string) {
    this.confirm(cmid);
  }

  /** Sends what waits, in order; stops at the first send that lost its connection. */
  async flush(send: (item: OutItem) => Promise<number>, connected: () => boolean): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.again = false;
        for (const item of [...this.items]) {
          if (!connected()) return;
          if (item.state !== "queued" && item.state !== "sending") continue;
          if (!this.items.includes(item)) continue;
          item.state = "sending";
          this.save();
          try {
            item.ackSeq = await send(item);
            if (this.items.includes(item)) item.state = "sent";
            this.save();
          } catch (e) {
            const err = e as SendError;
            if (err.code === "disconnected") return;
            item.state = "failed";
            item.error = `${err.code}: ${err.message}`;
            this.save();
          }
        }
      } while (this.again);
    } finally {
      this.flushing = false;
    }
  }
}
