// The room view (/room/{session_id}): the session's trends so far with its alarm limits, alarm
// periods and event marks, updated live; the live waveforms; its current values and phase; its
// active alarms with the actions the user's role allows; event marking; its alarm log; and its
// alarm limits, which a clinician may change for this session.
//
// The live state of the room (values, cuff readings, alarms, statuses, the session's settings)
// is the page's feed store (store.js), subscribed to everything of this session's room. The
// session's history (readings, every alarm, the alarm log, marks, the limits table with its
// changes) comes from the REST API: the first snapshot loads all of it, and every later one (a
// reconnect) backfills what was missed (readings since the newest one drawn, and the alarms, the
// alarm log and the marks as they now stand), so the trend has no hole where this screen was not
// live. Changes that arrive while a load is in flight are held and applied to the history after it.

import {
  SERVER_CLOCK_RULES, alarmText, placeInOrder, priorityMarker, stateLabel, syncActions,
} from "./alarm-ui.js";
import { getJSON, me } from "./account.js";
import { clock, notLiveBanner, post, request } from "./live.js";
import { mountRecord } from "./record.js";
import { mountReport } from "./report-panel.js";
import { doseFromMarks, nibpDue, phaseAt } from "./session.js";
import { soundButton, sound, soundingPriority } from "./sound.js";
import { connectStore, showing } from "./store.js";
import { NUMERIC_TRACES, TrendChart } from "./trend.js";
import {
  STALE_S, WATERMARK, el, nibpBox, num, paramBox, renderNibp, sortAlarms, syncFlash,
} from "./vitals.js";
import { WaveView } from "./waves.js";

const SESSION_ID = Number(location.pathname.split("/").filter(Boolean).pop());
const FLUSH_MS = 100; // batch live points at 10 Hz
const CURRENT_PARAMS = ["HR", "SpO2", "RR", "EtCO2"];
const MARK_PROMPT = { dose: "Dose — drug, amount, route (optional)", note: "Note", treatment: "Treatment given" };

const $ = (id) => document.getElementById(id);
const chart = new TrendChart($("trend"));
const waves = new WaveView($("live-waves"), { onFirst: () => { $("no-waves").hidden = true; } });
$("server-clock").before(soundButton());
window.__vwWaves = waves; // for tests and for measuring the drawing cost

const state = {
  session: null, // the session row from the API
  alarms: new Map(), // alarm id -> alarm (the feed's shape), all of the session
  log: new Map(), // alarm-log id -> entry
  deliveries: new Map(), // alarm-log id -> its notices (/api/sessions/{id}/deliveries)
  deliveriesShown: "", // what the alarm log last showed of them
  marks: [], // {t, what, text, by}, t on the device's clock
  rules: null, // the limits table (/api/sessions/{id}/rules)
  dose: null, // from the marks, for a session that has ended
  infusionEnd: null,
  loaded: false, // the first full load has completed
  loading: null, // a Promise while a REST load runs
  held: [], // store changes received during a load
  error: null, // why the session could not be loaded, shown until a load succeeds
  permissions: [],
  editing: null, // the rule whose limits form is open
  logShown: -1, // how many log entries the alarm log shows
};

let store = null;
let conn = null;
const recordPanel = mountRecord({
  sessionId: SESSION_ID,
  room: () => live(),
  deviceNow: () => deviceNow(),
  canRecord: () => state.permissions.includes("mark_event") && !state.session?.ended,
});
const reportPanel = mountReport({
  sessionId: SESSION_ID,
  ended: () => Boolean(state.session?.ended),
  canSign: () => state.permissions.includes("manage_sessions"),
});
/** The session's room as the live feed has it; null if the session is not active. */
const live = () => (store ? store.room(SESSION_ID) ?? null : null);
const now = () => (store ? store.serverNow() : Date.now() / 1000);
const deviceNow = () => (store ? store.deviceNow(live()) : now());
chart.now = deviceNow;

/** An alarm row of the REST API in the feed's shape (its times named by their clock). */
function feedAlarm(row) {
  return {
    ...row,
    raised_device: row.raised_device ?? row.raised,
    ended_device: row.ended_device !== undefined ? row.ended_device : row.ended ?? null,
    updated_device: row.updated_device ?? row.updated,
  };
}

/** A cuff reading of the session row in the feed's shape. */
function feedCuff(row) {
  return row ? { ...row, t_device: row.t_device ?? row.t } : null;
}

// Loading -------------------------------------------------------------------------------------

/** Load the session; `since`: only readings from then on (a backfill), else everything. */
async function load(since) {
  const readingsPath = since === null
    ? `/api/sessions/${SESSION_ID}/readings`
    : `/api/sessions/${SESSION_ID}/readings?start=${since}`;
  const [session, readings, alarms, log, marks, rules] = await Promise.all([
    getJSON(`/api/sessions/${SESSION_ID}`),
    getJSON(readingsPath),
    getJSON(`/api/alarms?session_id=${SESSION_ID}`),
    getJSON(`/api/sessions/${SESSION_ID}/alarm-log`),
    getJSON(`/api/sessions/${SESSION_ID}/marks`),
    getJSON(`/api/sessions/${SESSION_ID}/rules`),
  ]);
  state.session = session;
  state.alarms = new Map(alarms.map((a) => [a.id, feedAlarm(a)]));
  for (const a of live()?.alarms.values() ?? []) state.alarms.set(a.id, a);
  for (const e of log) state.log.set(e.id, e);
  setMarks(marks);
  setRules(rules);
  if (session.dose != null) state.dose = session.dose;
  chart.addReadings(readings);
  chart.setAlarms([...state.alarms.values()]);
  state.loaded = true;
}

function onSnapshot() {
  waves.clear();
  $("no-waves").hidden = false;
  state.held = [];
  setLimitLines();
  // A reconnect backfills from the newest reading drawn; the first load takes everything.
  const since = state.loaded ? chart.lastT : null;
  const loading = load(since)
    .then(() => {
      state.error = null;
      if (state.loading !== loading) return;
      const held = state.held;
      state.loading = null;
      state.held = [];
      for (const change of held) onChange(change);
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

// Live changes --------------------------------------------------------------------------------

/** What the store says changed in this session's room: the panels redraw from the store; the
 * history (trend, alarm periods, log, marks) takes the message. */
function onChange(change) {
  if (change.part === "all") return onSnapshot();
  if (change.part === "heartbeat") return tick();
  if (change.sessionId !== SESSION_ID) return;
  const { msg } = change;
  if (change.part === "waveform") {
    waves.add({ wave: msg.wave, rate: msg.rate, t: msg.t_device, samples: msg.samples }); // drawn as they come
    return;
  }
  if (state.loading && ["numerics", "nibp", "alarm", "mark"].includes(change.part)) {
    state.held.push(change);
    if (change.part !== "alarm") renderCurrent();
    else renderAlarms();
    return;
  }
  switch (change.part) {
    case "numerics":
      for (const [p, r] of Object.entries(msg.readings)) {
        if (NUMERIC_TRACES.includes(p)) chart.add(p, r.t_device, r.value);
      }
      renderCurrent();
      break;
    case "nibp":
      chart.addNibp({ ...msg.nibp, t: msg.nibp.t_device });
      renderCurrent();
      break;
    case "alarm": {
      const a = msg.alarm;
      state.alarms.set(a.id, a);
      state.log.set(msg.log_id, {
        id: msg.log_id, alarm_id: a.id, t: a.updated_device, rule: a.rule, event: msg.event, state: a.state,
        priority: a.priority, message: a.message, by: msg.by ?? "", tier: a.tier,
      });
      chart.setAlarms([...state.alarms.values()]);
      renderAlarms();
      break;
    }
    case "mark": {
      const m = msg.mark;
      setMarks([...state.marks, { t: m.t_device, what: m.what, text: m.text, by: m.by }]);
      renderPhase();
      break;
    }
    case "settings":
      setLimitLines();
      // The limits table says what changed and by whom: it comes from the API.
      getJSON(`/api/sessions/${SESSION_ID}/rules`).then(setRules).catch(showError);
      renderPhase();
      renderAlarms();
      break;
    case "session_ended":
      if (state.session) state.session.ended = now();
      reportPanel.refresh().catch(showError);
      renderAll();
      break;
    default:
      renderAll();
  }
}

function setMarks(marks) {
  // A monitor's mark is broadcast without the id it is stored under, so the same mark can come
  // twice (live while the page loads, then from the API with its id): marks are told apart by
  // time, kind and text, never by id.
  const seen = new Set();
  state.marks = [];
  for (const m of [...marks].sort((a, b) => a.t - b.t)) {
    const key = `${m.t}:${m.what}:${m.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    state.marks.push(m);
  }
  const { dose, infusionEnd } = doseFromMarks(state.marks);
  if (dose !== null) state.dose = dose;
  state.infusionEnd = infusionEnd;
  chart.setMarks(state.marks);
  renderMarks();
}

function setRules(rules) {
  state.rules = rules;
  if (rules.dose != null) state.dose = rules.dose;
  renderLimits();
}

/** The limit lines on the trend: the session's settings as the live feed has them. */
function setLimitLines() {
  const settings = live()?.settings;
  if (settings) chart.setLimits(settings.limits, settings.baseline);
}

// Panels --------------------------------------------------------------------------------------

function renderAll() {
  recordPanel.render();
  reportPanel.render();
  renderHeader();
  renderPhase();
  renderCurrent();
  renderAlarms();
  renderMarks();
}

function renderHeader() {
  const s = state.session;
  const info = live();
  const room = info?.room ?? s?.room ?? "";
  const mode = info?.mode ?? s?.mode ?? "";
  const title = `vitalwatch — ${room || "room"}`;
  document.title = document.body.dataset.live === "false" ? `NOT LIVE — ${title}` : title;
  $("room-name").textContent = room || `Session ${SESSION_ID}`;
  const started = info?.started_server ?? s?.started;
  $("session-info").textContent = started ? `· session ${SESSION_ID} · started ${clock(started).slice(0, 5)}` : "";
  const mark = WATERMARK[mode] || "";
  for (const id of ["watermark", "mode-badge"]) {
    $(id).textContent = mark;
    $(id).hidden = !mark;
  }
  chart.setWatermark(mark);
  waves.watermark = mark;
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
  } else if (!(info.monitors || []).length) {
    box.textContent = "NO MONITOR CONNECTED";
    box.classList.add("offline-state");
  } else if (info.partial) {
    // Each monitor on its own: the silent ones are named, with when each was last heard.
    const each = (info.monitors || []).map((m) => (m.live
      ? `● ${m.model || m.monitor_id} live`
      : `${m.monitor_id} OFFLINE — last data ${clock(m.last_heard_server)}`));
    box.textContent = `MONITOR ${info.silent.join(", ")} OFFLINE — ${each.join(" · ")}`;
    box.classList.add("offline-state");
  } else if (!info.live) {
    const which = (info.monitors || []).length > 1 ? `S ${info.silent.join(", ")}` : "";
    box.textContent = `MONITOR${which} OFFLINE — last data ${clock(info.last_heard_server)}`;
    box.classList.add("offline-state");
  } else {
    const names = info.monitors.map((m) => m.model || m.monitor_id).join(", ");
    const statuses = (info.statuses || []).filter((x) => x.active).map((x) => x.text || x.code).join(" · ");
    box.textContent = `● Monitor${(info.monitors || []).length > 1 ? "s" : ""} live — ${names}${statuses ? ` — ${statuses}` : ""}`;
  }
  box.dataset.live = info && info.live ? "true" : info && info.partial ? "partial" : "false";
  const canMark = state.permissions.includes("mark_event") && Boolean(info) && !(s && s.ended);
  $("mark-buttons").hidden = !canMark;
}

/** The phase, minutes since the dose, and the cuff schedule. */
function renderPhase() {
  const t = deviceNow();
  const room = live();
  if (room) state.settings = room.settings; // kept for when the session has ended
  const dose = room?.dose_device ?? state.dose;
  const infusionEnd = room?.infusion_end_device ?? state.infusionEnd;
  const phase = phaseAt(state.settings?.timeline, dose, infusionEnd, t);
  const box = $("session-phase");
  box.replaceChildren();
  box.dataset.phase = phase.key;
  const chip = el("span", "phase", phase.label);
  chip.dataset.phase = phase.key;
  box.append(chip);
  if (phase.minutes !== null) {
    box.append(el("span", "phase-time", `${phase.minutes} min since the dose (${clock(dose).slice(0, 5)})`));
  } else {
    box.append(el("span", "phase-time", "no dose marked"));
  }
  const nibp = room ? room.nibp : feedCuff(state.session?.nibp);
  const due = room ? nibpDue(room.settings.nibp_schedule, dose, nibp?.t_device ?? null, t) : null;
  if (due) {
    const next = el("span", "nibp-next", due.overdue
      ? `NIBP OVERDUE since ${clock(due.dueAt).slice(0, 5)}`
      : `NIBP every ${due.intervalMin} min · due by ${clock(due.dueAt).slice(0, 5)}`);
    next.dataset.overdue = due.overdue ? "true" : "false";
    box.append(next);
  }
}

function renderCurrent() {
  const box = $("current");
  if (!box.firstChild) {
    for (const p of CURRENT_PARAMS) box.append(paramBox(p));
    box.append(nibpBox());
  }
  const room = live();
  const t = deviceNow();
  const latest = room ? room.latest : {}; // an ended session's stored last values are history, not current
  for (const p of CURRENT_PARAMS) {
    const v = latest[p];
    const fresh = showing(room) && v && t - v.t_device <= STALE_S;
    const node = box.querySelector(`[data-param="${p}"]`);
    node.querySelector(".value").textContent = fresh ? num(v.value) : "---";
    node.hidden = p === "EtCO2" && !(p in latest);
  }
  const nibp = room ? room.nibp : feedCuff(state.session?.nibp);
  const attempt = room ? room.nibp_last_attempt : feedCuff(state.session?.nibp_last_attempt);
  renderNibp(box.querySelector('[data-param="NIBP"]'), nibp, attempt, t);
}

function actionError(text) {
  const p = $("action-error");
  p.textContent = text;
  p.hidden = !text;
  if (text) setTimeout(() => { if (p.textContent === text) p.hidden = true; }, 8000);
}

const items = new Map(); // alarm id -> its list item, kept so focus survives updates

function renderAlarms() {
  const list = $("active-alarms");
  const room = live();
  const signalled = room ? room.alarms : new Map();
  const active = sortAlarms([...signalled.values()]);
  const pauseS = room?.settings.signals.audio_pause_s;
  const dNow = deviceNow();
  const sNow = now();
  for (const [id, li] of items) {
    if (!signalled.has(id)) {
      li.remove();
      items.delete(id);
    }
  }
  list.querySelector(".no-alarms")?.remove();
  if (active.length === 0) list.append(el("li", "no-alarms", "No active alarms"));
  for (const a of active) {
    let li = items.get(a.id);
    if (!li) {
      li = el("li", "alarm-item");
      li.tabIndex = -1;
      li.dataset.alarmId = a.id;
      li.parts = {
        tag: el("span", "tech-tag", "TECH"), text: el("span", "alarm-text"), state: el("span", "alarm-state"),
        when: el("span", "alarm-when"), actions: el("span", "alarm-actions"),
      };
      const p = li.parts;
      li.append(p.tag, p.text, p.state, p.when, p.actions);
      items.set(a.id, li);
    }
    if (li.dataset.priority !== a.priority) syncFlash(li, a.priority);
    li.dataset.priority = a.priority;
    li.dataset.kind = a.kind;
    li.dataset.rule = a.rule;
    li.dataset.state = a.state;
    const p = li.parts;
    p.tag.hidden = a.kind !== "technical";
    p.text.textContent = alarmText(a);
    const label = stateLabel(a, SERVER_CLOCK_RULES.has(a.rule) ? sNow : dNow, pauseS);
    p.state.textContent = label;
    p.state.hidden = !label;
    const by = a.state === "acknowledged" && a.acknowledged_by ? ` · ack ${a.acknowledged_by}` : "";
    p.when.textContent = `since ${clock(a.raised_device)}${by}`;
    syncActions(p.actions, a, state.permissions, actionError);
  }
  placeInOrder(list, active.map((a) => items.get(a.id)));
  updateSound();
  if (state.logShown !== state.log.size) renderLog();
}

/** Who was told of each alarm change, and how far each notice got (docs/delivery.md). */
async function loadDeliveries() {
  const rows = await getJSON(`/api/sessions/${SESSION_ID}/deliveries`);
  const key = JSON.stringify(rows.map((r) => [r.id, r.state]));
  if (key === state.deliveriesShown) return;
  state.deliveriesShown = key;
  state.deliveries = new Map();
  for (const r of rows) {
    if (!state.deliveries.has(r.log_id)) state.deliveries.set(r.log_id, []);
    state.deliveries.get(r.log_id).push(r);
  }
  renderLog();
}

const DELIVERY_RANK = { failed: -1, queued: 0, sent: 1, delivered: 2, seen: 3, acknowledged: 4 };

/** One line per recipient (a site destination is its own): the furthest its notices got, with
 * the time of each state reached, and why a failed one failed. */
function deliveryLines(rows) {
  const byWho = new Map();
  for (const r of rows) {
    const who = r.recipient ? `${r.recipient} (${r.step})` : `site: ${r.destination}`;
    if (!byWho.has(who)) byWho.set(who, []);
    byWho.get(who).push(r);
  }
  const ul = el("ul", "deliveries");
  for (const [who, notices] of byWho) {
    const best = notices.reduce((a, b) => (DELIVERY_RANK[b.state] > DELIVERY_RANK[a.state] ? b : a));
    const times = ["queued", "sent", "delivered", "seen", "acknowledged", "failed"]
      .filter((s) => best[s] != null).map((s) => `${s} ${clock(best[s])}`).join(" · ");
    const li = el("li");
    li.dataset.delivery = best.state;
    const via = [...new Set(notices.map((n) => n.channel))].join(", ");
    const detail = best.state === "failed" && best.detail ? ` (${best.detail})` : "";
    li.append(el("span", "who", who), el("span", "state", `${best.state}${detail}`),
      el("span", "t", `${times} · ${via}`));
    ul.append(li);
  }
  return ul;
}

/** The highest alarm in a sounding state; a lost connection sounds as a medium technical alarm. */
function updateSound() {
  if (conn && !conn.live) sound.set("medium", "connection to server lost");
  else sound.set(soundingPriority([...(live()?.alarms.values() ?? [])]), "alarm");
}

const EVENT_TEXT = {
  raised: "raised", escalated: "escalated", acknowledged: "acknowledged", audio_paused: "audio paused",
  audio_resumed: "audio resumed", reminder: "reminder", latched: "latched", cleared: "cleared", reset: "reset",
};

const DELIVERIES_EVERY_MS = 3000;

function renderLog() {
  const list = $("alarm-history");
  state.logShown = state.log.size;
  list.replaceChildren();
  const entries = [...state.log.values()].sort((a, b) => b.id - a.id).slice(0, 200);
  if (entries.length === 0) list.append(el("li", "no-alarms", "No alarms in this session"));
  for (const e of entries) {
    const li = el("li");
    li.dataset.priority = e.priority;
    li.dataset.event = e.event;
    const text = el("span", "msg");
    text.append(el("span", "prio", priorityMarker(e.priority)), ` ${e.message}`);
    li.append(el("span", "t", clock(e.t)), text,
      el("span", "state", `${EVENT_TEXT[e.event] ?? e.event}${e.by ? ` by ${e.by}` : ""}`));
    const told = state.deliveries.get(e.id);
    if (told) li.append(deliveryLines(told));
    list.append(li);
  }
}

const MARK_NAME = { dose: "Dose", "infusion end": "Infusion end", treatment: "Treatment", intervention: "Intervention", note: "Note" };

function renderMarks() {
  const list = $("marks");
  list.replaceChildren();
  if (state.marks.length === 0) list.append(el("li", "no-alarms", "No events marked"));
  for (const m of [...state.marks].reverse()) {
    const li = el("li");
    li.dataset.what = m.what;
    li.append(el("span", "t", clock(m.t)), el("span", "what", MARK_NAME[m.what] ?? m.what),
      el("span", "text", m.text || ""), el("span", "by", m.by && !m.by.startsWith("monitor:") ? m.by : ""));
    list.append(li);
  }
}

// Event marks ---------------------------------------------------------------------------------

let markWhat = null;

function openMarkForm(what) {
  markWhat = what;
  $("mark-label").textContent = MARK_PROMPT[what];
  $("mark-form").dataset.what = what;
  $("mark-form").hidden = false;
  $("mark-text").value = "";
  $("mark-text").required = what !== "dose";
  $("mark-text").focus();
}

function closeMarkForm() {
  $("mark-form").hidden = true;
  markWhat = null;
}

$("mark-buttons").addEventListener("click", (event) => {
  const what = event.target.closest("button")?.dataset.what;
  if (what) openMarkForm(what);
});
$("mark-cancel").addEventListener("click", closeMarkForm);
$("mark-form").addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeMarkForm();
});
$("mark-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!markWhat) return;
  const err = $("mark-error");
  err.hidden = true;
  const r = await post(`/api/sessions/${SESSION_ID}/marks`, { what: markWhat, text: $("mark-text").value.trim() });
  if (r.ok) {
    setMarks([...state.marks, await r.json()]);
    renderPhase();
    closeMarkForm();
  } else {
    const body = await r.json().catch(() => ({}));
    err.textContent = `Could not save the mark: ${typeof body.detail === "string" ? body.detail : `HTTP ${r.status}`}`;
    err.hidden = false;
  }
});

// Limits --------------------------------------------------------------------------------------

function renderLimits() {
  if (!state.rules) return;
  const { rules, baseline, changes } = state.rules;
  const canEdit = state.permissions.includes("change_limits") && !(state.session && state.session.ended);
  const note = [];
  note.push(baseline
    ? `Baseline: ${Object.entries(baseline).filter(([, v]) => v != null).map(([k, v]) => `${k} ${Math.round(v)}`).join(", ")}`
    : "No baseline yet (captured at the dose mark): limits relative to it are not active.");
  if (!canEdit) note.push("Only a clinician may change limits.");
  $("limits-note").textContent = note.join(" ");

  const body = $("limits").tBodies[0];
  body.replaceChildren();
  const ids = Object.keys(rules).filter((id) => rules[id].when).sort();
  for (const id of ids) {
    const r = rules[id];
    const tr = el("tr");
    tr.dataset.rule = id;
    tr.dataset.enabled = r.enabled === false ? "false" : "true";
    const name = el("td", "rule-name");
    name.append(el("strong", "", id), ` ${priorityMarker(r.priority)} ${r.title}`);
    tr.append(name, el("td", "expr", r.when), el("td", "expr", r.clear ?? "—"), el("td", "", `${r.delay_s ?? 0} s`));
    const cell = el("td");
    if (canEdit) {
      const b = el("button", "edit-limit", "Edit");
      b.type = "button";
      b.setAttribute("aria-label", `Edit ${id} ${r.title}`);
      b.addEventListener("click", () => {
        state.editing = state.editing === id ? null : id;
        renderLimits();
        body.querySelector(`tr.limit-form[data-rule="${id}"] input`)?.focus();
      });
      cell.append(b);
    }
    tr.append(cell);
    body.append(tr);
    if (canEdit && state.editing === id) body.append(limitForm(id, r));
  }

  const list = $("limit-changes");
  list.replaceChildren();
  if (!changes || changes.length === 0) list.append(el("li", "no-alarms", "The clinic's limits, unchanged"));
  for (const c of [...(changes || [])].reverse()) {
    const what = Object.entries(c.change).filter(([k]) => k !== "reason").map(([k, v]) => `${k}: ${v}`).join("; ");
    const reason = c.reason ?? c.change.reason;
    const li = el("li");
    li.append(el("span", "t", clock(c.t)), el("strong", "", ` ${c.rule} `), what, ` — ${c.by}`);
    if (reason) li.append(el("span", "reason", ` (${reason})`));
    list.append(li);
  }
}

function limitForm(id, rule) {
  const tr = el("tr", "limit-form");
  tr.dataset.rule = id;
  const td = el("td");
  td.colSpan = 5;
  const form = el("form");
  const field = (name, label, value, attrs = {}) => {
    const wrap = el("label", `field field-${name}`);
    wrap.append(el("span", "", label));
    const input = el("input");
    input.name = name;
    input.value = value ?? "";
    Object.assign(input, attrs);
    wrap.append(input);
    form.append(wrap);
    return input;
  };
  const when = field("when", "Alarm when", rule.when, { required: true, maxLength: 200 });
  const clear = field("clear", "Clears when", rule.clear ?? "", { maxLength: 200, placeholder: "as the alarm ends" });
  const delay = field("delay_s", "Delay (s)", String(rule.delay_s ?? 0), { type: "number", min: "0", step: "1" });
  const reason = field("reason", "Reason (required, audited)", "", { required: true, maxLength: 500 });
  const error = el("p", "action-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const save = el("button", "", "Save for this session");
  save.type = "submit";
  const cancel = el("button", "", "Cancel");
  cancel.type = "button";
  cancel.addEventListener("click", () => {
    state.editing = null;
    renderLimits();
  });
  const buttons = el("div", "form-buttons");
  buttons.append(save, cancel);
  form.append(buttons, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const change = { reason: reason.value.trim() };
    if (when.value.trim() !== (rule.when ?? "")) change.when = when.value.trim();
    if (clear.value.trim() && clear.value.trim() !== (rule.clear ?? "")) change.clear = clear.value.trim();
    if (Number(delay.value) !== (rule.delay_s ?? 0)) change.delay_s = Number(delay.value);
    if (Object.keys(change).length === 1) {
      error.textContent = "Nothing changed.";
      error.hidden = false;
      return;
    }
    save.disabled = true;
    const r = await request("PATCH", `/api/sessions/${SESSION_ID}/rules/${id}`, change);
    save.disabled = false;
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      error.textContent = `Not saved: ${typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? r.status)}`;
      error.hidden = false;
      return;
    }
    state.editing = null;
    setRules(await getJSON(`/api/sessions/${SESSION_ID}/rules`));
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      state.editing = null;
      renderLimits();
    }
  });
  td.append(form);
  tr.append(td);
  return tr;
}

// Start ---------------------------------------------------------------------------------------

function tick() {
  $("server-clock").textContent = clock(now());
  recordPanel.render();
  renderCurrent();
  renderPhase();
  // Pause countdowns and the growing active alarm periods.
  if (live()?.alarms.size) {
    renderAlarms();
    chart.grow();
  }
}

if (!Number.isInteger(SESSION_ID)) {
  showError(new Error("no session id in the address"));
} else {
  me.then((who) => {
    state.permissions = who.permissions;
    renderAll();
    renderLimits();
  }).catch(() => {});
  const banner = notLiveBanner();
  // Everything of this session's room: its name comes from the session row.
  getJSON(`/api/sessions/${SESSION_ID}`).then((session) => {
    state.session = session;
    reportPanel.refresh().catch(showError);
    ({ store, conn } = connectStore({
      subscription: { rooms: [session.room] },
      banner,
      onLiveChange: (isLive) => {
        if (!isLive) waves.clear();
        updateSound();
      },
    }));
    store.subscribe(onChange);
    renderAll();
  }).catch(showError);
  setInterval(() => chart.flush(), FLUSH_MS);
  setInterval(tick, 1000);
  // Notices move on after the alarm change that made them (sent, delivered, acknowledged …).
  loadDeliveries().catch(showError);
  setInterval(() => {
    if (!state.session?.ended) loadDeliveries().catch(() => {});
  }, DELIVERIES_EVERY_MS);
}
