// @ts-check
/** tidewire's client SDK: see README.md beside this folder. */
export { Ack } from "./acks.js";
export { Api, ApiError } from "./api.js";
export { fromLog, fromSocket } from "./changes.js";
export { TidewireClient } from "./client.js";
export { isLater, parseCursor } from "./cursor.js";
export { Inbox } from "./inbox.js";
export { KeptSends } from "./kept.js";
export { Outbox, newId } from "./outbox.js";
export { Poller } from "./poller.js";
export { SeenIds } from "./seen.js";
export { ACK_FAILED, ACK_PENDING, ACK_UNKNOWN, canSendAgain, InboxState, nextAck } from "./state.js";
