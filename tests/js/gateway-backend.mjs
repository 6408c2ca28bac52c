// A stand-in Whaticket-family helpdesk backend for the gateway e2e tests (gateway mode).
//
// It plays the part of the helpdesk's Express server behind the reverse proxy: any request
// but the test commands gets a small JSON answer naming this backend (so the tests see that
// nginx sends "everything else" here), and `POST /test/script` makes it publish what the
// family's backend emits for a few helpdesk actions, through @tidewire/emitter with the call
// shapes of each family's source (`io.to(a).to(b).emit(...)`, `io.emit(...)`,
// `io.of(String(companyId)).emit(...)`, CONTRACT.md §3.4, §4.4, §5.4, §6.4), with payloads
// serialised as Sequelize does (ISO date strings, numeric ids, string message ids but in plus).
//
// argv: --port N --ingest <tidewire ingest URL> --token <publisher token>
// POST /test/script {family, company, steps: [{do, ...}]} publishes the steps in order, waits
// until tidewire holds all of them (flush), and answers {emitted: [{company, namespace, rooms,
// except, event, data}]}, in emission order.
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Emitter } from "../../sdk/emitter/src/index.js";

const { values: args } = parseArgs({
  options: { port: { type: "string" }, ingest: { type: "string" }, token: { type: "string" } },
});

// Deterministic timestamps: a step's `at` (ms after a fixed instant) as Date#toISOString does.
const iso = (at = 0) => new Date(Date.UTC(2026, 11, 7, 9, 30, 0, 0) + at).toISOString();

/** The emits of one request, recorded as they are made. */
class Recorder {
  constructor(family, company, emitter) {
    this.family = family;
    this.company = String(company);
    this.emitter = emitter;
    this.emitted = [];
  }

  /** `chain` is what the family's code calls, e.g. io => io.to("12").to("open"). */
  emit(chain, target, event, data) {
    chain(this.emitter).emit(event, data);
    this.emitted.push({
      company: target.company ?? this.company,
      namespace: target.namespace ?? "/",
      rooms: target.rooms ?? [],
      except: target.except ?? [],
      event,
      data,
    });
  }
}

// ---- payloads as the families serialise them (CONTRACT.md §2.4) -------------------------

function contactOf(family, s) {
  const contact = {
    id: s.contactId ?? 500 + s.ticketId,
    name: s.contactName ?? `Cliente ${s.ticketId}`,
    number: `55119${String(s.ticketId).padStart(8, "0")}`,
    email: "",
    profilePicUrl: null,
    isGroup: false,
    createdAt: iso(),
    updatedAt: iso(s.at ?? 0),
  };
  if (family === "ticketz") Object.assign(contact, { presence: "available", disableBot: false, language: "pt", tags: [], extraInfo: [] });
  if (family === "plus") Object.assign(contact, { companyId: Number(s.company), urlPicture: null, tags: [] });
  if (family === "saas1") contact.companyId = Number(s.company);
  return contact;
}

function ticketOf(family, s, status) {
  const ticket = {
    id: s.ticketId,
    status,
    unreadMessages: 1,
    lastMessage: s.body ?? "",
    isGroup: false,
    userId: s.userId ?? null,
    contactId: s.contactId ?? 500 + s.ticketId,
    whatsappId: 1,
    queueId: s.queueId ?? null,
    createdAt: iso(),
    updatedAt: iso(s.at ?? 0),
    contact: contactOf(family, s),
    queue: s.queueId ? { id: s.queueId, name: "Suporte", color: "#7c7c7c" } : null,
    whatsapp: { name: "Principal" },
  };
  if (family !== "community") {
    ticket.uuid = s.uuid;
    ticket.companyId = Number(s.company);
    ticket.channel = "whatsapp";
  }
  if (family === "ticketz" || family === "plus") ticket.tags = [];
  if (family === "ticketz") ticket.user = s.userId ? { id: s.userId, name: "Ana" } : null;
  return ticket;
}

function messageOf(family, s) {
  const ticket = ticketOf(family, s, s.status);
  const message = {
    id: family === "plus" ? s.seq : `3EB0${String(s.seq).padStart(16, "0")}`,
    body: s.body,
    ack: 0,
    read: false,
    fromMe: false,
    mediaType: "chat",
    mediaUrl: null,
    isDeleted: false,
    quotedMsgId: null,
    ticketId: s.ticketId,
    contactId: ticket.contactId,
    createdAt: iso(s.at ?? 0),
    updatedAt: iso(s.at ?? 0),
    contact: ticket.contact,
    ticket,
    quotedMsg: null,
  };
  if (family !== "community") message.dataJson = null;
  if (family === "plus") message.wid = `3EB0${String(s.seq).padStart(16, "0")}`;
  if (family === "ticketz") Object.assign(message, { thumbnailUrl: null, isEdited: false, error: null });
  return message;
}

// ---- what each family's backend emits (CONTRACT.md §3.4, §4.4, §5.4, §6.4) -------------

const name = (family, c, base) => (family === "community" ? base : `company-${c}-${base}`);

/** An inbound message creates an appMessage (CreateMessageService). */
function message(r, s) {
  const { family } = r;
  const c = r.company;
  const m = messageOf(family, s);
  const data = { action: "create", message: m, ticket: m.ticket, contact: m.ticket.contact };
  const ev = name(family, c, "appMessage");
  const t = String(s.ticketId);
  if (family === "plus") {
    r.emit((io) => io.of(c), { namespace: `/${c}` }, ev, data);
  } else if (family === "ticketz") {
    const q = m.ticket.queueId ?? "null";
    const rooms = [t, `company-${c}-${s.status}`, `company-${c}-notification`, `queue-${q}-${s.status}`, `queue-${q}-notification`];
    r.emit((io) => io.to(rooms[0]).to(rooms[1]).to(rooms[2]).to(rooms[3]).to(rooms[4]), { rooms }, ev, data);
    // CreateMessageService then updates the contact on the company's main channel.
    const contact = { action: "update", contact: m.ticket.contact };
    r.emit((io) => io.to(`company-${c}-mainchannel`), { rooms: [`company-${c}-mainchannel`] }, name(family, c, "contact"), contact);
  } else {
    const rooms = [t, s.status, "notification"];
    r.emit((io) => io.to(rooms[0]).to(rooms[1]).to(rooms[2]), { rooms }, ev, data);
  }
}

/** A message's ack changes: appMessage update to the ticket's room only. */
function messageUpdate(r, s) {
  const { family } = r;
  const c = r.company;
  const m = messageOf(family, s);
  m.ack = 3;
  const ev = name(family, c, "appMessage");
  // A test may name the room (a probe of the socket's joins).
  const room = s.room ?? (family === "plus" ? s.uuid : String(s.ticketId));
  const data = { action: "update", message: m };
  if (family === "plus") {
    // plus's backend broadcasts to the namespace; a room here probes the socket's joins.
    r.emit((io) => io.of(c).to(room), { namespace: `/${c}`, rooms: [room] }, ev, data);
  } else {
    r.emit((io) => io.to(room), { rooms: [room] }, ev, data);
  }
}

/** A ticket changes status: the removal from the old list(s) first, then the update. */
function statusChange(r, s) {
  const { family } = r;
  const c = r.company;
  const ticket = ticketOf(family, s, s.to);
  const ev = name(family, c, "ticket");
  const t = String(s.ticketId);
  const remove = { action: "delete", ticketId: s.ticketId };
  const update = { action: "update", ticket };
  if (family === "community") {
    r.emit((io) => io.to(s.from), { rooms: [s.from] }, ev, remove);
    r.emit((io) => io.to(s.to).to("notification").to(t), { rooms: [s.to, "notification", t] }, ev, update);
  } else if (family === "saas1") {
    r.emit((io) => io, {}, ev, { action: "removeFromList", ticketId: s.ticketId });
    r.emit((io) => io.to(s.from), { rooms: [s.from] }, ev, remove);
    r.emit((io) => io.to(s.to).to("notification").to(t), { rooms: [s.to, "notification", t] }, ev, update);
  } else if (family === "ticketz") {
    const main = `company-${c}-mainchannel`;
    r.emit((io) => io.to(main), { rooms: [main] }, ev, { action: "removeFromList", ticketId: s.ticketId });
    if (s.to === "open") r.emit((io) => io.to(main), { rooms: [main] }, ev, { action: "updateUnread", ticketId: s.ticketId });
    const q = ticket.queueId ?? "null";
    const rooms = [t, `user-${ticket.userId}`, `queue-${q}-notification`, `queue-${q}-${s.to}`, `company-${c}-notification`, `company-${c}-${s.to}`];
    r.emit((io) => rooms.reduce((op, room) => op.to(room), io), { rooms }, ev, update);
  } else {
    r.emit((io) => io.of(c), { namespace: `/${c}` }, ev, remove);
    r.emit((io) => io.of(c), { namespace: `/${c}` }, ev, update);
  }
}

/** A user is updated: every socket of the company (ticketz, saas1 and community: `io.emit`). */
function userUpdate(r, s) {
  const { family } = r;
  const c = r.company;
  const user = { id: s.userId, name: s.userName ?? `Agente ${s.userId}`, email: `agent${s.userId}@example.com`, profile: "admin", companyId: Number(c), updatedAt: iso(s.at ?? 0) };
  if (family === "community") delete user.companyId;
  const ev = name(family, c, "user");
  const data = { action: "update", user, seq: s.seq };
  if (family === "plus") r.emit((io) => io.of(c), { namespace: `/${c}` }, ev, data);
  else r.emit((io) => io, {}, ev, data);
}

/** ticketz: a connection's state, to the company's admins only (SocketSendWhatsappUpdate). */
function whatsappUpdate(r, s) {
  const c = r.company;
  const admin = `company-${c}-admin`;
  const whatsapp = { id: 1, name: "Principal", channel: "whatsapp", status: "CONNECTED", qrcode: "", isDefault: true, updatedAt: iso(s.at ?? 0) };
  r.emit((io) => io.to(admin), { rooms: [admin] }, `company-${c}-whatsapp`, { action: "update", whatsapp });
}

/** ticketz: an emit to the company's main channel except one user's sockets. */
function exceptUser(r, s) {
  const c = r.company;
  const main = `company-${c}-mainchannel`;
  const data = { action: "update", setting: { key: "note", value: `except ${s.seq}` } };
  r.emit((io) => io.to(main).except(`user-${s.userId}`), { rooms: [main], except: [`user-${s.userId}`] }, "settings", data);
}

/** The same event in a namespace the family's front end is not in (`/` vs `/<C>`). */
function otherNamespace(r, s) {
  const c = r.company;
  const ns = r.family === "plus" ? "/" : `/${c}`;
  const ev = name(r.family, c, "appMessage");
  const data = { action: "create", stray: "namespace", seq: s.seq };
  r.emit((io) => io.company(c).of(ns), { namespace: ns }, ev, data);
}

const STEPS = { message, messageUpdate, statusChange, userUpdate, whatsappUpdate, exceptUser, otherNamespace };

async function script(body) {
  const { family, company, steps } = body;
  // community is single-company: its backend's emitter is configured with its one company.
  const emitter = new Emitter({
    url: args.ingest,
    token: args.token,
    batchMs: 1,
    ...(family === "community" ? { companyId: String(company) } : {}),
  });
  const r = new Recorder(family, company, emitter);
  for (const step of steps) {
    const fn = STEPS[step.do];
    if (!fn) throw new Error(`unknown step ${step.do}`);
    fn(r, { ...step, company: String(company) });
  }
  await emitter.close();
  return { emitted: r.emitted };
}

const server = createServer(async (req, res) => {
  const answer = (status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.method === "POST" && req.url === "/test/script") {
    let text = "";
    for await (const chunk of req) text += chunk;
    try {
      answer(200, await script(JSON.parse(text)));
    } catch (error) {
      answer(500, { error: String(error) });
    }
    return;
  }
  // Everything else is the helpdesk's own REST API.
  answer(200, { backend: "stand-in helpdesk", method: req.method, path: req.url });
});
server.listen(Number(args.port), "127.0.0.1");
