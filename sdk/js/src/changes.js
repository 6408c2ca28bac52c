// @ts-check
/**
 * One shape for what the two channels deliver.
 *
 * The socket speaks Whaticket's events (`company-{id}-appMessage` / `company-{id}-ticket`
 * with an `action`), the REST log returns tidewire's event envelopes (`message.created`, …).
 * Both describe the same facts with the same ids and cursors; the SDK turns either into a
 * `Change`, so the application (and the reducer in state.js) handles one kind of thing.
 */

/**
 * @typedef {Record<string, any>} Doc  a read-model document as the query API returns it
 * @typedef {{
 *   id: string,
 *   cursor: string | null,
 *   kind: "message" | "ticket",
 *   action: "create" | "update" | "updateUnread",
 *   ticketId: string | null,
 *   message: Doc | null,
 *   ticket: Doc | null,
 *   contact: Doc | null,
 *   acceptedAt: number | null,
 * }} Change
 */

const APP_MESSAGE = /^company-.+-appMessage$/;
const TICKET = /^company-.+-ticket$/;

/**
 * A socket event as a Change; null for events that are not facts of the log (tidewire's
 * own control events, and `delete`, which Whaticket sends to the room of the status a ticket
 * left: the same fact as its `update`, which carries the new status).
 * @param {string} name
 * @param {any} payload
 * @param {string | null} cursor
 * @returns {Change | null}
 */
export function fromSocket(name, payload, cursor) {
  if (payload === null || typeof payload !== "object" || typeof payload.eventId !== "string") {
    return null;
  }
  const base = { id: payload.eventId, cursor, acceptedAt: payload.acceptedAt ?? null };
  if (APP_MESSAGE.test(name)) {
    const ticket = payload.ticket ?? null;
    return {
      ...base,
      kind: "message",
      action: payload.action === "create" ? "create" : "update",
      ticketId: payload.message?.ticketId ?? ticket?.id ?? null,
      message: payload.message ?? null,
      // a message update names its ticket ({id} only): not a document to keep
      ticket: ticket && ticket.updatedAt !== undefined ? ticket : null,
      contact: payload.contact ?? null,
    };
  }
  if (TICKET.test(name) && (payload.action === "update" || payload.action === "updateUnread")) {
    return {
      ...base,
      kind: "ticket",
      action: payload.action,
      ticketId: payload.ticket?.id ?? payload.ticketId ?? null,
      message: null,
      ticket: payload.ticket ?? null,
      contact: null,
    };
  }
  return null;
}

/** @type {Record<string, ["message" | "ticket", Change["action"]]>} */
const LOG_TYPES = {
  "message.created": ["message", "create"],
  "message.updated": ["message", "update"],
  "ticket.updated": ["ticket", "update"],
  "ticket.read": ["ticket", "updateUnread"],
};

/**
 * An event of `GET /api/events` as a Change; null for types this SDK does not know (a newer
 * server's), which are skipped rather than guessed at.
 * @param {any} event
 * @returns {Change | null}
 */
export function fromLog(event) {
  const known = LOG_TYPES[event?.type];
  if (known === undefined || typeof event.id !== "string") return null;
  const payload = event.payload ?? {};
  return {
    id: event.id,
    cursor: event.cursor ?? null,
    kind: known[0],
    action: known[1],
    ticketId: event.ticket_id ?? null,
    message: payload.message ?? null,
    ticket: payload.ticket ?? null,
    contact: payload.contact ?? null,
    acceptedAt: event.accepted_at ?? null,
  };
}
