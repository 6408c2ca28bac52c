// @ts-check
/**
 * Adaptive polling of `GET /api/events?after=`: the net under the socket.
 *
 * While the socket is down the poller asks often (`fastMs`), so a browser behind a proxy that
 * kills websockets, or an edge being redeployed, still shows new messages within seconds;
 * while the socket is up it asks rarely (`slowMs`), which costs the server little and catches
 * anything a socket could ever miss. Each round reads pages until the log has no more. The
 * channels deduplicate by event id in the client; this module only fetches and says when.
 */
import { ApiError } from "./api.js";

/**
 * @typedef {{
 *   api: import("./api.js").Api,
 *   cursor: () => string | null,
 *   socketUp: () => boolean,
 *   deliver: (events: any[], next: string | null) => void,
 *   resync: (reason: string, asked: string | null) => void,
 *   failed: (error: ApiError) => void,
 *   fastMs?: number,
 *   slowMs?: number,
 *   pageSize?: number,
 * }} PollerOptions
 */

export class Poller {
  /** @param {PollerOptions} options */
  constructor(options) {
    this.o = options;
    this.fastMs = options.fastMs ?? 2000;
    this.slowMs = options.slowMs ?? 30000;
    this.pageSize = options.pageSize ?? 500;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.running = false;
    this.busy = false;
    this.errors = 0; // consecutive failed rounds: the delay backs off
    this.rounds = 0;
    /** The cursor the last page was asked after. @type {string | null} */
    this.asked = null;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  stop() {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Poll now (the socket just went down), unless a round is already under way. */
  wake() {
    if (this.running && !this.busy) this.schedule(0);
  }

  /** The socket came up: the round already planned may wait for the slow interval. */
  relax() {
    if (this.running && !this.busy) this.schedule(this.delay());
  }

  /** The wait before the next round, given the socket's state and recent failures. */
  delay() {
    const base = this.o.socketUp() ? this.slowMs : this.fastMs;
    return Math.min(base * 2 ** Math.min(this.errors, 6), Math.max(base, this.slowMs));
  }

  /** @param {number} ms */
  schedule(ms) {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.round(), ms);
  }

  async round() {
    this.timer = null;
    if (!this.running) return;
    this.busy = true;
    try {
      await this.catchUp();
      this.errors = 0;
    } catch (err) {
      const error = err instanceof ApiError ? err : new ApiError(0, String(err));
      if (error.status === 410 || error.status === 400) {
        this.o.resync(error.message, this.asked); // too old, another log's, or not ours
      } else if (error.status === 401 || error.status === 403) {
        this.o.failed(error);
        this.running = false; // asking again cannot help: `setToken` starts it again
      } else {
        this.errors += 1;
        this.o.failed(error);
      }
    } finally {
      this.busy = false;
      this.rounds += 1;
      if (this.running) this.schedule(this.delay());
    }
  }

  /** Read pages after the client's cursor until the log has no more. */
  async catchUp() {
    // With the socket up and no position yet, the socket is the whole truth: a poll from
    // the oldest retained event would re-read the company's history for nothing.
    if (this.o.cursor() === null && this.o.socketUp()) return;
    for (let pages = 0; pages < 100 && this.running; pages += 1) {
      this.asked = this.o.cursor();
      const page = await this.o.api.events(this.asked, this.pageSize);
      if (!this.running) return; // stopped while the page was on its way
      this.o.deliver(page.events, page.next);
      if (!page.more) return;
    }
  }
}
