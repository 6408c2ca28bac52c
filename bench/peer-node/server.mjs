// One node of the reference Socket.IO deployment `tidewire bench peer` compares tidewire with:
// what a team building a helpdesk on Node.js would run instead of tidewire's edges.
//
// socket.io 4.8 with connection state recovery and @socket.io/redis-streams-adapter (the
// adapter that records broadcasts in a Redis stream, so a session can be restored on any node
// from the client's last offset). The handshake checks the same HS256 agent token tidewire's
// edges check (`tidewire token`), and every socket joins its company's room, as a
// Whaticket-style backend does; a recovered socket gets its rooms back from the session.
//
//   PEER_JWT_SECRET=<jwt secret> node server.mjs --port 0 --redis redis://127.0.0.1:6390
//
// The key comes from the environment, not the command line, which any user of the machine can
// read in the process list.
//
// Prints one JSON line {kind:"listening", port} once it accepts connections; GET /healthz
// answers 200. SIGTERM closes it.
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import jwt from "jsonwebtoken";
import { createClient } from "redis";
import { Server } from "socket.io";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    redis: { type: "string" },
    audience: { type: "string", default: "tidewire" },
    // As long as tidewire keeps a session by default: long enough for any bench drop.
    "max-disconnection-ms": { type: "string", default: "120000" },
  },
});
const secret = process.env.PEER_JWT_SECRET ?? "";
if (!args.redis || !secret) {
  console.error("usage: PEER_JWT_SECRET=KEY node server.mjs --redis URL [--port N]");
  process.exit(2);
}

const redis = createClient({ url: args.redis });
redis.on("error", (err) => console.error("redis:", err.message));
await redis.connect();

const http = createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404).end();
});
const io = new Server(http, {
  adapter: createAdapter(redis),
  connectionStateRecovery: {
    maxDisconnectionDuration: Number(args["max-disconnection-ms"]),
    // The middleware checked the token when the session began; the library's default.
    skipMiddlewares: true,
  },
});

// The room name the publisher emits to (publisher.mjs).
const room = (company) => `company-${company}`;

io.use((socket, next) => {
  try {
    const claims = jwt.verify(String(socket.handshake.auth?.token ?? ""), secret, {
      algorithms: ["HS256"],
      audience: args.audience,
    });
    socket.data.company = claims.company_id;
    next();
  } catch (err) {
    next(new Error(`unauthorized: ${err.message}`));
  }
});

io.on("connection", (socket) => {
  if (!socket.recovered) socket.join(room(socket.data.company));
});

http.listen(Number(args.port), "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ kind: "listening", port: http.address().port }) + "\n");
});

const stop = () => {
  io.close();
  redis.destroy();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
