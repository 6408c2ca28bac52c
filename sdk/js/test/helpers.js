// @ts-check
/** Test data for the SDK's unit tests: cursors, documents and events shaped as the server's. */

/**
 * @param {number | bigint} offset
 * @param {string} [epoch]
 * @param {number} [partition]
 */
export function cursor(offset, epoch = "ep1", partition = 3) {
  const raw = Buffer.from(`${epoch}:${partition}:${offset}`).toString("base64url");
  return `tw1.${raw}`;
}

/**
 * @param {string} id
 * @param {Record<string, any>} [fields]
 */
export function ticket(id, fields = {}) {
  return {
    id,
    companyId: "c1",
    contactId: "5511",
    whatsappId: "p1",
    status: "open",
    unreadMessages: 1,
    lastMessage: "hi",
    userId: null,
    queueId: null,
    createdAt: 1000,
    updatedAt: 1000,
    ...fields,
  };
}

/**
 * @param {string} id
 * @param {Record<string, any>} [fields]
 */
export function message(id, fields = {}) {
  return {
    id,
    companyId: "c1",
    ticketId: "t1",
    position: 1,
    clientMessageId: null,
    body: "hi",
    fromMe: false,
    ack: 0,
    createdAt: 1000,
    updatedAt: 1000,
    ...fields,
  };
}

/**
 * A Change as changes.js makes it.
 * @param {number} offset
 * @param {Record<string, any>} fields
 * @returns {import("../src/changes.js").Change}
 */
export function change(offset, fields) {
  return {
    id: `e${offset}`,
    cursor: cursor(offset),
    kind: "message",
    action: "update",
    ticketId: "t1",
    message: null,
    ticket: null,
    contact: null,
    acceptedAt: null,
    ...fields,
  };
}

/**
 * Resolve once `predicate` holds, polling every few milliseconds (no fixed sleeps).
 * @param {() => boolean} predicate
 * @param {number} [withinMs]
 */
export async function until(predicate, withinMs = 2000) {
  const deadline = Date.now() + withinMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
