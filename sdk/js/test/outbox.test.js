// @ts-check
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../src/api.js";
import { Outbox } from "../src/outbox.js";
import { InboxState } from "../src/state.js";
import { message, until } from "./helpers.js";

/**
 * An Api double answering sendMessage with the given outcomes in turn (unit tests only).
 * @param {(ApiError | null)[]} outcomes  null: accepted
 */
function fakeApi(outcomes) {
  /** @type {{ticketId: string, key: string, body: string}[]} */
  const calls = [];
  const api = {
    calls,
    /** @param {string} ticketId @param {string} key @param {string} body */
    async sendMessage(ticketId, key, body) {
      calls.push({ ticketId, key, body });
      const outcome = outcomes.shift() ?? null;
      if (outcome) throw outcome;
      return { command_id: "x", ticket_id: ticketId };
    },
  };
  return api;
}

const fast = { baseMs: 1, maxMs: 2 };

test("a send shows at once, retries a 503 under the same key, then waits for its fact", async () => {
  const state = new InboxState();
  const api = fakeApi([new ApiError(503, "busy"), new ApiError(0, "offline")]);
  const outbox = new Outbox(/** @type {any} */ (api), state, () => {}, fast);
  const key = outbox.send("t1", "hello");
  assert.equal(state.pending.get(key)?.state, "sending");
  await until(() => state.pending.get(key)?.state === "accepted");
  assert.deepEqual(new Set(api.calls.map((c) => c.key)), new Set([key]));
  assert.equal(api.calls.length, 3);
  state.putMessage(message("m1", { clientMessageId: key }));
  assert.equal(state.pending.has(key), false);
});

test("a refusal that cannot succeed later fails the message with the reason", async () => {
  const state = new InboxState();
  const api = fakeApi([new ApiError(422, "POST …: 422 body: too long")]);
  const outbox = new Outbox(/** @type {any} */ (api), state, () => {}, fast);
  const key = outbox.send("t1", "x");
  await until(() => state.pending.get(key)?.state === "failed");
  assert.match(state.pending.get(key)?.error ?? "", /422/);
  assert.equal(api.calls.length, 1);
});

test("retry sends a failed message again under its key", async () => {
  const state = new InboxState();
  const api = fakeApi([new ApiError(401, "expired")]);
  const outbox = new Outbox(/** @type {any} */ (api), state, () => {}, fast);
  const key = outbox.send("t1", "x");
  await until(() => state.pending.get(key)?.state === "failed");
  assert.equal(outbox.retry(key), key);
  await until(() => state.pending.get(key)?.state === "accepted");
  assert.deepEqual(api.calls.map((c) => c.key), [key, key]);
});

test("a message WhatsApp refused is sent again as a new one", async () => {
  const state = new InboxState();
  const api = fakeApi([]);
  const outbox = new Outbox(/** @type {any} */ (api), state, () => {}, fast);
  state.watch("t1");
  state.putMessage(message("m1", { clientMessageId: "old", ack: -1, body: "again" }));
  const key = outbox.retry("old");
  assert.ok(key !== null && key !== "old");
  assert.equal(outbox.retry("old"), key); // a second click sends no second copy
  await until(() => api.calls.length === 1);
  assert.deepEqual(api.calls, [{ ticketId: "t1", key, body: "again" }]);
  assert.equal(outbox.retry("unknown"), null);
});

test("a message whose send is unknown is sent again only when asked, as a new one", async () => {
  const state = new InboxState();
  const api = fakeApi([]);
  const outbox = new Outbox(/** @type {any} */ (api), state, () => {}, fast);
  state.watch("t1");
  state.putMessage(message("m1", { clientMessageId: "maybe", fromMe: true, ack: -2, body: "oi?" }));
  assert.equal(api.calls.length, 0); // nothing by itself: it may have reached the customer
  const key = outbox.retry("maybe");
  assert.ok(key !== null && key !== "maybe");
  assert.equal(outbox.retry("maybe"), key);
  await until(() => api.calls.length === 1);
  assert.deepEqual(api.calls, [{ ticketId: "t1", key, body: "oi?" }]);
  assert.equal(state.conversation("t1").messages[0].ack, -2); // the old one stays as it was
});

test("a ticket not yet in the read model (404) is retried a few times, then fails", async () => {
  const state = new InboxState();
  const api = fakeApi([new ApiError(404, "no ticket"), new ApiError(404, "no ticket")]);
  const outbox = new Outbox(/** @type {any} */ (api), state, () => {}, { ...fast, freshTicketAttempts: 2 });
  const key = outbox.send("t1", "x");
  await until(() => state.pending.get(key)?.state === "failed");
  assert.equal(api.calls.length, 2);
});
