// The central station: one tile per room with an active session, live.
//
// The rooms' state is the page's feed store (store.js): the page subscribes to every room's
// numerics, cuff readings, device statuses, alarms, marks and settings (no waveforms: a tile
// draws none), and redraws a tile when the store says its room changed. Tiles are built once per
// session and then only have their text and data attributes updated, so flashing animations run
// undisturbed. Tests and styles key on the data attributes: data-room, data-session-id,
// data-priority (none|low|medium|high), data-kind, data-state (the top alarm's signal state),
// data-live (true|partial|false: partial when some of the room's monitors are silent), data-mode,
// data-phase; each monitor of a room with several has its own link state (data-monitor,
// data-live) in the tile's header.
//
// After a reconnect the snapshot brings the current values and alarms; what happened while this
// screen was not live is backfilled from the REST API (readings since the last one seen, and the
// session's marks), so the sparklines have no holes.

import { me } from "./account.js";
import { alarmBand } from "./alarm-band.js";
import { clock } from "./live.js";
import { doseFromMarks, nibpDue, phaseAt } from "./session.js";
import { soundButton, sound, soundingPriority } from "./sound.js";
import { BucketSeries, WINDOW_S, sparkline } from "./sparkline.js";
import { connectStore, showing } from "./store.js";
import {
  PRIORITY_RANK, STALE_S, WATERMARK, alarmBox, byRoom, el, nibpBox, num, paramBox, renderNibp, setAttr, setData,
  setHidden, setText, sortAlarms, syncFlash,
} from "./vitals.js";

const TILE_PARAMS = ["HR", "SpO2", "RR", "EtCO2"];
const TREND_PARAMS = ["HR", "SpO2"];
// What a tile draws from; `rooms` null: every room, including those that start later.
const SUBSCRIPTION = { rooms: null, kinds: ["numerics", "nibp", "status", "alarm", "mark", "settings"] };

const views = new Map(); // session_id -> the tile and its sparkline series
const grid = document.getElementById("grid");
const empty = document.getElementById("empty");
const summary = document.getElementById("summary");
const serverClock = document.getElementById("server-clock");
document.getElementById("server-clock").before(soundButton());

let permissions = [];
// The sites this user sees (null: every site). More than one: the tiles are grouped under a
// header per site; one: the grid looks as it always has.
let userSites = [];
const siteAlerts = el("div", "site-alerts");
siteAlerts.id = "site-alerts";
siteAlerts.setAttribute("role", "alert");
grid.before(siteAlerts);
const siteHeads = new Map(); // site -> its header in the grid
const permitted = me.then((who) => {
  permissions = who.permissions;
  userSites = who.sites === undefined ? [] : who.sites;
  renderAll();
}).catch(() => {});

const { store, conn } = connectStore({ subscription: SUBSCRIPTION, onLiveChange: () => updateSound() });
const now = () => store.serverNow();

// State ---------------------------------------------------------------------------------------

function viewOf(room) {
  let view = views.get(room.session_id);
  if (!view) {
    view = {
      sessionId: room.session_id, tile: null, parts: null, lastT: -Infinity, sparkAt: -Infinity,
      trend: Object.fromEntries(TREND_PARAMS.map((p) => [p, new BucketSeries()])),
    };
    views.set(room.session_id, view);
  }
  return view;
}

function dropView(sessionId) {
  views.get(sessionId)?.tile?.remove();
  views.delete(sessionId);
}

store.subscribe((change) => {
  switch (change.part) {
    case "all":
      for (const id of views.keys()) if (!store.room(id)) dropView(id);
      for (const room of store.rooms.values()) backfill(room);
      renderAll();
      break;
    case "heartbeat":
      tick();
      break;
    case "site_link":
      tick(); // the banner at once, not at the next second
      break;
    case "session_started":
      renderAll();
      break;
    case "session_ended":
      dropView(change.sessionId);
      renderAll();
      break;
    case "numerics": {
      const view = viewOf(store.room(change.sessionId));
      for (const [param, r] of Object.entries(change.msg.readings)) addTrend(view, r.t_device, param, r.value);
      schedule(change.sessionId);
      break;
    }
    case "alarm":
      schedule(change.sessionId);
      updateSound();
      break;
    default:
      schedule(change.sessionId);
  }
});

/**
 * Fill in what this screen missed: readings since the newest one it has (the last 30 min on
 * first load) for the sparklines, and the marks (dose, end of infusion) for the phase. Roles
 * without the history permission (a kiosk) see live data only.
 */
async function backfill(room) {
  await permitted;
  if (!permissions.includes("view_history")) return;
  const id = room.session_id;
  // Another instance's room (a negative alias, docs/cluster.md): its history is on that instance.
  if (id < 0) return;
  const view = viewOf(room);
  const start = Number.isFinite(view.lastT) ? view.lastT : store.deviceNow(room) - WINDOW_S;
  const params = TREND_PARAMS.map((p) => `params=${p}`).join("&");
  try {
    const [readings, marks] = await Promise.all([
      fetch(`/api/sessions/${id}/readings?start=${start}&${params}`, { cache: "no-store" }).then((r) => r.json()),
      fetch(`/api/sessions/${id}/marks`, { cache: "no-store" }).then((r) => r.json()),
    ]);
    const current = store.room(id);
    if (!current || views.get(id) !== view) return; // the session ended meanwhile
    for (const r of readings.numerics || []) addTrend(view, r.t, r.param, r.value);
    if (Array.isArray(marks)) {
      const { dose, infusionEnd } = doseFromMarks(marks);
      if (dose !== null && current.dose_device == null) current.dose_device = dose;
      if (infusionEnd !== null) current.infusion_end_device = infusionEnd;
    }
    view.sparkAt = -Infinity; // draw the backfilled points now
    render(current);
  } catch (err) {
    console.warn(`backfill of session ${id} failed`, err);
  }
}

function addTrend(view, t, param, value) {
  if (view.trend[param]) view.trend[param].add(t, value);
  if (t > view.lastT) view.lastT = t;
}

// Tiles ---------------------------------------------------------------------------------------

// Messages mark their room's tile for redrawing at the next animation frame, so a burst of
// readings (a monitor resending, or many rooms at once) costs one redraw per tile per frame.
const dirty = new Set();
let frameRequested = false;

function schedule(sessionId) {
  dirty.add(sessionId);
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    for (const id of dirty) {
      const room = store.room(id);
      if (room) render(room);
    }
    dirty.clear();
  });
}

function buildTile(view) {
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
  view.tile = tile;
  view.parts = parts;
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
  const view = viewOf(room);
  if (!view.tile) buildTile(view);
  const { tile, parts } = view;
  const info = room;
  const settings = room.settings;
  const t = now();
  const deviceNow = store.deviceNow(room);
  // Another instance's room (a negative alias) has no room page here (docs/cluster.md).
  if (!tile.getAttribute("href") && info.session_id > 0) tile.href = `/room/${info.session_id}`;
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
  if (!(info.monitors || []).length) setText(parts.link, "NO MONITOR");
  else if (info.live) setText(parts.link, "● LIVE");
  else if (info.partial) setText(parts.link, `◐ ${info.silent.join(", ")} OFFLINE`);
  else setText(parts.link, "OFFLINE");
  renderMonitors(parts.monitors, info.monitors || []);

  // The session's phase and the minutes since the dose.
  const phase = phaseAt(settings?.timeline, room.dose_device, room.infusion_end_device, deviceNow);
  setData(tile, "phase", phase.key);
  setData(parts.phase, "phase", phase.key);
  // Discharge readiness, compact: "discharge: 4/6" (never "ready" while a medium or high alarm
  // is signalled: the server says so in `ready`).
  const d = room.discharge;
  const readiness = d ? ` · discharge: ${d.ready ? "ready" : `${d.met}/${d.total}`}` : "";
  setText(parts.phase, (phase.minutes === null ? phase.label : `${phase.label} · ${phase.minutes} min`) + readiness);
  setData(parts.phase, "discharge", d ? (d.ready ? "ready" : `${d.met}/${d.total}`) : "");
  setAttr(parts.phase, "title", phase.minutes === null ? "No dose marked yet" : `${phase.minutes} min since the dose`);

  // Alarms: the top one in the band with its priority prefix and state; the tile takes its colour.
  const alarms = sortAlarms([...room.alarms.values()]);
  const top = alarms[0] ?? null;
  setData(tile, "priority", top ? top.priority : "none");
  setData(tile, "kind", top ? top.kind : "");
  setData(tile, "state", top ? top.state : "");
  parts.band.show(top, alarms.length, deviceNow, t, settings?.signals.audio_pause_s);

  // The parameter each physiological alarm is about is marked with that alarm's priority while
  // its condition lasts (not once latched: the value is back in range, the band says LATCHED);
  // steady (not flashing) once every alarm on it has been acknowledged.
  const alarmed = {};
  for (const a of alarms) {
    if (a.state === "latched") continue;
    const p = alarmBox(a);
    if (!p) continue;
    const cur = alarmed[p];
    const silent = a.state === "acknowledged";
    if (!cur || PRIORITY_RANK[a.priority] > PRIORITY_RANK[cur.priority]) alarmed[p] = { priority: a.priority, steady: silent };
    else if (a.priority === cur.priority && !silent) cur.steady = false;
  }

  // Values: only while the monitor is live, and only readings recent on the device's clock.
  for (const p of TILE_PARAMS) {
    const v = room.latest[p];
    const fresh = showing(info) && v && deviceNow - v.t_device <= STALE_S;
    setText(parts.params[p].value, fresh ? num(v.value) : "---");
    setHidden(parts.params[p].box, p === "EtCO2" && !(p in room.latest));
    setFlash(parts.params[p].box, alarmed[p]?.priority || "none", alarmed[p]?.steady);
  }
  setFlash(parts.nibpRow, alarmed.NIBP?.priority || "none", alarmed.NIBP?.steady);
  renderNibp(parts.nibpRow, room.nibp, room.nibp_last_attempt, deviceNow);
  // The session's cuff schedule: the age turns to OVERDUE once the interval plus the grace has
  // passed (where rule T3 raises its alarm on the same schedule).
  const due = nibpDue(settings?.nibp_schedule, room.dose_device, room.nibp?.t_device ?? null, deviceNow);
  const overdue = Boolean(due && due.overdue);
  setData(parts.nibpRow, "overdue", overdue ? "true" : "false");
  setText(parts.nibpDue, overdue ? "OVERDUE" : "");
  setHidden(parts.nibpDue, !overdue);
  setAttr(parts.nibpRow, "title", due ? `cuff every ${due.intervalMin} min; next due by ${clock(due.dueAt).slice(0, 5)}` : "");

  // The sparkline moves 10 s a bucket: redrawn at most once a second.
  if (!(view.sparkAt > t - 1)) {
    view.sparkAt = t;
    parts.spark.update(view.trend, deviceNow);
  }

  const offline = !showing(info);
  setHidden(parts.offline, !offline);
  if (offline) {
    setText(parts.offline, (info.monitors || []).length
      ? `MONITOR OFFLINE — last data ${clock(info.last_heard_server)}`
      : "NO MONITOR CONNECTED");
  }
  const statuses = (info.statuses || []).filter((s) => s.active);
  setText(parts.statuses, statuses.map((s) => s.text || s.code.replace(/_/g, " ").toUpperCase()).join(" · "));
  setHidden(parts.statuses, statuses.length === 0);
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
    chip.title = m.live ? "live" : `OFFLINE — last data ${clock(m.last_heard_server)}`;
    return chip;
  }) : []));
  setHidden(node, !key);
}

function grouped() {
  return userSites === null || userSites.length > 1;
}

function siteHead(site) {
  let head = siteHeads.get(site);
  if (!head) {
    head = el("h2", "site-head", site);
    head.dataset.site = site;
    siteHeads.set(site, head);
  }
  return head;
}

function renderAll() {
  const bySite = (a, b) => (a.site < b.site ? -1 : a.site > b.site ? 1 : byRoom(a, b));
  const ordered = [...store.rooms.values()].sort(grouped() ? bySite : byRoom);
  const shown = new Set();
  for (const room of ordered) {
    render(room);
    if (grouped() && !shown.has(room.site)) {
      shown.add(room.site);
      grid.append(siteHead(room.site));
    }
    const tile = viewOf(room).tile;
    tile.dataset.site = room.site;
    grid.append(tile); // re-appending in order sorts the grid
  }
  for (const [site, head] of siteHeads) if (!shown.has(site)) head.remove();
  grid.dataset.grouped = String(grouped() && shown.size > 0);
  layout(ordered.length);
  tick();
}

/** A loud banner per site whose link is lost: no monitor of it heard for N s. */
function renderSiteLinks(t) {
  const links = [...store.siteLinks.values()].sort((a, b) => (a.site < b.site ? -1 : 1));
  siteAlerts.replaceChildren(...links.map((link) => {
    const p = el("p", "site-link-lost",
      `SITE LINK LOST: ${link.site} — no monitor heard for ${Math.max(0, Math.round(t - link.last_heard_server))} s`);
    p.dataset.site = link.site;
    p.title = link.title;
    return p;
  }));
  siteAlerts.hidden = links.length === 0;
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
  // A site's lost link is a high technical condition (the rules file's site_link_lost rule).
  if (store.siteLinks.size) {
    sound.set("high", "site link lost");
    return;
  }
  sound.set(soundingPriority(store.allAlarms()), "alarm");
}

/** Once a second: the clock, ages, stale values and the summary line. */
function tick() {
  const t = now();
  serverClock.textContent = clock(t);
  renderSiteLinks(t);
  const counts = { high: 0, medium: 0, low: 0 };
  for (const room of store.rooms.values()) {
    render(room);
    for (const a of room.alarms.values()) counts[a.priority] += 1;
  }
  const n = store.rooms.size;
  const parts = [`${n} room${n === 1 ? "" : "s"}`];
  for (const p of ["high", "medium", "low"]) if (counts[p]) parts.push(`${counts[p]} ${p}`);
  summary.textContent = parts.join(" · ");
  updateSound();
}

// Start ---------------------------------------------------------------------------------------

setInterval(tick, 1000); // also while not live: ages keep growing, the clock keeps running
