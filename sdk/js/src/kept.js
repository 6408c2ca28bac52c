// @ts-check
/**
 * Sends not yet confirmed, kept in the browser's storage, so a tab reloaded or reopened while
 * a reply was on its way shows it again and sends it again under the same key.
 *
 * Tabs of one agent share the storage: each tab writes only what it changed (merged into what
 * is there) and removes only what it saw settle, so one tab never erases another's entry,
 * nor brings back one another tab discarded, nor overwrites another's newer state with an
 * older copy. Storage
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
    /** Each entry as this tab last read or wrote it: unchanged ones are not written. @type {Map<string, string>} */
    this.known = new Map();
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
   * Take over entries read at start: this tab now shows them and may remove them.
   * @param {Pending[]} entries  as read (before any change this tab makes to them)
   */
  adopt(entries) {
    for (const p of entries) {
      this.mine.add(p.clientMessageId);
      this.known.set(p.clientMessageId, JSON.stringify(p));
    }
  }

  /**
   * This tab's pending sends now: written, and the ones it kept that are gone removed.
   * @param {Map<string, Pending>} pending
   */
  save(pending) {
    if (this.storage === null) return;
    const settled = [...this.mine].filter((id) => !pending.has(id));
    /** @type {[string, string][]} */
    const changed = [];
    for (const [id, p] of pending) {
      const json = JSON.stringify(p);
      if (this.known.get(id) !== json) changed.push([id, json]);
    }
    if (settled.length === 0 && changed.length === 0) return;
    try {
      /** @type {Record<string, Pending>} */
      const all = Object.fromEntries(this.read().map((p) => [p.clientMessageId, p]));
      for (const id of settled) delete all[id];
      for (const [id, json] of changed) all[id] = JSON.parse(json);
      if (Object.keys(all).length === 0) this.storage.removeItem(this.key);
      else this.storage.setItem(this.key, JSON.stringify(all));
      for (const id of settled) this.known.delete(id);
      for (const [id, json] of changed) this.known.set(id, json);
      this.mine = new Set(pending.keys());
    } catch (error) {
      this.failed(error); // the sends go on; only a reload in between would lose them
    }
  }
}
