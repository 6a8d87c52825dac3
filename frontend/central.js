// The central station: one tile per room with an active session, live.
//
// State is kept per session, replaced by every snapshot and changed by each message after it;
// tiles are built once per session and then only have their text and data attributes updated,
// so flashing animations run undisturbed. Tests and styles key on the data attributes:
// data-room, data-session-id, data-priority (none|low|medium|high), data-kind, data-state
// (the top alarm's signal state), data-live (true|partial|false: partial when some of the room's
// monitors are silent), data-mode, data-phase; each monitor of a room with several has its own
// link state (data-monitor, data-live) in the tile's header.
//
// After a reconnect the snapshot brings the current values and alarms; what happened while this
// screen was not live is backfilled from the REST API (readings since the last one seen, and the
// session's marks), so the sparklines have no holes.

import { me } from "./account.js";
import { alarmBand } from "./alarm-band.js";
import { clock, connectLive, notLiveBanner } from "./live.js";
import { DEFAULT_SCHEDULE, DeviceClock, doseFromMarks, nibpDue, phaseAt } from "./session.js";
import { soundButton, sound, soundingPriority } from "./sound.js";
import { BucketSeries, WINDOW_S, sparkline } from "./sparkline.js";
import {
  PRIORITY_RANK, STALE_S, WATERMARK, alarmParam, byRoom, el, nibpBox, num, paramBox, renderNibp, setAttr, setData,
  setHidden, setText, sortAlarms, syncFlash,
} from "./vitals.js";

const TILE_PARAMS = ["HR", "SpO2", "RR", "EtCO2"];
const TREND_PARAMS = ["HR", "SpO2"];

const rooms = new Map(); // session_id -> room
const grid = document.getElementById("grid");
const empty = document.getElementById("empty");
const summary = document.getElementById("summary");
const serverClock = document.getElementById("server-clock");
document.getElementById("server-clock").before(soundButton());

let conn = null;
let permissions = [];
const permitted = me.then((who) => {
  permissions = who.permissions;
}).catch(() => {});
const now = () => (conn ? conn.serverNow() : Date.now() / 1000);

// State ---------------------------------------------------------------------------------------

function roomFrom(info) {
  return {
    info, values: {}, nibp: null, attempt: null, alarms: new Map(), tile: null,
    clock: new DeviceClock(), dose: null, infusionEnd: null, lastT: -Infinity,
    trend: Object.fromEntries(TREND_PARAMS.map((p) => [p, new BucketSeries()])),
  };
}

function applySnapshot(msg) {
  const seen = new Set();
  for (const r of msg.rooms) {
    seen.add(r.session_id);
    const room = rooms.get(r.session_id) ?? roomFrom(r);
    room.info = r;
    room.values = {};
    let newest = -Infinity;
    for (const [param, v] of Object.entries(r.values || {})) {
      room.values[param] = { value: v.value, seen: v.t };
      if (v.t > newest) newest = v.t;
    }
    // A live room's newest value is recent: it gives the device clock until messages arrive.
    if (showing(r) && Number.isFinite(newest) && room.clock.offset === null) room.clock.observe(newest, msg.server_time);
    if (r.dose !== undefined) room.dose = r.dose; // when the server sends it with the room
    room.nibp = r.nibp;
    room.attempt = r.nibp_last_attempt;
    room.alarms = new Map((r.alarms || []).map((a) => [a.id, a]));
    rooms.set(r.session_id, room);
    backfill(room);
  }
  for (const [id, room] of rooms) {
    if (!seen.has(id)) {
      room.tile?.remove();
      rooms.delete(id);
    }
  }
  renderAll();
}

/**
 * Fill in what this screen missed: readings since the newest one it has (the last 30 min on
 * first load) for the sparklines, and the marks (dose, end of infusion) for the phase. Roles
 * without the history permission (a kiosk) see live data only.
 */
async function backfill(room) {
  await permitted;
  if (!permissions.includes("view_history")) return;
  const id = room.info.session_id;
  const deviceNow = room.clock.now(now());
  const start = Number.isFinite(room.lastT) ? room.lastT : deviceNow - WINDOW_S;
  const params = TREND_PARAMS.map((p) => `params=${p}`).join("&");
  try {
    const [readings, marks] = await Promise.all([
      fetch(`/api/sessions/${id}/readings?start=${start}&${params}`, { cache: "no-store" }).then((r) => r.json()),
      fetch(`/api/sessions/${id}/marks`, { cache: "no-store" }).then((r) => r.json()),
    ]);
    if (rooms.get(id) !== room) return; // the session ended meanwhile
    for (const r of readings.numerics || []) addTrend(room, r.t, r.param, r.value);
    if (Array.isArray(marks)) {
      const { dose, infusionEnd } = doseFromMarks(marks);
      if (dose !== null) room.dose = dose;
      if (infusionEnd !== null) room.infusionEnd = infusionEnd;
    }
    room.sparkAt = -Infinity; // draw the backfilled points now
    render(room);
  } catch (err) {
    console.warn(`backfill of session ${id} failed`, err);
  }
}

function addTrend(room, t, param, value) {
  if (room.trend[param]) room.trend[param].add(t, value);
  if (t > room.lastT) room.lastT = t;
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
      room.clock.observe(msg.t, seen);
      for (const [param, value] of Object.entries(msg.values)) {
        room.values[param] = { value, seen };
        addTrend(room, msg.t, param, value);
      }
      schedule(room);
      break;
    }
    case "nibp": {
      const room = roomFor(msg);
      if (!room) break;
      room.clock.observe(msg.t, now());
      const reading = { t: msg.t, status: msg.status, sys: msg.sys, dia: msg.dia, map: msg.map, reason: msg.reason };
      room.attempt = reading;
      if (msg.status === "ok") room.nibp = reading;
      schedule(room);
      break;
    }
    case "status": {
      const room = roomFor(msg);
      if (!room) break;
      const statuses = (room.info.statuses || []).filter((s) => s.code !== msg.code);
      if (msg.active) statuses.push({ code: msg.code, active: true, text: msg.text, t: msg.t });
      room.info.statuses = statuses;
      schedule(room);
      break;
    }
    case "alarm": {
      const room = roomFor(msg.alarm);
      if (!room) break;
      if (msg.event === "cleared") room.alarms.delete(msg.alarm.id);
      else room.alarms.set(msg.alarm.id, msg.alarm);
      schedule(room);
      updateSound();
      break;
    }
    case "mark": {
      const room = rooms.get(msg.mark?.session_id);
      if (!room) break;
      if (msg.mark.what === "dose" && room.dose === null) room.dose = msg.mark.t;
      if (msg.mark.what === "infusion end" && room.infusionEnd === null) room.infusionEnd = msg.mark.t;
      schedule(room);
      break;
    }
    case "room": {
      const room = roomFor(msg.room);
      if (!room) break;
      if (showing(room.info) && !showing(msg.room)) room.values = {}; // never show pre-dropout values as current
      room.info = { ...room.info, ...msg.room };
      schedule(room);
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

// Messages mark their room's tile for redrawing at the next animation frame, so a burst of
// readings (a monitor resending, or many rooms at once) costs one redraw per tile per frame.
const dirty = new Set();
let frameRequested = false;

function schedule(room) {
  dirty.add(room);
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    for (const r of dirty) if (rooms.get(r.info.session_id) === r) render(r);
    dirty.clear();
  });
}

function buildTile(room) {
  const tile = el("a", "tile");
  const parts = {};
  parts.watermark = el("div", "watermark");
  const head = el("header", "tile-head");
  parts.name = el("span", "room-name");
  parts.phase = el("span", "phase");
  parts.statuses = el("span", "statuses");
  parts.mode = el("span", "mode-badge");
  parts.link = el("span", "link-state");
  parts.monitors = el("span", "tile-monitors");
  head.append(parts.name, parts.phase, parts.statuses, parts.mode, parts.link, parts.monitors);

  parts.band = alarmBand();

  const values = el("div", "values");
  parts.params = {};
  for (const p of TILE_PARAMS) {
    const box = paramBox(p);
    values.append(box);
    parts.params[p] = { box, value: box.querySelector(".value") };
  }
  parts.nibpRow = nibpBox();
  parts.nibpDue = el("span", "nibp-due");
  parts.nibpRow.querySelector(".nibp-line").append(parts.nibpDue);
  values.append(parts.nibpRow);
  parts.values = values;

  parts.spark = sparkline();
  parts.offline = el("div", "offline");
  tile.append(parts.watermark, head, parts.band, values, parts.spark, parts.offline);
  room.tile = tile;
  room.parts = parts;
  return tile;
}

function setFlash(node, priority, steady = false) {
  if (node.dataset.priority !== priority) {
    node.dataset.priority = priority;
    syncFlash(node, priority);
  }
  setData(node, "steady", steady ? "true" : "false");
}

function render(room) {
  if (!room.tile) buildTile(room);
  const { tile, parts, info } = room;
  const t = now();
  const deviceNow = room.clock.now(t);
  if (!tile.getAttribute("href")) tile.href = `/room/${info.session_id}`;
  setData(tile, "room", info.room);
  setData(tile, "sessionId", String(info.session_id));
  setData(tile, "mode", info.mode);
  setData(tile, "live", info.live ? "true" : info.partial ? "partial" : "false");
  setText(parts.name, info.room);

  const mark = WATERMARK[info.mode] || "";
  setText(parts.watermark, mark);
  setText(parts.mode, mark);
  setHidden(parts.watermark, !mark);
  setHidden(parts.mode, !mark);

  // Link state: the monitors', as the server judges it (each heard within 3 s). With several
  // monitors in a room, a silent one is named: the others streaming must not hide it.
  if (!info.monitor) setText(parts.link, "NO MONITOR");
  else if (info.live) setText(parts.link, "● LIVE");
  else if (info.partial) setText(parts.link, `◐ ${info.silent.join(", ")} OFFLINE`);
  else setText(parts.link, "OFFLINE");
  renderMonitors(parts.monitors, info.monitors || []);

  // The session's phase and the minutes since the dose.
  const phase = phaseAt(room.dose, room.infusionEnd, deviceNow);
  setData(tile, "phase", phase.key);
  setData(parts.phase, "phase", phase.key);
  setText(parts.phase, phase.minutes === null ? phase.label : `${phase.label} · ${phase.minutes} min`);
  setAttr(parts.phase, "title", phase.minutes === null ? "No dose marked yet" : `${phase.minutes} min since the dose`);

  // Alarms: the top one in the band with its priority prefix and state; the tile takes its colour.
  const alarms = sortAlarms([...room.alarms.values()]);
  const top = alarms[0] ?? null;
  setData(tile, "priority", top ? top.priority : "none");
  setData(tile, "kind", top ? top.kind : "");
  setData(tile, "state", top ? top.state : "");
  parts.band.show(top, alarms.length, deviceNow, t);

  // The parameter each physiological alarm is about is marked with that alarm's priority while
  // its condition lasts (not once latched: the value is back in range, the band says LATCHED);
  // steady (not flashing) once every alarm on it has been acknowledged.
  const alarmed = {};
  for (const a of alarms) {
    if (a.state === "latched") continue;
    let p = alarmParam(a);
    if (p === "SBP" || p === "DBP" || p === "MAP") p = "NIBP";
    if (!p) continue;
    const cur = alarmed[p];
    const silent = a.state === "acknowledged";
    if (!cur || PRIORITY_RANK[a.priority] > PRIORITY_RANK[cur.priority]) alarmed[p] = { priority: a.priority, steady: silent };
    else if (a.priority === cur.priority && !silent) cur.steady = false;
  }

  // Values: only while the monitor is live, and only values refreshed recently.
  for (const p of TILE_PARAMS) {
    const v = room.values[p];
    const fresh = showing(info) && v && t - v.seen <= STALE_S;
    setText(parts.params[p].value, fresh ? num(v.value) : "---");
    setHidden(parts.params[p].box, p === "EtCO2" && !(p in room.values));
    setFlash(parts.params[p].box, alarmed[p]?.priority || "none", alarmed[p]?.steady);
  }
  setFlash(parts.nibpRow, alarmed.NIBP?.priority || "none", alarmed.NIBP?.steady);
  renderNibp(parts.nibpRow, room.nibp, room.attempt, deviceNow);
  // The cuff schedule: the age turns to OVERDUE once the interval plus the grace has passed.
  const due = nibpDue(DEFAULT_SCHEDULE, room.dose, room.nibp?.t ?? null, deviceNow);
  const overdue = Boolean(due && due.overdue);
  setData(parts.nibpRow, "overdue", overdue ? "true" : "false");
  setText(parts.nibpDue, overdue ? "OVERDUE" : "");
  setHidden(parts.nibpDue, !overdue);
  setAttr(parts.nibpRow, "title", due ? `cuff every ${due.intervalMin} min; next due by ${clock(due.dueAt).slice(0, 5)}` : "");

  // The sparkline moves 10 s a bucket: redrawn at most once a second.
  if (!(room.sparkAt > t - 1)) {
    room.sparkAt = t;
    parts.spark.update(room.trend, deviceNow);
  }

  const offline = !showing(info);
  setHidden(parts.offline, !offline);
  if (offline) {
    setText(parts.offline, info.monitor
      ? `MONITOR OFFLINE — last data ${clock(info.last_heard)}`
      : "NO MONITOR CONNECTED");
  }
  const statuses = (info.statuses || []).filter((s) => s.active);
  setText(parts.statuses, statuses.map((s) => s.text || s.code.replace(/_/g, " ").toUpperCase()).join(" · "));
  setHidden(parts.statuses, statuses.length === 0);
}

/** Values are shown while at least one monitor of the room is live (each value greys on its own
 * once it is not refreshed); the link state says which monitors are silent. */
function showing(info) {
  return Boolean(info && (info.live || info.partial));
}

/** One link state per monitor, for a room with several; rebuilt only when one changes. */
function renderMonitors(node, monitors) {
  const key = monitors.length > 1 ? monitors.map((m) => `${m.monitor_id}:${m.live}`).join("|") : "";
  if (node.dataset.key === key) return;
  node.dataset.key = key;
  node.replaceChildren(...(key ? monitors.map((m) => {
    const chip = el("span", "tile-monitor", `${m.live ? "●" : "○"} ${m.monitor_id}`);
    chip.dataset.monitor = m.monitor_id;
    chip.dataset.live = m.live ? "true" : "false";
    chip.title = m.live ? "live" : `OFFLINE — last data ${clock(m.last_heard)}`;
    return chip;
  }) : []));
  setHidden(node, !key);
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

/** The sound: the highest alarm in a sounding state in any room; a lost connection sounds too. */
function updateSound() {
  if (conn && !conn.live) {
    sound.set("medium", "connection to server lost");
    return;
  }
  const all = [];
  for (const room of rooms.values()) all.push(...room.alarms.values());
  sound.set(soundingPriority(all), "alarm");
}

/** Once a second: the clock, ages, stale values and the summary line. */
function tick() {
  const t = now();
  serverClock.textContent = clock(t);
  const counts = { high: 0, medium: 0, low: 0 };
  for (const room of rooms.values()) {
    render(room);
    for (const a of room.alarms.values()) counts[a.priority] += 1;
  }
  const parts = [`${rooms.size} room${rooms.size === 1 ? "" : "s"}`];
  for (const p of ["high", "medium", "low"]) if (counts[p]) parts.push(`${counts[p]} ${p}`);
  summary.textContent = parts.join(" · ");
  updateSound();
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
setInterval(tick, 1000); // also while not live: ages keep growing, the clock keeps running
