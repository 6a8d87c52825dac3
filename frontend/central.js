// The central station: one tile per room with an active session, live.
//
// State is kept per session, replaced whole by every snapshot and changed by each message after
// it; tiles are built once per session and then only have their text and data attributes updated,
// so flashing animations run undisturbed. Tests and styles key on the data attributes:
// data-room, data-session-id, data-priority (none|low|medium|high), data-kind, data-live, data-mode.

import { clock, connectLive, notLiveBanner } from "./live.js";
import {
  PRIORITY_RANK, STALE_S, WATERMARK, alarmParam, byRoom, el, nibpBox, num, paramBox, renderNibp, syncFlash,
  topAlarm,
} from "./vitals.js";

const TILE_PARAMS = ["HR", "SpO2", "RR", "EtCO2"];

const rooms = new Map(); // session_id -> room
const grid = document.getElementById("grid");
const empty = document.getElementById("empty");
const summary = document.getElementById("summary");
const serverClock = document.getElementById("server-clock");

let conn = null;
const now = () => (conn ? conn.serverNow() : Date.now() / 1000);

// State ---------------------------------------------------------------------------------------

function roomFrom(info) {
  return { info, values: {}, nibp: null, attempt: null, alarms: new Map(), tile: null };
}

function applySnapshot(msg) {
  const seen = new Set();
  for (const r of msg.rooms) {
    seen.add(r.session_id);
    const room = rooms.get(r.session_id) ?? roomFrom(r);
    room.info = r;
    room.values = {};
    for (const [param, v] of Object.entries(r.values || {})) {
      room.values[param] = { value: v.value, seen: v.t };
    }
    room.nibp = r.nibp;
    room.attempt = r.nibp_last_attempt;
    room.alarms = new Map((r.alarms || []).map((a) => [a.id, a]));
    rooms.set(r.session_id, room);
  }
  for (const [id, room] of rooms) {
    if (!seen.has(id)) {
      room.tile?.remove();
      rooms.delete(id);
    }
  }
  renderAll();
}

function roomFor(msg) {
  const id = msg.session_id;
  if (id === undefined || id === null) return null;
  if (!rooms.has(id)) {
    // A session we did not see start (should not happen after a snapshot): show it anyway.
    rooms.set(id, roomFrom({ session_id: id, room: msg.room, mode: msg.mode, live: true, statuses: [] }));
  }
  return rooms.get(id);
}

function handle(msg) {
  switch (msg.type) {
    case "numerics": {
      const room = roomFor(msg);
      if (!room) break;
      const seen = now();
      for (const [param, value] of Object.entries(msg.values)) room.values[param] = { value, seen };
      render(room);
      break;
    }
    case "nibp": {
      const room = roomFor(msg);
      if (!room) break;
      const reading = { t: msg.t, status: msg.status, sys: msg.sys, dia: msg.dia, map: msg.map, reason: msg.reason };
      room.attempt = reading;
      if (msg.status === "ok") room.nibp = reading;
      render(room);
      break;
    }
    case "status": {
      const room = roomFor(msg);
      if (!room) break;
      const statuses = (room.info.statuses || []).filter((s) => s.code !== msg.code);
      if (msg.active) statuses.push({ code: msg.code, active: true, text: msg.text, t: msg.t });
      room.info.statuses = statuses;
      render(room);
      break;
    }
    case "alarm": {
      const room = roomFor(msg.alarm);
      if (!room) break;
      if (msg.event === "cleared") room.alarms.delete(msg.alarm.id);
      else room.alarms.set(msg.alarm.id, msg.alarm);
      render(room);
      break;
    }
    case "room": {
      const room = roomFor(msg.room);
      if (!room) break;
      if (room.info.live && !msg.room.live) room.values = {}; // never show pre-dropout values as current
      room.info = msg.room;
      render(room);
      break;
    }
    case "session": {
      if (msg.event === "started") {
        const room = roomFor(msg.room);
        if (room) room.info = msg.room;
        renderAll();
      } else if (msg.event === "ended") {
        rooms.get(msg.session_id)?.tile?.remove();
        rooms.delete(msg.session_id);
        renderAll();
      }
      break;
    }
    case "heartbeat":
      tick();
      break;
    default:
      break; // waveforms are not drawn on the central station
  }
}

// Tiles ---------------------------------------------------------------------------------------

function buildTile(room) {
  const tile = el("a", "tile");
  const parts = {};
  parts.watermark = el("div", "watermark");
  const head = el("header", "tile-head");
  parts.name = el("span", "room-name");
  parts.statuses = el("span", "statuses");
  parts.mode = el("span", "mode-badge");
  parts.link = el("span", "link-state");
  head.append(parts.name, parts.statuses, parts.mode, parts.link);

  const band = el("div", "alarm-band");
  parts.band = band;
  parts.tech = el("span", "tech-tag", "TECH");
  parts.alarmText = el("span", "alarm-text");
  parts.more = el("span", "alarm-more");
  band.append(parts.tech, parts.alarmText, parts.more);

  const values = el("div", "values");
  parts.params = {};
  for (const p of TILE_PARAMS) {
    const box = paramBox(p);
    values.append(box);
    parts.params[p] = { box, value: box.querySelector(".value") };
  }
  parts.nibpRow = nibpBox();
  values.append(parts.nibpRow);
  parts.values = values;

  parts.offline = el("div", "offline");
  tile.append(parts.watermark, head, band, values, parts.offline);
  room.tile = tile;
  room.parts = parts;
  return tile;
}

function setFlash(node, priority) {
  if (node.dataset.priority !== priority) {
    node.dataset.priority = priority;
    syncFlash(node, priority);
  }
}

function render(room) {
  if (!room.tile) buildTile(room);
  const { tile, parts, info } = room;
  const t = now();
  tile.href = `/room/${info.session_id}`;
  tile.dataset.room = info.room;
  tile.dataset.sessionId = info.session_id;
  tile.dataset.mode = info.mode;
  tile.dataset.live = info.live ? "true" : "false";
  parts.name.textContent = info.room;

  const mark = WATERMARK[info.mode] || "";
  parts.watermark.textContent = mark;
  parts.mode.textContent = mark;
  parts.watermark.hidden = parts.mode.hidden = !mark;

  // Link state: the monitor's, as the server judges it (heard within 3 s).
  if (!info.monitor) parts.link.textContent = "NO MONITOR";
  else parts.link.textContent = info.live ? "● LIVE" : "OFFLINE";

  // Alarms: the top one in the band with its priority prefix; the tile takes its colour.
  const alarms = [...room.alarms.values()];
  const top = topAlarm(alarms);
  const priority = top ? top.priority : "none";
  tile.dataset.priority = priority;
  tile.dataset.kind = top ? top.kind : "";
  setFlash(parts.band, priority);
  parts.band.dataset.kind = top ? top.kind : "";
  parts.alarmText.textContent = top ? top.message : "";
  parts.tech.hidden = !top || top.kind !== "technical";
  parts.more.textContent = alarms.length > 1 ? `+${alarms.length - 1} more` : "";
  parts.band.title = alarms.map((a) => a.message).join("\n");

  // The parameter each physiological alarm is about is marked with that alarm's priority.
  const alarmed = {};
  for (const a of alarms) {
    let p = alarmParam(a);
    if (p === "SBP" || p === "DBP" || p === "MAP") p = "NIBP";
    if (p && (!alarmed[p] || PRIORITY_RANK[a.priority] > PRIORITY_RANK[alarmed[p]])) alarmed[p] = a.priority;
  }

  // Values: only while the monitor is live, and only values refreshed recently.
  for (const p of TILE_PARAMS) {
    const v = room.values[p];
    const fresh = info.live && v && t - v.seen <= STALE_S;
    parts.params[p].value.textContent = fresh ? num(v.value) : "---";
    parts.params[p].box.hidden = p === "EtCO2" && !(p in room.values);
    setFlash(parts.params[p].box, alarmed[p] || "none");
  }
  setFlash(parts.nibpRow, alarmed.NIBP || "none");
  renderNibp(parts.nibpRow, room.nibp, room.attempt, t);

  const offline = !info.live;
  parts.offline.hidden = !offline;
  if (offline) {
    parts.offline.textContent = info.monitor
      ? `MONITOR OFFLINE — last data ${clock(info.last_heard)}`
      : "NO MONITOR CONNECTED";
  }
  const statuses = (info.statuses || []).filter((s) => s.active);
  parts.statuses.textContent = statuses.map((s) => s.text || s.code.replace(/_/g, " ").toUpperCase()).join(" · ");
  parts.statuses.hidden = statuses.length === 0;
}

function renderAll() {
  const ordered = [...rooms.values()].sort((a, b) => byRoom(a.info, b.info));
  for (const room of ordered) {
    render(room);
    grid.append(room.tile); // re-appending in order sorts the grid
  }
  layout(ordered.length);
  tick();
}

/** Columns and rows so up to 16 tiles fill a 16:9 screen without scrolling. */
function layout(n) {
  const cols = n <= 1 ? 1 : n <= 4 ? 2 : n <= 9 ? 3 : 4;
  const rows = Math.max(1, Math.min(4, Math.ceil(n / cols)));
  grid.style.setProperty("--cols", cols);
  grid.style.setProperty("--rows", rows);
  grid.dataset.count = n;
  empty.hidden = n > 0;
}

/** Once a second: the clock, ages, stale values and the summary line. */
function tick() {
  const t = now();
  serverClock.textContent = clock(t);
  let counts = { high: 0, medium: 0, low: 0 };
  for (const room of rooms.values()) {
    render(room);
    for (const a of room.alarms.values()) counts[a.priority] += 1;
  }
  const parts = [`${rooms.size} room${rooms.size === 1 ? "" : "s"}`];
  for (const p of ["high", "medium", "low"]) if (counts[p]) parts.push(`${counts[p]} ${p}`);
  summary.textContent = parts.join(" · ");
}

// Start ---------------------------------------------------------------------------------------

conn = connectLive({
  onSnapshot: applySnapshot,
  onMessage: handle,
  onLiveChange: notLiveBanner(),
});
setInterval(tick, 1000); // also while not live: ages keep growing, the clock keeps running
