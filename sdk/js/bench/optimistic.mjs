// How long an agent's optimistic message waits for its fact, through the SDK in Node.js,
// against a running `tidewire up` (the demo tenant by default).
//
//   node sdk/js/bench/optimistic.mjs <agent-token> [sends=200] [rate=20/s]
//
// A customer writes in first (a signed webhook, as Meta would send it), which opens a ticket;
// then the agent sends `sends` messages at `rate` per second (open loop). For each: time to
// the API's 202 ("accepted") and to the fact replacing the pending message ("reconciled").
import { createHmac, randomUUID } from "node:crypto";

import { Inbox, TidewireClient } from "../src/index.js";

const [token, sends = "200", rate = "20"] = process.argv.slice(2);
if (!token) {
  console.error("usage: node sdk/js/bench/optimistic.mjs <agent-token> [sends] [rate]");
  process.exit(2);
}
const api = process.env.TIDEWIRE_API ?? "http://127.0.0.1:8000";
const edge = process.env.TIDEWIRE_EDGE ?? "http://127.0.0.1:8101";
const phone = process.env.TIDEWIRE_BENCH_PHONE ?? "demo-phone";
const secret = process.env.TIDEWIRE_BENCH_APP_SECRET ?? "demo-app-secret";

async function openTicket() {
  const sender = `55119${String(Date.now()).slice(-7)}`;
  const message = {
    from: sender,
    id: `wamid.bench.${randomUUID()}`,
    timestamp: String(Math.floor(Date.now() / 1000)),
    type: "text",
    text: { body: "bench" },
  };
  const value = {
    messaging_product: "whatsapp",
    metadata: { display_phone_number: "15550000000", phone_number_id: phone },
    contacts: [{ profile: { name: "Bench" }, wa_id: sender }],
    messages: [message],
  };
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "bench", changes: [{ field: "messages", value }] }],
  });
  const signature = "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
  const sent = await fetch(`${api}/webhooks/whatsapp`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
  });
  if (!sent.ok) throw new Error(`webhook: ${sent.status} ${await sent.text()}`);
  for (let i = 0; i < 100; i += 1) {
    const r = await fetch(`${api}/api/tickets?status=pending&limit=200`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const found = (await r.json()).tickets.find((t) => t.contactId === sender);
    if (found) return found.id;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error("no ticket for the bench's customer");
}

const ticket = await openTicket();
const client = new TidewireClient({ apiUrl: api, edgeUrl: edge, token });
const inbox = new Inbox(client);
await inbox.load();
await inbox.open(ticket);

/** @type {Map<string, {t0: number, accepted?: number, reconciled?: number}>} */
const timings = new Map();
inbox.onUpdate(() => {
  const now = performance.now();
  for (const [key, t] of timings) {
    const pending = inbox.state.pending.get(key);
    if (pending?.state === "accepted" && t.accepted === undefined) t.accepted = now - t.t0;
    if (!pending && t.reconciled === undefined) {
      t.reconciled = now - t.t0;
      t.accepted ??= t.reconciled; // the fact came before the 202 was seen
    }
  }
});

const total = Number(sends);
const every = 1000 / Number(rate);
const start = performance.now();
for (let i = 0; i < total; i += 1) {
  const wait = start + i * every - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const t0 = performance.now();
  timings.set(inbox.send(ticket, `bench ${i}`), { t0 });
}
const deadline = performance.now() + 60000;
while ([...timings.values()].some((t) => t.reconciled === undefined)) {
  if (performance.now() > deadline) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const pick = (name) => [...timings.values()].map((t) => t[name]).filter((x) => x !== undefined);
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const accepted = pick("accepted");
const reconciled = pick("reconciled");
console.log(
  `${total} sends at ${rate}/s: accepted ${accepted.length}, p50 ${quantile(accepted, 0.5).toFixed(1)} ms, ` +
    `p99 ${quantile(accepted, 0.99).toFixed(1)} ms; reconciled ${reconciled.length}, ` +
    `p50 ${quantile(reconciled, 0.5).toFixed(1)} ms, p99 ${quantile(reconciled, 0.99).toFixed(1)} ms`,
);
client.stop();
process.exit(reconciled.length === total ? 0 : 1);
