import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./load.mjs";

const { Outbox } = await load("lib/outbox.ts");

function memoryKV() {
  const data = new Map();
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, v) };
}

test("sends wait while offline, go out in order with their ids, and survive a reload", async () => {
  const kv = memoryKV();
  const box = new Outbox(kv);
  const a = box.add("s1", "prompt", "first");
  const b = box.add("s1", "follow_up", "second");
  assert.notEqual(a.cmid, b.cmid);
  const sent = [];
  await box.flush(
    async (i) => sent.push(i.cmid),
    () => false,
  );
  assert.deepEqual(sent, [], "nothing is sent while disconnected");

  const reloaded = new Outbox(kv);
  assert.deepEqual(
    reloaded.items.map((i) => i.text),
    ["first", "second"],
  );
  await reloaded.flush(
    async (i) => {
      sent.push(i.cmid);
      return 7;
    },
    () => true,
  );
  assert.deepEqual(sent, [a.cmid, b.cmid]);
  assert.deepEqual(
    reloaded.items.map((i) => [i.state, i.ackSeq]),
    [
      ["sent", 7],
      ["sent", 7],
    ],
  );
});

test("a send whose answer was lost is sent again with the same id", async () => {
  const box = new Outbox(null);
  const item = box.add("s1", "prompt", "hello");
  const tries = [];
  await box.flush(
    async (i) => {
      tries.push(i.cmid);
      throw { code: "disconnected", message: "the connection closed" };
    },
    () => true,
  );
  assert.equal(box.items[0].state, "sending");
  await box.flush(
    async (i) => {
      tries.push(i.cmid);
      return 3;
    },
    () => true,
  );
  assert.deepEqual(tries, [item.cmid, item.cmid]);
  assert.equal(box.items[0].state, "sent");
});

test("a refused send fails visibly; a confirmed one goes; settle drops accepted sends of a finished turn", async () => {
  const box = new Outbox(null);
  const bad = box.add("s1", "prompt", "x");
  const good = box.add("s1", "prompt", "y");
  const other = box.add("s2", "prompt", "z");
  let n = 0;
  await box.flush(
    async () => {
      n += 1;
      if (n === 1) throw { code: "invalid_state", message: "busy" };
      return 10;
    },
    () => true,
  );
  assert.equal(box.items.find((i) => i.cmid === bad.cmid).state, "failed");
  assert.match(box.items.find((i) => i.cmid === bad.cmid).error, /invalid_state: busy/);
  assert.equal(box.confirm(good.cmid), true);
  assert.equal(box.confirm(good.cmid), false);
  box.settle("s2", 9);
  assert.ok(
    box.items.some((i) => i.cmid === other.cmid),
    "an idle before the ack is not the end",
  );
  box.settle("s2", 11);
  assert.ok(!box.items.some((i) => i.cmid === other.cmid));
  assert.deepEqual(
    box.items.map((i) => i.cmid),
    [bad.cmid],
    "a failed send stays until retried or discarded",
  );
});
