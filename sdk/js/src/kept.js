// @ts-check
/**
 * Sends not yet confirmed, kept in the browser's storage, so a tab reloaded or reopened while
 * a reply was on its way shows it again and sends it again under the same key.
 *
 * Tabs of one agent share the storage: each tab writes only its own entries (merged into what
 * is there) and removes only those it saw settle, so one tab never erases another's. Storage
 * that fails (quota, privacy mode) or holds something else degrades to "not kept", never to
 * a send that does not happen.
 */

/** @typedef {import("./state.js").Pending} Pending */
/** @typedef {{getItem(key: string): string | null, setItem(key: string, value: string): void, removeItem(key: string): void}} Storage */

const STATES = new Set(["sending", "accepted", "failed"]);

/** @param {any} p @returns {p is Pending} */
function isPending(p) {
  return (
    p !== null &&
    typeof p === "object" &&
    typeof p.clientMessageId === "string" &&
    typeof p.ticketId === "string" &&
    typeof p.body === "string" &&
    typeof p.createdAt === "number" &&
    STATES.has(p.state)
  );
}

export class KeptSends {
  /**
   * @param {Storage | null} storage
   * @param {string} key
   * @param {(error: unknown) => void} failed  told when the storage refuses
   */
  constructor(storage, key, failed) {
    this.storage = storage;
    this.key = key;
    this.failed = failed;
    /** Ids this tab keeps (and so may remove). @type {Set<string>} */
    this.mine = new Set();
    this.written = ""; // this tab's entries as last written
  }

  /** Every kept entry, from any tab; malformed ones are skipped. @returns {Pending[]} */
  read() {
    try {
      const parsed = JSON.parse(this.storage?.getItem(this.key) ?? "{}");
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return [];
      return Object.values(parsed).filter(isPending);
    } catch (error) {
      this.failed(error);
      return [];
    }
  }

  /**
   * Take over entries read at start (this tab now keeps them).
   * @param {Iterable<string>} ids
   */
  adopt(ids) {
    for (const id of ids) this.mine.add(id);
  }

  /**
   * This tab's pending sends now: written, and the ones it kept that are gone removed.
   * @param {Map<string, Pending>} pending
   */
  save(pending) {
    if (this.storage === null) return;
    const now = JSON.stringify([...pending.values()]);
    const settled = [...this.mine].filter((id) => !pending.has(id));
    if (now === this.written && settled.length === 0) return;
    try {
      /** @type {Record<string, Pending>} */
      const all = Object.fromEntries(this.read().map((p) => [p.clientMessageId, p]));
      for (const id of settled) delete all[id];
      for (const [id, p] of pending) all[id] = p;
      if (Object.keys(all).length === 0) this.storage.removeItem(this.key);
      else this.storage.setItem(this.key, JSON.stringify(all));
      this.mine = new Set(pending.keys());
      this.written = now;
    } catch (error) {
      this.failed(error); // the sends go on; only a reload in between would lose them
    }
  }
}
