// @ts-check
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";

import { Emitter, PublishError } from "../src/index.js";

/**
 * A stand-in for ingest's publish route: records each request's publications and answers
 * what `answer` says (status, or a thrown connection reset).
 * @param {(publications: any[], n: number) => number | "reset"} answer
 */
async function fakeIngest(answer) {
  /** @type {any[][]} */
  const requests = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const parsed = JSON.parse(body);
      const pubs = parsed.publications ?? [parsed];
      requests.push(pubs);
      const status = answer(pubs, requests.length);
      if (status === "reset") {
        req.socket.destroy();
        return;
      }
      res.writeHead(status, { "content-type": "application/problem+json", "retry-after": "0" });
      res.end(JSON.stringify({ title: "t", detail: `status ${status}` }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}

test("the chain becomes the publication: rooms, except, namespace, company", async () => {
  const ingest = await fakeIngest(() => 202);
  const emitter = new Emitter({ url: ingest.url, token: "t", retryMs: 1 });
  emitter.to("123").in(["company-5-open", 7]).except("user-2").emit("company-5-appMessage", { a: 1 });
  emitter.of("/9").emit("contact", { b: 2 });
  emitter.company("11").emit("ticket", null);
  await emitter.flush();
  const all = ingest.requests.flat();
  assert.deepEqual(
    all.map(({ id, ...rest }) => rest),
    [
      { company_id: "5", namespace: "/", rooms: ["123", "company-5-open", "7"], except: ["user-2"], event: "company-5-appMessage", data: { a: 1 } },
      { company_id: "9", namespace: "/9", rooms: [], except: [], event: "contact", data: { b: 2 } },
      { company_id: "11", namespace: "/", rooms: [], except: [], event: "ticket", data: null },
    ],
  );
  assert.equal(new Set(all.map((p) => p.id)).size, 3);
  await ingest.close();
});

test("emits without a company are reported, not thrown, unless companyId is set", async () => {
  const ingest = await fakeIngest(() => 202);
  /** @type {PublishError[]} */
  const errors = [];
  const emitter = new Emitter({ url: ingest.url, token: "t", onError: (e) => errors.push(e) });
  assert.equal(emitter.to("open").emit("appMessage", {}), true);
  await assert.rejects(emitter.flush(), /no company for emit "appMessage"/);
  assert.equal(errors.length, 1);
  assert.equal(ingest.requests.length, 0);
  const single = new Emitter({ url: ingest.url, token: "t", companyId: "1" });
  single.to("open").emit("appMessage", {});
  await single.flush();
  assert.equal(ingest.requests.flat()[0].company_id, "1");
  await ingest.close();
});

test("retries keep each emit's id and the order; nothing is sent twice once accepted", async () => {
  // refused twice (503, then a reset connection), then accepted
  const ingest = await fakeIngest((_, n) => (n === 1 ? 503 : n === 2 ? "reset" : 202));
  const emitter = new Emitter({ url: ingest.url, token: "t", retryMs: 1, batchMs: 5 });
  for (let n = 0; n < 5; n++) emitter.company("1").emit("e", { n });
  await emitter.flush();
  assert.equal(ingest.requests.length, 3);
  const [first, , last] = ingest.requests;
  assert.deepEqual(first.map((p) => p.id), last.map((p) => p.id));
  assert.deepEqual(last.map((p) => p.data.n), [0, 1, 2, 3, 4]);
  await ingest.close();
});

test("a refused emit is given up alone; its batch's others are delivered in order", async () => {
  const ingest = await fakeIngest((pubs) => (pubs.some((p) => p.data.bad) ? 422 : 202));
  /** @type {PublishError[]} */
  const errors = [];
  const emitter = new Emitter({ url: ingest.url, token: "t", onError: (e) => errors.push(e), batchMs: 5 });
  for (const n of [1, 2, 3]) emitter.company("1").emit("e", { n, bad: n === 2 });
  await assert.rejects(emitter.flush(), PublishError);
  const accepted = ingest.requests.filter((pubs) => !pubs.some((p) => p.data.bad));
  assert.deepEqual(accepted.flat().map((p) => p.data.n), [1, 3]);
  assert.deepEqual(errors.map((e) => [e.status, e.publications.map((p) => /** @type {any} */ (p.data).n)]), [[422, [2]]]);
  await emitter.flush(); // reported once
  await ingest.close();
});

test("an emit retried past its deadline is reported, not retried for ever", async () => {
  const ingest = await fakeIngest(() => 503);
  /** @type {PublishError[]} */
  const errors = [];
  const emitter = new Emitter({ url: ingest.url, token: "t", retryMs: 1, retryMaxMs: 2, deadlineMs: 30, onError: (e) => errors.push(e) });
  emitter.company("1").emit("e", {});
  await assert.rejects(emitter.flush(), /gave up after 30 ms/);
  assert.equal(errors.length, 1);
  await ingest.close();
});

test("batches respect their count and byte bounds", async () => {
  const ingest = await fakeIngest(() => 202);
  const emitter = new Emitter({ url: ingest.url, token: "t", maxBatch: 3, maxBatchBytes: 2000, batchMs: 5 });
  for (let n = 0; n < 7; n++) emitter.company("1").emit("e", { n });
  emitter.company("1").emit("big", "x".repeat(3000));
  emitter.company("1").emit("after", 1);
  await emitter.flush();
  assert.deepEqual(ingest.requests.map((r) => r.length), [3, 3, 1, 1, 1]);
  assert.deepEqual(ingest.requests.flat().map((p) => p.event).slice(-2), ["big", "after"]);
  await ingest.close();
});

test("emit takes one argument, like a publication", () => {
  const emitter = new Emitter({ url: "http://127.0.0.1:1", token: "t", companyId: "1" });
  assert.throws(() => /** @type {any} */ (emitter).emit("e", 1, 2), /one argument/);
});

test("a hung request counts as a network error and is retried within the deadline", async () => {
  let calls = 0;
  /** @type {typeof fetch} */
  const hanging = async (url, init) => {
    calls += 1;
    if (calls === 1) {
      // never answers: only the request timeout ends it
      return await new Promise((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(new Error("aborted"))),
      );
    }
    return new Response("{}", { status: 202 });
  };
  const emitter = new Emitter({ url: "http://x", token: "t", companyId: "1", fetch: hanging, requestTimeoutMs: 50, retryMs: 1 });
  emitter.emit("e", 1);
  await emitter.flush();
  assert.equal(calls, 2);
});

test("failures are counted, not kept, until flush", async () => {
  const ingest = await fakeIngest(() => 422);
  const emitter = new Emitter({ url: ingest.url, token: "t", companyId: "1", onError: () => {}, batchMs: 1 });
  for (let n = 0; n < 5; n++) emitter.emit("e", n);
  await assert.rejects(emitter.flush(), /and 4 more emits given up/);
  await emitter.flush();
  await ingest.close();
});
