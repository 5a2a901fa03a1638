// The connection and the store over a fake socket: hello, welcome, request ids, pings,
// resubscribing with the last seq after every reconnect, sending queued prompts, and
// coalescing a burst of deltas into one change per frame.

import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./load.mjs";

const { Conn, RequestError } = await load("lib/conn.ts");
const { Store } = await load("lib/store.ts");

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(d) {
    this.sent.push(typeof d === "string" ? JSON.parse(d) : d);
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  recv(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  agent() {
    return this.sent.filter((f) => f.ch === "agent").map((f) => f.msg);
  }
}

const welcome = {
  ch: "relay",
  msg: {
    type: "welcome",
    protocol: 1,
    version: "0.1.0",
    user: "u",
    runner: { protocol: 1, server: "oqto-runner", version: "0", capabilities: [], harnesses: [] },
    channels: ["relay", "agent", "files"],
    max_frame: 1 << 20,
    ping_interval_ms: 15000,
  },
};
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const ok = (ws, msg, result) => ws.recv({ ch: "agent", msg: { type: "ok", id: msg.id, result } });

function setup() {
  FakeSocket.all = [];
  const conn = new Conn({ url: "ws://x/ws", socket: (u) => new FakeSocket(u) });
  const store = new Store(conn, null);
  return { conn, store };
}

async function connect() {
  const ws = FakeSocket.all.at(-1);
  ws.open();
  assert.deepEqual(ws.sent[0].msg.type, "hello");
  ws.recv(welcome);
  await tick();
  // Answer the session.list the store sends on every welcome.
  for (const m of ws.agent().filter((m) => m.type === "session.list"))
    ok(ws, m, { type: "sessions", sessions: [] });
  return ws;
}

test("requests are matched by id, pings answered, and a dropped socket fails what waits", async () => {
  const { conn } = setup();
  conn.start();
  const ws = await connect();
  const p = conn.request({ type: "runner.status" });
  const sent = ws.agent().at(-1);
  assert.equal(sent.type, "runner.status");
  ws.recv({ ch: "agent", msg: { type: "error", id: sent.id, code: "internal", message: "boom" } });
  await assert.rejects(p, (e) => e instanceof RequestError && e.code === "internal");
  ws.recv({ ch: "relay", msg: { type: "ping" } });
  assert.deepEqual(ws.sent.at(-1), { ch: "relay", msg: { type: "pong" } });
  const q = conn.request({ type: "runner.status" });
  ws.drop();
  await assert.rejects(q, (e) => e.code === "disconnected");
  await assert.rejects(conn.request({ type: "runner.status" }), (e) => e.code === "disconnected");
  conn.stop();
});

test("every reconnect resubscribes each open session after its last seq", async () => {
  const { conn, store } = setup();
  conn.start();
  let ws = await connect();
  const view = store.open("ses_1");
  let sub = ws.agent().find((m) => m.type === "session.subscribe");
  assert.deepEqual(
    { ...sub, id: undefined },
    {
      id: undefined,
      type: "session.subscribe",
      session: "ses_1",
      after_seq: Number.MAX_SAFE_INTEGER,
    },
  );
  ok(ws, sub, { type: "subscribed", session: "ses_1", last_seq: 2 });
  const event = (seq, type, f) =>
    ws.recv({ ch: "agent", msg: { type, ...f, session: "ses_1", seq, ts: seq } });
  event(1, "message.start", { message_id: "m1", role: "assistant" });
  event(2, "part.start", { message_id: "m1", part: { type: "text", id: "p1", text: "" } });
  assert.equal(view.model.lastSeq, 2);

  ws.drop();
  await tick(400); // the first retry comes after about 250 ms
  ws = await connect();
  sub = ws.agent().find((m) => m.type === "session.subscribe");
  assert.equal(sub.after_seq, 2, "resubscribed after the last seq seen");
  ok(ws, sub, { type: "subscribed", session: "ses_1", last_seq: 2 });

  // The runner restarting behind the relay: a new welcome on the same socket.
  ws.recv({
    ch: "relay",
    msg: { type: "error", id: null, code: "runner_unavailable", message: "lost" },
  });
  assert.equal(conn.status, "runner_down");
  event(3, "part.delta", { message_id: "m1", part_id: "p1", delta: "x" });
  ws.recv(welcome);
  await tick();
  const subs = ws.agent().filter((m) => m.type === "session.subscribe");
  assert.equal(subs.at(-1).after_seq, 3);
  conn.stop();
});

test("a burst of deltas is one change per frame; sends go out with client_msg_id once connected", async () => {
  const { conn, store } = setup();
  conn.start();
  const item = store.send("ses_1", "prompt", "queued while connecting");
  assert.equal(store.outbox.items[0].state, "queued");
  const ws = await connect();
  const view = store.open("ses_1");
  const prompt = ws.agent().find((m) => m.type === "prompt");
  assert.equal(prompt.client_msg_id, item.cmid);
  assert.equal(prompt.text, "queued while connecting");
  ok(ws, prompt, { type: "empty" });
  await tick();
  assert.equal(store.outbox.items[0].state, "sent");

  const [version] = view.version("m1");
  const event = (seq, type, f) =>
    ws.recv({ ch: "agent", msg: { type, ...f, session: "ses_1", seq, ts: seq } });
  event(1, "message.start", { message_id: "m1", role: "assistant" });
  event(2, "part.start", { message_id: "m1", part: { type: "text", id: "p1", text: "" } });
  store.flush();
  const before = version();
  for (let i = 0; i < 100; i++)
    event(3 + i, "part.delta", { message_id: "m1", part_id: "p1", delta: "a" });
  assert.equal(version(), before, "nothing rendered before the frame");
  store.flush();
  assert.equal(version(), before + 1, "one change for 100 deltas");
  assert.equal(view.model.messages.get("m1").parts[0].text.length, 100);

  // The user message carrying the id replaces the pending copy.
  event(103, "message.end", {
    message: {
      id: "m0",
      session: "ses_1",
      role: "user",
      parts: [],
      created_at: 1,
      client_msg_id: item.cmid,
    },
  });
  store.flush();
  assert.equal(store.outbox.items.length, 0);
  conn.stop();
});
