// @ts-check
/**
 * Event ids already delivered to the application, bounded.
 *
 * The socket and the poller may both deliver an event, and a recovery replays from the
 * socket's own offset, which can lie behind what the poller delivered: each event id is
 * passed on once. Ids older than the bound are forgotten; by then their positions lie behind
 * every cursor either channel resumes from.
 */
export class SeenIds {
  /** @param {number} [limit] */
  constructor(limit = 10000) {
    this.limit = limit;
    /** @type {Set<string>} */
    this.ids = new Set();
  }

  /**
   * Record `id`; true when it was not seen before.
   * @param {string} id
   */
  add(id) {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.limit) {
      // Sets iterate in insertion order: the first is the oldest.
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }
}
