// @ts-check
import assert from "node:assert/strict";
import { test } from "node:test";

import { Inbox } from "../src/inbox.js";
import { change, message, until } from "./helpers.js";

const KEY = "tidewire:outbox:c1:u1";
const HOUR = 3600 * 1000;

/**
 * A client and API double around a shared storage (unit tests only); `deliver(change)`
 * plays the server's stream through the Inbox's real change handler.
 * @param {Map<string, string>} store
 * @param {{answer?: "accept" | "never", storageFails?: boolean}} [options]
 */
function fakeClient(store, { answer = "accept", storageFails = false } = {}) {
  /** @type {{key: string, body: string}[]} */
  const sends = [];
  /** @type {Map<string, (detail: any) => void>} */
  const handlers = new Map();
  /** @type {unknown[]} */
  const errors = [];
  const api = {
    tickets: async () => ({ tickets: [], next: null }),
    head: async () => null,
    /** @param {string} _ticket @param {string} key @param {string} body */
    sendMessage: (_ticket, key, body) => {
      sends.push({ key, body });
      return answer === "accept" ? Promise.resolve({}) : new Promise(() => {});
    },
  };
  return {
    api,
    sends,
    errors,
    subject: "c1:u1",
    socket: {},
    storage: {
      /** @param {string} k */ getItem: (k) => store.get(k) ?? null,
      /** @param {string} k @param {string} v */
      setItem: (k, v) => {
        if (storageFails) throw new Error("QuotaExceededError");
        store.set(k, v);
      },
      /** @param {string} k */ removeItem: (k) => void store.delete(k),
    },
    /** @param {string} type @param {(detail: any) => void} fn */
    on: (type, fn) => void handlers.set(type, fn),
    /** @param {string} type @param {any} detail */
    emit: (type, detail) => (type === "error" ? errors.push(detail.error) : undefined),
    /** @param {import("../src/changes.js").Change} c */
    deliver: (c) => handlers.get("change")?.(c),
    start: async () => {},
    stop: () => {},
  };
}

/** @param {string} id @param {string} state @param {number} ageMs */
function kept(id, state, ageMs) {
  return { clientMessageId: id, ticketId: "t1", body: id, state, error: null, createdAt: Date.now() - ageMs };
}

test("a send the closed tab left on its way is shown at once and re-sent under its key", async () => {
  const store = new Map();
  const before = fakeClient(store, { answer: "never" }); // the tab closes with it on its way
  const first = new Inbox(/** @type {any} */ (before));
  await first.load();
  const key = first.send("t1", "still there?");
  assert.ok(store.get(KEY)?.includes(key));

  const after = fakeClient(store);
  const second = new Inbox(/** @type {any} */ (after));
  assert.equal(second.state.pending.get(key)?.body, "still there?"); // before any request
  await second.load();
  await until(() => second.state.pending.get(key)?.state === "accepted");
  assert.deepEqual(after.sends, [{ key, body: "still there?" }]);

  second.state.watch("t1");
  after.deliver(change(9, { action: "create", message: message("m1", { clientMessageId: key }) }));
  assert.equal(second.state.pending.has(key), false);
  assert.equal(store.has(KEY), false); // nothing left to keep
});

test("accepted sends are not sent again; old unconfirmed ones go back to the agent", async () => {
  const store = new Map();
  const entries = [
    kept("accepted", "accepted", HOUR),
    kept("stale-sending", "sending", 30 * HOUR),
    kept("old-accepted", "accepted", 30 * HOUR),
    kept("ancient-failed", "failed", 8 * 24 * HOUR),
  ];
  store.set(KEY, JSON.stringify(Object.fromEntries(entries.map((e) => [e.clientMessageId, e]))));
  const client = fakeClient(store);
  const inbox = new Inbox(/** @type {any} */ (client));
  await inbox.load();
  assert.deepEqual(client.sends, []);
  assert.deepEqual([...inbox.state.pending.keys()].sort(), ["accepted", "stale-sending"]);
  assert.equal(inbox.state.pending.get("stale-sending")?.state, "failed");
  const send = inbox.send("t1", "new");
  const stored = () => JSON.parse(store.get(KEY) ?? "{}");
  // The ones let go are gone from storage too; the handed-back one is stored as failed.
  assert.deepEqual(Object.keys(stored()).sort(), ["accepted", send, "stale-sending"].sort());
  assert.equal(stored()["stale-sending"].state, "failed");
  inbox.discard("stale-sending");
  assert.deepEqual([...inbox.state.pending.keys()], ["accepted", send]);
});

test("two tabs of one agent keep each other's unconfirmed sends", async () => {
  const store = new Map();
  const tabA = new Inbox(/** @type {any} */ (fakeClient(store, { answer: "never" })));
  const tabB = new Inbox(/** @type {any} */ (fakeClient(store)));
  await tabA.load();
  await tabB.load();
  const x = tabA.send("t1", "from A");
  const y = tabB.send("t1", "from B");
  await until(() => tabB.state.pending.get(y)?.state === "accepted");
  tabB.state.watch("t1");
  tabB.state.putMessage(message("m2", { clientMessageId: y }));
  tabB.changed(); // B saw its own settle
  assert.deepEqual(Object.keys(JSON.parse(store.get(KEY) ?? "{}")), [x]);
});

test("storage that fails or holds something else never stops a send", async () => {
  const store = new Map([[KEY, "[null, 3]"]]);
  const client = fakeClient(store, { storageFails: true });
  const inbox = new Inbox(/** @type {any} */ (client));
  await inbox.load();
  const key = inbox.send("t1", "anyway");
  await until(() => inbox.state.pending.get(key)?.state === "accepted");
  assert.deepEqual(client.sends, [{ key, body: "anyway" }]);
  assert.ok(client.errors.length > 0); // told, not thrown
});

test("a message one tab discarded is not brought back by another tab's save", async () => {
  const store = new Map();
  store.set(KEY, JSON.stringify({ f: kept("f", "failed", HOUR) }));
  const tabA = new Inbox(/** @type {any} */ (fakeClient(store)));
  const tabB = new Inbox(/** @type {any} */ (fakeClient(store, { answer: "never" })));
  await tabA.load();
  await tabB.load();
  tabA.discard("f");
  const fresh = tabB.send("t1", "from B");
  assert.deepEqual(Object.keys(JSON.parse(store.get(KEY) ?? "{}")), [fresh]);
});

test("a closed conversation is no longer read on reload", async () => {
  const client = fakeClient(new Map());
  /** @type {string[]} */
  const read = [];
  Object.assign(client.api, {
    /** @param {string} id */
    ticket: async (id) => (read.push(id), { ticket: { id, status: "open", updatedAt: 1 }, contact: null }),
    messages: async () => ({ messages: [message("m1")], before: null, after: null }),
  });
  const inbox = new Inbox(/** @type {any} */ (client));
  await inbox.open("t1");
  assert.equal(inbox.state.conversation("t1").messages.length, 1);
  inbox.close("t1");
  await inbox.reload();
  assert.deepEqual([read, inbox.state.messages.has("t1")], [["t1"], false]);
});
