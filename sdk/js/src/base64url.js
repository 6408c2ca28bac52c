// @ts-check
/**
 * The text of a base64url string (RFC 4648 §5, padding optional), as cursors and JWT parts
 * are written. Throws on input that is not base64.
 * @param {string} text
 */
export function decodeBase64url(text) {
  const plain = text.replaceAll("-", "+").replaceAll("_", "/");
  return atob(plain + "=".repeat((4 - (plain.length % 4)) % 4));
}
