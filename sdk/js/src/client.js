// @ts-check
/**
 * The connection to tidewire: one socket, one poller, one cursor.
 *
 * - The socket is the official socket.io-client. tidewire's edge implements Socket.IO's
 *   connection state recovery, so drops, restarts and moves between nodes replay what was
 *   missed by themselves; the SDK adds `auth.lastEventId` (its stored cursor), so even a new
 *   page or a new browser session continues where the last one stopped.
 * - The poller (poller.js) reads the same log over REST: often while the socket is down,
 *   rarely while it is up.
 * - Every event reaches the application once (`SeenIds`), and the cursor only moves forward
 *   (`isLater`), whichever channel was first. The cursor is stored (`storage`, e.g.
 *   localStorage) after each event, so a reload resumes from it.
 * - `acks: true` turns on the edge's ack mode: the SDK acknowledges the newest cursor it
 *   handed to the application, batched every `ackEveryMs`.
 *
 * Events: "change" (a Change, see changes.js), "resync" ({reason}: the history the app holds
 * may have gaps; reload snapshots), "status" ({socket: "up"|"down", recovered, polling}),
 * "error" ({error}: a refusal such as a bad token, or a failed poll), "reauth" ({reason}: the
 * token expired; the edge ended the socket, and the app should call `setToken`).
 *
 * Tokens expire: the edge tells an expired socket `tidewire:reauth`, drops it and refuses its
 * old token (`connect_error`, data.code "token_expired"). With `getToken` (called then for a
 * new token) the SDK renews by itself, and the reconnect recovers the session: nothing missed.
 */
import { io as defaultIo } from "socket.io-client";

import { Api } from "./api.js";
import { decodeBase64url } from "./base64url.js";
import { fromLog, fromSocket } from "./changes.js";
import { isLater } from "./cursor.js";
import { Poller } from "./poller.js";
import { SeenIds } from "./seen.js";

/**
 * @typedef {{
 *   apiUrl: string,
 *   edgeUrl: string,
 *   token: string,
 *   getToken?: () => string | Promise<string>,
 *   storage?: {getItem(key: string): string | null, setItem(key: string, value: string): void,
 *              removeItem(key: string): void} | null,
 *   storageKey?: string,
 *   acks?: boolean,
 *   ackEveryMs?: number,
 *   pollFastMs?: number,
 *   pollSlowMs?: number,
 *   io?: typeof defaultIo,
 *   fetch?: typeof fetch,
 *   socketOptions?: Record<string, unknown>,
 * }} ClientOptions
 */

const CONTROL = new Set(["tidewire:position"]);
const REAUTH = "tidewire:reauth";

export class TidewireClient {
  /** @param {ClientOptions} options */
  constructor(options) {
    this.options = options;
    this.api = new Api({ apiUrl: options.apiUrl, token: () => options.token, fetch: options.fetch });
    this.storage = options.storage ?? null;
    /** Company and user of the token: keys of this identity's entries in shared storage. */
    this.subject = tokenSubject(options.token);
    this.storageKey = options.storageKey ?? `tidewire:cursor:${this.subject}`;
    /** @type {string | null} */
    this.cursor = this.storage?.getItem(this.storageKey) ?? null;
    this.seen = new SeenIds();
    /** @type {Map<string, Set<(detail: any) => void>>} */
    this.listeners = new Map();
    /** @type {import("socket.io-client").Socket | null} */
    this.socket = null;
    this.socketUp = false;
    this.toldDown = false; // "status: down" already emitted for the current outage
    /** @type {string | null} */
    this.unacked = null; // newest cursor handed to the app and not yet acknowledged
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.ackTimer = null;
    this.renewing = false; // a getToken() call is under way
    this.poller = new Poller({
      api: this.api,
      cursor: () => this.cursor,
      socketUp: () => this.socketUp,
      deliver: (events, next) => this.fromPoll(events, next),
      resync: (reason, asked) => void this.lostPosition(reason, asked),
      failed: (error) => this.emit("error", { error }),
      fastMs: options.pollFastMs,
      slowMs: options.pollSlowMs,
    });
  }

  /**
   * Subscribe; returns the unsubscribe function.
   * @param {string} type
   * @param {(detail: any) => void} fn
   */
  on(type, fn) {
    let set = this.listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  /**
   * @param {string} type
   * @param {any} detail
   */
  emit(type, detail) {
    for (const fn of this.listeners.get(type) ?? []) {
      // One failing listener (a render error) must not keep the event from the others, nor
      // escape into socket.io-client's dispatch, where it would end a Node.js process.
      try {
        fn(detail);
      } catch (error) {
        if (type === "error") console.error(error);
        else this.emit("error", { error });
      }
    }
  }

  /**
   * Connect. Without a stored cursor the client first asks for the log's head, so that
   * snapshots the application loads afterwards are followed by every change after them.
   */
  async start() {
    if (this.socket !== null) return; // started already
    if (this.cursor === null) {
      try {
        this.setCursor(await this.api.head(), true);
      } catch (err) {
        // Not fatal: the socket starts at the head by itself; the poller reads from the
        // oldest retained event if it must run before the socket ever connected.
        this.emit("error", { error: err });
      }
    }
    if (this.socket !== null) return; // a concurrent start() won
    const ioImpl = this.options.io ?? defaultIo;
    const socket = ioImpl(this.options.edgeUrl, {
      transports: ["websocket", "polling"],
      // A function: each (re)connect sends the cursor as it is then. socket.io-client adds
      // {pid, offset} of its own on a reconnect, its offset being the last event the socket
      // saw; ours overrides it (the auth object is merged over them), since the poller may
      // have delivered more meanwhile, and a replay from the socket's older offset would
      // repeat what the application already has.
      auth: (cb) =>
        cb({
          token: this.options.token,
          ...(this.cursor ? { lastEventId: this.cursor, offset: this.cursor } : {}),
          ...(this.options.acks ? { acks: true } : {}),
        }),
      ...this.options.socketOptions,
    });
    this.socket = socket;
    socket.on("connect", () => {
      this.socketUp = true;
      this.toldDown = false;
      this.poller.relax();
      this.emit("status", { socket: "up", recovered: socket.recovered === true });
    });
    socket.on("disconnect", (reason) => {
      this.socketUp = false;
      this.toldDown = true;
      this.poller.wake();
      this.emit("status", { socket: "down", reason });
    });
    socket.on("connect_error", (err) => {
      const expired = /** @type {any} */ (err).data?.code === "token_expired";
      if (!socket.active && expired && this.options.getToken) void this.reauth(err.message);
      // socket.io-client retries by itself unless the server refused the handshake.
      else if (!socket.active) this.emit("error", { error: err });
      // Never connected yet (edge unreachable, websockets blocked): say so once.
      if (!this.socketUp && !this.toldDown) this.emit("status", { socket: "down", reason: err.message });
      this.toldDown = true;
    });
    socket.onAny((name, ...args) => this.fromSocket(name, args));
    this.poller.start();
  }

  stop() {
    this.poller.stop();
    if (this.ackTimer !== null) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.socket?.disconnect();
    this.socket = null;
    this.socketUp = false;
  }

  /**
   * @param {string} name
   * @param {any[]} args
   */
  fromSocket(name, args) {
    const cursor = typeof args.at(-1) === "string" ? args.at(-1) : null;
    if (name === "tidewire:resync") {
      this.resync(args[0]?.reason ?? "the server could not replay what was missed", cursor);
      return;
    }
    if (name === REAUTH) {
      void this.reauth(args[0]?.reason ?? "token expired");
      return;
    }
    if (CONTROL.has(name)) return;
    const change = fromSocket(name, args[0], cursor);
    if (change === null) return;
    this.receive(change);
    // Ack mode: acknowledge re-sends of events already handed over too, or the edge would
    // keep re-sending the newest one whose ack was lost with a dropped socket.
    if (this.options.acks && cursor !== null) this.ackLater(cursor);
  }

  /**
   * @param {any[]} events
   * @param {string | null} next
   */
  fromPoll(events, next) {
    for (const event of events) {
      const change = fromLog(event);
      if (change !== null) this.receive(change);
      else this.setCursor(event.cursor ?? null); // an unknown type still moves the cursor
    }
    this.setCursor(next);
  }

  /** @param {import("./changes.js").Change} change */
  receive(change) {
    if (!this.seen.add(change.id)) return;
    this.setCursor(change.cursor);
    this.emit("change", change);
  }

  /**
   * @param {string} reason
   * @param {string | null} start  where the server continues from (null: the oldest retained)
   */
  resync(reason, start) {
    this.setCursor(start, true);
    this.emit("resync", { reason });
  }

  /**
   * The poller's cursor `asked` was refused (410: older than retention or another log; 400:
   * not ours). Unless the cursor moved on meanwhile (the socket's own resync got there first),
   * continue from the log's head: from null, the poller would read the whole history again.
   * @param {string} reason
   * @param {string | null} asked
   */
  async lostPosition(reason, asked) {
    if (this.cursor !== asked) return;
    let head = null;
    try {
      head = await this.api.head();
    } catch (error) {
      this.emit("error", { error });
      return; // the next round asks again with the same cursor and lands here again
    }
    if (this.cursor !== asked) return;
    this.resync(reason, head);
  }

  /**
   * A new token (the old one expired or was refused): used by the next request and connect;
   * the socket reconnects and the poller resumes if they had given up.
   * @param {string} token
   */
  setToken(token) {
    this.options.token = token;
    if (this.socket !== null && !this.socket.active) this.socket.connect();
    this.poller.start();
  }

  /**
   * The token expired: tell the app, and with `getToken` renew (once at a time). The socket
   * reconnects with the new token and recovers its session.
   * @param {string} reason
   */
  async reauth(reason) {
    this.emit("reauth", { reason });
    const getToken = this.options.getToken;
    if (!getToken || this.renewing) return;
    this.renewing = true;
    try {
      this.setToken(await getToken());
    } catch (error) {
      this.emit("error", { error });
    } finally {
      this.renewing = false;
    }
  }

  /**
   * @param {string | null} cursor
   * @param {boolean} [force]  replace even an apparently later cursor (after a resync)
   */
  setCursor(cursor, force = false) {
    if (!force && (cursor === null || !isLater(cursor, this.cursor))) return;
    this.cursor = cursor;
    if (this.storage === null) return;
    if (cursor === null) this.storage.removeItem(this.storageKey);
    else this.storage.setItem(this.storageKey, cursor);
  }

  /** @param {string} cursor */
  ackLater(cursor) {
    if (this.unacked === null || isLater(cursor, this.unacked)) this.unacked = cursor;
    if (this.ackTimer !== null) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      const upTo = this.unacked;
      this.unacked = null;
      if (upTo !== null && this.socket?.connected) this.socket.emit("ack", upTo);
    }, this.options.ackEveryMs ?? 100);
  }
}

/**
 * The token's company and user, to keep one cursor per identity in shared storage (an
 * unreadable token gets one shared key; the server refuses it anyway).
 * @param {string} token
 */
function tokenSubject(token) {
  try {
    const claims = JSON.parse(decodeBase64url(token.split(".")[1]));
    return `${claims.company_id ?? claims.company ?? ""}:${claims.sub ?? ""}`;
  } catch {
    return "default";
  }
}

