// @ts-check
/**
 * @tidewire/emitter: a helpdesk backend publishes the Socket.IO emits it used to make itself,
 * and tidewire delivers them to its unmodified front ends, durably and with recovery.
 *
 * The chain is Socket.IO's (`to`, `in`, `except`, `of`, `emit`), plus `company()`. Emits are
 * queued in order, sent in batches to `POST /api/publish`, and retried with backoff while the
 * answer says nothing was written (a network error, 429, 5xx); each emit keeps the id it got
 * when it was made through every retry, so tidewire delivers it once however often it is sent.
 * Batches go one at a time, so a company's emits reach its sockets in the order they were made.
 */

import { randomUUID } from "node:crypto";

/**
 * @typedef {object} EmitterOptions
 * @property {string} url tidewire ingest's base URL (e.g. `http://tidewire-ingest:8000`)
 * @property {string} token a publisher token (`tidewire token --publisher`)
 * @property {string} [companyId] the company of emits that name none (a single-company
 *   helpdesk); otherwise `companyOf` or `company()` says
 * @property {(emit: {event: string, namespace: string, rooms: string[]}) => string | undefined} [companyOf]
 *   the company of an emit that has no `company()` in its chain; the default reads
 *   Whaticket's conventions: an event or room named `company-<id>-…`, or a namespace `/<id>`
 * @property {number} [batchMs] how long an emit may wait for others to share its request (2)
 * @property {number} [maxBatch] publications per request (100)
 * @property {number} [maxBatchBytes] bytes of publications per request (512 KiB)
 * @property {number} [retryMs] first retry delay (100), doubling up to `retryMaxMs` (5,000)
 * @property {number} [retryMaxMs]
 * @property {number} [deadlineMs] how long an emit is retried before it is reported failed
 *   through `onError` (60,000)
 * @property {number} [requestTimeoutMs] how long one request may take before it counts as a
 *   network error and is retried (10,000)
 * @property {number} [maxQueue] emits waiting at most; past it, new emits fail at once (10,000)
 * @property {(error: PublishError) => void} [onError] told of every emit given up (default:
 *   `console.error`)
 * @property {typeof fetch} [fetch] the HTTP client (tests)
 */

/** @typedef {{id: string, company_id: string, namespace: string, rooms: string[], except: string[], event: string, data: unknown}} Publication */

/** An emit tidewire refused (4xx) or that could not be delivered before its deadline. */
export class PublishError extends Error {
  /**
   * @param {string} message
   * @param {Publication[]} publications the emits given up
   * @param {number | undefined} status the last HTTP status, if any
   */
  constructor(message, publications, status) {
    super(message);
    this.name = "PublishError";
    this.publications = publications;
    this.status = status;
  }
}

const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);
const ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

/** The default company of an emit: Whaticket's `company-<id>-` names, or `/<id>`. */
function whaticketCompany(/** @type {{event: string, namespace: string, rooms: string[]}} */ e) {
  const named = /^company-(\d+)-/.exec(e.event);
  if (named) return named[1];
  const ns = /^\/(?:[A-Za-z]+-)?(\d+)$/.exec(e.namespace);
  if (ns) return ns[1];
  for (const room of e.rooms) {
    const r = /^company-(\d+)-/.exec(room);
    if (r) return r[1];
  }
  return undefined;
}

/**
 * A chain of targets, immutable as in Socket.IO: each call returns a new operator.
 */
export class BroadcastOperator {
  /**
   * @param {Emitter} emitter
   * @param {{namespace: string, rooms: string[], except: string[], company: string | undefined}} target
   */
  constructor(emitter, target) {
    this._emitter = emitter;
    this._target = target;
  }

  /** @param {string | number | Array<string | number>} room */
  to(room) {
    const rooms = [...this._target.rooms, ...[room].flat().map(String)];
    return new BroadcastOperator(this._emitter, { ...this._target, rooms });
  }

  /** @param {string | number | Array<string | number>} room */
  in(room) {
    return this.to(room);
  }

  /** @param {string | number | Array<string | number>} room */
  except(room) {
    const except = [...this._target.except, ...[room].flat().map(String)];
    return new BroadcastOperator(this._emitter, { ...this._target, except });
  }

  /** @param {string} namespace */
  of(namespace) {
    const ns = namespace.startsWith("/") ? namespace : `/${namespace}`;
    return new BroadcastOperator(this._emitter, { ...this._target, namespace: ns });
  }

  /** Every emit of the chain goes to this company's sockets only. @param {string | number} id */
  company(id) {
    return new BroadcastOperator(this._emitter, { ...this._target, company: String(id) });
  }

  /**
   * Queue `event` with `data` for the chain's sockets. Returns true at once, as Socket.IO's
   * emit does; `flush()` waits until tidewire holds it durably.
   * @param {string} event
   * @param {unknown} [data]
   * @param {...unknown} more refused: a publication carries one argument
   * @returns {true}
   */
  emit(event, data, ...more) {
    if (more.length > 0) {
      throw new TypeError("tidewire publications carry one argument: pass an object or array");
    }
    this._emitter._enqueue(this._target, event, data);
    return true;
  }
}

export class Emitter extends BroadcastOperator {
  /** @param {EmitterOptions} options */
  constructor(options) {
    super(/** @type {any} */ (undefined), { namespace: "/", rooms: [], except: [], company: undefined });
    this._emitter = this;
    if (!options?.url || !options?.token) throw new TypeError("url and token are required");
    this._url = options.url.replace(/\/+$/, "") + "/api/publish";
    this._token = options.token;
    this._companyId = options.companyId;
    this._companyOf = options.companyOf ?? whaticketCompany;
    this._batchMs = options.batchMs ?? 2;
    this._maxBatch = options.maxBatch ?? 100;
    this._maxBatchBytes = options.maxBatchBytes ?? 512 * 1024;
    this._retryMs = options.retryMs ?? 100;
    this._retryMaxMs = options.retryMaxMs ?? 5000;
    this._deadlineMs = options.deadlineMs ?? 60_000;
    this._requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this._maxQueue = options.maxQueue ?? 10_000;
    this._onError = options.onError ?? ((e) => console.error(`tidewire emitter: ${e.message}`));
    this._fetch = options.fetch ?? globalThis.fetch;
    // Ids unique across restarts and processes: a random prefix and a counter.
    this._prefix = randomUUID().replace(/-/g, "").slice(0, 20);
    this._seq = 0;
    /** @type {{p: Publication, size: number, at: number}[]} */
    this._queue = [];
    /** @type {Promise<void> | null} */
    this._running = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._timer = null;
    this._closed = false;
    // The first failure since the last flush, and how many there were: kept bounded, since
    // an application that never calls flush() would otherwise hold every failed emit.
    /** @type {PublishError | null} */
    this._failure = null;
    this._failed = 0;
  }

  /**
   * @param {{namespace: string, rooms: string[], except: string[], company: string | undefined}} target
   * @param {string} event
   * @param {unknown} data
   */
  _enqueue(target, event, data) {
    if (this._closed) throw new Error("emitter closed");
    const where = { event, namespace: target.namespace, rooms: target.rooms };
    const company = target.company ?? this._companyOf(where) ?? this._companyId;
    if (company === undefined || !ID_RE.test(company)) {
      // Reported, not thrown: the emit sits in a helpdesk's request handler, and a broadcast
      // to every company (saas1's `company-announcement`) must not fail the request.
      const orphan = { id: "", company_id: String(company ?? ""), namespace: target.namespace, rooms: target.rooms, except: target.except, event, data };
      this._fail(
        new PublishError(
          `no company for emit ${JSON.stringify(event)}: use .company(id), companyId or companyOf`,
          [orphan],
          undefined,
        ),
      );
      return;
    }
    /** @type {Publication} */
    const p = {
      id: `${this._prefix}-${++this._seq}`,
      company_id: company,
      namespace: target.namespace,
      rooms: [...new Set(target.rooms)],
      except: [...new Set(target.except)],
      event,
      data: data === undefined ? null : data,
    };
    const size = Buffer.byteLength(JSON.stringify(p));
    if (this._queue.length >= this._maxQueue) {
      this._fail(new PublishError(`queue full (${this._maxQueue} emits waiting)`, [p], undefined));
      return;
    }
    this._queue.push({ p, size, at: Date.now() });
    this._schedule();
  }

  _schedule() {
    if (this._running || this._timer) return;
    this._timer = setTimeout(() => {
      this._timer = null;
      this._running = this._drain().finally(() => {
        this._running = null;
        if (this._queue.length > 0) this._schedule();
      });
    }, this._batchMs);
  }

  /** Send what is queued, one batch at a time, in order. */
  async _drain() {
    while (this._queue.length > 0) {
      const batch = this._take();
      await this._deliver(batch);
    }
  }

  /** The next batch: up to `maxBatch` publications and `maxBatchBytes` (at least one). */
  _take() {
    let bytes = 0;
    let n = 0;
    while (n < this._queue.length && n < this._maxBatch) {
      bytes += this._queue[n].size;
      if (n > 0 && bytes > this._maxBatchBytes) break;
      n += 1;
    }
    return this._queue.splice(0, n);
  }

  /** @param {{p: Publication, size: number, at: number}[]} batch */
  async _deliver(batch) {
    let delay = this._retryMs;
    for (;;) {
      const answer = await this._post(batch.map((b) => b.p));
      if (answer.ok) return;
      if (!answer.retry) {
        if (batch.length > 1) {
          // One refused publication refuses its whole request (nothing is written): send
          // them one by one, in order, so only the refused one is given up.
          for (const one of batch) await this._deliver([one]);
          return;
        }
        this._fail(new PublishError(answer.why, batch.map((b) => b.p), answer.status));
        return;
      }
      const oldest = batch[0].at;
      if (Date.now() - oldest > this._deadlineMs) {
        this._fail(
          new PublishError(`gave up after ${this._deadlineMs} ms: ${answer.why}`, batch.map((b) => b.p), answer.status),
        );
        return;
      }
      const wait = answer.retryAfterMs ?? delay;
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay = Math.min(delay * 2, this._retryMaxMs);
    }
  }

  /**
   * @param {Publication[]} publications
   * @returns {Promise<{ok: true} | {ok: false, retry: boolean, why: string, status?: number, retryAfterMs?: number}>}
   */
  async _post(publications) {
    let response;
    // A hung ingest must not hold the one request in flight past the deadline. A timer of our
    // own, not AbortSignal.timeout(): that one's timer does not keep the process alive, so a
    // script awaiting flush() could end with its emits still pending.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error("request timed out")), this._requestTimeoutMs);
    try {
      response = await this._fetch(this._url, {
        signal: abort.signal,
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this._token}` },
        body: JSON.stringify(publications.length === 1 ? publications[0] : { publications }),
      });
    } catch (error) {
      return { ok: false, retry: true, why: `network: ${/** @type {Error} */ (error).message}` };
    } finally {
      clearTimeout(timer);
    }
    if (response.status >= 200 && response.status < 300) {
      await response.arrayBuffer().catch(() => undefined);
      return { ok: true };
    }
    const text = await response.text().catch(() => "");
    let why = `${response.status}`;
    try {
      const problem = JSON.parse(text);
      why = `${response.status} ${problem.title ?? ""}: ${problem.detail ?? text}`;
    } catch {
      why = `${response.status} ${text.slice(0, 200)}`;
    }
    const after = Number(response.headers.get("retry-after"));
    return {
      ok: false,
      retry: RETRYABLE.has(response.status),
      why,
      status: response.status,
      retryAfterMs: Number.isFinite(after) && after > 0 ? after * 1000 : undefined,
    };
  }

  /** @param {PublishError} error */
  _fail(error) {
    if (this._failure === null) this._failure = error;
    this._failed += 1;
    try {
      this._onError(error);
    } catch {
      // the application's handler must not stop delivery of the next emits
    }
  }

  /**
   * Wait until every emit made so far is durable in tidewire (or given up). Rejects with the
   * first `PublishError` since the previous flush, if any (its message counts the others;
   * each was also passed to `onError`).
   */
  async flush() {
    if (this._timer) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    while (this._running || this._queue.length > 0) {
      if (!this._running) {
        this._running = this._drain().finally(() => {
          this._running = null;
        });
      }
      await this._running;
    }
    const failure = this._failure;
    const failed = this._failed;
    this._failure = null;
    this._failed = 0;
    if (failure !== null) {
      if (failed > 1) failure.message += ` (and ${failed - 1} more emits given up since the last flush)`;
      throw failure;
    }
  }

  /** Flush, then refuse further emits. */
  async close() {
    try {
      await this.flush();
    } finally {
      this._closed = true;
    }
  }
}
