// The nurse view (/nurse): a phone-sized, alarm-first page. Every active alarm across the rooms,
// most urgent first (priority, then those nobody has acknowledged, then the longest waiting),
// each with its room, message, age and state and the buttons the role allows; browser
// notifications and sound for new medium and high alarms; escalated alarms stand out.
//
// Alarm cards are kept per alarm id and updated in place, so a button keeps its keyboard focus
// while the ages tick. After a reconnect the snapshot brings the alarms as they stand; one raised
// meanwhile is notified like any new one.

import { SERVER_CLOCK_RULES, isEscalated, placeInOrder, stateLabel, syncActions } from "./alarm-ui.js";
import { me } from "./account.js";
import { clock, connectLive, notLiveBanner } from "./live.js";
import { DeviceClock } from "./session.js";
import { soundButton, sound, soundingPriority } from "./sound.js";
import { PRIORITY_RANK, STALE_S, WATERMARK, byRoom, el, num, syncFlash } from "./vitals.js";

const NOTIFY_PRIORITIES = new Set(["medium", "high"]);
const PRIORITY_WORD = { high: "HIGH", medium: "MEDIUM", low: "LOW" };

const $ = (id) => document.getElementById(id);
const rooms = new Map(); // session_id -> {info, values, clock}
const alarms = new Map(); // alarm id -> alarm row (+ escalated)
const cards = new Map(); // alarm id -> card element
const notified = new Set(); // alarm ids (and escalations) already notified
let permissions = [];
let firstSnapshot = true;
let conn = null;
const now = () => (conn ? conn.serverNow() : Date.now() / 1000);
window.__vwNotified = []; // what was notified, for tests and inspection

// Sound and notifications: one tap turns on both (browsers allow each only after a gesture).
const soundToggle = soundButton(() => {
  if ("Notification" in window && Notification.permission === "default") {
    Notification.requestPermission().then(renderNotifyState, renderNotifyState);
  }
});
$("enable-bar").prepend(soundToggle);

function renderNotifyState() {
  const node = $("notify-state");
  if (!("Notification" in window)) node.textContent = "Notifications: not supported by this browser";
  else if (Notification.permission === "granted") node.textContent = "Notifications: on";
  else if (Notification.permission === "denied") node.textContent = "Notifications: blocked in browser settings";
  else node.textContent = "Notifications: off (enable with the button)";
  node.dataset.state = "Notification" in window ? Notification.permission : "unsupported";
}
renderNotifyState();

const permitted = me.then((who) => {
  permissions = who.permissions;
  renderAlarms();
}).catch(() => {});

// State ---------------------------------------------------------------------------------------

function roomFor(sessionId, info = null) {
  if (!rooms.has(sessionId)) rooms.set(sessionId, { info: info ?? { session_id: sessionId, room: "" }, values: {}, clock: new DeviceClock() });
  const room = rooms.get(sessionId);
  if (info) room.info = { ...room.info, ...info };
  return room;
}

function applySnapshot(msg) {
  const seen = new Set();
  alarms.clear();
  for (const r of msg.rooms) {
    seen.add(r.session_id);
    const room = roomFor(r.session_id, r);
    room.values = {};
    let newest = -Infinity;
    for (const [p, v] of Object.entries(r.values || {})) {
      room.values[p] = { value: v.value, seen: v.t };
      newest = Math.max(newest, v.t);
    }
    if (r.live && Number.isFinite(newest) && room.clock.offset === null) room.clock.observe(newest, msg.server_time);
    for (const a of r.alarms || []) {
      alarms.set(a.id, a);
      // An alarm first seen in a snapshot after the first was raised while this page was away.
      if (!firstSnapshot) notify(a, "raised");
      else notified.add(a.id);
    }
  }
  for (const id of rooms.keys()) if (!seen.has(id)) rooms.delete(id);
  firstSnapshot = false;
  renderAll();
  markEscalations();
}

/**
 * Which of the alarms now shown were escalated before this page heard of them (their row says
 * only the priority they have now): from each session's alarm log, where the role may read it.
 */
async function markEscalations() {
  await permitted;
  if (!permissions.includes("view_history")) return;
  const sessions = new Set([...alarms.values()].map((a) => a.session_id));
  await Promise.all([...sessions].map(async (id) => {
    try {
      const r = await fetch(`/api/sessions/${id}/alarm-log`, { cache: "no-store" });
      if (!r.ok) return;
      for (const e of await r.json()) {
        const a = alarms.get(e.alarm_id);
        if (a && e.event === "escalated") a.escalated = true;
      }
    } catch {
      // the next snapshot tries again
    }
  }));
  renderAlarms();
}

function handle(msg) {
  switch (msg.type) {
    case "alarm": {
      const a = msg.alarm;
      roomFor(a.session_id, { room: msg.room });
      const before = alarms.get(a.id);
      if (msg.event === "cleared") {
        alarms.delete(a.id);
      } else {
        alarms.set(a.id, { ...a, escalated: before?.escalated || msg.event === "escalated" });
      }
      if (msg.event === "raised" || msg.event === "escalated" || msg.event === "reminder") notify(alarms.get(a.id), msg.event);
      renderAlarms();
      break;
    }
    case "numerics": {
      const room = roomFor(msg.session_id, { room: msg.room, mode: msg.mode });
      const seen = now();
      room.clock.observe(msg.t, seen);
      for (const [p, value] of Object.entries(msg.values)) room.values[p] = { value, seen };
      break;
    }
    case "room":
      roomFor(msg.room.session_id, msg.room);
      renderRooms();
      break;
    case "session":
      if (msg.event === "started") roomFor(msg.room.session_id, msg.room);
      else if (msg.event === "ended") {
        rooms.delete(msg.session_id);
        for (const [id, a] of alarms) if (a.session_id === msg.session_id) alarms.delete(id);
      }
      renderAll();
      break;
    case "heartbeat":
      tick();
      break;
    default:
      break;
  }
}

/** A browser notification for a new (or escalated, or re-announced) medium or high alarm. */
function notify(alarm, event) {
  if (!alarm || !NOTIFY_PRIORITIES.has(alarm.priority)) return;
  const key = `${alarm.id}:${event === "raised" ? "raised" : `${event}:${alarm.priority}:${alarm.updated}`}`;
  if (notified.has(key) || (event === "raised" && notified.has(alarm.id))) return;
  notified.add(key);
  notified.add(alarm.id);
  const room = rooms.get(alarm.session_id)?.info.room ?? "";
  const title = `${room}: ${event === "escalated" ? "ESCALATED " : ""}${PRIORITY_WORD[alarm.priority]} alarm`;
  window.__vwNotified.push({ id: alarm.id, event, priority: alarm.priority, title, body: alarm.message });
  if (window.__vwNotified.length > 100) window.__vwNotified.shift();
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const n = new Notification(title, {
      body: alarm.message, tag: `vitalwatch-alarm-${alarm.id}`, renotify: true,
      requireInteraction: alarm.priority === "high", silent: false,
    });
    n.onclick = () => {
      window.focus();
      cards.get(alarm.id)?.focus();
      n.close();
    };
  } catch {
    // Some mobile browsers allow notifications only from a service worker: the page still sounds.
  }
}

// Rendering -----------------------------------------------------------------------------------

function order(a, b) {
  return (
    PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] ||
    (a.state === "acknowledged") - (b.state === "acknowledged") ||
    isEscalated(b) - isEscalated(a) ||
    a.raised - b.raised // the longest waiting first
  );
}

function ageText(seconds) {
  if (!Number.isFinite(seconds) || seconds < 60) return `${Math.max(0, Math.floor(seconds || 0))} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")}`;
}

function actionError(text) {
  const p = $("action-error");
  p.textContent = text;
  p.hidden = !text;
  if (text) setTimeout(() => { if (p.textContent === text) p.hidden = true; }, 8000);
}

function buildCard(a) {
  const li = el("li", "nurse-alarm");
  li.tabIndex = -1;
  li.dataset.alarmId = a.id;
  const parts = {
    prio: el("span", "n-prio"), room: el("span", "n-room"), age: el("span", "n-age"),
    text: el("div", "n-text"), tags: el("div", "n-tags"), tech: el("span", "n-tag tech-tag", "TECH"),
    escalated: el("span", "n-tag n-escalated", "ESCALATED"), state: el("span", "n-tag n-state"),
    mode: el("span", "n-tag n-mode"), actions: el("div", "alarm-actions n-actions"),
  };
  const top = el("div", "n-top");
  top.append(parts.prio, parts.room, parts.age);
  parts.tags.append(parts.escalated, parts.tech, parts.state, parts.mode);
  li.append(top, parts.text, parts.tags, parts.actions);
  li.parts = parts;
  return li;
}

function renderAlarms() {
  const list = $("alarms");
  const sorted = [...alarms.values()].sort(order);
  for (const [id, card] of cards) {
    if (!alarms.has(id)) {
      card.remove();
      cards.delete(id);
    }
  }
  list.querySelector(".n-empty")?.remove();
  if (!sorted.length) {
    const li = el("li", "n-empty", "No active alarms");
    list.append(li);
  }
  const sNow = now();
  for (const a of sorted) {
    let card = cards.get(a.id);
    if (!card) {
      card = buildCard(a);
      cards.set(a.id, card);
    }
    const room = rooms.get(a.session_id);
    const p = card.parts;
    const clockNow = SERVER_CLOCK_RULES.has(a.rule) || !room ? sNow : room.clock.now(sNow);
    if (card.dataset.priority !== a.priority) syncFlash(card, a.priority);
    card.dataset.priority = a.priority;
    card.dataset.state = a.state;
    card.dataset.kind = a.kind;
    card.dataset.escalated = isEscalated(a) ? "true" : "false";
    card.dataset.room = room?.info.room ?? "";
    p.prio.textContent = `${a.message.match(/^\*+/)?.[0] ?? ""} ${PRIORITY_WORD[a.priority]}`;
    p.room.textContent = room?.info.room ?? `session ${a.session_id}`;
    p.age.textContent = ageText(clockNow - a.raised);
    p.age.title = `raised ${clock(a.raised)}`;
    p.text.textContent = a.message.replace(/^\*+\s*/, "");
    p.tech.hidden = a.kind !== "technical";
    p.escalated.hidden = !isEscalated(a);
    p.escalated.textContent = a.tier === "nurse" ? "ESCALATED TO NURSE" : "ESCALATED";
    let label = stateLabel(a, clockNow);
    if (a.state === "acknowledged" && a.acknowledged_by) label += ` by ${a.acknowledged_by}`;
    p.state.textContent = label || "ACTIVE — NOT ACKNOWLEDGED";
    p.state.dataset.state = a.state;
    const mark = WATERMARK[room?.info.mode] || "";
    p.mode.textContent = mark;
    p.mode.hidden = !mark;
    syncActions(p.actions, a, permissions, actionError);
  }
  placeInOrder(list, sorted.map((a) => cards.get(a.id)));
  const counts = { high: 0, medium: 0, low: 0 };
  for (const a of sorted) counts[a.priority] += 1;
  const count = $("alarm-count");
  const top = sorted[0]?.priority ?? "none";
  count.dataset.priority = top;
  const prefix = { high: "***", medium: "**", low: "*" }[top] ?? "";
  count.textContent = sorted.length ? `${prefix} ${sorted.length} alarm${sorted.length === 1 ? "" : "s"}` : "No alarms";
  count.title = ["high", "medium", "low"].filter((p) => counts[p]).map((p) => `${counts[p]} ${p}`).join(" · ");
  document.title = `${document.body.dataset.live === "false" ? "NOT LIVE — " : ""}${sorted.length ? `(${sorted.length}) ` : ""}vitalwatch — alarms`;
  updateSound();
}

const roomItems = new Map(); // session id -> its list item, updated in place (keeps focus)

function renderRooms() {
  const list = $("rooms");
  for (const [id, li] of roomItems) {
    if (!rooms.has(id)) {
      li.remove();
      roomItems.delete(id);
    }
  }
  list.querySelector(".n-empty")?.remove();
  const ordered = [...rooms.values()].filter((r) => r.info.room).sort((a, b) => byRoom(a.info, b.info));
  if (!ordered.length) list.append(el("li", "n-empty", "No active sessions"));
  const t = now();
  for (const room of ordered) {
    const info = room.info;
    let li = roomItems.get(info.session_id);
    if (!li) {
      li = el("li");
      li.parts = {
        link: el("a", "n-room-link"), state: el("span", "n-link"),
        hr: el("span", "n-val n-hr"), spo2: el("span", "n-val n-spo2"),
      };
      li.append(li.parts.link, li.parts.state, li.parts.hr, li.parts.spo2);
      roomItems.set(info.session_id, li);
    }
    const value = (p) => {
      const v = room.values[p];
      return info.live && v && t - v.seen <= STALE_S ? num(v.value) : "---";
    };
    li.dataset.live = info.live ? "true" : "false";
    li.parts.link.textContent = info.room;
    li.parts.link.href = `/room/${info.session_id}`;
    li.parts.state.textContent = info.live ? "LIVE" : info.monitor ? "OFFLINE" : "NO MONITOR";
    li.parts.hr.textContent = `HR ${value("HR")}`;
    li.parts.spo2.textContent = `SpO₂ ${value("SpO2")}`;
  }
  placeInOrder(list, ordered.map((r) => roomItems.get(r.info.session_id)));
}

function renderAll() {
  renderAlarms();
  renderRooms();
}

function updateSound() {
  if (conn && !conn.live) sound.set("medium", "connection to server lost");
  else sound.set(soundingPriority([...alarms.values()]), "alarm");
}

function tick() {
  $("server-clock").textContent = clock(now()).slice(0, 5);
  renderAll();
}

// Start ---------------------------------------------------------------------------------------

const banner = notLiveBanner();
conn = connectLive({
  onSnapshot: applySnapshot,
  onMessage: handle,
  onLiveChange: (live, since, never) => {
    banner(live, since, never);
    updateSound();
  },
});
setInterval(tick, 1000);
