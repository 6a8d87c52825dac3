// What the central station and the room view share: parameters, alarm priorities, formatting.

export const PARAMS = {
  HR: { label: "HR", unit: "/min" },
  SpO2: { label: "SpO₂", unit: "%" },
  RR: { label: "RR", unit: "/min" },
  EtCO2: { label: "EtCO₂", unit: "mmHg" },
  PR: { label: "PR", unit: "/min" },
};

export const PRIORITY_RANK = { low: 1, medium: 2, high: 3 };

// IEC 60601-1-8 flashing: the period of one on/off cycle, in ms (high ~2 Hz, medium ~0.45 Hz,
// low steady). The CSS animations use the same numbers; JS needs them to keep every flashing
// element on screen in phase.
export const FLASH_PERIOD_MS = { high: 500, medium: 2222 };

// A value not refreshed for this long is shown as "---": some monitors report once a minute
// (IHE PCD-01), so this must exceed that, while the room's own live flag (3 s) catches a feed
// that stops altogether.
export const STALE_S = 75;

// Which alarm goes first: the highest priority; on a tie one nobody has acknowledged yet before
// an acknowledged one, a patient (physiological) alarm before an equipment (technical) one; then
// the most recently raised.
function alarmOrder(a, b) {
  return (
    PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] ||
    (a.state === "acknowledged") - (b.state === "acknowledged") ||
    (a.kind === "technical") - (b.kind === "technical") ||
    b.raised_device - a.raised_device
  );
}

/** The active alarm to show first, or null. */
export function topAlarm(alarms) {
  return alarms.length ? sortAlarms(alarms)[0] : null;
}

/** Alarms in the order a list shows them (see alarmOrder). */
export function sortAlarms(alarms) {
  return [...alarms].sort(alarmOrder);
}

/**
 * Which box on a page shows the parameter an alarm watches (`alarm.param`): the cuff pressures
 * (SBP, DBP, MAP) are the NIBP box, HRbest the HR box; null for technical rules.
 */
export function alarmBox(alarm) {
  const p = alarm.param;
  if (!p) return null;
  if (p === "SBP" || p === "DBP" || p === "MAP") return "NIBP";
  if (p === "HRbest") return "HR";
  return p;
}

/** A numeric for display: rounded, "---" for no value (never 0). */
export function num(value) {
  return value === null || value === undefined || !Number.isFinite(value) ? "---" : String(Math.round(value));
}

/** "just now", "3 min ago", "1 h 05 min ago" for an age in seconds. */
export function age(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return "<1 min ago";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min ago`;
}

/** "142/88" for a cuff reading, "---/---" without one. */
export function bp(nibp) {
  if (!nibp) return "---/---";
  return `${num(nibp.sys)}/${num(nibp.dia)}`;
}

export const WATERMARK = { demo: "DEMO", test: "TEST", replay: "REPLAY" };

/** Natural order for room names: "Room 2" before "Room 10". */
export function byRoom(a, b) {
  return a.room.localeCompare(b.room, undefined, { numeric: true, sensitivity: "base" });
}

/**
 * Put an element's flash animation in phase with every other one of the same priority: CSS
 * animations start when applied, so two tiles raised a second apart would blink out of step.
 */
export function syncFlash(el, priority) {
  const period = FLASH_PERIOD_MS[priority];
  el.style.animationDelay = period ? `${-(performance.now() % period)}ms` : "";
}

/** Set a node's text only if it changed (a write, even of the same text, costs a relayout). */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Set a data attribute only if it changed (styles key on them: a write restyles the node). */
export function setData(node, key, value) {
  if (node.dataset[key] !== value) node.dataset[key] = value;
}

/** Set an attribute only if it changed. */
export function setAttr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

/** Show or hide a node only if that changes. */
export function setHidden(node, hidden) {
  if (node.hidden !== hidden) node.hidden = hidden;
}

/** Create an element with a class and optional text: DOM APIs only (no HTML strings). */
export function el(tag, className = "", text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

/** A parameter box: label, unit and value (the value starts as "---"). */
export function paramBox(p) {
  const box = el("div", `param param-${p}`);
  box.dataset.param = p;
  const head = el("div", "param-head");
  head.append(el("span", "label", PARAMS[p].label), el("span", "unit", PARAMS[p].unit));
  box.append(head, el("span", "value", "---"));
  return box;
}

/** The NIBP box: the last successful reading, its MAP, its age, and a failed attempt after it. */
export function nibpBox() {
  const box = el("div", "param nibp-row");
  box.dataset.param = "NIBP";
  const head = el("div", "param-head");
  head.append(el("span", "label", "NIBP"), el("span", "unit", "mmHg"), el("span", "nibp-note"));
  const line = el("div", "nibp-line");
  line.append(el("span", "value nibp", "---/---"), el("span", "map"), el("span", "nibp-age"));
  box.append(head, line);
  return box;
}

/** Fill a nibpBox with cuff readings ({status, sys, dia, map, t_device}); `now` is the room's
 * device clock, in seconds. */
export function renderNibp(box, nibp, attempt, now) {
  setText(box.querySelector(".nibp"), bp(nibp));
  setText(box.querySelector(".map"), nibp && nibp.map != null ? `(${num(nibp.map)})` : "");
  setText(box.querySelector(".nibp-age"), nibp ? `· ${age(now - nibp.t_device)}` : "no measurement yet");
  const failed = attempt && attempt.status === "failed" && (!nibp || attempt.t_device > nibp.t_device);
  const note = box.querySelector(".nibp-note");
  setText(note, failed ? `last attempt failed ${clockHM(attempt.t_device)}` : "");
  setHidden(note, !failed);
}

function clockHM(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString("en-GB", { hour12: false, hour: "2-digit", minute: "2-digit" });
}
