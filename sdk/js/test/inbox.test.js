// @ts-check
import assert from "node:assert/strict";
import { test } from "node:test";

import { Inbox } from "../src/inbox.js";
import { message, until } from "./helpers.js";

/** A client and API double around a shared storage (unit tests only). */
function fakeClient(/** @type {Map<string, string>} */ store, { acceptSends = true } = {}) {
  /** @type {{key: string, body: string}[]} */
  const sends = [];
  const api = {
    sends,
    tickets: async () => ({ tickets: [], next: null }),
    head: async () => null,
    /** @param {string} _ticket @param {string} key @param {string} body */
    sendMessage: (_ticket, key, body) => {
      sends.push({ key, body });
      // never answering: the tab closes with the request on its way
      return acceptSends ? Promise.resolve({}) : new Promise(() => {});
    },
  };
  return {
    api,
    subject: "c1:u1",
    socket: {},
    storage: {
      /** @param {string} k */ getItem: (k) => store.get(k) ?? null,
      /** @param {string} k @param {string} v */ setItem: (k, v) => void store.set(k, v),
      /** @param {string} k */ removeItem: (k) => void store.delete(k),
    },
    on: () => () => {},
    emit: () => {},
    start: async () => {},
  };
}

test("a send the closed tab left on its way is shown again and re-sent under its key", async () => {
  const store = new Map();
  const before = fakeClient(store, { acceptSends: false });
  const first = new Inbox(/** @type {any} */ (before));
  await first.load();
  const key = first.send("t1", "still there?");
  assert.ok(store.get("tidewire:outbox:c1:u1")?.includes(key));

  const after = fakeClient(store); // the page is opened again
  const second = new Inbox(/** @type {any} */ (after));
  await second.load();
  assert.equal(second.state.pending.get(key)?.body, "still there?"); // shown at once
  await until(() => second.state.pending.get(key)?.state === "accepted");
  assert.deepEqual(after.api.sends, [{ key, body: "still there?" }]);

  second.state.watch("t1");
  second.state.putMessage(message("m1", { clientMessageId: key }));
  second.changed(); // the fact arrived: nothing left to keep
  assert.equal(store.has("tidewire:outbox:c1:u1"), false);
});
