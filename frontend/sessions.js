// The sessions page: active and past sessions (room, mode, label, start, end, duration), each
// linking to its room view, its replay, its report (PDF) and its label's course. A role that may
// manage sessions (clinicians) also gets a form to start one and an End button on each active
// one; other roles get neither, and the server refuses those requests anyway.

import { dateTime, errorText, getJSON, me } from "./account.js";
import { post } from "./live.js";
import { el } from "./vitals.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 10000;
let canManage = false;

function say(node, text, kind = "ok") {
  node.textContent = text;
  node.dataset.kind = kind;
}

/** H:MM:SS for a number of seconds. */
function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  return `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

function link(href, text) {
  const a = el("a", "", text);
  a.href = href;
  return a;
}

function row(s) {
  const tr = el("tr");
  tr.dataset.sessionId = String(s.id);
  tr.dataset.state = s.ended === null ? "active" : "ended";
  const mode = el("td");
  mode.append(el("span", s.mode === "live" ? "status-tag ok" : "status-tag demo", s.mode));
  const end = el("td", "t");
  if (s.ended === null) end.append(el("span", "status-tag active", "active"));
  else end.textContent = dateTime(s.ended);
  const links = el("td", "links");
  links.append(link(`/room/${s.id}`, "Room view"), " ", link(`/replay/${s.id}`, "Replay"), " ",
    link(`/api/sessions/${s.id}/report.pdf`, "Report"));
  if (s.label) links.append(" ", link(`/course/${encodeURIComponent(s.label)}`, "Course"));
  if (canManage && s.ended === null) {
    const button = el("button", "danger", "End");
    button.type = "button";
    button.dataset.action = "end-session";
    button.addEventListener("click", () => endSession(s, button));
    links.append(" ", button);
  }
  const until = s.ended ?? Date.now() / 1000;
  tr.append(el("td", "", s.room), mode, el("td", "", s.label || ""), el("td", "t", dateTime(s.started)), end,
    el("td", "num", duration(until - s.started)), links);
  return tr;
}

function fill(body, sessions, emptyText) {
  if (!sessions.length) {
    const td = el("td", "empty-row", emptyText);
    td.colSpan = 7;
    const tr = el("tr");
    tr.append(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(...sessions.map(row));
}

async function load() {
  let sessions;
  try {
    sessions = await getJSON("/api/sessions");
  } catch (e) {
    say($("sessions-message"), `Cannot load the sessions: ${e.message}`, "error");
    return;
  }
  say($("sessions-message"), "");
  sessions.sort((a, b) => b.started - a.started);
  fill($("active-body"), sessions.filter((s) => s.ended === null), "No active sessions.");
  fill($("past-body"), sessions.filter((s) => s.ended !== null), "No past sessions.");
}

async function endSession(s, button) {
  if (!confirm(`End the session in ${s.room}? Its monitor's readings stop being recorded to it.`)) return;
  button.disabled = true;
  const r = await post(`/api/sessions/${s.id}/end`);
  if (!r.ok) say($("start-message"), await errorText(r), "error");
  await load();
}

$("start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const body = { room: $("start-room").value.trim(), mode: $("start-mode").value, label: $("start-label").value.trim() };
  const r = await post("/api/sessions", body);
  if (r.ok) {
    say($("start-message"), `Session started in ${body.room}.`);
    form.reset();
  } else {
    say($("start-message"), await errorText(r), "error");
  }
  await load();
});

me.then((who) => {
  canManage = who.permissions.includes("manage_sessions");
  $("start-form").hidden = !canManage;
}).catch(() => {}).finally(() => {
  load();
  setInterval(load, REFRESH_MS);
});
