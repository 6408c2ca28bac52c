// @ts-check
/**
 * An agent's inbox as the application shows it: the reducer of the event stream.
 *
 * Documents come from two sources, snapshots (the query API) and changes (the event log),
 * and the two overlap: a snapshot is taken at some moment between the positions of a stream
 * that already runs. Every change carries whole documents, so the rule is simple: a document
 * replaces the one held unless it is older (`updatedAt`), and a change known to come after the
 * latest snapshot (`settledAfter`), in log order, replaces it whatever its time (the log's
 * order is the truth; clocks of several ingest processes may disagree by a millisecond). Applied in log
 * order after a snapshot, the state ends equal to what the query API returns.
 *
 * Optimistic messages (pending sends) live beside the server's until the fact with the same
 * `clientMessageId` arrives and takes their place.
 */
import { Ack } from "./acks.js";
import { isLater, sameLog } from "./cursor.js";

/** @typedef {import("./changes.js").Change} Change */
/** @typedef {import("./changes.js").Doc} Doc */
/**
 * @typedef {{
 *   clientMessageId: string,
 *   ticketId: string,
 *   body: string,
 *   state: "sending" | "accepted" | "failed",
 *   error: string | null,
 *   createdAt: number,
 * }} Pending
 */

/**
 * The send may or may not have reached the customer (the Graph API timed out or failed after
 * the request left): the platform never sends it again by itself; the agent may (`retry`).
 */
export const ACK_UNKNOWN = Ack.UNKNOWN;
export const ACK_FAILED = Ack.FAILED;
export const ACK_PENDING = Ack.PENDING;

/**
 * The acknowledgement after `incoming`, as the server folds it: never backwards; failed is
 * terminal, and ignored once the message was read; unknown replaces only pending, and any
 * known progress (a wamid learned after all) replaces unknown.
 * @param {number} current
 * @param {number} incoming
 */
export function nextAck(current, incoming) {
  if (current === ACK_FAILED) return current;
  if (incoming === ACK_FAILED) return current < Ack.READ ? ACK_FAILED : current;
  if (incoming === ACK_UNKNOWN) return current === ACK_PENDING ? ACK_UNKNOWN : current;
  return Math.max(current, incoming);
}

/**
 * Whether the agent may send this server message again (as a new message): WhatsApp refused
 * it (failed), or nobody can tell whether it reached the customer (unknown).
 * @param {Doc} message
 */
export function canSendAgain(message) {
  return message.ack === ACK_FAILED || message.ack === ACK_UNKNOWN;
}

export class InboxState {
  constructor() {
    /** @type {Map<string, Doc>} */
    this.tickets = new Map();
    /** @type {Map<string, Doc>} */
    this.contacts = new Map();
    /** @type {Map<string, Map<string, Doc>>} ticket id -> message id -> message */
    this.messages = new Map();
    /** @type {Map<string, Pending>} client message id -> optimistic message */
    this.pending = new Map();
    /** Changes after this cursor come after every snapshot taken so far. @type {string | null} */
    this.settledAfter = null;
    /** The newest position applied: a change behind it arrived out of order. @type {string | null} */
    this.newest = null;
    /** Tickets a change touched since `markSnapshot` (a sweep must keep them). @type {Set<string>} */
    this.touched = new Set();
  }

  /**
   * Every change from here on comes after the snapshots read so far: the log's head taken
   * once they were read. Only moves forward, except into another log (after a resync).
   * @param {string | null} head
   */
  settle(head) {
    if (head === null) return;
    if (isLater(head, this.settledAfter) || !sameLog(head, this.settledAfter)) {
      this.settledAfter = head;
    }
    if (!sameLog(head, this.newest)) this.newest = null; // positions of an abandoned log
  }

  /** A full snapshot of ticket lists begins: remember what changes touch meanwhile. */
  markSnapshot() {
    this.touched.clear();
  }

  /**
   * A full snapshot of `statuses` ended: drop held tickets of those statuses that it did not
   * return and no change touched meanwhile (closed, or moved, during a gap in the history).
   * @param {string[]} statuses
   * @param {Set<string>} returned
   */
  sweep(statuses, returned) {
    for (const [id, ticket] of this.tickets) {
      if (statuses.includes(ticket.status) && !returned.has(id) && !this.touched.has(id)) {
        this.tickets.delete(id);
      }
    }
  }

  /**
   * Keep the messages of this ticket from now on (a conversation the agent opened). Messages
   * of other tickets are not kept: a busy company would otherwise fill memory with
   * conversations nobody looks at.
   * @param {string} ticketId
   */
  watch(ticketId) {
    if (!this.messages.has(ticketId)) this.messages.set(ticketId, new Map());
  }

  /**
   * Fold one change from the log; true when anything the application shows changed.
   * @param {Change} change
   */
  apply(change) {
    // Unconditional only in log order past every snapshot: a poll page can arrive after the
    // socket already delivered later events, and its older documents must not win then.
    const force =
      change.cursor !== null &&
      isLater(change.cursor, this.settledAfter) &&
      isLater(change.cursor, this.newest);
    if (change.cursor !== null && isLater(change.cursor, this.newest)) this.newest = change.cursor;
    let changed = false;
    if (change.ticketId) this.touched.add(change.ticketId);
    if (change.contact) changed = this.putContact(change.contact, force) || changed;
    if (change.ticket) changed = this.putTicket(change.ticket, force) || changed;
    if (change.action === "updateUnread" && !change.ticket && change.ticketId) {
      const ticket = this.tickets.get(change.ticketId);
      if (ticket && ticket.unreadMessages !== 0) {
        this.tickets.set(ticket.id, { ...ticket, unreadMessages: 0 });
        changed = true;
      }
    }
    if (change.message) changed = this.putMessage(change.message, force) || changed;
    return changed;
  }

  /**
   * @param {Doc} doc
   * @param {boolean} [force]
   */
  putTicket(doc, force = false) {
    const held = this.tickets.get(doc.id);
    if (held && !force && doc.updatedAt < held.updatedAt) return false;
    this.tickets.set(doc.id, doc);
    return true;
  }

  /**
   * @param {Doc} doc
   * @param {boolean} [force]
   */
  putContact(doc, force = false) {
    const held = this.contacts.get(doc.id);
    if (held && !force && JSON.stringify(held) === JSON.stringify(doc)) return false;
    this.contacts.set(doc.id, doc);
    return true;
  }

  /**
   * @param {Doc} doc
   * @param {boolean} [force]
   */
  putMessage(doc, force = false) {
    // The fact of an optimistic message settles it, whether or not its thread is kept.
    const settled = doc.clientMessageId ? this.pending.delete(doc.clientMessageId) : false;
    const thread = this.messages.get(doc.ticketId);
    if (thread === undefined) return settled;
    const held = thread.get(doc.id);
    let next = doc;
    if (held && !force) {
      if (doc.updatedAt < held.updatedAt) return false;
      if (doc.updatedAt === held.updatedAt) next = { ...doc, ack: nextAck(held.ack, doc.ack) };
    }
    thread.set(doc.id, next);
    return true;
  }

  /**
   * Tickets of one status, newest activity first (the query API's order).
   * @param {string} status
   */
  ticketsWith(status) {
    return [...this.tickets.values()]
      .filter((t) => t.status === status)
      .sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : 1));
  }

  /**
   * A ticket's conversation: the server's messages in order, then the optimistic ones not
   * yet confirmed, oldest first.
   * @param {string} ticketId
   * @returns {{messages: Doc[], pending: Pending[]}}
   */
  conversation(ticketId) {
    const thread = [...(this.messages.get(ticketId)?.values() ?? [])];
    thread.sort((a, b) => a.position - b.position);
    const pending = [...this.pending.values()]
      .filter((p) => p.ticketId === ticketId)
      .sort((a, b) => a.createdAt - b.createdAt);
    return { messages: thread, pending };
  }
}
