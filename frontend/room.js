// The room view (/room/{session_id}): the session's trends so far, updated live, its current
// values, its active alarms and its alarm history.
//
// Every snapshot (the first, and each one after a reconnect) reloads the session from the REST
// API and redraws, so a gap while not live is filled from what the server stored. Live readings
// that arrive while that load is in flight are held and applied after it, if newer.

import { clock, connectLive, notLiveBanner } from "./live.js";
import {
  PARAMS, STALE_S, WATERMARK, el, nibpBox, num, paramBox, renderNibp, sortAlarms, syncFlash,
} from "./vitals.js";

const Plotly = window.Plotly;
const SESSION_ID = Number(location.pathname.split("/").filter(Boolean).pop());
const MAX_POINTS = 20000; // per trace: more than 5 h of 1 Hz numerics
const FLUSH_MS = 100; // batch live points at 10 Hz
const CURRENT_PARAMS = ["HR", "SpO2", "RR", "EtCO2"];

// Trace order in the plot. Numerics are lines; cuff readings are markers.
const TRACES = ["HR", "SBP", "DBP", "MAP", "SpO2", "RR", "EtCO2"];
const TRACE = Object.fromEntries(TRACES.map((name, i) => [name, i]));
const COLOURS = {
  HR: "#36e27c", SBP: "#ffffff", DBP: "#ffffff", MAP: "#9fb0c0", SpO2: "#52c7ff", RR: "#f2f2f2", EtCO2: "#d9b8ff",
};
const PRIORITY_COLOUR = { high: "#ff2020", medium: "#ffd500", low: "#00d4ff" };
// The alarm strip's lanes, in paper coordinates above the HR/BP plot.
const STRIP = { low: [0.915, 0.932], medium: [0.936, 0.953], high: [0.957, 0.974] };

const $ = (id) => document.getElementById(id);
const trend = $("trend");

const state = {
  session: null, // the session row from the API
  info: null, // the room state from the live snapshot; null if the session is not active
  values: {},
  nibp: null,
  attempt: null,
  active: new Map(),
  history: new Map(),
  loading: null, // a Promise while the REST load runs
  held: [], // live messages received during a load
  lastT: -Infinity, // newest numerics time drawn
  pending: null, // points waiting for the next flush
  drawn: false,
  error: null, // why the session could not be loaded, shown until a load succeeds
};

let conn = null;
const now = () => (conn ? conn.serverNow() : Date.now() / 1000);

// Loading -------------------------------------------------------------------------------------

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function load() {
  const [session, readings, alarms] = await Promise.all([
    getJSON(`/api/sessions/${SESSION_ID}`),
    getJSON(`/api/sessions/${SESSION_ID}/readings`),
    getJSON(`/api/alarms?session_id=${SESSION_ID}`),
  ]);
  state.session = session;
  state.nibp = session.nibp;
  state.attempt = session.nibp_last_attempt;
  if (!state.info) {
    // An ended session has no live state: its stored last values are history, not current.
    state.values = {};
  }
  state.active = new Map((session.alarms || []).map((a) => [a.id, a]));
  state.history = new Map(alarms.map((a) => [a.id, a]));
  drawTrend(readings);
}

function onSnapshot(msg) {
  state.info = msg.rooms.find((r) => r.session_id === SESSION_ID) ?? null;
  state.values = {};
  if (state.info) {
    for (const [param, v] of Object.entries(state.info.values || {})) state.values[param] = { value: v.value, seen: v.t };
  }
  state.held = [];
  const loading = load()
    .then(() => {
      state.error = null;
      if (state.loading !== loading) return;
      const held = state.held;
      state.loading = null;
      state.held = [];
      for (const m of held) handle(m);
      renderAll();
    })
    .catch((err) => {
      if (state.loading === loading) state.loading = null;
      showError(err);
    });
  state.loading = loading;
  renderAll();
}

function showError(err) {
  console.error(err);
  state.error = `Could not load session ${SESSION_ID}: ${err.message}`;
  renderHeader();
}

// Live messages -------------------------------------------------------------------------------

function handle(msg) {
  if (msg.type === "heartbeat") return tick();
  const sid = msg.type === "alarm" ? msg.alarm.session_id : msg.type === "room" ? msg.room.session_id : msg.session_id;
  if (sid !== SESSION_ID) return;
  if (state.loading) {
    state.held.push(msg);
    return;
  }
  switch (msg.type) {
    case "numerics": {
      const seen = now();
      for (const [p, value] of Object.entries(msg.values)) state.values[p] = { value, seen };
      if (msg.t > state.lastT) {
        state.lastT = msg.t;
        const x = timeLabel(msg.t);
        for (const p of ["HR", "SpO2", "RR", "EtCO2"]) {
          if (p in msg.values) queuePoint(TRACE[p], x, msg.values[p]);
        }
      }
      renderCurrent();
      break;
    }
    case "nibp": {
      const reading = { t: msg.t, status: msg.status, sys: msg.sys, dia: msg.dia, map: msg.map, reason: msg.reason };
      state.attempt = reading;
      if (msg.status === "ok") {
        state.nibp = reading;
        const x = timeLabel(msg.t);
        queuePoint(TRACE.SBP, x, msg.sys);
        queuePoint(TRACE.DBP, x, msg.dia);
        queuePoint(TRACE.MAP, x, msg.map);
      }
      renderCurrent();
      break;
    }
    case "alarm": {
      if (msg.event === "cleared") state.active.delete(msg.alarm.id);
      else state.active.set(msg.alarm.id, msg.alarm);
      state.history.set(msg.alarm.id, msg.alarm);
      renderAlarms();
      drawAlarmShapes();
      break;
    }
    case "room": {
      if (state.info && state.info.live && !msg.room.live) state.values = {};
      state.info = { ...(state.info || {}), ...msg.room };
      renderAll();
      break;
    }
    case "status": {
      if (!state.info) break;
      const statuses = (state.info.statuses || []).filter((s) => s.code !== msg.code);
      if (msg.active) statuses.push({ code: msg.code, active: true, text: msg.text, t: msg.t });
      state.info.statuses = statuses;
      renderHeader();
      break;
    }
    case "session": {
      if (msg.event === "ended") {
        state.info = null;
        state.values = {};
        if (state.session) state.session.ended = now();
        renderAll();
      }
      break;
    }
    default:
      break;
  }
}

// Trend ---------------------------------------------------------------------------------------

/** A local-time label Plotly puts on a date axis as is (it has no time zones of its own). */
function timeLabel(t) {
  const d = new Date(t * 1000);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function drawTrend(readings) {
  const series = Object.fromEntries(TRACES.map((name) => [name, { x: [], y: [] }]));
  state.lastT = -Infinity;
  for (const r of readings.numerics) {
    if (!(r.param in series)) continue;
    series[r.param].x.push(timeLabel(r.t));
    series[r.param].y.push(r.value);
    if (r.t > state.lastT) state.lastT = r.t;
  }
  for (const r of readings.nibp) {
    if (r.status !== "ok") continue;
    const x = timeLabel(r.t);
    series.SBP.x.push(x); series.SBP.y.push(r.sys);
    series.DBP.x.push(x); series.DBP.y.push(r.dia);
    series.MAP.x.push(x); series.MAP.y.push(r.map);
  }
  for (const s of Object.values(series)) {
    if (s.x.length > MAX_POINTS) {
      s.x = s.x.slice(-MAX_POINTS);
      s.y = s.y.slice(-MAX_POINTS);
    }
  }
  const line = (name, yaxis, width = 2) => ({
    name: name === "SpO2" ? "SpO₂" : name === "EtCO2" ? "EtCO₂" : name,
    type: "scatter",
    mode: "lines",
    x: series[name].x,
    y: series[name].y,
    yaxis,
    connectgaps: false,
    line: { color: COLOURS[name], width },
    hovertemplate: `%{y:.0f} ${PARAMS[name]?.unit ?? "mmHg"}<extra>${name}</extra>`,
  });
  const marker = (name, symbol, size) => ({
    name, type: "scatter", mode: "markers", x: series[name].x, y: series[name].y, yaxis: "y",
    marker: { symbol, size, color: COLOURS[name], line: { width: 0 } },
    hovertemplate: `%{y:.0f} mmHg<extra>${name}</extra>`,
  });
  const data = [
    line("HR", "y", 2.5),
    marker("SBP", "triangle-down", 12),
    marker("DBP", "triangle-up", 12),
    marker("MAP", "circle", 7),
    line("SpO2", "y2", 2.5),
    line("RR", "y3"),
    line("EtCO2", "y3"),
  ];
  const axis = (domain, title, extra = {}) => ({
    domain, title: { text: title, font: { size: 13, color: "#8494a4" } }, gridcolor: "#1b242d", zeroline: false,
    tickfont: { size: 13 }, fixedrange: true, ...extra,
  });
  const layout = {
    paper_bgcolor: "#0b1117",
    plot_bgcolor: "#0b1117",
    font: { color: "#c9d3dc", family: "Liberation Sans, DejaVu Sans, Arial, sans-serif", size: 13 },
    margin: { l: 64, r: 18, t: 12, b: 34 },
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 0.985, yanchor: "bottom", font: { size: 13 }, bgcolor: "rgba(0,0,0,0)" },
    hovermode: "x unified",
    xaxis: { type: "date", gridcolor: "#1b242d", tickfont: { size: 13 }, anchor: "y3", showspikes: true, spikecolor: "#5b6b7b" },
    yaxis: axis([0.45, 0.9], "HR /min · BP mmHg", { rangemode: "tozero", autorangeoptions: { include: [0, 160] } }),
    yaxis2: axis([0.24, 0.41], "SpO₂ %", { autorangeoptions: { include: [90, 100] } }),
    yaxis3: axis([0, 0.2], "RR /min · EtCO₂", { rangemode: "tozero", autorangeoptions: { include: [0, 20] } }),
    annotations: [{
      text: "ALARMS", xref: "paper", yref: "paper", x: 0, y: (STRIP.low[0] + STRIP.high[1]) / 2,
      xanchor: "right", yanchor: "middle", xshift: -6, showarrow: false, font: { size: 11, color: "#8494a4" },
    }],
    shapes: alarmShapes(),
    uirevision: "keep", // zoom and pan survive live updates
  };
  const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"] };
  state.pending = null;
  Plotly.react(trend, data, layout, config);
  state.drawn = true;
}

function queuePoint(index, x, y) {
  if (!state.drawn) return;
  if (!state.pending) state.pending = new Map();
  if (!state.pending.has(index)) state.pending.set(index, { x: [], y: [] });
  const p = state.pending.get(index);
  p.x.push(x);
  p.y.push(y ?? null);
}

function flush() {
  if (!state.pending || !state.drawn) return;
  const indices = [...state.pending.keys()];
  const batch = [...state.pending.values()];
  state.pending = null;
  Plotly.extendTraces(trend, { x: batch.map((b) => b.x), y: batch.map((b) => b.y) }, indices, MAX_POINTS);
}

/** Alarm periods as bars in a strip above the trend, one lane per priority (high on top);
 * technical alarms hatched-looking by a thinner bar. */
function alarmShapes() {
  const tNow = now();
  return [...state.history.values()].map((a) => {
    const [y0, y1] = STRIP[a.priority];
    const inset = a.kind === "technical" ? (y1 - y0) * 0.3 : 0;
    return {
      type: "rect", xref: "x", yref: "paper", line: { width: 0 },
      x0: timeLabel(a.raised), x1: timeLabel(a.cleared ?? tNow), y0: y0 + inset, y1: y1 - inset,
      fillcolor: PRIORITY_COLOUR[a.priority], opacity: 0.9,
    };
  });
}

function drawAlarmShapes() {
  if (state.drawn) Plotly.relayout(trend, { shapes: alarmShapes() });
}

// Panels --------------------------------------------------------------------------------------

function renderAll() {
  renderHeader();
  renderCurrent();
  renderAlarms();
}

function renderHeader() {
  const s = state.session;
  const info = state.info;
  const room = info?.room ?? s?.room ?? "";
  const mode = info?.mode ?? s?.mode ?? "";
  const title = `vitalwatch — ${room || "room"}`;
  document.title = document.body.dataset.live === "false" ? `NOT LIVE — ${title}` : title;
  $("room-name").textContent = room || `Session ${SESSION_ID}`;
  const started = info?.started ?? s?.started;
  $("session-info").textContent = started ? `· session ${SESSION_ID} · started ${clock(started).slice(0, 5)}` : "";
  const mark = WATERMARK[mode] || "";
  for (const id of ["watermark", "mode-badge"]) {
    $(id).textContent = mark;
    $(id).hidden = !mark;
  }
  document.body.dataset.mode = mode;

  const box = $("room-state");
  box.className = "room-state";
  if (state.error) {
    box.textContent = state.error;
    box.classList.add("offline-state");
  } else if (s && s.ended) {
    box.textContent = `SESSION ENDED ${clock(s.ended)}`;
    box.classList.add("offline-state");
  } else if (!info) {
    box.textContent = s ? "" : "Loading…";
  } else if (!info.monitor) {
    box.textContent = "NO MONITOR CONNECTED";
    box.classList.add("offline-state");
  } else if (!info.live) {
    box.textContent = `MONITOR OFFLINE — last data ${clock(info.last_heard)}`;
    box.classList.add("offline-state");
  } else {
    const m = info.monitor;
    const statuses = (info.statuses || []).filter((x) => x.active).map((x) => x.text || x.code).join(" · ");
    box.textContent = `● Monitor live — ${m.model || m.monitor_id}${statuses ? ` — ${statuses}` : ""}`;
  }
  box.dataset.live = info && info.live ? "true" : "false";
}

function renderCurrent() {
  const box = $("current");
  if (!box.firstChild) {
    for (const p of CURRENT_PARAMS) box.append(paramBox(p));
    box.append(nibpBox());
  }
  const t = now();
  const live = Boolean(state.info && state.info.live);
  for (const p of CURRENT_PARAMS) {
    const v = state.values[p];
    const fresh = live && v && t - v.seen <= STALE_S;
    const node = box.querySelector(`[data-param="${p}"]`);
    node.querySelector(".value").textContent = fresh ? num(v.value) : "---";
    node.hidden = p === "EtCO2" && !(p in state.values);
  }
  renderNibp(box.querySelector('[data-param="NIBP"]'), state.nibp, state.attempt, t);
}

function renderAlarms() {
  const list = $("active-alarms");
  list.replaceChildren();
  const active = sortAlarms([...state.active.values()]);
  if (active.length === 0) list.append(el("li", "no-alarms", "No active alarms"));
  for (const a of active) {
    const item = el("li", "alarm-item");
    item.dataset.priority = a.priority;
    item.dataset.kind = a.kind;
    item.dataset.rule = a.rule;
    syncFlash(item, a.priority);
    const tag = el("span", "tech-tag", "TECH");
    tag.hidden = a.kind !== "technical";
    item.append(tag, el("span", "alarm-text", a.message), el("span", "alarm-when", `since ${clock(a.raised)}`));
    list.append(item);
  }

  const history = $("alarm-history");
  history.replaceChildren();
  const all = [...state.history.values()].sort((a, b) => b.raised - a.raised);
  if (all.length === 0) history.append(el("li", "no-alarms", "No alarms in this session"));
  for (const a of all) {
    const li = el("li");
    li.dataset.priority = a.priority;
    li.dataset.state = a.state;
    const text = el("span", "msg");
    text.append(el("span", "prio", a.message.match(/^\*+/)?.[0] ?? ""), ` ${a.message.replace(/^\*+\s*/, "")}`);
    if (a.kind === "technical") text.append(" (TECH)");
    li.append(el("span", "t", clock(a.raised)), text,
      el("span", "state", a.state === "active" ? "active" : `cleared ${clock(a.cleared)}`));
    history.append(li);
  }
}

function tick() {
  $("server-clock").textContent = clock(now());
  renderCurrent();
}

// Start ---------------------------------------------------------------------------------------

if (!Number.isInteger(SESSION_ID)) {
  showError(new Error("no session id in the address"));
} else {
  conn = connectLive({ onSnapshot, onMessage: handle, onLiveChange: notLiveBanner() });
  setInterval(flush, FLUSH_MS);
  setInterval(tick, 1000);
  // Active alarm periods grow with time.
  setInterval(() => state.active.size && drawAlarmShapes(), 2000);
}
