// A helpdesk backend publishing to company rooms, in the way each system offers it.
//
//   node publisher.mjs --redis URL                  the Socket.IO peer: a Socket.IO server
//       with the nodes' Redis Streams adapter and no sockets of its own; io.to(room).emit()
//       appends the packet to the stream, which gives it the offset the nodes deliver it with
//       and restore sessions from.
//   node publisher.mjs --tidewire URL --token T     tidewire: @tidewire/emitter, the same
//       chained API, which batches the emits into POST /api/publish (one request at a time,
//       in order) and retries until ingest has them durably.
//
// Commands are JSON lines on stdin, each answered by one JSON line on stdout:
//   {op:"publish", event, phase, rate, seconds, companies:[id]}
//       open loop: emit i at start + i/rate s, to companies[i % n] in turn, with data
//       {p: phase, c: company, n, t} where n numbers the company's emits of this phase from 0
//       and t is the wall-clock ms just before the emit; tidewire's emits are then flushed
//       -> {kind:"published", sent, accepted:{company:[n]}, failures:{why:count}, first, last}
//   {op:"ping"}  -> {kind:"ready"} (once connected)
//   {op:"exit"}
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { Emitter } from "@tidewire/emitter";
import { createClient } from "redis";
import { Server } from "socket.io";

const { values: args } = parseArgs({
  options: {
    redis: { type: "string" },
    tidewire: { type: "string" },
    token: { type: "string" },
  },
});
if (!args.redis && !(args.tidewire && args.token)) {
  console.error("usage: node publisher.mjs --redis URL | --tidewire URL --token T");
  process.exit(2);
}

const now = () => performance.timeOrigin + performance.now();
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The emits tidewire gave up on (refused, or not durable before the emitter's deadline).
let refused = [];

async function socketio(url) {
  const redis = createClient({ url });
  redis.on("error", (err) => console.error("redis:", err.message));
  await redis.connect();
  // Recovery on: the adapter then appends each emit's stream offset to the packet (the
  // nodes do the same with the packets they read from the stream).
  const io = new Server({
    adapter: createAdapter(redis),
    connectionStateRecovery: { maxDisconnectionDuration: 120000 },
  });
  return {
    // A room name as server.mjs joins it.
    emit: (company, event, data) => io.to(`company-${company}`).emit(event, data),
    flush: async () => {},
    close: () => {
      io.close();
      redis.destroy();
    },
  };
}

function tidewire(url, token) {
  const tw = new Emitter({
    url,
    token,
    onError: (err) => {
      for (const p of err.publications) refused.push([p.data?.c, p.data?.n, String(err.status ?? err.message)]);
    },
  });
  return {
    // No rooms: every socket of the company, as the peer's company room.
    emit: (company, event, data) => tw.company(company).emit(event, data),
    flush: async () => {
      try {
        await tw.flush();
      } catch {
        // each emit given up was reported to onError
      }
    },
    close: () => tw.close(),
  };
}

const backend = args.redis ? await socketio(args.redis) : tidewire(args.tidewire, args.token);

async function publish(cmd) {
  const { event, phase, rate, seconds, companies } = cmd;
  const total = Math.round(rate * seconds);
  const next = new Map(companies.map((c) => [c, 0]));
  const accepted = Object.fromEntries(companies.map((c) => [c, []]));
  refused = [];
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
    backend.emit(company, event, { p: phase, c: company, n, t });
    accepted[company].push(n);
  }
  await backend.flush();
  const failures = {};
  for (const [company, n, why] of refused) {
    accepted[company] = accepted[company].filter((m) => m !== n);
    failures[why] = (failures[why] ?? 0) + 1;
  }
  say({ kind: "published", sent: total, accepted, failures, first, last });
}

const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "ping") say({ kind: "ready" });
  else if (cmd.op === "publish") await publish(cmd);
  else if (cmd.op === "exit") {
    await backend.close();
    process.exit(0);
  }
});
rl.on("close", () => process.exit(0));
