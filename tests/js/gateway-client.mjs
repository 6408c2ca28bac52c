// A Whaticket-family front end's socket calls (CONTRACT.md §3.1, §4.1, §5.1, §6.1), with the
// socket.io-client major version the family pins, for the gateway e2e tests.
//
// argv: <family> <base URL> <options JSON>
//   options: {token, companyId, userId, fix (saas1: the documented one-line fix, token in the
//   query), components: [{name, joins: [[event, arg?], ...]}], acks (bool)}
//
// community and saas1 (socket.io-client 3.x) open one connection per component, as their
// components do, each joining its rooms on `connect`; ticketz and plus (4.x) share one socket:
// ticketz joins after `ready` and sends the matching `leave…` when a component unmounts,
// plus joins on `connect` and leaves with `joinChatBoxLeave`/`leaveTickets`.
// With `acks`, each join or leave also carries an acknowledgement callback: the front ends
// send none; the tests use the answer to know the room change is in effect.
//
// Writes one JSON line per happening: {kind: "open"|"upgrade"|"connect"|"connect_error"|
// "disconnect"|"event"|"ack", conn, ...}. Reads JSON-line commands on stdin: {op: "drop"} (every
// connection's transport closes, as a network drop), {op: "unmount", component},
// {op: "exit"}.
import { io as io4 } from "socket.io-client";
import { io as io3 } from "socket.io-client-v3";
import { createInterface } from "node:readline";

const [family, base, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const url = base.replace(/\/+$/, "");

function record(conn, socket) {
  // The Engine.IO connection opens (first transport), may upgrade, then the socket connects.
  socket.io.on("open", () => {
    const engine = socket.io.engine;
    say({ kind: "open", conn, transport: engine.transport.name });
    engine.on("upgrade", (transport) => say({ kind: "upgrade", conn, transport: transport.name }));
  });
  socket.on("connect", () => {
    say({ kind: "connect", conn, id: socket.id, recovered: socket.recovered ?? null, transport: socket.io.engine?.transport?.name ?? null });
  });
  socket.on("connect_error", (err) => say({ kind: "connect_error", conn, message: err.message, data: err.data ?? null }));
  socket.on("disconnect", (reason) => say({ kind: "disconnect", conn, reason }));
  socket.onAny((name, ...args) => say({ kind: "event", conn, name, args }));
}

function send(conn, socket, event, arg) {
  const args = arg === undefined ? [] : [arg];
  if (options.acks) socket.emit(event, ...args, (answer) => say({ kind: "ack", conn, event, arg: arg ?? null, answer }));
  else socket.emit(event, ...args);
}

const sockets = new Map(); // conn -> socket
const components = options.components ?? [];
let unmount = () => {};

if (family === "community" || family === "saas1") {
  // One connection per mounted component, created by the family's factory each time.
  for (const component of components) {
    const query =
      family === "community"
        ? { token: options.token }
        : { companyId: String(options.companyId), userId: String(options.userId), ...(options.fix ? { token: options.token } : {}) };
    const socket = io3(url, {
      transports: ["websocket", "polling", "flashsocket"],
      ...(family === "saas1" ? { pingTimeout: 18000, pingInterval: 18000 } : {}),
      query,
    });
    record(component.name, socket);
    socket.on("connect", () => {
      for (const [event, arg] of component.joins) send(component.name, socket, event, arg);
    });
    sockets.set(component.name, socket);
  }
  unmount = (name) => {
    sockets.get(name)?.disconnect(); // their cleanup closes the component's connection
    sockets.delete(name);
  };
} else if (family === "ticketz") {
  // SocketContext.js: one socket, websocket only, joins once the server says `ready`.
  const query = { token: options.token };
  const socket = io4(url, { transports: ["websocket"], pingTimeout: 18000, pingInterval: 18000, query });
  record("socket", socket);
  let mounted = [...components];
  const joinAll = () => {
    for (const c of mounted) for (const [event, arg] of c.joins) send("socket", socket, event, arg);
  };
  let joined = false;
  let rejoin = false;
  socket.io.on("reconnect_attempt", () => {
    // The front end flags reconnects and presents its stored token again.
    socket.io.opts.query = { ...query, r: 1, token: options.token };
  });
  socket.on("connect", () => {
    // A recovered socket kept its rooms: ManagedSocket re-joins only when it was not.
    if (joined && !socket.recovered) rejoin = true;
  });
  socket.on("ready", () => {
    if (!joined || rejoin) {
      joined = true;
      rejoin = false;
      joinAll();
    }
  });
  sockets.set("socket", socket);
  unmount = (name) => {
    const c = mounted.find((m) => m.name === name);
    if (!c) return;
    mounted = mounted.filter((m) => m !== c);
    for (const [event, arg] of c.joins) {
      const leave = event.replace(/^join/, "leave");
      // TicketsListCustom leaves its status itself, then ManagedSocket.disconnect() again.
      if (event === "joinTickets") send("socket", socket, leave, arg);
      send("socket", socket, leave, arg);
    }
  };
} else if (family === "plus") {
  // SocketWorker.js: namespace /<companyId>, "Bearer <jwt>", default transports.
  const socket = io4(`${url}/${options.companyId}`, {
    autoConnect: true,
    reconnection: true,
    reconnectionDelay: 1000,
    reconnectionAttempts: Infinity,
    query: { userId: options.userId, token: `Bearer ${options.token}` },
  });
  record("socket", socket);
  let mounted = [...components];
  socket.on("connect", () => {
    for (const c of mounted) for (const [event, arg] of c.joins) send("socket", socket, event, arg);
  });
  sockets.set("socket", socket);
  unmount = (name) => {
    const c = mounted.find((m) => m.name === name);
    if (!c) return;
    mounted = mounted.filter((m) => m !== c);
    for (const [event, arg] of c.joins) {
      if (event === "joinChatBox") send("socket", socket, "joinChatBoxLeave", arg);
      else if (event === "joinTickets") send("socket", socket, "leaveTickets", arg);
      else if (event === "joinNotification") send("socket", socket, "leaveNotification");
    }
  };
} else {
  throw new Error(`unknown family ${family}`);
}

const rl = createInterface({ input: process.stdin });
const exit = () => {
  for (const socket of sockets.values()) socket.disconnect();
  process.exit(0);
};
rl.on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "drop") for (const socket of sockets.values()) socket.io.engine?.close();
  else if (cmd.op === "unmount") unmount(cmd.component);
  else if (cmd.op === "exit") exit();
});
rl.on("close", exit);
