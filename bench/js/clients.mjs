// Many official socket.io-clients in one node process, driven by `tidewire bench edge`.
//
// Memory-light on purpose: events are not kept, only counted; latencies go into a histogram of
// 1 ms buckets (client receive time minus the payload's acceptedAt; both are wall-clock ms of
// the same machine). Commands arrive as JSON lines on stdin, each answered by one JSON line on
// stdout:
//   {op:"connect", clients:[{url, token, company}], options, parallel}
//                           -> {kind:"connected", ok, failed, errors, companies:{company:n}}
//   {op:"measure", since}   count appMessage events accepted at or after `since` (ms)
//                           -> {kind:"measuring"}
//   {op:"report"}           -> {kind:"report", perUrl:{url:{count, first, last}}, hist:{ms:n},
//                               total, disconnects, connected}
//   {op:"drop"}             close every engine.io transport (a network drop, no DISCONNECT)
//                           -> {kind:"dropped", disconnected}
//   {op:"arm", since}       from now on, note per client its next connect (time, recovered) and
//                           the events accepted at or after `since` it receives -> {kind:"armed"}
//   {op:"reconnect", spreadMs}
//                           socket.connect() on every client, noting the time of each call:
//                           all at once, or spread evenly over spreadMs -> {kind:"reconnecting"}
//   {op:"collect", last:{company:eventId}, timeoutMs}
//                           wait until every client connected again and received its company's
//                           `last` event -> {kind:"collected", clients:[[recovered, reconnectAt,
//                           connectAt, lastAt, received, duplicates]]}
//   {op:"count", event, phase}
//                           `tidewire bench publish`: from now on, count per client the events
//                           named `event` whose data is {p: phase, c: company, n: number, t:
//                           send time ms}; latency is receive time minus t -> {kind:"counting"}.
//                           With event "appMessage" (`tidewire bench e2e`): the same {p, c, n, t},
//                           as JSON in the text of each created message of the company's
//                           `…-appMessage` events (a customer's WhatsApp message, end to end)
//   {op:"tally", accepted}  what was counted; with accepted = {company: [n, ...]} (the numbers
//                           the publisher got a 202 for) also each client's lost and extra ->
//                           {kind:"tally", total, hist, first, last, disconnects,
//                            clients:[[received, duplicates, lost, extra]]} (clients only with
//                           accepted)
//   {op:"churn", urls, periodMs, offlineMs, switchShare}
//                           `tidewire bench peer`: until `calm`, close each client's engine.io
//                           transport every ~periodMs (first drops spread evenly over one
//                           period, then period ±10 %), socket.connect() ~offlineMs (±25 %)
//                           later, switchShare of the reconnects to the next of `urls` (the
//                           other node) -> {kind:"churning"}. A reconnect refused is retried
//                           after 250 ms. Each drop is a cycle; its replay ends with the last
//                           publication sent before the reconnect call that arrives after it.
//   {op:"calm", timeoutMs}  no more drops; wait until every client is connected again
//                           -> {kind:"calm", connected, offline}. `tally` then also answers
//                           cycles:[[dropAt, reconnectAt, connectAt, recovered, switched,
//                           lastReplayAt]] and connectErrors.
//   {op:"close"}            disconnect and forget every client -> {kind:"closed"}
//   {op:"exit"}
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const now = () => performance.timeOrigin + performance.now();
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let clients = []; // {socket, url, company, track}
let phase = null; // counters of the current measurement
let counting = null; // the publish bench's counters: {event, phase, hist, total, first, last}
let churning = null; // {urls, periodMs, offlineMs, switchShare, calm}
let cycles = []; // churn cycles of every client: {dropAt, reconnectAt, connectAt, ...}
let connectErrors = 0;
let unplanned = 0; // disconnects while churning that were not a drop of ours

// Numbers a client received, as a growable byte map (n -> times seen): a few KB per client
// where a Set of numbers would take tens of MB for 1,000 clients.
function seen(c) {
  return (c.pub ??= { times: new Uint8Array(1024), duplicates: 0 });
}

function onPublication(c, data) {
  if (!data || data.p !== counting.phase) return;
  const at = now();
  const s = seen(c);
  if (data.n >= s.times.length) {
    const grown = new Uint8Array(Math.max(data.n + 1, s.times.length * 2));
    grown.set(s.times);
    s.times = grown;
  }
  if (s.times[data.n] > 0) s.duplicates += 1;
  s.times[data.n] = Math.min(255, s.times[data.n] + 1);
  const cy = c.cycle;
  if (cy && cy.reconnectAt !== null && data.t < cy.reconnectAt && at >= cy.reconnectAt) {
    cy.lastReplayAt = at;
  }
  const bucket = Math.max(0, Math.floor(at - data.t));
  counting.hist.set(bucket, (counting.hist.get(bucket) ?? 0) + 1);
  counting.total += 1;
  counting.first = Math.min(counting.first, at);
  counting.last = Math.max(counting.last, at);
}

function tally(accepted) {
  const p = counting ?? { hist: new Map(), total: 0, first: null, last: null, disconnects: 0 };
  const rows = accepted
    ? clients.map((c) => {
        const times = c.pub?.times ?? new Uint8Array(0);
        const mine = accepted[c.company] ?? [];
        let received = 0;
        for (const t of times) if (t > 0) received += 1;
        let lost = 0;
        for (const n of mine) if (!(times[n] > 0)) lost += 1;
        return [received, c.pub?.duplicates ?? 0, lost, received - (mine.length - lost)];
      })
    : undefined;
  say({
    kind: "tally",
    total: p.total,
    hist: Object.fromEntries(p.hist),
    first: Number.isFinite(p.first) ? p.first : null,
    last: Number.isFinite(p.last) ? p.last : null,
    disconnects: p.disconnects,
    clients: rows,
    cycles: cycles.map((cy) => [
      cy.dropAt,
      cy.reconnectAt,
      cy.connectAt,
      cy.recovered ? 1 : 0,
      cy.switched ? 1 : 0,
      cy.lastReplayAt,
    ]),
    connectErrors,
    unplanned,
  });
}

// The {p, c, n, t} a benchmark's webhook carried as its message text (null for any other).
function fromMessage(payload) {
  if (payload?.action !== "create" || typeof payload.message?.body !== "string") return null;
  try {
    return JSON.parse(payload.message.body);
  } catch {
    return null;
  }
}

function onEvent(c, name, args) {
  if (counting && name === counting.event) return onPublication(c, args[0]);
  if (counting?.event === "appMessage" && name.endsWith("-appMessage")) {
    return onPublication(c, fromMessage(args[0]));
  }
  if (!name.endsWith("-appMessage")) return;
  const payload = args[0];
  if (!payload) return;
  const at = now();
  if (phase && payload.acceptedAt >= phase.since) {
    const u = (phase.perUrl[c.url] ??= { count: 0, first: at, last: at });
    u.count += 1;
    u.last = at;
    const bucket = Math.max(0, Math.floor(at - payload.acceptedAt));
    phase.hist.set(bucket, (phase.hist.get(bucket) ?? 0) + 1);
    phase.total += 1;
  }
  if (c.track && payload.acceptedAt >= c.track.since) {
    if (c.track.got.has(payload.eventId)) c.track.duplicates += 1;
    else c.track.got.set(payload.eventId, at);
  }
}

function connectOne(spec, options, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = io(spec.url, {
      transports: ["websocket"],
      forceNew: true,
      auth: { token: spec.token },
      ...options,
    });
    const c = { socket, url: spec.url, company: spec.company, track: null, cycle: null };
    let settled = false;
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error("connect timeout"));
    }, timeoutMs);
    socket.on("connect", () => {
      if (c.track && c.track.connectAt === null) {
        c.track.connectAt = now();
        c.track.recovered = socket.recovered === true;
      }
      if (c.cycle && c.cycle.connectAt === null) {
        c.cycle.connectAt = now();
        c.cycle.recovered = socket.recovered === true;
      }
      settled = true;
      clearTimeout(timer);
      resolve(c);
    });
    socket.on("connect_error", (err) => {
      if (options.reconnection) return; // the manager retries by itself
      if (settled) {
        // A churn reconnect refused (a node busy or limiting connects): try again.
        connectErrors += 1;
        setTimeout(() => c.closed || socket.connect(), 250);
        return;
      }
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    socket.on("disconnect", () => {
      if (phase) phase.disconnects += 1;
      if (counting) counting.disconnects += 1;
      if (c.dropping) c.dropping = false;
      else if (churning && !c.closed) {
        // Cut off by the server while churning: back as a cycle of its own, not switched.
        unplanned += 1;
        reconnectLater(c, newCycle(c, false), 250);
      }
    });
    socket.onAny((name, ...args) => onEvent(c, name, args));
  });
}

async function connect(cmd) {
  const queue = cmd.clients.slice();
  let ok = 0;
  let failed = 0;
  const errors = [];
  const companies = {};
  const worker = async () => {
    while (queue.length) {
      const spec = queue.shift();
      try {
        clients.push(await connectOne(spec, cmd.options ?? {}, cmd.timeoutMs ?? 30000));
        companies[spec.company] = (companies[spec.company] ?? 0) + 1;
        ok += 1;
      } catch (err) {
        failed += 1;
        if (errors.length < 5) errors.push(String(err?.message ?? err));
      }
    }
  };
  await Promise.all(Array.from({ length: cmd.parallel ?? 50 }, worker));
  say({ kind: "connected", ok, failed, errors, companies });
}

function report() {
  const p = phase ?? { perUrl: {}, hist: new Map(), total: 0, disconnects: 0 };
  say({
    kind: "report",
    perUrl: p.perUrl,
    hist: Object.fromEntries(p.hist),
    total: p.total,
    disconnects: p.disconnects,
    connected: clients.filter((c) => c.socket.connected).length,
  });
}

async function drop() {
  for (const c of clients) if (c.socket.connected) c.socket.io.engine.close();
  while (clients.some((c) => c.socket.connected)) await sleep(10);
  say({ kind: "dropped", disconnected: clients.length });
}

function arm(since) {
  for (const c of clients) {
    c.track = {
      since,
      reconnectAt: null,
      connectAt: null,
      recovered: null,
      got: new Map(),
      duplicates: 0,
    };
  }
  say({ kind: "armed" });
}

function reconnect(spreadMs) {
  clients.forEach((c, i) => {
    const go = () => {
      c.track.reconnectAt = now();
      c.socket.connect();
    };
    if (spreadMs > 0) setTimeout(go, (i / clients.length) * spreadMs);
    else go();
  });
  say({ kind: "reconnecting" });
}

async function collect(cmd) {
  const done = (c) => c.track.connectAt !== null && c.track.got.has(cmd.last[c.company]);
  const deadline = now() + (cmd.timeoutMs ?? 30000);
  while (now() < deadline && !clients.every(done)) await sleep(20);
  say({
    kind: "collected",
    clients: clients.map((c) => [
      c.track.recovered ? 1 : 0,
      c.track.reconnectAt,
      c.track.connectAt,
      c.track.got.get(cmd.last[c.company]) ?? null,
      c.track.got.size,
      c.track.duplicates,
    ]),
  });
  for (const c of clients) c.track = null;
}

function newCycle(c, switched) {
  const cy = {
    dropAt: now(),
    reconnectAt: null,
    connectAt: null,
    recovered: false,
    switched,
    lastReplayAt: null,
  };
  cycles.push(cy);
  c.cycle = cy;
  return cy;
}

function reconnectLater(c, cy, ms) {
  setTimeout(() => {
    if (c.closed) return;
    if (cy.switched) {
      const urls = churning.urls;
      c.url = urls[(urls.indexOf(c.url) + 1) % urls.length];
      c.socket.io.uri = c.url; // the manager opens its next transport there
    }
    cy.reconnectAt = now();
    c.socket.connect();
  }, ms);
}

// One client's churn: drop, reconnect ~offlineMs later (maybe to the next node), next drop
// ~periodMs after this one; until `calm`.
function churnOne(c, i, firstInMs) {
  const jitter = (ms, share) => ms * (1 - share + 2 * share * Math.random());
  let owed = (i * churning.switchShare) % 1; // spreads the switches evenly over the clients
  const drop = () => {
    if (!churning || churning.calm) return;
    setTimeout(drop, jitter(churning.periodMs, 0.1));
    if (!c.socket.connected) return; // still reconnecting from the last drop: skip this one
    owed += churning.switchShare;
    const switched = owed >= 1;
    if (switched) owed -= 1;
    const cy = newCycle(c, switched);
    c.dropping = true;
    c.socket.io.engine.close(); // a network drop: no DISCONNECT packet, the session is kept
    reconnectLater(c, cy, jitter(churning.offlineMs, 0.25));
  };
  setTimeout(drop, firstInMs);
}

function churn(cmd) {
  churning = { ...cmd, calm: false };
  cycles = [];
  connectErrors = 0;
  unplanned = 0;
  clients.forEach((c, i) => churnOne(c, i, (i / clients.length) * cmd.periodMs));
  say({ kind: "churning" });
}

async function calm(cmd) {
  if (churning) churning.calm = true;
  const deadline = now() + (cmd.timeoutMs ?? 30000);
  while (now() < deadline && !clients.every((c) => c.socket.connected)) await sleep(20);
  const connected = clients.filter((c) => c.socket.connected).length;
  say({ kind: "calm", connected, offline: clients.length - connected });
}

function close() {
  if (churning) churning.calm = true;
  churning = null;
  for (const c of clients) {
    c.closed = true;
    c.socket.disconnect();
  }
  clients = [];
  phase = null;
  counting = null;
  churning = null;
  cycles = [];
  say({ kind: "closed" });
}

const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "connect") await connect(cmd);
  else if (cmd.op === "measure") {
    phase = { since: cmd.since, perUrl: {}, hist: new Map(), total: 0, disconnects: 0 };
    say({ kind: "measuring" });
  } else if (cmd.op === "count") {
    for (const c of clients) c.pub = null;
    counting = {
      event: cmd.event,
      phase: cmd.phase,
      hist: new Map(),
      total: 0,
      first: Infinity,
      last: -Infinity,
      disconnects: 0,
    };
    say({ kind: "counting" });
  } else if (cmd.op === "tally") tally(cmd.accepted);
  else if (cmd.op === "report") report();
  else if (cmd.op === "drop") await drop();
  else if (cmd.op === "arm") arm(cmd.since);
  else if (cmd.op === "reconnect") reconnect(cmd.spreadMs ?? 0);
  else if (cmd.op === "collect") await collect(cmd);
  else if (cmd.op === "churn") churn(cmd);
  else if (cmd.op === "calm") await calm(cmd);
  else if (cmd.op === "close") close();
  else if (cmd.op === "exit") {
    close();
    process.exit(0);
  }
});
rl.on("close", () => process.exit(0));
