// The replay view (/replay/{session_id}): a past session on a timeline.
//
// Everything comes from the REST API once (the session, its readings, alarm log, alarms, marks
// and device statuses; waveforms a minute at a time as the moment moves). The panels show the
// session *as it was at the moment under the cursor*: each value as last reported then (or "---"
// if it was older than a live screen would show), the last cuff measurement with its age at that
// moment, and every alarm in the state it had then. Nothing here is live, and the page says so.
//
// The moment is kept in `body[data-t]` (seconds since the epoch) and in the address (#t=…,
// seconds from the start), so a moment can be shared.

import { alarmText, priorityMarker } from "./alarm-ui.js";
import { clock } from "./live.js";
import { Moments } from "./moment.js";
import { TrendChart } from "./trend.js";
import {
  PRIORITY_RANK, STALE_S, WATERMARK, alarmBox, el, nibpBox, num, paramBox, renderNibp, sortAlarms,
  syncFlash,
} from "./vitals.js";

const Plotly = window.Plotly;
const SESSION_ID = Number(location.pathname.split("/").filter(Boolean).pop());
const TICK_MS = 100; // the clock of playback
const DRAW_MS = 250; // plots follow the moment at 4 Hz
const WAVE_WINDOW_S = 10;
const WAVE_BLOCK_S = 60; // waveforms are fetched a minute at a time …
const WAVE_LOOKBACK_S = 60; // … with chunks that started up to this long before it
const WAVES = ["ECG_II", "PLETH", "ABP", "RESP", "CO2"];
const WAVE_COLOUR = { ECG_II: "#36e27c", PLETH: "#52c7ff", ABP: "#ff6b6b", RESP: "#f2f2f2", CO2: "#d9b8ff" };
const CURRENT_PARAMS = ["HR", "SpO2", "RR", "EtCO2"];

const $ = (id) => document.getElementById(id);
// The room view's trend, with a moment line; a click on it moves the moment there.
const chart = new TrendChart($("trend"), {
  cursor: true,
  onPick: (t) => {
    setPlaying(false);
    seek(t);
  },
});

const state = {
  session: null,
  moments: null,
  t: null, // the moment shown
  playing: false,
  speed: 1,
  lastTick: 0,
  lastDraw: 0,
  waveBlocks: new Map(), // "WAVE:block" -> Promise of rows
  waveDrawnFor: null,
};

// Loading -------------------------------------------------------------------------------------

async function getJSON(path, optional = false) {
  const r = await fetch(path, { cache: "no-store" });
  if (r.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
  if (optional && r.status === 404) return null;
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function load() {
  const base = `/api/sessions/${SESSION_ID}`;
  const [session, readings, log, alarms, marks, statuses] = await Promise.all([
    getJSON(base),
    getJSON(`${base}/readings`),
    getJSON(`${base}/alarm-log`),
    getJSON(`/api/alarms?session_id=${SESSION_ID}`),
    getJSON(`${base}/marks`, true),
    getJSON(`${base}/statuses`, true),
  ]);
  state.session = session;
  state.moments = new Moments(readings, log, alarms, marks || [], statuses || []);
  renderHeader();
  const m = state.moments;
  if (m.start === null) {
    $("room-state").textContent = "No readings were stored in this session.";
    document.body.dataset.ready = "true";
    return;
  }
  $("slider").max = String(Math.ceil(m.end - m.start));
  drawTrend(readings, log, marks || []);
  renderLog(log, marks || []);
  const fromHash = /^#t=(\d+(\.\d+)?)$/.exec(location.hash);
  seek(fromHash ? m.start + Number(fromHash[1]) : m.start);
  document.body.dataset.ready = "true";
}

// The timeline --------------------------------------------------------------------------------

function seek(t, { remember = true } = {}) {
  const m = state.moments;
  if (!m || m.start === null) return;
  state.t = Math.min(m.end, Math.max(m.start, t));
  document.body.dataset.t = String(state.t);
  if (remember) history.replaceState(null, "", `#t=${Math.round(state.t - m.start)}`);
  render(true);
}

function tick() {
  const nowMs = performance.now();
  const dt = (nowMs - state.lastTick) / 1000;
  state.lastTick = nowMs;
  if (!state.playing || state.t === null) return;
  const next = state.t + dt * state.speed;
  if (next >= state.moments.end) {
    seek(state.moments.end);
    setPlaying(false);
    return;
  }
  state.t = next;
  document.body.dataset.t = String(state.t);
  render(false);
}

function setPlaying(playing) {
  if (playing && state.t !== null && state.t >= state.moments.end) seek(state.moments.start);
  state.playing = playing;
  state.lastTick = performance.now();
  const button = $("play");
  button.textContent = playing ? "❚❚ Pause" : "▶ Play";
  button.setAttribute("aria-pressed", String(playing));
  if (!playing && state.t !== null) seek(state.t);
}

function setSpeed(speed) {
  state.speed = speed;
  for (const b of document.querySelectorAll("[data-speed]")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.speed) === speed));
  }
}

function mmss(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, "0");
  return `${h ? `${h}:` : ""}${mm}:${String(s % 60).padStart(2, "0")}`;
}

// Rendering -----------------------------------------------------------------------------------

function render(force) {
  const m = state.moments;
  const now = m.at(state.t);
  $("slider").value = String(Math.round(state.t - m.start));
  $("replay-time").textContent = `${mmss(state.t - m.start)} / ${mmss(m.end - m.start)}`;
  $("moment-clock").textContent = clock(state.t);
  renderState(now);
  renderCurrent(now);
  renderAlarms(now);
  markLog();
  const nowMs = performance.now();
  if (force || nowMs - state.lastDraw >= DRAW_MS) {
    state.lastDraw = nowMs;
    moveCursor();
    drawWaves();
  }
}

function renderHeader() {
  const s = state.session;
  $("room-name").textContent = s.room;
  $("session-info").textContent = `· session ${SESSION_ID} · started ${clock(s.started).slice(0, 5)}`
    + (s.ended ? ` · ended ${clock(s.ended).slice(0, 5)}` : " · still active");
  document.title = `vitalwatch — replay — ${s.room}`;
  const mark = WATERMARK[s.mode] || "";
  for (const id of ["watermark", "mode-badge"]) {
    $(id).textContent = mark;
    $(id).hidden = !mark;
  }
  document.body.dataset.mode = s.mode;
  $("room-link").href = `/room/${SESSION_ID}`;
}

function renderState(now) {
  const box = $("room-state");
  const statuses = now.statuses.map((s) => s.text || s.code).join(" · ");
  box.textContent = `Review · as at ${clock(now.t)}${statuses ? ` — device: ${statuses}` : ""}`;
}

function renderCurrent(now) {
  const box = $("current");
  if (!box.firstChild) {
    for (const p of CURRENT_PARAMS) box.append(paramBox(p));
    box.append(nibpBox());
  }
  const alarmed = {};
  for (const a of now.alarms) {
    const p = alarmBox(a);
    if (p && (!alarmed[p] || PRIORITY_RANK[a.priority] > PRIORITY_RANK[alarmed[p]])) alarmed[p] = a.priority;
  }
  for (const p of CURRENT_PARAMS) {
    const v = now.values[p];
    // As a live screen would have shown it: a value older than STALE_S was no longer on screen.
    const fresh = v && now.t - v.t <= STALE_S;
    const node = box.querySelector(`[data-param="${p}"]`);
    node.querySelector(".value").textContent = fresh ? num(v.value) : "---";
    node.dataset.t = fresh ? String(v.t) : "";
    node.hidden = p === "EtCO2" && !state.moments.params.has("EtCO2");
    setPriority(node, alarmed[p]);
  }
  const nibp = box.querySelector('[data-param="NIBP"]');
  const cuff = (r) => (r ? { ...r, t_device: r.t } : null);
  renderNibp(nibp, cuff(now.nibp), cuff(now.attempt), now.t);
  setPriority(nibp, alarmed.NIBP);
}

function setPriority(node, priority) {
  if ((node.dataset.priority || undefined) === priority) return;
  if (priority) {
    node.dataset.priority = priority;
    syncFlash(node, priority);
  } else {
    delete node.dataset.priority;
  }
}

function renderAlarms(now) {
  const list = $("active-alarms");
  const key = now.alarms.map((a) => `${a.id}:${a.state}:${a.priority}`).sort().join(",");
  if (list.dataset.key === key && list.firstChild) return;
  list.dataset.key = key;
  list.replaceChildren();
  if (now.alarms.length === 0) list.append(el("li", "no-alarms", "No alarms at this moment"));
  for (const a of sortAlarms(now.alarms)) {
    const item = el("li", "alarm-item");
    item.dataset.priority = a.priority;
    item.dataset.kind = a.kind;
    item.dataset.rule = a.rule;
    item.dataset.state = a.state;
    syncFlash(item, a.priority);
    const tag = el("span", "tech-tag", "TECH");
    tag.hidden = a.kind !== "technical";
    const when = `${a.state.replace("_", " ")}${a.by ? ` (${a.by})` : ""} · since ${clock(a.raised_device)}`;
    item.append(tag, el("span", "alarm-text", alarmText(a)), el("span", "alarm-when", when));
    list.append(item);
  }
}

function renderLog(log, marks) {
  const list = $("alarm-log");
  list.replaceChildren();
  const start = state.moments.start;
  const entries = [
    ...log.map((e) => ({ t: e.t, kind: "alarm", e })),
    ...marks.map((mk) => ({ t: mk.t, kind: "mark", e: mk })),
  ].sort((a, b) => a.t - b.t);
  if (entries.length === 0) list.append(el("li", "no-alarms", "No alarms or marks in this session"));
  for (const { t, kind, e } of entries) {
    const li = el("li");
    li.dataset.t = String(t);
    li.tabIndex = 0;
    li.title = "Go to this moment";
    const text = el("span", "msg");
    if (kind === "alarm") {
      li.dataset.priority = e.priority;
      li.dataset.state = e.state;
      text.append(el("span", "prio", priorityMarker(e.priority)), ` ${e.message}`);
      li.append(el("span", "t", mmss(t - start)), text, el("span", "state", `${e.event}${e.by ? ` · ${e.by}` : ""}`));
    } else {
      li.classList.add("mark");
      text.textContent = `▲ ${e.what}${e.text ? `: ${e.text}` : ""}`;
      li.append(el("span", "t", mmss(t - start)), text, el("span", "state", e.by || ""));
    }
    const go = () => {
      setPlaying(false);
      seek(t);
    };
    li.addEventListener("click", go);
    li.addEventListener("keydown", (ev) => ev.key === "Enter" && go());
    list.append(li);
  }
}

function markLog() {
  for (const li of $("alarm-log").children) {
    if (li.dataset.t === undefined) continue;
    const future = Number(li.dataset.t) > state.t;
    if ((li.dataset.future === "true") !== future) li.dataset.future = String(future);
  }
}

// Trend ---------------------------------------------------------------------------------------

/** The alarm periods of the log (raised to cleared; one still open runs to the session's end),
 * in the feed's shape the trend draws. */
function alarmPeriods(log) {
  const open = new Map();
  const periods = [];
  const info = state.moments.alarmInfo;
  const add = (e, end) => periods.push({
    id: e.alarm_id, priority: e.priority, kind: info.get(e.alarm_id)?.kind ?? "physiological",
    state: "cleared", raised_device: e.t, ended_device: end, updated_device: end,
  });
  for (const e of [...log].sort((a, b) => a.t - b.t)) {
    if (e.event === "raised" && !open.has(e.alarm_id)) open.set(e.alarm_id, e);
    else if (e.state === "cleared" && open.has(e.alarm_id)) {
      add(open.get(e.alarm_id), e.t);
      open.delete(e.alarm_id);
    }
  }
  for (const e of open.values()) add(e, Math.max(e.t, state.moments.end));
  return periods;
}

function drawTrend(readings, log, marks) {
  chart.now = () => state.moments.end;
  chart.addReadings(readings);
  chart.setAlarms(alarmPeriods(log));
  chart.setMarks([...marks].sort((a, b) => a.t - b.t));
  chart.setWatermark(WATERMARK[state.session.mode] || "");
  chart.cursor.t = state.moments.start;
  chart.flush();
}

function moveCursor() {
  chart.setCursor(state.t);
}

// Waveforms -----------------------------------------------------------------------------------

function waveBlock(wave, block) {
  const key = `${wave}:${block}`;
  if (!state.waveBlocks.has(key)) {
    const start = block * WAVE_BLOCK_S - WAVE_LOOKBACK_S;
    const end = (block + 1) * WAVE_BLOCK_S;
    const p = getJSON(`/api/sessions/${SESSION_ID}/waveforms?wave=${wave}&start=${start}&end=${end}`)
      .catch(() => []);
    state.waveBlocks.set(key, p);
    // Keep the cache to the last few minutes visited.
    if (state.waveBlocks.size > 40) state.waveBlocks.delete(state.waveBlocks.keys().next().value);
  }
  return state.waveBlocks.get(key);
}

async function drawWaves() {
  const t = state.t;
  const from = t - WAVE_WINDOW_S;
  const blocks = [...new Set([Math.floor(from / WAVE_BLOCK_S), Math.floor(t / WAVE_BLOCK_S)])];
  const traces = [];
  const per = await Promise.all(WAVES.map((w) => Promise.all(blocks.map((b) => waveBlock(w, b)))));
  if (state.t !== t && state.playing === false) return; // a newer moment is being drawn
  WAVES.forEach((wave, i) => {
    const x = [];
    const y = [];
    const seen = new Set();
    for (const rows of per[i]) {
      for (const r of rows) {
        if (seen.has(r.t)) continue;
        seen.add(r.t);
        r.samples.forEach((s, k) => {
          const ts = r.t + k / r.rate;
          if (ts >= from && ts <= t) {
            x.push(ts - t);
            y.push(s);
          }
        });
      }
    }
    if (x.length) {
      const order = x.map((_, k) => k).sort((a, b) => x[a] - x[b]);
      traces.push({ wave, x: order.map((k) => x[k]), y: order.map((k) => y[k]) });
    }
  });
  const box = $("waves");
  $("wave-title").textContent = traces.length
    ? `Waveforms — the ${WAVE_WINDOW_S} s before the moment`
    : "Waveforms — none stored for this moment";
  const n = Math.max(traces.length, 1);
  const data = traces.map((tr, i) => ({
    type: "scatter", mode: "lines", x: tr.x, y: tr.y, name: tr.wave, yaxis: i ? `y${i + 1}` : "y",
    line: { color: WAVE_COLOUR[tr.wave], width: 1.2 }, connectgaps: false, hoverinfo: "skip",
  }));
  const layout = {
    paper_bgcolor: "#0b1117", plot_bgcolor: "#0b1117", showlegend: false,
    font: { color: "#c9d3dc", family: "Liberation Sans, DejaVu Sans, Arial, sans-serif", size: 12 },
    margin: { l: 64, r: 18, t: 6, b: 26 },
    xaxis: { range: [-WAVE_WINDOW_S, 0], gridcolor: "#1b242d", zeroline: false, fixedrange: true, ticksuffix: " s" },
  };
  traces.forEach((tr, i) => {
    const top = 1 - i / n;
    layout[i ? `yaxis${i + 1}` : "yaxis"] = {
      domain: [Math.max(0, top - 1 / n + 0.04), top], title: { text: tr.wave, font: { size: 11, color: "#8494a4" } },
      gridcolor: "#1b242d", zeroline: false, fixedrange: true, showticklabels: false,
    };
  });
  Plotly.react(box, data, layout, { displaylogo: false, responsive: true, staticPlot: true });
  box.dataset.waves = traces.map((tr) => tr.wave).join(",");
}

// Start ---------------------------------------------------------------------------------------

function start() {
  $("play").addEventListener("click", () => setPlaying(!state.playing));
  for (const b of document.querySelectorAll("[data-speed]")) {
    b.addEventListener("click", () => setSpeed(Number(b.dataset.speed)));
  }
  $("slider").addEventListener("input", (ev) => state.moments && seek(state.moments.start + Number(ev.target.value)));
  $("next-alarm").addEventListener("click", () => {
    const t = state.moments?.nextAlarm(state.t);
    if (t !== null && t !== undefined) {
      setPlaying(false);
      seek(t);
    }
  });
  $("prev-alarm").addEventListener("click", () => {
    const t = state.moments?.previousAlarm(state.t);
    if (t !== null && t !== undefined) {
      setPlaying(false);
      seek(t);
    }
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLButtonElement) return;
    if (ev.key === " ") {
      ev.preventDefault();
      setPlaying(!state.playing);
    }
  });
  load().catch((err) => {
    console.error(err);
    $("room-state").textContent = `Could not load session ${SESSION_ID}: ${err.message}`;
    $("room-state").classList.add("offline-state");
  });
  setInterval(tick, TICK_MS);
}

if (!Number.isInteger(SESSION_ID)) {
  $("room-state").textContent = "No session id in the address.";
} else {
  start();
}
