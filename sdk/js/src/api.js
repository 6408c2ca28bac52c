// @ts-check
/**
 * tidewire's REST API (ingest's `/api`), as the SDK uses it. Errors carry the RFC 9457
 * problem details the server answers with, so callers can tell "retry" from "give up".
 */

export class ApiError extends Error {
  /**
   * @param {number} status  HTTP status, or 0 when no answer came (network, CORS, timeout)
   * @param {string} message
   * @param {number | null} [retryAfterS]
   */
  constructor(status, message, retryAfterS = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.retryAfterS = retryAfterS;
  }

  /** Whether the same request may succeed later: no answer, 408, 429 or 5xx. */
  get transient() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export class Api {
  /**
   * @param {{apiUrl: string, token: string | (() => string), fetch?: typeof fetch, timeoutMs?: number}} options
   */
  constructor({ apiUrl, token, fetch: fetchImpl, timeoutMs = 10000 }) {
    this.base = apiUrl.replace(/\/+$/, "");
    this.token = typeof token === "function" ? token : () => token;
    this.fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = timeoutMs;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<any>}
   */
  async request(method, path, body) {
    /** @type {Record<string, string>} */
    const headers = { authorization: `Bearer ${this.token()}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await this.fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ApiError(0, `no answer from ${this.base}: ${String(err)}`);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: a proxy's error page; the status says enough
    }
    if (!response.ok) {
      const detail = data?.detail ?? data?.title ?? (text.slice(0, 200) || response.statusText);
      const retryAfter = Number(response.headers.get("retry-after"));
      throw new ApiError(
        response.status,
        `${method} ${path}: ${response.status} ${detail}`,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
      );
    }
    return data;
  }

  /**
   * @param {string} status
   * @param {string | null} [cursor]
   * @returns {Promise<{tickets: any[], next: string | null}>}
   */
  tickets(status, cursor = null) {
    const q = new URLSearchParams({ status, limit: "200" });
    if (cursor) q.set("cursor", cursor);
    return this.request("GET", `/api/tickets?${q}`);
  }

  /** @param {string} ticketId */
  ticket(ticketId) {
    return this.request("GET", `/api/tickets/${encodeURIComponent(ticketId)}`);
  }

  /**
   * @param {string} ticketId
   * @param {{before?: number, after?: number, limit?: number}} [page]
   * @returns {Promise<{messages: any[], before: number | null, after: number | null}>}
   */
  messages(ticketId, page = {}) {
    const q = new URLSearchParams({ limit: String(page.limit ?? 100) });
    if (page.before !== undefined) q.set("before", String(page.before));
    if (page.after !== undefined) q.set("after", String(page.after));
    return this.request("GET", `/api/tickets/${encodeURIComponent(ticketId)}/messages?${q}`);
  }

  /**
   * The company's events after `after` (when null: from the server's window of newest
   * records, TIDEWIRE_INGEST_EVENTS_WINDOW, which is the whole log while `head()` is null).
   * @param {string | null} after
   * @param {number} [limit]
   * @returns {Promise<{events: any[], next: string | null, more: boolean}>}
   */
  events(after, limit = 500) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after) q.set("after", after);
    return this.request("GET", `/api/events?${q}`);
  }

  /**
   * The position of the newest event in the company's log (null while the log is empty).
   * @returns {Promise<string | null>}
   */
  async head() {
    const data = await this.request("GET", "/api/events/head");
    return data?.cursor ?? null;
  }

  /**
   * @param {string} ticketId
   * @param {string} clientMessageId
   * @param {string} body
   */
  sendMessage(ticketId, clientMessageId, body) {
    return this.request("POST", `/api/tickets/${encodeURIComponent(ticketId)}/messages`, {
      client_message_id: clientMessageId,
      body,
    });
  }

  /** @param {string} ticketId */
  markRead(ticketId) {
    return this.request("POST", `/api/tickets/${encodeURIComponent(ticketId)}/read`);
  }
}
