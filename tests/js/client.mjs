// A scriptable official socket.io-client for the Python tests.
// argv: <url> <options-json>. Writes one JSON line per happening to stdout
// ({kind: "connect"|"connect_error"|"disconnect"|"event", ...}); reads JSON-line commands on
// stdin: {op: "disconnect"} | {op: "drop"} | {op: "connect"} | {op: "emit", event, args} |
// {op: "auth", auth} | {op: "exit"}.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, { transports: ["websocket"], reconnection: false, ...options });

socket.on("connect", () =>
  say({ kind: "connect", id: socket.id, recovered: socket.recovered === true, pid: socket._pid }));
socket.on("connect_error", (err) =>
  say({ kind: "connect_error", message: err.message, data: err.data ?? null }));
socket.on("disconnect", (reason) => say({ kind: "disconnect", reason }));
socket.onAny((name, ...args) => {
  const ack = typeof args.at(-1) === "function" ? args.pop() : null;
  say({ kind: "event", name, args });
  if (ack) ack(true);
});

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "disconnect") socket.disconnect();
  else if (cmd.op === "connect") socket.connect();
  else if (cmd.op === "drop") socket.io.engine.close(); // a network drop: no DISCONNECT packet
  else if (cmd.op === "emit") socket.emit(cmd.event, ...(cmd.args || []));
  else if (cmd.op === "auth") socket.auth = cmd.auth; // used from the next connect on
  else if (cmd.op === "exit") { socket.disconnect(); process.exit(0); }
});
rl.on("close", () => { socket.disconnect(); process.exit(0); });
