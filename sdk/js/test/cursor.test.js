// @ts-check
import assert from "node:assert/strict";
import { test } from "node:test";

import { isLater, parseCursor, sameLog } from "../src/cursor.js";
import { cursor } from "./helpers.js";

test("a cursor names epoch, partition and offset", () => {
  assert.deepEqual(parseCursor(cursor(42)), { epoch: "ep1", partition: 3, offset: 42n });
  assert.equal(parseCursor(cursor(2n ** 62n))?.offset, 2n ** 62n); // beyond a double's precision
});

test("strings that are not cursors are refused", () => {
  for (const text of ["", "tw1.", "tw1.!!!", "tw2.ZXAxOjM6NDI", `tw1.${btoa("ep1:3:x")}`, null]) {
    assert.equal(parseCursor(text), null, String(text));
  }
});

test("later positions of the same log replace earlier ones, never the reverse", () => {
  assert.equal(isLater(cursor(11), cursor(10)), true);
  assert.equal(isLater(cursor(10), cursor(10)), false);
  assert.equal(isLater(cursor(9), cursor(10)), false);
  assert.equal(isLater(cursor(9), null), true);
  assert.equal(isLater("junk", cursor(1)), false);
});

test("positions in another log are not later: only a resync moves a client there", () => {
  assert.equal(isLater(cursor(1, "ep2"), cursor(500, "ep1")), false);
  assert.equal(isLater(cursor(900, "ep1", 4), cursor(500, "ep1", 3)), false);
  assert.equal(sameLog(cursor(1), cursor(2)), true);
  assert.equal(sameLog(cursor(1, "ep2"), cursor(2)), false);
});
