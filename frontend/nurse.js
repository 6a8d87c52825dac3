// The nurse view (/nurse): a phone-sized, alarm-first page. Every active alarm across the rooms,
// most urgent first (priority, then those nobody has acknowledged, then the longest waiting),
// each with its room, message, age and state and the buttons the role allows; browser
// notifications and sound for new medium and high alarms; escalated alarms stand out.
//
// Alarm cards are kept per alarm id and updated in place, so a button keeps its keyboard focus
// while the ages tick. After a reconnect the snapshot brings the alarms as they stand; one raised
// meanwhile is notified like any new one.

import {
  SERVER_CLOCK_RULES, alarmText, isEscalated, placeInOrder, priorityMarker, stateLabel, syncActions,
} from "./alarm-ui.js";
import { me } from "./account.js";
import { clock } from "./live.js";
import { soundButton, sound, soundingPriority } from "./sound.js";
import { startPush } from "./push.js";
import { connectStore, showing } from "./store.js";
import { PRIORITY_RANK, STALE_S, WATERMARK, byRoom, el, num, syncFlash } from "./vitals.js";

const NOTIFY_PRIORITIES = new Set(["medium", "high"]);
const PRIORITY_WORD = { high: "HIGH", medium: "MEDIUM", low: "LOW" };
// The events that call a nurse again to an alarm already shown.
const NOTIFY_EVENTS = new Set(["raised", "escalated", "reminded", "reminder"]);

// The nurse's rooms: those named in the address (`/nurse?rooms=Room 1,Room 2`), else those the
// roster assigns to this user now, else every room (see nurseRooms). Alarms and numerics of them
// only, and their settings (the audio pause): never a waveform (a phone on a ward network has no
// use for them).
const LISTED = new URLSearchParams(location.search).get("rooms")?.split(",").map((r) => r.trim()).filter(Boolean);
const KINDS = ["alarm", "numerics", "settings"];
const ROSTER_WAIT_MS = 5000;
let ROOMS = LISTED?.length ? LISTED : await nurseRooms();
const SUBSCRIPTION = () => ({ rooms: ROOMS, kinds: KINDS });
// Assignments change at hand-over and whenever a clinician edits the shift: asked again this often.
const ROSTER_EVERY_MS = 60_000;

const $ = (id) => document.getElementById(id);
const cards = new Map(); // alarm id -> card element
const notified = new Set(); // alarm ids (and escalations) already notified
let permissions = [];
let firstSnapshot = true;
window.__vwNotified = []; // what was notified, for tests and inspection

const { store, conn } = connectStore({ subscription: SUBSCRIPTION, onLiveChange: () => updateSound() });
const now = () => store.serverNow();

/** Every alarm shown, each with its room. */
function alarms() {
  const out = [];
  for (const room of store.rooms.values()) for (const a of room.alarms.values()) out.push({ a, room });
  return out;
}

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

store.subscribe((change) => {
  switch (change.part) {
    case "all":
      for (const { a } of alarms()) {
        // An alarm first seen in a snapshot after the first was raised while this page was away.
        if (!firstSnapshot) notify(a, "raised");
        else notified.add(a.id);
      }
      firstSnapshot = false;
      renderAll();
      markEscalations();
      break;
    case "alarm": {
      const { msg } = change;
      const a = store.room(change.sessionId)?.alarms.get(msg.alarm.id);
      if (a && NOTIFY_EVENTS.has(msg.event)) notify(a, msg.event);
      renderAlarms();
      break;
    }
    case "heartbeat":
      tick();
      break;
    case "numerics":
      break; // drawn on the next tick
    default:
      renderAll();
  }
});

/**
 * Which of the alarms now shown were escalated before this page heard of them (their row says
 * only the priority they have now): from each session's alarm log, where the role may read it.
 */
async function markEscalations() {
  await permitted;
  if (!permissions.includes("view_history")) return;
  const sessions = new Set(alarms().map(({ room }) => room.session_id));
  await Promise.all([...sessions].map(async (id) => {
    try {
      const r = await fetch(`/api/sessions/${id}/alarm-log`, { cache: "no-store" });
      if (!r.ok) return;
      for (const e of await r.json()) {
        const room = store.room(id);
        if (room && room.alarms.has(e.alarm_id) && e.event === "escalated") room.escalated.add(e.alarm_id);
      }
    } catch {
      // the next snapshot tries again
    }
  }));
  renderAlarms();
}

/** A browser notification for a new (or escalated, or re-announced) medium or high alarm. */
function notify(alarm, event) {
  if (!alarm || !NOTIFY_PRIORITIES.has(alarm.priority)) return;
  const key = `${alarm.id}:${event === "raised" ? "raised" : `${event}:${alarm.priority}:${alarm.updated_device}`}`;
  if (notified.has(key) || (event === "raised" && notified.has(alarm.id))) return;
  notified.add(key);
  notified.add(alarm.id);
  const room = store.room(alarm.session_id)?.room ?? "";
  const title = `${room}: ${event === "escalated" ? "ESCALATED " : ""}${PRIORITY_WORD[alarm.priority]} alarm`;
  window.__vwNotified.push({ id: alarm.id, event, priority: alarm.priority, title, body: alarmText(alarm) });
  if (window.__vwNotified.length > 100) window.__vwNotified.shift();
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const n = new Notification(title, {
      body: alarmText(alarm), tag: `vitalwatch-alarm-${alarm.id}`, renotify: true,
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

function order({ a, room: ra }, { a: b, room: rb }) {
  return (
    PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] ||
    (a.state === "acknowledged") - (b.state === "acknowledged") ||
    isEscalated(b, rb.escalated) - isEscalated(a, ra.escalated) ||
    a.raised_device - b.raised_device // the longest waiting first
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
  const sorted = alarms().sort(order);
  const shown = new Set(sorted.map(({ a }) => a.id));
  for (const [id, card] of cards) {
    if (!shown.has(id)) {
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
  for (const { a, room } of sorted) {
    let card = cards.get(a.id);
    if (!card) {
      card = buildCard(a);
      cards.set(a.id, card);
    }
    const p = card.parts;
    const clockNow = SERVER_CLOCK_RULES.has(a.rule) ? sNow : store.deviceNow(room);
    const escalated = isEscalated(a, room.escalated);
    if (card.dataset.priority !== a.priority) syncFlash(card, a.priority);
    card.dataset.priority = a.priority;
    card.dataset.state = a.state;
    card.dataset.kind = a.kind;
    card.dataset.escalated = escalated ? "true" : "false";
    card.dataset.room = room.room;
    p.prio.textContent = `${priorityMarker(a.priority)} ${PRIORITY_WORD[a.priority]}`;
    p.room.textContent = room.room;
    p.age.textContent = ageText(clockNow - a.raised_device);
    p.age.title = `raised ${clock(a.raised_device)}`;
    p.text.textContent = a.message;
    p.tech.hidden = a.kind !== "technical";
    p.escalated.hidden = !escalated;
    p.escalated.textContent = a.tier === "nurse" ? "ESCALATED TO NURSE" : "ESCALATED";
    let label = stateLabel(a, clockNow, room.settings?.signals.audio_pause_s);
    if (a.state === "acknowledged" && a.acknowledged_by) label += ` by ${a.acknowledged_by}`;
    p.state.textContent = label || "ACTIVE — NOT ACKNOWLEDGED";
    p.state.dataset.state = a.state;
    const mark = WATERMARK[room.mode] || "";
    p.mode.textContent = mark;
    p.mode.hidden = !mark;
    syncActions(p.actions, a, permissions, actionError);
  }
  placeInOrder(list, sorted.map(({ a }) => cards.get(a.id)));
  const counts = { high: 0, medium: 0, low: 0 };
  for (const { a } of sorted) counts[a.priority] += 1;
  const count = $("alarm-count");
  const top = sorted[0]?.a.priority ?? "none";
  count.dataset.priority = top;
  const prefix = priorityMarker(top);
  count.textContent = sorted.length ? `${prefix} ${sorted.length} alarm${sorted.length === 1 ? "" : "s"}` : "No alarms";
  count.title = ["high", "medium", "low"].filter((p) => counts[p]).map((p) => `${counts[p]} ${p}`).join(" · ");
  document.title = `${document.body.dataset.live === "false" ? "NOT LIVE — " : ""}${sorted.length ? `(${sorted.length}) ` : ""}vitalwatch — alarms`;
  updateSound();
}

const roomItems = new Map(); // session id -> its list item, updated in place (keeps focus)

function renderRooms() {
  const list = $("rooms");
  for (const [id, li] of roomItems) {
    if (!store.room(id)) {
      li.remove();
      roomItems.delete(id);
    }
  }
  list.querySelector(".n-empty")?.remove();
  const ordered = [...store.rooms.values()].sort(byRoom);
  if (!ordered.length) list.append(el("li", "n-empty", "No active sessions"));
  for (const room of ordered) {
    const info = room;
    const t = store.deviceNow(room);
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
      const v = room.latest[p];
      return showing(room) && v && t - v.t_device <= STALE_S ? num(v.value) : "---";
    };
    li.dataset.live = info.live ? "true" : "false";
    li.parts.link.textContent = info.room;
    // Another instance's room (a negative alias) has no room page here (docs/cluster.md).
    if (info.session_id > 0) li.parts.link.href = `/room/${info.session_id}`;
    else li.parts.link.removeAttribute("href");
    li.parts.state.textContent = info.live ? "LIVE" : (info.monitors || []).length ? "OFFLINE" : "NO MONITOR";
    li.parts.hr.textContent = `HR ${value("HR")}`;
    li.parts.spo2.textContent = `SpO₂ ${value("SpO2")}`;
  }
  placeInOrder(list, ordered.map((r) => roomItems.get(r.session_id)));
}

function renderAll() {
  renderAlarms();
  renderRooms();
}

function updateSound() {
  if (conn && !conn.live) sound.set("medium", "connection to server lost");
  else sound.set(soundingPriority(store.allAlarms()), "alarm");
}

function tick() {
  $("server-clock").textContent = clock(now()).slice(0, 5);
  renderAll();
}

/**
 * The rooms the roster assigns to the logged-in user now (GET /api/roster/mine), said in
 * #roster-note with the shift(s) and when each ends; null (every room) when none are assigned,
 * or the roster cannot be read, said as well: a nurse must never think a room is covered by this
 * page when it is not.
 */
async function nurseRooms() {
  const note = document.getElementById("roster-note");
  let mine = null;
  try {
    // Bounded: this page connects only once it knows its rooms, and a server that never answers
    // must still get its NOT LIVE banner.
    const r = await fetch("/api/roster/mine", { cache: "no-store", signal: AbortSignal.timeout(ROSTER_WAIT_MS) });
    if (r.ok) mine = await r.json();
  } catch {
    // said below; the page still shows every room
  }
  note.dataset.state = !mine ? "unavailable" : mine.rooms.length ? "assigned" : "unassigned";
  if (!mine?.rooms.length) {
    note.textContent = mine ? "No rooms assigned to you — showing all rooms" : "Roster unavailable — showing all rooms";
    return null;
  }
  const shifts = mine.shifts.map((s) => `shift ${s.name} until ${clock(s.ends).slice(0, 5)}`).join("; ");
  note.textContent = `Your rooms: ${mine.rooms.join(", ")}  (${shifts})`;
  return mine.rooms;
}

/** Follow the roster while the address names no rooms: a changed assignment resubscribes. */
function followRoster() {
  if (LISTED?.length) return;
  setInterval(async () => {
    const rooms = await nurseRooms();
    if (JSON.stringify(rooms) !== JSON.stringify(ROOMS)) {
      ROOMS = rooms;
      conn.resubscribe(SUBSCRIPTION);
    }
  }, ROSTER_EVERY_MS);
}

// Start ---------------------------------------------------------------------------------------

setInterval(tick, 1000);
followRoster();
// Alarms on the locked phone (frontend/push.js): separate from the open page's own alarms,
// which work whatever push can do.
startPush().catch((e) => console.warn("alarms on this phone:", e));
