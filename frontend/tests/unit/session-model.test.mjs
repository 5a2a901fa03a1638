import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./load.mjs";

const M = await load("lib/session-model.ts");
const S = "ses_1";
let seq = 0;
const ev = (type, fields) => ({ type, ...fields, session: S, seq: ++seq, ts: 1000 + seq });
const info = (state) => ({
  id: S,
  harness: "demo",
  cwd: "/w",
  title: null,
  state,
  created_at: 1,
  last_activity: 1,
  last_seq: 1,
  subscribers: 1,
});

/** A turn: a user prompt, an assistant text with deltas and a tool call that runs. */
function turn() {
  seq = 0;
  const user = {
    id: "msg_u",
    session: S,
    role: "user",
    parts: [{ type: "text", id: "p1", text: "hi" }],
    created_at: 5,
    client_msg_id: "c1",
  };
  const final = {
    id: "msg_a",
    session: S,
    role: "assistant",
    parts: [
      { type: "text", id: "p2", text: "Hello **world**" },
      {
        type: "tool_call",
        id: "p3",
        call_id: "call_1",
        name: "bash",
        input: { command: "ls" },
        status: "pending",
        is_error: false,
      },
    ],
    created_at: 6,
    stop_reason: "tool_use",
  };
  return [
    ev("session.created", { info: info("starting") }),
    ev("state", { state: "working", phase: "generating" }),
    ev("message.start", { message_id: "msg_u", role: "user" }),
    ev("part.start", { message_id: "msg_u", part: user.parts[0] }),
    ev("part.end", { message_id: "msg_u", part: user.parts[0] }),
    ev("message.end", { message: user }),
    ev("message.start", { message_id: "msg_a", role: "assistant" }),
    ev("part.start", { message_id: "msg_a", part: { type: "text", id: "p2", text: "" } }),
    ev("part.delta", { message_id: "msg_a", part_id: "p2", delta: "Hello " }),
    ev("part.delta", { message_id: "msg_a", part_id: "p2", delta: "**world**" }),
    ev("part.end", { message_id: "msg_a", part: final.parts[0] }),
    ev("part.start", { message_id: "msg_a", part: { ...final.parts[1], input: {} } }),
    ev("part.delta", { message_id: "msg_a", part_id: "p3", delta: '{"command":' }),
    ev("part.delta", { message_id: "msg_a", part_id: "p3", delta: '"ls"}' }),
    ev("part.end", { message_id: "msg_a", part: final.parts[1] }),
    ev("message.end", { message: final }),
    ev("tool.start", {
      message_id: "msg_a",
      part_id: "p3",
      call_id: "call_1",
      name: "bash",
      input: { command: "ls" },
    }),
    ev("tool.output", { message_id: "msg_a", part_id: "p3", delta: "a\n" }),
    ev("tool.output", { message_id: "msg_a", part_id: "p3", delta: "b\n" }),
    ev("tool.end", {
      message_id: "msg_a",
      part: { ...final.parts[1], status: "done", output: "a\nb\n" },
    }),
    ev("state", { state: "idle" }),
  ];
}

test("a streamed turn builds the stored messages", () => {
  const m = M.newModel(S);
  const events = turn();
  let midStream = null;
  for (const e of events) {
    M.applyEvent(m, e);
    if (e.type === "part.delta" && e.part_id === "p2" && e.delta.startsWith("**")) {
      midStream = m.messages.get("msg_a").parts[0].text;
    }
    if (e.type === "part.delta" && e.part_id === "p3" && e.delta.startsWith('"ls')) {
      assert.equal(m.toolInput.get("p3"), '{"command":"ls"}');
    }
  }
  assert.equal(midStream, "Hello **world**");
  assert.deepEqual(m.order, ["msg_u", "msg_a"]);
  const tool = m.messages.get("msg_a").parts[1];
  assert.equal(tool.status, "done");
  assert.equal(tool.output, "a\nb\n");
  assert.equal(m.info.state, "idle");
  assert.equal(m.lastSeq, events.length);
  assert.equal(m.gaps, 0);
  assert.equal(m.toolInput.size, 0);
});

test("a replay that overlaps what was seen changes nothing", () => {
  const events = turn();
  const once = M.newModel(S);
  for (const e of events) M.applyEvent(once, e);
  const twice = M.newModel(S);
  for (const e of events.slice(0, 12)) M.applyEvent(twice, e);
  // Reconnect: the runner replays after the last seq; a client that asked for less gets repeats.
  for (const e of events.slice(5)) {
    const ch = M.applyEvent(twice, e);
    if (e.seq <= 12)
      assert.equal(ch.dirty.size + (ch.structural ? 1 : 0), 0, `seq ${e.seq} ignored`);
  }
  assert.deepEqual([...twice.messages.entries()], [...once.messages.entries()]);
  assert.equal(twice.messages.get("msg_a").parts[0].text, "Hello **world**");
});

test("a resync replaces the view with its snapshot", () => {
  const m = M.newModel(S);
  for (const e of turn().slice(0, 9)) M.applyEvent(m, e);
  const stored = { id: "msg_old", session: S, role: "user", parts: [], created_at: 1 };
  const inFlight = {
    id: "msg_x",
    session: S,
    role: "assistant",
    parts: [{ type: "text", id: "p9", text: "par" }],
    created_at: 2,
  };
  const ch = M.applyEvent(m, {
    type: "resync",
    reason: "too_far_behind",
    info: info("working"),
    messages: [stored],
    has_more: true,
    in_flight: inFlight,
    session: S,
    seq: 40,
    ts: 1,
  });
  assert.ok(ch.structural);
  assert.deepEqual(m.order, ["msg_old", "msg_x"]);
  assert.equal(m.lastSeq, 40);
  assert.equal(m.hasMore, true);
  // The stream continues from the snapshot.
  M.applyEvent(m, {
    type: "part.delta",
    message_id: "msg_x",
    part_id: "p9",
    delta: "tial",
    session: S,
    seq: 41,
    ts: 1,
  });
  assert.equal(m.messages.get("msg_x").parts[0].text, "partial");
});

test("a resync brings back the approval cards of requests still pending", () => {
  const m = M.newModel(S);
  const tool = { call_id: "call_1", title: "Run rm -rf target", kind: "execute" };
  const options = [
    { id: "once", name: "Allow once", kind: "allow_once" },
    { id: "reject", name: "Reject", kind: "reject_once" },
  ];
  M.applyEvent(m, {
    type: "resync",
    reason: "too_far_behind",
    info: { ...info("working"), permissions: [{ request: "perm_1", tool, options }] },
    messages: [],
    has_more: false,
    session: S,
    seq: 7,
    ts: 1,
  });
  assert.equal(m.notices.length, 1);
  assert.equal(m.notices[0].kind, "permission");
  assert.deepEqual(m.notices[0].permission, { request: "perm_1", tool, options });
  // Answered later by someone: the card shows it resolved.
  M.applyEvent(m, {
    type: "permission.resolved",
    request: "perm_1",
    option: "once",
    answered: { by: "user", client: "oqtoctl" },
    session: S,
    seq: 8,
    ts: 1,
  });
  assert.equal(m.notices[0].permission.resolved.option, "once");
});

test("an older page is prepended once; notices follow the message they came after", () => {
  const m = M.newModel(S);
  for (const e of turn()) M.applyEvent(m, e);
  M.applyEvent(m, ev("session.error", { code: "timeout", message: "slow", recoverable: true }));
  const older = [
    { id: "msg_0", session: S, role: "user", parts: [], created_at: 0 },
    { id: "msg_u", session: S, role: "user", parts: [], created_at: 5 },
  ];
  M.prependPage(m, older, false);
  assert.deepEqual(m.order, ["msg_0", "msg_u", "msg_a"]);
  const rows = M.rows(m);
  assert.deepEqual(
    rows.map((r) => (r.kind === "message" ? r.id : r.notice.kind)),
    ["msg_0", "msg_u", "msg_a", "error"],
  );
});

test("a permission request is a row until it is answered, then says how", () => {
  const m = M.newModel(S);
  for (const e of turn()) M.applyEvent(m, e);
  const tool = {
    call_id: "call_9",
    title: "rm -rf target",
    kind: "execute",
    input: { command: "rm -rf target" },
  };
  const options = [
    { id: "once", name: "Allow once", kind: "allow_once" },
    { id: "reject", name: "Reject", kind: "reject_once" },
  ];
  let ch = M.applyEvent(m, ev("permission.request", { request: "perm_1", tool, options }));
  assert.ok(ch.structural);
  let row = M.rows(m).at(-1);
  assert.equal(row.kind, "notice");
  assert.equal(row.notice.permission.request, "perm_1");
  assert.equal(row.notice.permission.resolved, undefined);
  ch = M.applyEvent(
    m,
    ev("permission.resolved", {
      request: "perm_1",
      option: "reject",
      kind: "reject_once",
      answered: { by: "user", client: "oqto-web/0.1.0" },
    }),
  );
  assert.ok(ch.structural);
  row = M.rows(m).at(-1);
  assert.deepEqual(row.notice.permission.resolved, {
    option: "reject",
    kind: "reject_once",
    answered: { by: "user", client: "oqto-web/0.1.0" },
  });
  // An answer to a request this view never saw changes nothing.
  ch = M.applyEvent(m, ev("permission.resolved", { request: "perm_x", answered: { by: "abort" } }));
  assert.equal(ch.structural, false);
});
