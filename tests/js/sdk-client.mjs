// The tidewire SDK (sdk/js) in Node.js, driven from pytest like client.mjs.
// argv: <options-json>: {apiUrl, edgeUrl, token, storageFile?, acks?, pollFastMs?, pollSlowMs?}.
// Writes JSON lines: {kind: "loaded"|"status"|"change"|"resync"|"error"|"sending"|"opened"|
// "state", ...}; reads commands: {op: "open", ticketId} | {op: "send", ticketId, body} |
// {op: "retry", clientMessageId} | {op: "state"} | {op: "drop"} | {op: "exit"}.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

import { Inbox, TidewireClient } from "../../sdk/js/src/index.js";

const options = JSON.parse(process.argv[2] || "{}");
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

// localStorage's interface over a JSON file: a "browser" that is closed and opened again.
function fileStorage(path) {
  const read = () => (existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : {});
  return {
    getItem: (k) => read()[k] ?? null,
    setItem: (k, v) => writeFileSync(path, JSON.stringify({ ...read(), [k]: v })),
    removeItem: (k) => {
      const all = read();
      delete all[k];
      writeFileSync(path, JSON.stringify(all));
    },
  };
}

const client = new TidewireClient({
  ...options,
  storage: options.storageFile ? fileStorage(options.storageFile) : null,
  socketOptions: { reconnectionDelay: 200, reconnectionDelayMax: 1000 },
});
const inbox = new Inbox(client, { retry: { baseMs: 100, maxMs: 1000 } });

client.on("status", (s) => say({ kind: "status", ...s }));
client.on("change", (c) => say({ kind: "change", id: c.id, cursor: c.cursor, action: c.action }));
client.on("resync", (r) => say({ kind: "resync", reason: r.reason }));
client.on("error", (e) => say({ kind: "error", message: String(e.error?.message ?? e.error) }));

function state() {
  const conversations = {};
  for (const id of inbox.conversations) conversations[id] = inbox.state.conversation(id);
  return {
    kind: "state",
    cursor: client.cursor,
    tickets: Object.fromEntries(inbox.statuses.map((s) => [s, inbox.state.ticketsWith(s)])),
    conversations,
  };
}

const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  const cmd = JSON.parse(line);
  try {
    if (cmd.op === "open") {
      await inbox.open(cmd.ticketId);
      say({ kind: "opened", ticketId: cmd.ticketId });
    } else if (cmd.op === "send") {
      const key = inbox.send(cmd.ticketId, cmd.body);
      const shown = inbox.state.conversation(cmd.ticketId).pending.some(
        (p) => p.clientMessageId === key,
      );
      say({ kind: "sending", clientMessageId: key, shown, ref: cmd.ref ?? null });
    } else if (cmd.op === "retry") {
      say({ kind: "retrying", clientMessageId: inbox.retry(cmd.clientMessageId) });
    } else if (cmd.op === "state") {
      say({ ...state(), ref: cmd.ref ?? null });
    } else if (cmd.op === "drop") {
      client.socket?.io.engine.close(); // a network drop: no DISCONNECT packet
    } else if (cmd.op === "exit") {
      client.stop();
      process.exit(0);
    }
  } catch (err) {
    say({ kind: "error", message: String(err?.message ?? err), op: cmd.op });
  }
});
rl.on("close", () => {
  client.stop();
  process.exit(0);
});

try {
  await inbox.load();
  say({ kind: "loaded", cursor: client.cursor });
} catch (err) {
  say({ kind: "error", message: String(err?.message ?? err), op: "load" });
}
