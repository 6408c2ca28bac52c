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
import { Outbox } from "./outbox.js";
import { InboxState } from "./state.js";

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
    this.pendingKey = `tidewire:outbox:${client.subject}`;
    this.savedPending = ""; // what storage holds, to write only when it changed
  }

  /** @param {() => void} fn */
  onUpdate(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    this.keepPending();
    for (const fn of this.listeners) fn();
  }

  /** Store the unconfirmed sends (see the module's comment). */
  keepPending() {
    const storage = this.client.storage;
    if (storage === null) return;
    const pending = [...this.state.pending.values()];
    const json = pending.length ? JSON.stringify(pending) : "";
    if (json === this.savedPending) return;
    if (json) storage.setItem(this.pendingKey, json);
    else storage.removeItem(this.pendingKey);
    this.savedPending = json;
  }

  /** Sends an earlier page left unconfirmed: shown again, and sent again if never accepted. */
  restorePending() {
    const stored = this.client.storage?.getItem(this.pendingKey);
    if (!stored) return;
    /** @type {import("./state.js").Pending[]} */
    let pending = [];
    try {
      pending = JSON.parse(stored);
    } catch {
      return; // not ours to read; replaced at the next change
    }
    const day = 24 * 3600 * 1000;
    for (const p of pending) {
      // Accepted is durable: its fact comes with the conversation. A day-old one whose
      // conversation was never opened again is not worth keeping.
      if (p.state === "accepted" && Date.now() - p.createdAt > day) continue;
      this.state.pending.set(p.clientMessageId, p);
      if (p.state === "sending") void this.outbox.deliver(p);
    }
    this.savedPending = stored;
  }

  /** Connect and load the ticket lists. */
  async load() {
    this.restorePending();
    await this.client.start();
    await this.reload();
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
      setTimeout(
        () => {
          if (this.client.socket !== null) void this.reload(); // unless stopped meanwhile
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
