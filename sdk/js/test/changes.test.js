// @ts-check
import assert from "node:assert/strict";
import { test } from "node:test";

import { fromLog, fromSocket } from "../src/changes.js";
import { cursor, message, ticket } from "./helpers.js";

test("an appMessage create carries message, ticket and contact", () => {
  const payload = {
    action: "create",
    message: message("m1"),
    ticket: ticket("t1"),
    contact: { id: "5511", number: "5511" },
    eventId: "e1",
    cursor: cursor(1),
    acceptedAt: 5,
  };
  const change = fromSocket("company-c1-appMessage", payload, cursor(1));
  assert.equal(change?.kind, "message");
  assert.equal(change?.action, "create");
  assert.equal(change?.ticketId, "t1");
  assert.equal(change?.ticket?.id, "t1");
  assert.equal(change?.contact?.id, "5511");
  assert.equal(change?.cursor, cursor(1));
});

test("a message update names its ticket without a document to keep", () => {
  const payload = { action: "update", message: message("m1"), ticket: { id: "t1" }, eventId: "e2" };
  const change = fromSocket("company-c1-appMessage", payload, cursor(2));
  assert.equal(change?.ticket, null);
  assert.equal(change?.ticketId, "t1");
});

test("ticket updates and unread resets are changes; deletes and control events are not", () => {
  const update = fromSocket(
    "company-c1-ticket",
    { action: "update", ticket: ticket("t1"), eventId: "e3" },
    cursor(3),
  );
  assert.equal(update?.kind, "ticket");
  const unread = fromSocket(
    "company-c1-ticket",
    { action: "updateUnread", ticketId: "t1", eventId: "e4" },
    cursor(4),
  );
  assert.equal(unread?.action, "updateUnread");
  assert.equal(unread?.ticketId, "t1");
  assert.equal(
    fromSocket("company-c1-ticket", { action: "delete", ticketId: "t1", eventId: "e3" }, null),
    null,
  );
  assert.equal(fromSocket("tidewire:position", { action: "position" }, cursor(4)), null);
  assert.equal(fromSocket("company-c1-appMessage", "not an object", null), null);
});

test("log events map to the same changes as their socket twins", () => {
  const base = { company_id: "c1", ticket_id: "t1", command_id: "k", accepted_at: 7 };
  const created = fromLog({
    ...base,
    id: "e1",
    type: "message.created",
    cursor: cursor(1),
    payload: { message: message("m1"), ticket: ticket("t1"), contact: null },
  });
  assert.deepEqual(
    [created?.kind, created?.action, created?.ticketId, created?.message?.id, created?.acceptedAt],
    ["message", "create", "t1", "m1", 7],
  );
  const read = fromLog({ ...base, id: "e2", type: "ticket.read", payload: { ticket: ticket("t1") } });
  assert.equal(read?.action, "updateUnread");
  assert.equal(fromLog({ ...base, id: "e3", type: "contact.merged", payload: {} }), null);
});
