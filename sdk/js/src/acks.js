// @ts-check
/**
 * The delivery acknowledgement of a message (`message.ack`), on the server's scale: a mirror of
 * `tidewire_platform.acks.Ack`, held equal to it by a unit test on the Python side.
 *
 * Ordered: a later state never goes backwards (`nextAck` in state.js). Pending to played are
 * Whaticket's values; unknown (nobody can tell whether the send reached the customer) and
 * failed (terminal) lie below them.
 */
export const Ack = Object.freeze({
  UNKNOWN: -2,
  FAILED: -1,
  PENDING: 0,
  SENT: 1,
  DELIVERED: 2,
  READ: 3,
  PLAYED: 4,
});
