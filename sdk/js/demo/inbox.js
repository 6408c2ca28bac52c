// @ts-check
/**
 * The demo agent inbox: the SDK's Inbox rendered with plain DOM calls (no framework, no
 * build step). Message text is customer input: it only ever goes into textContent.
 */
import { canSendAgain, Inbox, TidewireClient } from "../src/index.js";

/** @typedef {import("../src/changes.js").Doc} Doc */

const TICKS = /** @type {Record<string, [string, string]>} */ ({
  "-2": ["unknown", "?"],
  "-1": ["failed", "✗"],
  0: ["queued", "🕓"],
  1: ["sent", "✓"],
  2: ["delivered", "✓✓"],
  3: ["read", "✓✓"],
  4: ["played", "▶"],
});

/** @param {string} id */
function $(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`#${id} missing`);
  return node;
}

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children]
 */
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** @param {string} text */
function showProblem(text) {
  const problem = $("problem");
  problem.textContent = text;
  problem.hidden = false;
}

/** The agent's token: from `?token=` (then kept, and dropped from the address), or kept. */
function token() {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    localStorage.setItem("tidewire:token", given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url);
    return given;
  }
  return localStorage.getItem("tidewire:token");
}

async function config() {
  try {
    const response = await fetch("/demo/config.json");
    if (response.ok) return await response.json();
  } catch {
    // served without the inbox server: guess the local stack's ports
  }
  return { apiUrl: `${location.protocol}//${location.hostname}:8000`, edgeUrl: `${location.protocol}//${location.hostname}:8101` };
}

/**
 * @param {Inbox} inbox
 * @param {{current: string | null}} view
 */
function render(inbox, view) {
  for (const status of ["pending", "open"]) {
    const list = $(`tickets-${status}`);
    list.replaceChildren(
      ...inbox.state.ticketsWith(status).map((t) => {
        const contact = inbox.state.contacts.get(t.contactId);
        const item = el("li", { "data-testid": "ticket", "data-id": t.id, "aria-current": String(t.id === view.current) }, [
          el("span", {}, [contact?.name || contact?.number || t.contactId]),
          ...(t.unreadMessages ? [el("span", { class: "unread", "data-testid": "unread" }, [String(t.unreadMessages)])] : []),
          el("div", { class: "last" }, [t.lastMessage ?? ""]),
        ]);
        item.addEventListener("click", () => void select(inbox, view, t.id));
        return item;
      }),
    );
  }
  if (view.current === null) return;
  const ticket = inbox.state.tickets.get(view.current);
  const contact = ticket ? inbox.state.contacts.get(ticket.contactId) : undefined;
  if (contact) $("title").textContent = `${contact.name || contact.number} · ${contact.number}`;
  const { messages, pending } = inbox.state.conversation(view.current);
  $("messages").replaceChildren(
    ...messages.map((m) => message(inbox, m)),
    ...pending.map((p) => {
      const item = el("li", { class: "mine", "data-testid": "message", "data-state": p.state, "data-client-id": p.clientMessageId }, [
        p.body,
        el("span", { class: "tick", title: p.error ?? p.state }, [p.state === "failed" ? "✗" : "🕓"]),
      ]);
      if (p.state === "failed") {
        const discard = el("button", { "data-testid": "discard" }, ["Discard"]);
        discard.addEventListener("click", () => inbox.discard(p.clientMessageId));
        item.append(retry(inbox, p.clientMessageId, p.error), discard);
      }
      return item;
    }),
  );
}

/**
 * @param {Inbox} inbox
 * @param {Doc} m
 */
function message(inbox, m) {
  const [state, tick] = m.fromMe ? (TICKS[String(m.ack)] ?? ["queued", "🕓"]) : ["received", ""];
  const item = el("li", { class: m.fromMe ? "mine" : "", "data-testid": "message", "data-state": state, "data-client-id": m.clientMessageId ?? "" }, [
    m.body || `[${m.kind}]`,
  ]);
  if (tick) item.append(el("span", { class: "tick", title: m.error ?? state }, [tick]));
  const reacted = Object.values(m.reactions ?? {});
  if (reacted.length) item.append(el("span", { class: "reactions", "data-testid": "reactions" }, [reacted.join(" ")]));
  // Refused by WhatsApp, or unknown (it may have reached the customer): the agent decides;
  // Retry sends it again as a new message, once.
  if (m.fromMe && canSendAgain(m) && !inbox.outbox.replaced.has(m.clientMessageId)) {
    const why = m.ack === -2 ? `${m.error ?? "unknown"} (it may have reached the customer)` : m.error;
    item.append(retry(inbox, m.clientMessageId, why));
  }
  return item;
}

/**
 * @param {Inbox} inbox
 * @param {string} clientMessageId
 * @param {string | null} reason
 */
function retry(inbox, clientMessageId, reason) {
  const button = el("button", { "data-testid": "retry", title: reason ?? "" }, ["Retry"]);
  button.addEventListener("click", () => inbox.retry(clientMessageId));
  return button;
}

/**
 * @param {Inbox} inbox
 * @param {{current: string | null}} view
 * @param {string} ticketId
 */
async function select(inbox, view, ticketId) {
  if (view.current !== null && view.current !== ticketId) inbox.close(view.current);
  view.current = ticketId;
  $("title").textContent = `Ticket ${ticketId}`;
  $("composer").hidden = false;
  try {
    await inbox.open(ticketId);
    if (inbox.state.tickets.get(ticketId)?.unreadMessages) await inbox.markRead(ticketId);
  } catch (err) {
    showProblem(String(err instanceof Error ? err.message : err));
  }
}

async function main() {
  const agentToken = token();
  if (!agentToken) {
    const login = /** @type {HTMLFormElement} */ ($("login"));
    login.hidden = false;
    login.addEventListener("submit", (e) => {
      e.preventDefault();
      localStorage.setItem("tidewire:token", /** @type {HTMLInputElement} */ ($("token")).value.trim());
      location.reload();
    });
    return;
  }
  const { apiUrl, edgeUrl } = await config();
  const client = new TidewireClient({ apiUrl, edgeUrl, token: agentToken, storage: localStorage });
  const inbox = new Inbox(client);
  const view = { current: /** @type {string | null} */ (null) };
  const badge = $("connection");
  client.on("status", (s) => {
    badge.dataset.state = s.socket === "up" ? "live" : "polling";
    badge.textContent = s.socket === "up" ? "live" : "offline · polling";
  });
  client.on("error", (e) => {
    const text = String(e.error?.message ?? e.error);
    if (/401|token|expired/i.test(text)) showProblem(`refused: ${text}`);
  });
  inbox.onUpdate(() => render(inbox, view));
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($("text"));
    if (view.current && input.value.trim()) inbox.send(view.current, input.value.trim());
    input.value = "";
  });
  $("app").hidden = false;
  try {
    await inbox.load();
  } catch (err) {
    showProblem(String(err instanceof Error ? err.message : err));
  }
}

void main();
