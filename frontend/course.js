// The course view: a label's sessions side by side (the latest 10, oldest on the left), one
// column each: when, mode, baseline and peak cuff pressure, alarms by priority, doses, and links
// to the session's report and readings.

import { dateTime, getJSON } from "./account.js";
import { el } from "./vitals.js";

const $ = (id) => document.getElementById(id);
const label = decodeURIComponent(location.pathname.split("/").pop() || "");

const bp = (s, d) => (s === null ? "—" : `${Math.round(s)}/${d === null ? "—" : Math.round(d)}`);

function link(href, text) {
  const a = el("a", "", text);
  a.href = href;
  return a;
}

const ROWS = [
  ["Session", (s) => String(s.session_id)],
  ["Start", (s) => dateTime(s.started)],
  ["Mode", (s) => s.mode],
  ["Baseline BP", (s) => bp(s.baseline_sbp, s.baseline_dbp)],
  ["Peak BP", (s) => bp(s.peak_sbp, s.peak_dbp)],
  ["Alarms high", (s) => String(s.alarms.high || 0)],
  ["Alarms medium", (s) => String(s.alarms.medium || 0)],
  ["Alarms low", (s) => String(s.alarms.low || 0)],
  ["Doses", (s) => s.doses.map((d) => `${d.drug} ${d.dose_mg} mg ${d.route}`).join("; ") || "none recorded"],
];

async function load() {
  $("course-label").textContent = label;
  let course;
  try {
    course = await getJSON(`/api/patients/${encodeURIComponent(label)}/course`);
  } catch (e) {
    $("course-message").textContent = e.message;
    return;
  }
  const table = $("course-table");
  if (!course.sessions.length) {
    $("course-message").textContent = "no sessions with this label";
    return;
  }
  if (course.more) $("course-message").textContent = `${course.more} older session(s) not shown`;
  for (const [name, cell] of ROWS) {
    const tr = el("tr");
    tr.dataset.row = name;
    tr.append(el("th", "", name));
    for (const s of course.sessions) tr.append(el("td", "", cell(s)));
    table.append(tr);
  }
  const links = el("tr");
  links.append(el("th", "", "Report"));
  for (const s of course.sessions) {
    const td = el("td", "links");
    td.append(link(`/api/sessions/${s.session_id}/report.pdf`, "PDF"), " ",
      link(`/api/sessions/${s.session_id}/report.html`, "HTML"), " ",
      link(`/api/sessions/${s.session_id}/readings.csv`, "CSV"));
    links.append(td);
  }
  table.append(links);
}

load();
