// The room view (/room/{session_id}): the session's trends so far with its alarm limits, alarm
// periods and event marks, updated live; the live waveforms; its current values and phase; its
// active alarms with the actions the user's role allows; event marking; its alarm log; and its
// alarm limits, which a clinician may change for this session.
//
// The first snapshot loads the session from the REST API. Every later snapshot (a reconnect)
// backfills what was missed: readings since the newest one drawn, and the alarms, the alarm log
// and the marks as they now stand, so the trend has no hole where this screen was not live. Live
// messages that arrive while a load is in flight are held and applied after it.

import { SERVER_CLOCK_RULES, placeInOrder, stateLabel, syncActions } from "./alarm-ui.js";
import { getJSON, me } from "./account.js";
import { clock, connectLive, notLiveBanner, post, request } from "./live.js";
import { DEFAULT_SCHEDULE, DeviceClock, doseFromMarks, nibpDue, phaseAt } from "./session.js";
import { soundButton, sound, soundingPriority } from "./sound.js";
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
  info: null, // the room state from the live snapshot; null if the session is not active
  values: {},
  nibp: null,
  attempt: null,
  active: new Map(), // alarm id -> alarm row, not cleared
  alarms: new Map(), // alarm id -> alarm row, all of the session
  log: new Map(), // alarm-log id -> entry
  marks: [],
  rules: null,
  dose: null,
  infusionEnd: null,
  loaded: false, // the first full load has completed
  loading: null, // a Promise while a REST load runs
  held: [], // live messages received during a load
  error: null, // why the session could not be loaded, shown until a load succeeds
  permissions: [],
  deviceClock: new DeviceClock(),
  editing: null, // the rule whose limits form is open
  logShown: -1, // how many log entries the alarm log shows
};

let conn = null;
const now = () => (conn ? conn.serverNow() : Date.now() / 1000);
const deviceNow = () => state.deviceClock.now(now());
chart.now = deviceNow;

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
  state.nibp = session.nibp;
  state.attempt = session.nibp_last_attempt;
  if (!state.info) state.values = {}; // an ended session's stored last values are history, not current
  state.active = new Map((session.alarms || []).map((a) => [a.id, a]));
  state.alarms = new Map(alarms.map((a) => [a.id, a]));
  for (const e of log) state.log.set(e.id, e);
  setMarks(marks);
  setRules(rules);
  if (session.dose != null) state.dose = session.dose;
  chart.addReadings(readings);
  chart.setAlarms([...state.alarms.values()]);
  state.loaded = true;
}

function onSnapshot(msg) {
  state.info = msg.rooms.find((r) => r.session_id === SESSION_ID) ?? null;
  state.values = {};
  if (state.info) {
    let newest = -Infinity;
    for (const [param, v] of Object.entries(state.info.values || {})) {
      state.values[param] = { value: v.value, seen: v.t };
      newest = Math.max(newest, v.t);
    }
    if (showing(state.info) && Number.isFinite(newest)) state.deviceClock.observe(newest, msg.server_time);
  }
  waves.clear();
  $("no-waves").hidden = false;
  state.held = [];
  // A reconnect backfills from the newest reading drawn; the first load takes everything.
  const since = state.loaded ? chart.lastT : null;
  const loading = load(since)
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

function sessionOf(msg) {
  switch (msg.type) {
    case "alarm": return msg.alarm.session_id;
    case "room": return msg.room.session_id;
    case "mark": return msg.mark?.session_id;
    default: return msg.session_id;
  }
}

function handle(msg) {
  if (msg.type === "heartbeat") return tick();
  if (sessionOf(msg) !== SESSION_ID) return;
  if (msg.type === "waveform") {
    waves.add(msg); // waveforms are not stored in the page state: drawn as they come
    return;
  }
  if (state.loading) {
    state.held.push(msg);
    return;
  }
  switch (msg.type) {
    case "numerics": {
      const seen = now();
      state.deviceClock.observe(msg.t, seen);
      for (const [p, value] of Object.entries(msg.values)) {
        state.values[p] = { value, seen };
        if (NUMERIC_TRACES.includes(p)) chart.add(p, msg.t, value);
      }
      renderCurrent();
      break;
    }
    case "nibp": {
      state.deviceClock.observe(msg.t, now());
      const reading = { t: msg.t, status: msg.status, sys: msg.sys, dia: msg.dia, map: msg.map, reason: msg.reason };
      state.attempt = reading;
      if (msg.status === "ok") state.nibp = reading;
      chart.addNibp(reading);
      renderCurrent();
      break;
    }
    case "alarm": {
      const a = msg.alarm;
      if (msg.event === "cleared") state.active.delete(a.id);
      else state.active.set(a.id, a);
      state.alarms.set(a.id, a);
      state.log.set(msg.log_id, {
        id: msg.log_id, alarm_id: a.id, t: a.updated, rule: a.rule, event: msg.event, state: a.state,
        priority: a.priority, message: a.message, by: msg.by ?? "", tier: a.tier,
      });
      chart.setAlarms([...state.alarms.values()]);
      renderAlarms();
      break;
    }
    case "mark": {
      setMarks([...state.marks, msg.mark]);
      renderPhase();
      break;
    }
    case "room": {
      if (showing(state.info) && !showing(msg.room)) state.values = {};
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
  chart.setRules(rules);
  renderLimits();
}

// Panels --------------------------------------------------------------------------------------

function renderAll() {
  renderHeader();
  renderPhase();
  renderCurrent();
  renderAlarms();
  renderMarks();
}

/** Values are shown while at least one of the room's monitors is live (each greys on its own
 * once it is not refreshed); the header names the silent ones. */
function showing(info) {
  return Boolean(info && (info.live || info.partial));
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
  } else if (!info.monitor) {
    box.textContent = "NO MONITOR CONNECTED";
    box.classList.add("offline-state");
  } else if (info.partial) {
    // Each monitor on its own: the silent ones are named, with when each was last heard.
    const each = (info.monitors || []).map((m) => (m.live
      ? `● ${m.model || m.monitor_id} live`
      : `${m.monitor_id} OFFLINE — last data ${clock(m.last_heard)}`));
    box.textContent = `MONITOR ${info.silent.join(", ")} OFFLINE — ${each.join(" · ")}`;
    box.classList.add("offline-state");
  } else if (!info.live) {
    const which = (info.monitors || []).length > 1 ? `S ${info.silent.join(", ")}` : "";
    box.textContent = `MONITOR${which} OFFLINE — last data ${clock(info.last_heard)}`;
    box.classList.add("offline-state");
  } else {
    const names = (info.monitors || [info.monitor]).map((m) => m.model || m.monitor_id).join(", ");
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
  const phase = phaseAt(state.dose, state.infusionEnd, t);
  const box = $("session-phase");
  box.replaceChildren();
  box.dataset.phase = phase.key;
  const chip = el("span", "phase", phase.label);
  chip.dataset.phase = phase.key;
  box.append(chip);
  if (phase.minutes !== null) {
    box.append(el("span", "phase-time", `${phase.minutes} min since the dose (${clock(state.dose).slice(0, 5)})`));
  } else {
    box.append(el("span", "phase-time", "no dose marked"));
  }
  const due = nibpDue(DEFAULT_SCHEDULE, state.dose, state.nibp?.t ?? null, t);
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
  const t = now();
  const live = showing(state.info);
  for (const p of CURRENT_PARAMS) {
    const v = state.values[p];
    const fresh = live && v && t - v.seen <= STALE_S;
    const node = box.querySelector(`[data-param="${p}"]`);
    node.querySelector(".value").textContent = fresh ? num(v.value) : "---";
    node.hidden = p === "EtCO2" && !(p in state.values);
  }
  renderNibp(box.querySelector('[data-param="NIBP"]'), state.nibp, state.attempt, deviceNow());
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
  const active = sortAlarms([...state.active.values()]);
  const dNow = deviceNow();
  const sNow = now();
  for (const [id, li] of items) {
    if (!state.active.has(id)) {
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
    p.text.textContent = a.message;
    const label = stateLabel(a, SERVER_CLOCK_RULES.has(a.rule) ? sNow : dNow);
    p.state.textContent = label;
    p.state.hidden = !label;
    const by = a.state === "acknowledged" && a.acknowledged_by ? ` · ack ${a.acknowledged_by}` : "";
    p.when.textContent = `since ${clock(a.raised)}${by}`;
    syncActions(p.actions, a, state.permissions, actionError);
  }
  placeInOrder(list, active.map((a) => items.get(a.id)));
  updateSound();
  if (state.logShown !== state.log.size) renderLog();
}

/** The highest alarm in a sounding state; a lost connection sounds as a medium technical alarm. */
function updateSound() {
  if (conn && !conn.live) sound.set("medium", "connection to server lost");
  else sound.set(soundingPriority([...state.active.values()]), "alarm");
}

const EVENT_TEXT = {
  raised: "raised", escalated: "escalated", acknowledged: "acknowledged", audio_paused: "audio paused",
  audio_resumed: "audio resumed", reminder: "reminder", latched: "latched", cleared: "cleared", reset: "reset",
};

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
    text.append(el("span", "prio", e.message.match(/^\*+/)?.[0] ?? ""), ` ${e.message.replace(/^\*+\s*/, "")}`);
    li.append(el("span", "t", clock(e.t)), text,
      el("span", "state", `${EVENT_TEXT[e.event] ?? e.event}${e.by ? ` by ${e.by}` : ""}`));
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

const PREFIX = { high: "***", medium: "**", low: "*" };

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
    name.append(el("strong", "", id), ` ${PREFIX[r.priority]} ${r.title}`);
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
  renderCurrent();
  renderPhase();
  // Pause countdowns and the growing active alarm periods.
  if (state.active.size) {
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
  conn = connectLive({
    onSnapshot,
    onMessage: handle,
    onLiveChange: (live, since, never) => {
      banner(live, since, never);
      if (!live) waves.clear();
      updateSound();
    },
  });
  setInterval(() => chart.flush(), FLUSH_MS);
  setInterval(tick, 1000);
}
