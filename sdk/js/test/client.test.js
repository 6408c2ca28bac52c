// @ts-check
import assert from "node:assert/strict";
import { test } from "node:test";

import { TidewireClient } from "../src/client.js";
import { cursor, message, until } from "./helpers.js";

/** A stand-in for socket.io-client's socket (unit tests only): the test plays the server. */
class FakeSocket {
  constructor() {
    /** @type {Map<string, (...args: any[]) => void>} */
    this.handlers = new Map();
    /** @type {((name: string, ...args: any[]) => void) | null} */
    this.any = null;
    /** @type {any[][]} */
    this.emitted = [];
    this.connected = false;
    this.active = true;
    this.recovered = false;
    /** @type {any} */
    this.options = null;
  }
  /** @param {string} name @param {(...args: any[]) => void} fn */
  on(name, fn) {
    this.handlers.set(name, fn);
  }
  /** @param {(name: string, ...args: any[]) => void} fn */
  onAny(fn) {
    this.any = fn;
  }
  /** @param {any[]} args */
  emit(...args) {
    this.emitted.push(args);
  }
  disconnect() {
    this.connected = false;
  }
  connect() {
    this.active = true;
    this.connects = (this.connects ?? 0) + 1;
  }
  /** The server refused the connect: socket.io-client gives up until `connect()`. @param {any} err */
  refused(err) {
    this.active = false;
    this.handlers.get("connect_error")?.(err);
  }
  /** What the client would send as `auth` on its next connect. */
  auth() {
    /** @type {any} */
    let sent = null;
    this.options.auth((/** @type {any} */ data) => (sent = data));
    return sent;
  }
  up() {
    this.connected = true;
    this.handlers.get("connect")?.();
  }
  /** @param {string} reason */
  down(reason) {
    this.connected = false;
    this.handlers.get("disconnect")?.(reason);
  }
  /** @param {string} name @param {any[]} args */
  deliver(name, ...args) {
    this.any?.(name, ...args);
  }
}

/** A REST log of `events` answering /api/events and /api/events/head (unit tests only). */
function fakeFetch(
  /** @type {any[]} */ events,
  /** @type {{status?: number, head?: string}} */ answer = {},
) {
  /** @type {string[]} */
  const asked = [];
  /** @param {string} url */
  const fetch = async (url) => {
    asked.push(url);
    const u = new URL(url);
    if (u.pathname === "/api/events/head") {
      return Response.json({ cursor: answer.head ?? events.at(-1)?.cursor ?? null });
    }
    if (answer.status) {
      return new Response(JSON.stringify({ detail: "too old" }), { status: answer.status });
    }
    const after = u.searchParams.get("after");
    const from = after ? events.findIndex((e) => e.cursor === after) + 1 : 0;
    const page = events.slice(from);
    return Response.json({ events: page, next: page.at(-1)?.cursor ?? after, more: false });
  };
  return { fetch, asked };
}

/** @param {number} offset @param {string} [id] */
function logEvent(offset, id = `e${offset}`) {
  return {
    id,
    type: "message.updated",
    company_id: "c1",
    ticket_id: "t1",
    cursor: cursor(offset),
    accepted_at: offset,
    payload: { message: message("m1", { updatedAt: offset }) },
  };
}

/** @param {number} offset */
function socketArgs(offset) {
  const payload = { action: "update", message: message("m1"), ticket: { id: "t1" }, eventId: `e${offset}` };
  return [payload, cursor(offset)];
}

function memoryStorage() {
  const map = new Map();
  return {
    map,
    /** @param {string} k */ getItem: (k) => map.get(k) ?? null,
    /** @param {string} k @param {string} v */ setItem: (k, v) => void map.set(k, v),
    /** @param {string} k */ removeItem: (k) => void map.delete(k),
  };
}

/** @param {Record<string, any>} options */
function makeClient(options) {
  const socket = new FakeSocket();
  const client = new TidewireClient({
    apiUrl: "http://api.test",
    edgeUrl: "http://edge.test",
    token: "t.e30.s",
    pollFastMs: 5,
    pollSlowMs: 60000,
    io: /** @type {any} */ ((/** @type {string} */ _url, /** @type {any} */ opts) => {
      socket.options = opts;
      return socket;
    }),
    ...options,
  });
  return { client, socket };
}

test("each event reaches the app once whichever channel was first; the cursor only moves on", async () => {
  const log = [logEvent(4), logEvent(5), logEvent(6)];
  const { fetch } = fakeFetch(log);
  const storage = memoryStorage();
  storage.setItem("tidewire:cursor:c1:u1", cursor(3));
  const { client, socket } = makeClient({ fetch, storage, storageKey: "tidewire:cursor:c1:u1" });
  /** @type {string[]} */
  const got = [];
  client.on("change", (c) => got.push(c.id));
  await client.start();
  assert.equal(socket.auth().lastEventId, cursor(3)); // resumes where the last page stopped
  await until(() => got.length === 3); // socket down: the poller reads 4, 5, 6
  assert.equal(client.cursor, cursor(6));
  assert.equal(storage.map.get("tidewire:cursor:c1:u1"), cursor(6));
  socket.up(); // a recovery from the socket's own, older offset replays 5 and 6
  socket.deliver("company-c1-appMessage", ...socketArgs(5));
  socket.deliver("company-c1-appMessage", ...socketArgs(6));
  assert.equal(client.cursor, cursor(6));
  socket.deliver("company-c1-appMessage", ...socketArgs(7));
  assert.deepEqual(got, ["e4", "e5", "e6", "e7"]);
  assert.equal(client.cursor, cursor(7));
  client.stop();
});

test("the poller asks often while the socket is down and waits while it is up", async () => {
  const { fetch, asked } = fakeFetch([logEvent(1)]);
  const { client, socket } = makeClient({ fetch });
  await client.start();
  await until(() => asked.filter((u) => u.includes("/api/events?")).length >= 3);
  socket.up();
  await until(() => !client.poller.busy);
  const before = asked.length;
  await new Promise((resolve) => setTimeout(resolve, 50)); // ten fast intervals
  assert.equal(asked.length, before);
  socket.down("transport close");
  await until(() => asked.length > before); // woken at once
  client.stop();
});

test("a resync from the socket moves the cursor to the new session's start and tells the app", async () => {
  const { fetch } = fakeFetch([logEvent(9)]);
  const { client, socket } = makeClient({ fetch });
  /** @type {string[]} */
  const reasons = [];
  client.on("resync", (r) => reasons.push(r.reason));
  await client.start();
  socket.up();
  socket.deliver("tidewire:resync", { reason: "session expired" }, cursor(2, "ep2"));
  assert.deepEqual(reasons, ["session expired"]);
  assert.equal(client.cursor, cursor(2, "ep2"));
  client.stop();
});

test("a cursor older than retention (410 from the poller) is a resync from the log's head", async () => {
  const { fetch } = fakeFetch([], { status: 410, head: cursor(40) });
  const { client } = makeClient({ fetch, storage: memoryStorage() });
  client.cursor = cursor(1);
  /** @type {string[]} */
  const reasons = [];
  client.on("resync", (r) => reasons.push(r.reason));
  await client.start();
  await until(() => reasons.length > 0);
  assert.match(reasons[0], /410/);
  assert.equal(client.cursor, cursor(40)); // not null: that would re-read the whole history
  client.stop();
});

test("a 410 for a cursor the socket's resync already replaced changes nothing", async () => {
  const { client } = makeClient({ fetch: fakeFetch([], { head: cursor(40) }).fetch });
  client.cursor = cursor(5, "ep2"); // the socket's resync moved it meanwhile
  /** @type {string[]} */
  const reasons = [];
  client.on("resync", (r) => reasons.push(r.reason));
  await client.lostPosition("410 too old", cursor(1));
  assert.deepEqual([reasons, client.cursor], [[], cursor(5, "ep2")]);
});

test("a refused token stops the poller until a new token is given", async () => {
  const { fetch, asked } = fakeFetch([], { status: 401 });
  const { client, socket } = makeClient({ fetch });
  client.cursor = cursor(1);
  /** @type {string[]} */
  const errors = [];
  client.on("error", (e) => errors.push(e.error.message));
  await client.start();
  await until(() => errors.length === 1 && !client.poller.running);
  const polls = asked.length;
  client.setToken("t.e30.new");
  assert.equal(socket.auth().token, "t.e30.new");
  await until(() => asked.length > polls); // polling again, with the new token
  client.stop();
});

test("the socket resumes from the client's cursor, not from its own older offset", async () => {
  const { client, socket } = makeClient({ fetch: fakeFetch([]).fetch });
  client.cursor = cursor(30); // the poller delivered up to 30 while the socket was away
  await client.start();
  assert.deepEqual(socket.auth(), {
    token: "t.e30.s",
    lastEventId: cursor(30),
    offset: cursor(30), // merged over socket.io-client's {pid, offset}
  });
  client.stop();
});

test("a failing listener does not keep the event from the others", async () => {
  const { client, socket } = makeClient({ fetch: fakeFetch([]).fetch });
  /** @type {string[]} */
  const got = [];
  /** @type {unknown[]} */
  const errors = [];
  client.on("change", () => {
    throw new Error("render failed");
  });
  client.on("change", (c) => got.push(c.id));
  client.on("error", (e) => errors.push(e.error));
  await client.start();
  socket.deliver("company-c1-appMessage", ...socketArgs(3));
  assert.deepEqual(got, ["e3"]);
  assert.equal(errors.length, 1);
  client.stop();
});

test("ack mode acknowledges the newest cursor in batches, re-sends included", async () => {
  const { fetch } = fakeFetch([]);
  const { client, socket } = makeClient({ fetch, acks: true, ackEveryMs: 5 });
  await client.start();
  socket.up();
  assert.equal(socket.auth().acks, true);
  socket.deliver("company-c1-appMessage", ...socketArgs(7));
  socket.deliver("company-c1-appMessage", ...socketArgs(8));
  await until(() => socket.emitted.length === 1);
  assert.deepEqual(socket.emitted[0], ["ack", cursor(8)]);
  socket.deliver("company-c1-appMessage", ...socketArgs(8)); // re-sent: its ack was lost
  await until(() => socket.emitted.length === 2);
  assert.deepEqual(socket.emitted[1], ["ack", cursor(8)]);
  client.stop();
});

test("an expired token is renewed with getToken, and the socket reconnects with the new one", async () => {
  let issued = 0;
  const { client, socket } = makeClient({
    fetch: fakeFetch([]).fetch,
    getToken: async () => `t.e30.new${++issued}`,
  });
  /** @type {string[]} */
  const told = [];
  /** @type {any[]} */
  const errors = [];
  client.on("reauth", (r) => told.push(r.reason));
  client.on("error", (e) => errors.push(e));
  await client.start();
  socket.up();
  socket.deliver("tidewire:reauth", { reason: "token expired", code: "token_expired" });
  await until(() => socket.auth().token === "t.e30.new1"); // the automatic reconnect sends it
  assert.deepEqual(told, ["token expired"]);
  assert.equal(socket.connects, undefined); // still reconnecting by itself: no connect() needed
  // A reconnect that went out with the old token anyway is refused: renewed, then connected.
  socket.refused(Object.assign(new Error("token expired"), { data: { code: "token_expired" } }));
  await until(() => socket.connects === 1);
  assert.equal(socket.auth().token, "t.e30.new2");
  assert.deepEqual(errors, []);
  client.stop();
});

test("without getToken an expired token is told to the app, which gives the new one", async () => {
  const { client, socket } = makeClient({ fetch: fakeFetch([]).fetch });
  /** @type {string[]} */
  const told = [];
  /** @type {string[]} */
  const errors = [];
  client.on("reauth", (r) => told.push(r.reason));
  client.on("error", (e) => errors.push(e.error.message));
  await client.start();
  socket.up();
  socket.deliver("tidewire:reauth", { reason: "token expired" });
  socket.refused(Object.assign(new Error("token expired"), { data: { code: "token_expired" } }));
  assert.deepEqual([told, errors], [["token expired"], ["token expired"]]);
  client.setToken("t.e30.fresh");
  assert.equal(socket.connects, 1);
  assert.equal(socket.auth().token, "t.e30.fresh");
  client.stop();
});
