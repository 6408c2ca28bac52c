// @ts-check
/**
 * An agent's inbox: snapshots from the query API, kept current by the client's changes,
 * with optimistic sends. The state (state.js) is what a view renders; "update" fires after
 * every change to it.
 *
 * Sends not yet confirmed are kept in the client's `storage` too: a tab closed (or reloaded)
 * while a message was on its way shows it again and sends it again under the same key, which
 * the server accepts once.
 *
 * Order of loading matters: the client starts first (it fixes the position to follow from),
 * then snapshots are read, then the log's head is taken as `settledAfter`: changes behind it
 * may predate a snapshot and apply only if not older, changes after it apply as they come.
 */
import { KeptSends } from "./kept.js";
import { Outbox } from "./outbox.js";
import { InboxState } from "./state.js";

/** @typedef {import("./state.js").Pending} Pending */

const DAY_MS = 24 * 3600 * 1000;
const WEEK_MS = 7 * DAY_MS;

export class Inbox {
  /**
   * @param {import("./client.js").TidewireClient} client
   * @param {{statuses?: string[], retry?: import("./outbox.js").RetryPolicy}} [options]
   */
  constructor(client, options = {}) {
    this.client = client;
    this.api = client.api;
    this.statuses = options.statuses ?? ["open", "pending"];
    this.state = new InboxState();
    this.outbox = new Outbox(this.api, this.state, () => this.changed(), options.retry);
    this.kept = new KeptSends(client.storage, `tidewire:outbox:${client.subject}`, (error) =>
      client.emit("error", { error }),
    );
    this.resend = this.restorePending(); // before any change is listened to
    /** @type {Set<string>} tickets whose conversation is loaded and kept */
    this.conversations = new Set();
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    client.on("change", (change) => {
      if (this.state.apply(change)) this.changed();
    });
    client.on("resync", () => void this.reload());
    /** The reload under way, if any. @type {Promise<void> | null} */
    this.reloading = null;
    this.reloadAgain = false; // a resync arrived while reloading: the snapshot may predate it
    this.reloadFailures = 0; // in a row: the retry backs off
    this.stopped = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.reloadTimer = null;
  }

  /** @param {() => void} fn */
  onUpdate(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    if (this.stopped) return;
    for (const fn of this.listeners) {
      try {
        fn();
      } catch (error) {
        this.client.emit("error", { error });
      }
    }
    this.kept.save(this.state.pending);
  }

  /**
   * Sends an earlier page left unconfirmed: shown again at once (before any change can
   * arrive, so a fact that comes meanwhile settles them). Sent again in `load()` if never
   * accepted, unless they are over a day old: the server's duplicate check lasts as long as
   * the events' retention, so an old one is handed back to the agent as failed instead.
   * @returns {Pending[]} the ones to send again
   */
  restorePending() {
    const now = Date.now();
    /** @type {Pending[]} */
    const resend = [];
    const entries = this.kept.read();
    this.kept.adopt(entries); // the ones let go below are removed by the next save
    for (const p of entries) {
      const age = Math.abs(now - p.createdAt); // a clock set back does not keep one for ever
      if ((p.state === "accepted" && age > DAY_MS) || age > WEEK_MS) continue; // let go
      if (p.state === "sending" && age > DAY_MS) {
        p.state = "failed";
        p.error = "not confirmed for over a day: send it again if it is still wanted";
      }
      this.state.pending.set(p.clientMessageId, p);
      if (p.state === "sending") resend.push(p);
    }
    return resend;
  }

  /** Connect and load the ticket lists. */
  async load() {
    for (const p of this.resend.splice(0)) void this.outbox.deliver(p);
    await this.client.start();
    await this.reload();
  }

  /** Disconnect; sends under way stop retrying (they stay kept for the next page). */
  stop() {
    this.stopped = true;
    this.outbox.stop();
    if (this.reloadTimer !== null) clearTimeout(this.reloadTimer);
    this.reloadTimer = null;
    this.client.stop();
  }

  /**
   * Drop a failed message the agent gave up on.
   * @param {string} clientMessageId
   */
  discard(clientMessageId) {
    if (this.state.pending.delete(clientMessageId)) this.changed();
  }

  /**
   * Read every snapshot again (after a resync, the history held may have gaps). One reload
   * at a time: asked again meanwhile, it runs once more afterwards. A failed reload is
   * retried with backoff (a resync's gap stays open until one succeeds); the returned
   * promise settles with the first attempt, so `load()` reports a failure at start.
   * @returns {Promise<void>}
   */
  reload() {
    if (this.reloading !== null) {
      this.reloadAgain = true;
      return this.reloading;
    }
    const run = async () => {
      try {
        do {
          this.reloadAgain = false;
          await this.snapshot();
        } while (this.reloadAgain);
        this.reloadFailures = 0;
      } finally {
        this.reloading = null;
      }
    };
    this.reloading = run();
    this.reloading.catch((error) => {
      this.client.emit("error", { error });
      this.reloadFailures += 1;
      if (this.stopped) return;
      if (this.reloadTimer !== null) clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(
        () => {
          this.reloadTimer = null;
          if (!this.stopped) void this.reload();
        },
        Math.min(1000 * 2 ** this.reloadFailures, 30000),
      );
    });
    return this.reloading;
  }

  async snapshot() {
    this.state.markSnapshot();
    /** @type {Set<string>} */
    const returned = new Set();
    for (const status of this.statuses) {
      let cursor = null;
      do {
        const page = await this.api.tickets(status, cursor);
        for (const ticket of page.tickets) {
          this.state.putTicket(ticket);
          returned.add(ticket.id);
        }
        cursor = page.next;
      } while (cursor);
    }
    for (const ticketId of this.conversations) await this.fetchConversation(ticketId);
    await this.settle();
    this.state.sweep(this.statuses, returned);
    this.changed();
  }

  /**
   * Load a ticket, its contact and its newest messages, and keep them current.
   * @param {string} ticketId
   */
  async open(ticketId) {
    this.conversations.add(ticketId);
    await this.fetchConversation(ticketId);
    await this.settle();
    this.changed();
  }

  /**
   * Stop keeping a conversation (the agent moved on): its messages are dropped, and reloads
   * no longer read it.
   * @param {string} ticketId
   */
  close(ticketId) {
    this.conversations.delete(ticketId);
    if (this.state.messages.delete(ticketId)) this.changed();
  }

  /** @param {string} ticketId */
  async fetchConversation(ticketId) {
    this.state.watch(ticketId);
    const view = await this.api.ticket(ticketId);
    this.state.putTicket(view.ticket);
    if (view.contact) this.state.putContact(view.contact);
    const page = await this.api.messages(ticketId, { limit: 100 });
    for (const message of page.messages) this.state.putMessage(message);
  }

  /** Every change after the log's head now comes after the snapshots just read. */
  async settle() {
    this.state.settle(await this.api.head());
  }

  /**
   * @param {string} ticketId
   * @param {string} body
   */
  send(ticketId, body) {
    return this.outbox.send(ticketId, body);
  }

  /** @param {string} clientMessageId */
  retry(clientMessageId) {
    return this.outbox.retry(clientMessageId);
  }

  /** @param {string} ticketId */
  markRead(ticketId) {
    return this.api.markRead(ticketId);
  }
}
