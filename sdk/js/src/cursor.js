// @ts-check
/**
 * Positions in tidewire's events log.
 *
 * Applications treat a cursor as an opaque string. The SDK reads it for one purpose: two
 * channels (the socket and the REST poller) deliver the same log, and a poll page that
 * arrives late must never move the stored cursor back behind what the socket already gave
 * (the next reconnect would replay it, and worse, a cursor kept past its retention would
 * force a resync that was not needed). The format is the server's `tidewire_platform.cursor`:
 * "tw1." + base64url("<epoch>:<partition>:<offset>").
 */

import { decodeBase64url } from "./base64url.js";

/** @typedef {{epoch: string, partition: number, offset: bigint}} Position */

const PREFIX = "tw1.";
const BODY = /^([A-Za-z0-9_-]{1,64}):([0-9]{1,5}):([0-9]{1,19})$/;

/**
 * The position a cursor names, or null when the string is not a tidewire cursor.
 * @param {string | null | undefined} text
 * @returns {Position | null}
 */
export function parseCursor(text) {
  if (typeof text !== "string" || !text.startsWith(PREFIX) || text.length > 200) return null;
  let raw;
  try {
    raw = decodeBase64url(text.slice(PREFIX.length));
  } catch {
    return null;
  }
  const match = BODY.exec(raw);
  if (match === null) return null;
  return { epoch: match[1], partition: Number(match[2]), offset: BigInt(match[3]) };
}

/**
 * Whether `candidate` is a later position than `current` (any position is later than none).
 * Positions in different logs are not comparable: false. Only a resync moves a client to
 * another log (a recreated topic, another partition), and it does so explicitly; a late page
 * or event from the old log must not.
 * @param {string | null | undefined} candidate
 * @param {string | null | undefined} current
 */
export function isLater(candidate, current) {
  const next = parseCursor(candidate);
  if (next === null) return false;
  const now = parseCursor(current);
  if (now === null) return true;
  return sameLog(next, now) && next.offset > now.offset;
}

/**
 * Whether two positions (or cursors) name places in the same log.
 * @param {Position | string | null} a
 * @param {Position | string | null} b
 */
export function sameLog(a, b) {
  const x = typeof a === "string" ? parseCursor(a) : a;
  const y = typeof b === "string" ? parseCursor(b) : b;
  return x !== null && y !== null && x.epoch === y.epoch && x.partition === y.partition;
}
