// The local stack's console: polls /_console/api/state and draws FChat's chats, the webhook
// inspector, deliveries and faults; acts through the console's own routes. No build step:
// plain DOM, every text set with textContent.
"use strict";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

let state = null;
let selected = null; // the selected chat's id
const seenCount = new Map(); // chat id -> items the reader has seen
const drawn = new Map(); // what each part was last drawn from

// h("li", {class: "x", onclick: f}, child, "text", ...)
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function time(ms) {
  return ms ? new Date(ms).toLocaleTimeString([], { hour12: false }) : "";
}

function initials(name) {
  const words = String(name || "?").replace(/@.*/, "").split(/[\s._-]+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2)).toUpperCase();
}

// Redraws `el` from `build()` only when `key` changed, keeping the focused control focused.
function redraw(part, key, el, build) {
  if (drawn.get(part) === key) return;
  drawn.set(part, key);
  const focused = document.activeElement && el.contains(document.activeElement)
    ? document.activeElement.dataset.key : null;
  const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  const opened = new Set([...el.querySelectorAll("details[open][data-key]")].map((d) => d.dataset.key));
  el.replaceChildren(...build());
  for (const details of el.querySelectorAll("details[data-key]")) {
    if (opened.has(details.dataset.key)) details.open = true;
  }
  if (focused) {
    const again = el.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  if (el.id === "messages" && atBottom) el.scrollTop = el.scrollHeight;
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  try { json = await response.json(); } catch (_) { /* empty */ }
  return { status: response.status, json };
}

// ---- the model: chats and what each shows -------------------------------------------------

function users() { return Array.isArray(state.users) ? state.users : []; }
function userById(id) { return users().find((u) => u.id === id); }
function userName(u) { return u ? (u.name || u.email) : "someone"; }

function chats() {
  const list = [];
  const byId = new Map();
  const add = (id, kind, title, sub) => {
    if (byId.has(id)) return byId.get(id);
    const chat = { id, kind, title, sub, items: [] };
    byId.set(id, chat);
    list.push(chat);
    return chat;
  };
  for (const u of users()) add(u.id, "private", userName(u), u.email);
  for (const g of state.groups || []) add(g, "group", g, "group chat");
  for (const m of state.messages || []) {
    add(m.chat_id, "unknown", m.chat_id, "").items.push({ type: "bot", at: m.received_at_ms, m });
  }
  for (const a of state.actions || []) {
    add(a.chat_id, "unknown", a.chat_id, "").items.push({ type: "user", at: a.at_ms, a });
  }
  // What the console sent to a user that FChat does not have yet (queued, failed, expired).
  const inFChat = new Set((state.messages || []).map((m) => m.client_message_id));
  for (const [id, d] of Object.entries(state.deliveries || {})) {
    const user = d.email && users().find((u) => u.email.toLowerCase() === d.email.toLowerCase());
    if (user && !inFChat.has(id)) byId.get(user.id).items.push({ type: "pending", at: d.first_seen_ms, id, d });
  }
  for (const chat of list) chat.items.sort((x, y) => x.at - y.at);
  return list;
}

function preview(item) {
  if (!item) return "no messages yet";
  if (item.type === "bot") return item.m.deleted ? "(deleted)" : item.m.text;
  if (item.type === "pending") return `(${(item.d.context || {}).status || "sending"}) ${item.d.text}`;
  const a = item.a;
  return `${userName(a.user)}: ${describeAction(a)}`;
}

function describeAction(a) {
  switch (a.kind) {
    case "text": case "MESSAGE": return a.text || "";
    case "click": return `clicked “${a.text}”`;
    case "JOIN_ROOM": return "joined";
    case "ADD_MEMBERS": return "was added";
    case "DELETE_MEMBERS": return "left";
    default: return a.kind;
  }
}

function delivery(m) {
  return m && m.client_message_id ? (state.deliveries || {})[m.client_message_id] : undefined;
}

function statusChip(context) {
  if (!context) return null;
  const bits = [context.status];
  if (context.attempts) bits.push(`${context.attempts} ${context.attempts === 1 ? "try" : "tries"}`);
  return h("span", { class: `status ${context.status}`, title: context.last_error || "" }, bits.join(" · "));
}

// The bot's answer to a click, which only the clicker saw.
function noticeNote(a) {
  if (!a.notice) return a.kind === "click" && a.status ? h("span", { class: "notice none" }, " · not answered") : null;
  const shown = a.notice.text ? `“${a.notice.text}”` : "(no notice: the spinner stopped)";
  return h("span", { class: `notice${a.notice.show_alert ? " alert" : ""}`, "data-notice": a.id,
    title: `answered at ${time(a.notice.at_ms)}` },
  ` · ${a.notice.show_alert ? "alert" : "notice"} to ${userName(a.user)}: ${shown}`);
}

function answerNote(a) {
  if (a.error) return h("span", { class: "error" }, `not delivered: ${a.error}`);
  if (a.status === null || a.status === undefined) return h("span", {}, "posting…");
  return h("span", { class: a.status === 200 ? "" : "error" }, `gateway ${a.status}`);
}

// ---- drawing -----------------------------------------------------------------------------

function drawChatList(list) {
  const key = JSON.stringify([selected, list.map((c) => [c.id, c.title, c.items.length, preview(c.items[c.items.length - 1]), seenCount.get(c.id)])]);
  redraw("chat-list", key, $("chat-list"), () => list.map((chat) => {
    const unread = chat.id === selected ? 0 : chat.items.length - (seenCount.get(chat.id) || 0);
    return h("li", {},
      h("button", {
        type: "button", class: "chat", "data-chat": chat.id, "data-key": `chat:${chat.id}`,
        "aria-current": chat.id === selected ? "true" : "false",
        onclick: () => select(chat.id),
      },
      h("span", { class: `avatar ${chat.kind === "group" ? "group" : ""}`, "aria-hidden": "true" }, initials(chat.title)),
      h("span", { class: "name" }, chat.title),
      unread > 0 ? h("span", { class: "badge", "aria-label": `${unread} new` }, unread) : h("span"),
      h("span", { class: "preview" }, preview(chat.items[chat.items.length - 1]))));
  }));
}

function findQuoted(chat, id) {
  for (const item of chat.items) {
    if (item.type === "bot" && item.m.message_id === id) return { who: "Bot", text: item.m.text };
    if (item.type === "user" && item.a.message_id === id && item.a.kind !== "click") {
      return { who: userName(item.a.user), text: item.a.text };
    }
  }
  return null;
}

function drawBotMessage(chat, m) {
  const d = delivery(m);
  const context = d && d.context;
  const rows = (m.reply_markup && m.reply_markup.inline_keyboard) || [];
  let index = 0;
  const quoted = m.reply_to_message_id ? findQuoted(chat, m.reply_to_message_id) : null;
  if (m.deleted) {
    // FChat no longer shows it; the record does.
    return h("li", { class: "msg deleted", "data-message-id": m.message_id, "data-deleted": "true" },
      h("div", { class: "who" }, d && d.app ? `Bot · ${d.app}` : "Bot"),
      h("p", { class: "text" }, "This message was deleted."),
      h("details", {}, h("summary", {}, "what it said"), h("p", {}, m.text)),
      h("div", { class: "meta" }, h("span", {}, time(m.received_at_ms)),
        h("span", { class: "edited", title: `deleted at ${time(m.deleted_at_ms)}` }, "deleted"),
        h("code", {}, m.message_id), statusChip(context)));
  }
  return h("li", { class: "msg", "data-message-id": m.message_id },
    m.reply_to_message_id ? h("div", { class: "quote" },
      h("b", {}, quoted ? quoted.who : "Reply"),
      quoted ? quoted.text : `to ${m.reply_to_message_id}`) : null,
    h("div", { class: "who" }, d && d.app ? `Bot · ${d.app}` : "Bot"),
    h("p", { class: "text" }, m.text),
    rows.length ? h("div", { class: "keyboard", role: "group", "aria-label": "Buttons" },
      rows.map((row) => h("div", { class: "kb-row" }, (row || []).map((button) => {
        const at = index++;
        return h("button", {
          type: "button", class: "kb", "data-key": `kb:${m.message_id}:${at}`,
          "data-message-id": m.message_id, "data-button": at,
          title: `callback_data: ${button.callback_data}`,
          onclick: () => click(chat, m, at, button.text),
        }, button.text);
      })))) : null,
    m.edits && m.edits.length ? h("details", { "data-key": `edits:${m.message_id}` },
      h("summary", {}, `${m.edits.length} earlier version${m.edits.length > 1 ? "s" : ""}`),
      h("ol", {}, m.edits.map((v) => h("li", {}, v.text)))) : null,
    h("div", { class: "meta" },
      h("span", {}, time(m.received_at_ms)),
      m.edits && m.edits.length ? h("span", { class: "edited", title: `edited at ${time(m.edited_at_ms)}` }, "edited") : null,
      h("code", {}, m.message_id),
      statusChip(context)));
}

// A message the console sent that FChat does not show (yet): its status says why.
function drawPending(item) {
  const context = item.d.context || {};
  return h("li", { class: "msg pending", "data-context": item.id },
    h("div", { class: "who" }, `Bot · ${item.d.app} · not in FChat`),
    h("p", { class: "text" }, item.d.text),
    context.last_error ? h("p", { class: "error" }, context.last_error) : null,
    h("div", { class: "meta" }, h("span", {}, time(item.d.first_seen_ms)),
      statusChip(context.status ? context : { status: "queued" })));
}

function drawAction(a) {
  switch (a.kind) {
    case "text": case "MESSAGE":
      return h("li", { class: "msg me", "data-action": a.id },
        h("div", { class: "who" }, userName(a.user)),
        h("p", { class: "text" }, a.text),
        h("div", { class: "meta" }, h("span", {}, time(a.at_ms)), a.message_id ? h("code", {}, a.message_id) : null, answerNote(a)));
    case "click":
      return h("li", { class: "click-note", "data-action": a.id },
        `${userName(a.user)} clicked “${a.text}” on ${a.message_id} · `, answerNote(a),
        noticeNote(a));
    default:
      return h("li", { class: "room-event", "data-action": a.id },
        `${userName(a.user)} ${describeAction(a)} · ${time(a.at_ms)} · `, answerNote(a));
  }
}

function drawChat(list) {
  const chat = list.find((c) => c.id === selected);
  $("composer").querySelectorAll("input, button").forEach((el) => { el.disabled = !chat || chat.kind === "unknown"; });
  $("room-actions").hidden = !chat || chat.kind !== "group";
  if (!chat) {
    $("chat-title").textContent = "Pick a chat";
    $("chat-sub").textContent = "";
    redraw("messages", "none", $("messages"), () => [h("li", { class: "empty" }, "No chat selected.")]);
    return;
  }
  seenCount.set(chat.id, chat.items.length);
  $("chat-title").textContent = chat.title;
  $("chat-sub").textContent = chat.kind === "private" ? `${chat.sub} · private chat ${chat.id}` : chat.sub;
  $("compose-text").placeholder = chat.kind === "private" ? `Write as ${chat.title}…` : "Write in the group…";
  const key = JSON.stringify([chat.id, chat.items, state.deliveries]);
  redraw("messages", key, $("messages"), () => chat.items.length
    ? chat.items.map((item) => item.type === "bot" ? drawBotMessage(chat, item.m)
      : item.type === "pending" ? drawPending(item) : drawAction(item.a))
    : [h("li", { class: "empty" }, "Nothing here yet. Send a message from the form.")]);
}

function botReplyOf(event) {
  const answer = event.answer_body || {};
  const text = answer.text || (answer.data && answer.data.message);
  if (typeof text !== "string" || event.answer_status !== 200) return null;
  const body = event.body || {};
  const chatId = (body.message && body.message.chat && body.message.chat.id) || body.roomID;
  const message = (state.messages || []).find((m) => m.chat_id === chatId && m.text === text && m.received_at_ms >= event.received_at_ms);
  return { text, message };
}

function eventSummary(body) {
  const message = body.message || {};
  const user = message.user ? userName(message.user) : "";
  if (body.event === "callback_query") {
    const query = message.callback_query || {};
    return `${user} clicked on ${(query.message || {}).message_id || "?"}: ${query.data}`;
  }
  if (body.event === "message") return `${user}: “${message.text}”`;
  if (body.roomID) return `room ${body.roomID}${body.data && body.data.message ? `: “${body.data.message}”` : ""}`;
  return "";
}

function drawEvents() {
  const events = (state.events || []).slice().reverse();
  $("inspector-off").hidden = state.inspector;
  $("event-count").textContent = events.length || "";
  const key = JSON.stringify([events, state.messages && state.messages.length, state.deliveries]);
  redraw("events", key, $("events"), () => events.map((event, i) => {
    const body = event.body || {};
    const verdict = (event.signature || {}).verdict || "unchecked";
    const label = { verified: "✓ signature verified", invalid: "✗ signature invalid", unchecked: "– signature not checked" }[verdict];
    const reply = botReplyOf(event);
    const replyContext = reply && reply.message ? (delivery(reply.message) || {}).context : null;
    const id = (event.headers || []).find(([name]) => name === "webhook-id");
    const key = `event:${id ? id[1] : i}:${event.received_at_ms}`;
    return h("li", { class: "event", "data-verdict": verdict, "data-event": body.event || "" },
      h("details", { "data-key": key },
        h("summary", { "data-key": `${key}:summary` },
          h("span", { class: "kind" }, `${body.event || "request"} → ${event.app || "/webhook"}`),
          h("span", { class: "when" }, time(event.received_at_ms)),
          h("span", { class: `verdict ${verdict}`, title: (event.signature || {}).reason || "" }, label),
          h("span", { class: event.answer_status === 200 ? "" : "error" }, `answered ${event.answer_status || "?"}`),
          h("span", { class: "line" }, eventSummary(body)),
          reply ? h("span", { class: "line" }, "bot reply: ",
            reply.message ? `${reply.message.message_id} “${reply.text}”` : `“${reply.text}” (not in the chat yet)`,
            replyContext ? " · " : null, statusChip(replyContext)) : null),
        h("div", { class: "detail" },
          (event.signature || {}).reason ? h("p", { class: `verdict ${verdict}` }, event.signature.reason) : null,
          h("p", { class: "sub" }, `The receiver's own check: ${event.signature_checked ? (event.verified ? "verified" : `invalid (${event.invalid_reason})`) : "not checked (no secret)"}`),
          h("h3", {}, "Headers"),
          h("table", {}, h("tbody", {}, (event.headers || []).map(([name, value]) => h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, value))))),
          h("h3", {}, "Body"),
          h("pre", {}, JSON.stringify(body, null, 2)),
          h("h3", {}, `The app's answer: ${event.answer_status}`),
          h("pre", {}, JSON.stringify(event.answer_body, null, 2)))));
  }));
}

function drawDeliveries() {
  const all = Object.entries(state.deliveries || {}).sort(([, a], [, b]) => b.first_seen_ms - a.first_seen_ms);
  const byContext = new Map((state.messages || []).map((m) => [m.client_message_id, m]));
  const key = JSON.stringify([all, state.messages && state.messages.length]);
  redraw("deliveries", key, $("deliveries"), () => all.length ? all.map(([id, d]) => {
    const m = byContext.get(id);
    const context = d.context || {};
    return h("tr", { "data-context": id },
      h("td", {}, h("div", {}, m ? m.text : `${d.text || ""} (not in FChat)`), h("small", { class: "sub" }, `${d.app || "?"} · ${id}`),
        context.last_error ? h("div", { class: "error" }, context.last_error) : null),
      h("td", {}, context.status ? h("span", { class: `status ${context.status}` }, context.status) : "…"),
      h("td", {}, context.attempts ?? ""),
      h("td", {}, context.fchat_message_id ? h("code", {}, context.fchat_message_id) : ""));
  }) : [h("tr", {}, h("td", { colspan: 4, class: "sub" }, "No messages yet."))]);
}

const FAULT_FIELDS = [
  ["fault-latency", (f) => f.latency_ms > 0, (f) => ({ latency_ms: num("fault-latency-ms") })],
  ["fault-fail", (f) => f.fail_next > 0, () => ({ fail_next: num("fault-fail-next"), fail_status: num("fault-fail-status") })],
  ["fault-rate", (f) => f.rate_limit_next > 0, () => ({ rate_limit_next: num("fault-rate-next"), retry_after: num("fault-retry-after") })],
  ["fault-drop", (f) => f.drop_next > 0, () => ({ drop_next: num("fault-drop-next") })],
  ["fault-hang", (f) => f.hang_next > 0, () => ({ hang_next: num("fault-hang-next") })],
  ["fault-edits", (f) => f.refuse_edits, () => ({ refuse_edits: true })],
];

function num(id) { return Math.max(0, parseInt($(id).value, 10) || 0); }

function drawFaults() {
  const f = state.faults || {};
  const bits = [];
  if (f.latency_ms) bits.push(`${f.latency_ms} ms latency`);
  if (f.fail_next) bits.push(`${f.fail_next} failures (${f.fail_status}) pending`);
  if (f.rate_limit_next) bits.push(`${f.rate_limit_next} rate limits pending`);
  if (f.drop_next) bits.push(`${f.drop_next} dropped connections pending`);
  if (f.hang_next) bits.push(`${f.hang_next} hangs pending`);
  if (f.refuse_edits) bits.push("edits refused");
  $("faults-now").textContent = `Now: ${bits.length ? bits.join(", ") : "FChat behaves normally"}.`;
  const key = JSON.stringify(f);
  if (drawn.get("faults") === key) return;
  drawn.set("faults", key);
  // A switch follows FChat while the form is not being edited.
  if (!$("faults-form").contains(document.activeElement)) {
    for (const [id, on] of FAULT_FIELDS) $(id).checked = Boolean(on(f));
  }
}

function drawLimits() {
  const l = state.limits || {};
  $("limits-now").textContent = l.enabled
    ? `Now: on, ${l.per_chat_per_second}/s per chat, ${l.per_group_per_minute}/min per group, ${l.global_per_second}/s per bot; ${l.refused} calls refused.`
    : `Now: off; ${l.refused || 0} calls refused while they were on.`;
  if (document.activeElement !== $("limits-on")) $("limits-on").checked = Boolean(l.enabled);
}

async function switchLimits() {
  const answer = $("limits-on").checked
    ? await call("PUT", "/_console/api/limits", {})
    : await call("DELETE", "/_console/api/limits");
  if (answer.status !== 200) $("limits-now").textContent = `Refused: ${(answer.json || {}).description}`;
  document.activeElement.blur();
  poll();
}

function drawForms() {
  const apps = state.apps || [];
  const key = JSON.stringify(apps);
  if (drawn.get("apps") !== key) {
    drawn.set("apps", key);
    const chosen = $("send-app").value;
    $("send-app").replaceChildren(
      ...apps.map((app) => h("option", { value: app.name }, app.name)),
      h("option", { value: "" }, "another app…"));
    if (chosen && apps.some((a) => a.name === chosen)) $("send-app").value = chosen;
    $("send-other").hidden = $("send-app").value !== "";
  }
  const emails = JSON.stringify(users());
  if (drawn.get("users") !== emails) {
    drawn.set("users", emails);
    $("known-emails").replaceChildren(...users().map((u) => h("option", { value: u.email }, userName(u))));
    if (!$("send-email").value && users().length) $("send-email").value = users()[0].email;
    const who = $("room-user").value;
    $("room-user").replaceChildren(...users().map((u) => h("option", { value: u.email }, userName(u))));
    if (who) $("room-user").value = who;
  }
}

function draw() {
  const list = chats();
  if (selected === null || !list.some((c) => c.id === selected)) {
    const busy = list.find((c) => c.items.length);
    selected = busy ? busy.id : (list[0] ? list[0].id : null);
  }
  drawForms();
  drawChatList(list);
  drawChat(list);
  drawEvents();
  drawDeliveries();
  drawFaults();
  drawLimits();
  const problems = state.problems || [];
  $("problems").hidden = problems.length === 0;
  $("problems").textContent = problems.join(" · ");
}

function select(id) {
  selected = id;
  history.replaceState(null, "", `#chat=${encodeURIComponent(id)}`);
  draw();
  $("compose-text").focus();
}

// ---- acting ---------------------------------------------------------------------------

function report(el, text, bad) {
  el.textContent = text;
  el.classList.toggle("error", Boolean(bad));
}

function actResult(what, result) {
  if (result.status === 200 && result.json) {
    const { status, body } = result.json;
    report($("act-result"), `${what}: the gateway answered ${status} ${JSON.stringify(body)}`, status !== 200);
  } else {
    report($("act-result"), `${what}: ${(result.json && result.json.description) || `error ${result.status}`}`, true);
  }
  poll();
}

async function act(what, path, body) {
  report($("act-result"), `${what}…`);
  setTimeout(poll, 150); // the action shows before the gateway answers
  try {
    actResult(what, await call("POST", path, body));
  } catch (error) {
    report($("act-result"), `${what}: ${error}`, true);
  }
}

function click(chat, m, index, label) {
  const body = { message_id: m.message_id, button: index };
  if (chat.kind !== "private") body.email = $("room-user").value;
  act(`Clicked “${label}”`, "/_console/api/act/click", body);
}

async function compose(event) {
  event.preventDefault();
  const text = $("compose-text").value;
  const chat = chats().find((c) => c.id === selected);
  if (!text.trim() || !chat) return;
  $("compose-text").value = "";
  if (chat.kind === "private") {
    await act("Sent", "/_console/api/act/text", { email: chat.sub, text });
  } else {
    await act("Sent", "/_console/api/act/room", { room_id: chat.id, event: "MESSAGE", email: $("room-user").value, text });
  }
}

function room(event) {
  const chat = chats().find((c) => c.id === selected);
  if (!chat) return;
  act(event === "JOIN_ROOM" ? "Joined" : "Left", "/_console/api/act/room", { room_id: chat.id, event, email: $("room-user").value });
}

function buttonsFrom(text, action) {
  return text.split("\n").map((line) => line.split("|").map((cell) => cell.trim()).filter(Boolean).map((cell) => {
    const [label, ...data] = cell.split("=");
    const name = label.trim();
    const value = data.length ? data.join("=").trim() : name;
    return { text: name, callbackData: action ? { action, data: value } : value };
  })).filter((row) => row.length);
}

async function send(event) {
  event.preventDefault();
  const result = $("send-result");
  const known = $("send-app").value;
  const body = {
    app: known || $("send-other-name").value.trim(),
    text: $("send-text").value,
  };
  if (!known) body.token = $("send-token").value;
  const toUser = $("send-to-user").checked;
  if (toUser) body.email = $("send-email").value.trim();
  // Buttons go to a user or to the group alike (the group route's extension).
  body.buttons = buttonsFrom($("send-buttons").value, $("send-action").value.trim());
  if ($("send-single-use").checked) body.singleUse = true;
  if ($("send-parameters").value.trim()) {
    try { body.parameters = JSON.parse($("send-parameters").value); } catch (error) {
      report(result, `Parameters are not JSON: ${error.message}`, true);
      return;
    }
  }
  report(result, "Sending…");
  try {
    const answer = await call("POST", "/_console/api/send", body);
    const api = answer.json || {};
    if (answer.status === 200 && api.status === 200) {
      report(result, `Queued: context ${api.body.context.id}. ${api.body.description}.`);
      const user = users().find((u) => u.email.toLowerCase() === (body.email || "").toLowerCase());
      if (user) selected = user.id;
    } else {
      const description = (api.body && api.body.description) || api.description || `error ${answer.status}`;
      report(result, `Refused (${api.status || answer.status}): ${description}`, true);
    }
  } catch (error) {
    report(result, String(error), true);
  }
  poll();
}

async function applyFaults(event) {
  event.preventDefault();
  let faults = {};
  for (const [id, , value] of FAULT_FIELDS) if ($(id).checked) faults = { ...faults, ...value() };
  const answer = await call("PUT", "/_console/api/faults", faults);
  $("faults-now").textContent = answer.status === 200 ? "Applied." : `Refused: ${(answer.json || {}).description}`;
  document.activeElement.blur();
  poll();
}

async function resetFaults() {
  await call("DELETE", "/_console/api/faults");
  for (const [id] of FAULT_FIELDS) $(id).checked = false;
  poll();
}

// Tabs, with the arrow keys moving between them.
function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const show = (tab) => {
    for (const other of tabs) {
      const on = other === tab;
      other.setAttribute("aria-selected", on ? "true" : "false");
      other.tabIndex = on ? 0 : -1;
      $(other.getAttribute("aria-controls")).hidden = !on;
    }
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => show(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      show(next);
      next.focus();
    });
  });
}

// ---- metrics: the functions' EMF documents as series ----------------------------------

function drawMetrics(view) {
  const rows = $("metrics-rows");
  rows.replaceChildren();
  const number = (value) => (value === undefined ? "" : String(Math.round(value * 10) / 10));
  for (const series of view.series || []) {
    const tr = document.createElement("tr");
    const unit = series.unit === "Milliseconds" ? " (ms)" : "";
    for (const text of [series.metric + unit, series.dimensions, series.samples,
      number(series.sum), number(series.p50), number(series.p90), number(series.p99)]) {
      const td = document.createElement("td");
      td.textContent = String(text);
      tr.append(td);
    }
    rows.append(tr);
  }
  const refused = view.refused ? `; ${view.refused} refused by the EMF check: ${view.first_refusal}` : "";
  $("metrics-summary").textContent = `${view.documents || 0} documents${refused}`;
}

async function pollMetrics() {
  const answer = await call("GET", "/_console/api/metrics");
  if (answer.status === 200 && answer.json) drawMetrics(answer.json);
}

// ---- polling -------------------------------------------------------------------------

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    const answer = await call("GET", "/_console/api/state");
    if (answer.status !== 200 || !answer.json) throw new Error(`state answered ${answer.status}`);
    state = answer.json;
    if (!$("panel-metrics").hidden) await pollMetrics();
    $("live").textContent = `live · ${time(Date.now())}`;
    $("live").classList.add("on");
    draw();
  } catch (error) {
    $("live").textContent = `not connected: ${error.message}`;
    $("live").classList.remove("on");
  } finally {
    polling = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  // A link to a chat: /_console#chat=<chat id>.
  if (location.hash.startsWith("#chat=")) selected = decodeURIComponent(location.hash.slice(6));
  setupTabs();
  $("tab-metrics").addEventListener("click", pollMetrics);
  $("composer").addEventListener("submit", compose);
  $("send-form").addEventListener("submit", send);
  $("send-app").addEventListener("change", () => { $("send-other").hidden = $("send-app").value !== ""; });
  for (const radio of document.getElementsByName("send-to")) {
    radio.addEventListener("change", () => { $("send-email").disabled = !$("send-to-user").checked; });
  }
  $("join-room").addEventListener("click", () => room("JOIN_ROOM"));
  $("leave-room").addEventListener("click", () => room("DELETE_MEMBERS"));
  $("faults-form").addEventListener("submit", applyFaults);
  $("faults-reset").addEventListener("click", resetFaults);
  $("limits-on").addEventListener("change", switchLimits);
  poll();
  setInterval(poll, POLL_MS);
});
