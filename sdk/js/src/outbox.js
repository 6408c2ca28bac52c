// @ts-check
/**
 * Optimistic sends: the agent's message shows at once, and the server's fact replaces it.
 *
 * Each send gets a client-generated `client_message_id`, the server's idempotency key, so a
 * request repeated after a timeout or a 503 is accepted once and projected once. A message
 * stays `sending` until the API accepted it (then `accepted`: durable, waiting for its fact);
 * the fact (a message with the same `clientMessageId`) then takes its place in the state
 * (state.js). Refusals that cannot succeed later make it `failed`, with the reason, and
 * `retry` sends it again under the same key.
 *
 * A server message WhatsApp refused (ack -1) or whose send has an unknown outcome (ack -2:
 * the Graph API took the request and gave no answer to trust; it may have reached the
 * customer) is never sent again by the platform. `retry` on it is the agent's choice: a new
 * message with a new key, once per click-through (the old one stays as it is).
 */
import { ApiError } from "./api.js";
import { canSendAgain } from "./state.js";

/**
 * @typedef {import("./state.js").Pending} Pending
 * @typedef {{baseMs?: number, maxMs?: number, attempts?: number, freshTicketAttempts?: number}} RetryPolicy
 */

export class Outbox {
  /**
   * @param {import("./api.js").Api} api
   * @param {import("./state.js").InboxState} state
   * @param {() => void} changed  called whenever a pending message changed
   * @param {RetryPolicy} [policy]
   */
  constructor(api, state, changed, policy = {}) {
    this.api = api;
    this.state = state;
    this.changed = changed;
    this.baseMs = policy.baseMs ?? 500;
    this.maxMs = policy.maxMs ?? 10000;
    this.attempts = policy.attempts ?? 8;
    // A ticket created a moment ago may not be in the read model the API checks yet (404).
    this.freshTicketAttempts = policy.freshTicketAttempts ?? 4;
    /** Refused messages already sent again: old client id -> the new one. @type {Map<string, string>} */
    this.replaced = new Map();
    this.stopped = false; // set by stop(): no more attempts
    /** Back-off waits under way, cleared by stop(). @type {Set<ReturnType<typeof setTimeout>>} */
    this.waits = new Set();
  }

  /** No more attempts; waits under way end without one (the sends stay pending). */
  stop() {
    this.stopped = true;
    for (const timer of this.waits) clearTimeout(timer);
    this.waits.clear();
  }

  /** @param {number} ms */
  wait(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waits.delete(timer);
        resolve(undefined);
      }, ms);
      this.waits.add(timer);
    });
  }

  /**
   * Show `body` in the ticket now and send it; returns its client message id.
   * @param {string} ticketId
   * @param {string} body
   */
  send(ticketId, body) {
    /** @type {Pending} */
    const pending = {
      clientMessageId: newId(),
      ticketId,
      body,
      state: "sending",
      error: null,
      createdAt: Date.now(),
    };
    this.state.pending.set(pending.clientMessageId, pending);
    this.changed();
    void this.deliver(pending);
    return pending.clientMessageId;
  }

  /**
   * Send a failed message again: the same key when the API never took it; a new message
   * when WhatsApp refused the one sent or its send's outcome is unknown (its key is spent).
   * @param {string} clientMessageId
   * @returns {string | null} the client message id now pending, or null when nothing to retry
   */
  retry(clientMessageId) {
    const pending = this.state.pending.get(clientMessageId);
    if (pending?.state === "failed") {
      pending.state = "sending";
      pending.error = null;
      this.changed();
      void this.deliver(pending);
      return clientMessageId;
    }
    const again = this.replaced.get(clientMessageId);
    if (again !== undefined) return again; // a second click sends no second copy
    for (const [ticketId, thread] of this.state.messages) {
      for (const message of thread.values()) {
        if (message.clientMessageId === clientMessageId && canSendAgain(message)) {
          const fresh = this.send(ticketId, message.body);
          this.replaced.set(clientMessageId, fresh);
          return fresh;
        }
      }
    }
    return null;
  }

  /** @param {Pending} pending */
  async deliver(pending) {
    for (let attempt = 1; !this.stopped; attempt += 1) {
      try {
        await this.api.sendMessage(pending.ticketId, pending.clientMessageId, pending.body);
        if (this.state.pending.get(pending.clientMessageId) === pending) {
          pending.state = "accepted"; // its fact may already have replaced it
          this.changed();
        }
        return;
      } catch (err) {
        const error = err instanceof ApiError ? err : new ApiError(0, String(err));
        const again =
          (error.transient && attempt < this.attempts) ||
          (error.status === 404 && attempt < this.freshTicketAttempts);
        if (!again) {
          pending.state = "failed";
          pending.error = error.message;
          this.changed();
          return;
        }
        const backoff = Math.min(this.baseMs * 2 ** (attempt - 1), this.maxMs);
        const asked = error.retryAfterS !== null ? Math.min(error.retryAfterS * 1000, 60000) : null;
        await this.wait(asked ?? backoff);
      }
    }
  }
}

/** A client message id: a UUID where the platform has one (secure contexts), else random. */
export function newId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

