// Compile-time checks that the generated protocol types describe real lines.
// `npm run typecheck` fails if the generated declarations are not valid TypeScript or
// no longer accept these shapes.
import type { ClientMessage, Event, Part, ServerMessage } from "./protocol/protocol";

const hello: ClientMessage = { type: "hello", protocol: 1, client: "web/0.1.0" };
const prompt: ClientMessage = { type: "prompt", id: "7", session: "ses_1", text: "hi" };
const delta: Event = {
  type: "part.delta",
  message_id: "msg_1",
  part_id: "prt_1",
  delta: "he",
  session: "ses_1",
  seq: 12,
  ts: 1795515907038,
};
const part: Part = {
  type: "tool_call",
  id: "prt_2",
  call_id: "call_1",
  name: "bash",
  input: { command: "ls" },
  status: "done",
  output: "a\n",
  is_error: false,
};
const importPi: ClientMessage = { type: "history.import", id: "8", source: "pi" };
const imported: ServerMessage = {
  type: "ok",
  id: "8",
  result: {
    type: "imported",
    files: 2,
    sessions_new: 1,
    sessions_updated: 0,
    sessions_unchanged: 0,
    messages: 12,
    skipped: [
      { path: "/home/ada/.pi/agent/sessions/--x--/old.jsonl", reason: "the file is empty" },
    ],
  },
};
const err: ServerMessage = {
  type: "error",
  id: null,
  code: "bad_request",
  message: "invalid JSON",
};

export const examples = [hello, prompt, delta, part, importPi, imported, err];
