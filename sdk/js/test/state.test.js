// @ts-check
import assert from "node:assert/strict";
import { test } from "node:test";

import { ACK_FAILED, ACK_PENDING, ACK_UNKNOWN, canSendAgain, InboxState, nextAck } from "../src/state.js";
import { change, cursor, message, ticket } from "./helpers.js";

test("acks never move backwards; failed is terminal unless the message was read", () => {
  assert.equal(nextAck(3, 2), 3);
  assert.equal(nextAck(1, 2), 2);
  assert.equal(nextAck(-1, 3), -1);
  assert.equal(nextAck(1, -1), -1);
  assert.equal(nextAck(3, -1), 3);
});

test("unknown replaces only pending, and a wamid learned after all moves it on", () => {
  assert.equal(nextAck(ACK_PENDING, ACK_UNKNOWN), ACK_UNKNOWN);
  assert.equal(nextAck(2, ACK_UNKNOWN), 2);
  assert.equal(nextAck(ACK_FAILED, ACK_UNKNOWN), ACK_FAILED);
  assert.equal(nextAck(ACK_UNKNOWN, ACK_PENDING), ACK_PENDING);
  assert.equal(nextAck(ACK_UNKNOWN, 3), 3);
  assert.equal(nextAck(ACK_UNKNOWN, ACK_FAILED), ACK_FAILED);
});

test("an unknown send shows as such: the update of the same moment does not undo it", () => {
  const state = new InboxState();
  state.watch("t1");
  state.putMessage(message("m1", { fromMe: true, ack: ACK_PENDING, updatedAt: 2000 }));
  const marked = message("m1", { fromMe: true, ack: ACK_UNKNOWN, error: "unknown: 500", updatedAt: 2000 });
  assert.equal(state.putMessage(marked), true);
  const held = state.conversation("t1").messages[0];
  assert.equal(held.ack, ACK_UNKNOWN);
  assert.equal(held.error, "unknown: 500");
  assert.equal(canSendAgain(held), true);
  assert.equal(canSendAgain({ fromMe: true, ack: ACK_PENDING }), false);
  assert.equal(canSendAgain({ fromMe: true, ack: 1 }), false);
});

test("a change older than the snapshot does not undo it", () => {
  const state = new InboxState();
  state.putTicket(ticket("t1", { updatedAt: 2000, lastMessage: "new" }));
  state.settledAfter = cursor(10);
  const stale = change(5, { kind: "ticket", ticket: ticket("t1", { updatedAt: 1500 }) });
  assert.equal(state.apply(stale), false);
  assert.equal(state.tickets.get("t1")?.lastMessage, "new");
});

test("changes after the snapshot apply in log order whatever their clocks say", () => {
  const state = new InboxState();
  state.putTicket(ticket("t1", { updatedAt: 2000 }));
  state.settledAfter = cursor(10);
  // another ingest process's clock ran a millisecond behind
  const later = change(11, { kind: "ticket", ticket: ticket("t1", { updatedAt: 1999, status: "closed" }) });
  assert.equal(state.apply(later), true);
  assert.equal(state.tickets.get("t1")?.status, "closed");
});

test("an older change arriving after a newer one (a late poll page) does not win", () => {
  const state = new InboxState();
  state.watch("t1");
  state.apply(change(20, { message: message("m1", { ack: 3, updatedAt: 3000 }) }));
  state.apply(change(15, { message: message("m1", { ack: 1, updatedAt: 2000 }) }));
  assert.equal(state.messages.get("t1")?.get("m1")?.ack, 3);
});

test("two documents of the same moment keep the higher ack", () => {
  const state = new InboxState();
  state.watch("t1");
  state.putMessage(message("m1", { ack: 3, updatedAt: 3000 }));
  state.putMessage(message("m1", { ack: 2, updatedAt: 3000 }));
  assert.equal(state.messages.get("t1")?.get("m1")?.ack, 3);
});

test("the server's message replaces the optimistic one with the same client id", () => {
  const state = new InboxState();
  state.watch("t1");
  state.pending.set("k1", {
    clientMessageId: "k1",
    ticketId: "t1",
    body: "hello",
    state: "accepted",
    error: null,
    createdAt: 1,
  });
  assert.equal(state.conversation("t1").pending.length, 1);
  state.apply(change(1, { action: "create", message: message("m9", { clientMessageId: "k1", fromMe: true }) }));
  const view = state.conversation("t1");
  assert.deepEqual(
    [view.pending.length, view.messages.map((m) => m.id)],
    [0, ["m9"]],
  );
});

test("an unread reset without a ticket document clears the counter", () => {
  const state = new InboxState();
  state.putTicket(ticket("t1", { unreadMessages: 4 }));
  assert.equal(state.apply(change(2, { kind: "ticket", action: "updateUnread" })), true);
  assert.equal(state.tickets.get("t1")?.unreadMessages, 0);
});

test("ticket lists follow the query API's order: newest activity first", () => {
  const state = new InboxState();
  state.putTicket(ticket("a", { updatedAt: 1 }));
  state.putTicket(ticket("b", { updatedAt: 3 }));
  state.putTicket(ticket("c", { updatedAt: 2, status: "pending" }));
  assert.deepEqual(state.ticketsWith("open").map((t) => t.id), ["b", "a"]);
});

test("messages of conversations nobody opened are not kept, yet settle their pending twin", () => {
  const state = new InboxState();
  state.pending.set("k2", {
    clientMessageId: "k2",
    ticketId: "t9",
    body: "x",
    state: "accepted",
    error: null,
    createdAt: 1,
  });
  state.apply(change(3, { message: message("m3", { ticketId: "t9", clientMessageId: "k2" }) }));
  assert.equal(state.messages.has("t9"), false);
  assert.equal(state.pending.has("k2"), false);
});

test("a full snapshot drops tickets it no longer lists, unless a change touched them", () => {
  const state = new InboxState();
  state.putTicket(ticket("gone")); // closed during a gap in the history
  state.putTicket(ticket("moved"));
  state.putTicket(ticket("kept"));
  state.putTicket(ticket("closed", { status: "closed" }));
  state.markSnapshot();
  state.apply(change(4, { kind: "ticket", ticketId: "moved", ticket: ticket("moved", { updatedAt: 5 }) }));
  state.sweep(["open", "pending"], new Set(["kept"]));
  assert.deepEqual([...state.tickets.keys()].sort(), ["closed", "kept", "moved"]);
});

test("the settled position only moves forward, or into another log", () => {
  const state = new InboxState();
  state.settle(cursor(10));
  state.settle(cursor(8)); // an older head answered late
  assert.equal(state.settledAfter, cursor(10));
  state.newest = cursor(12);
  state.settle(cursor(3, "ep2")); // after a resync into a recreated log
  assert.deepEqual([state.settledAfter, state.newest], [cursor(3, "ep2"), null]);
});
