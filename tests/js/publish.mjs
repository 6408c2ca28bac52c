// Publishes through @tidewire/emitter (sdk/emitter) as a helpdesk backend would, then
// flushes and prints one JSON line: {"ok": true} or {"ok": false, "error": "..."}.
// argv: ingest URL, publisher token, JSON list of [company, room|null, event, data].
import { Emitter } from "../../sdk/emitter/src/index.js";

const [url, token, emits] = process.argv.slice(2);
const emitter = new Emitter({ url, token, batchMs: 5 });
for (const [company, room, event, data] of JSON.parse(emits)) {
  const target = emitter.company(company);
  (room === null ? target : target.to(room)).emit(event, data);
}
try {
  await emitter.close();
  console.log(JSON.stringify({ ok: true }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error) }));
  process.exitCode = 1;
}
