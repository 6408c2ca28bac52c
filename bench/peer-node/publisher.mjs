// The reference deployment's publisher: a helpdesk backend emitting to company rooms.
//
// A Socket.IO server with the same Redis Streams adapter as the nodes (server.mjs) and no
// sockets of its own: `io.to(room).emit()` appends the packet to the stream, which gives it
// the offset the nodes deliver it with and restore sessions from. This is how a Node.js
// backend publishes to the nodes that hold the browsers' sockets.
//
// Commands are JSON lines on stdin, each answered by one JSON line on stdout:
//   {op:"publish", event, phase, rate, seconds, companies:[id]}
//       open loop: publication i at start + i/rate s, to companies[i % n] in turn, as
//       io.to("company-<id>").emit(event, {p: phase, c: company, n, t}) where n numbers the
//       company's publications of this phase from 0 and t is the wall-clock ms just before
//       the emit -> {kind:"published", accepted:{company:[n]}, sent, first, last}
//   {op:"ping"}  -> {kind:"ready"} (once its Redis client is connected)
//   {op:"exit"}
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const { values: args } = parseArgs({ options: { redis: { type: "string" } } });
if (!args.redis) {
  console.error("usage: node publisher.mjs --redis URL");
  process.exit(2);
}

const now = () => performance.timeOrigin + performance.now();
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const redis = createClient({ url: args.redis });
redis.on("error", (err) => console.error("redis:", err.message));
await redis.connect();
// Recovery on: the adapter then appends each emit's stream offset to the packet (the nodes
// do the same with the packets they read from the stream).
const io = new Server({
  adapter: createAdapter(redis),
  connectionStateRecovery: { maxDisconnectionDuration: 120000 },
});

async function publish(cmd) {
  const { event, phase, rate, seconds, companies } = cmd;
  const total = Math.round(rate * seconds);
  const next = new Map(companies.map((c) => [c, 0]));
  const accepted = Object.fromEntries(companies.map((c) => [c, []]));
  const start = now();
  let first = null;
  let last = null;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    const company = companies[i % companies.length];
    const n = next.get(company);
    next.set(company, n + 1);
    const t = now();
    first ??= t;
    last = t;
    // A room name as server.mjs joins it.
    io.to(`company-${company}`).emit(event, { p: phase, c: company, n, t });
    accepted[company].push(n);
  }
  say({ kind: "published", accepted, sent: total, first, last });
}

const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "ping") say({ kind: "ready" });
  else if (cmd.op === "publish") await publish(cmd);
  else if (cmd.op === "exit") {
    io.close();
    redis.destroy();
    process.exit(0);
  }
});
rl.on("close", () => process.exit(0));
