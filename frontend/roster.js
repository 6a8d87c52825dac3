// The roster page (/roster): today's and upcoming shifts, a form to create one, and editing of a
// shift's name, clinician and room assignments; ending a running shift early and deleting one that
// has not started. Clinicians and admins only (manage_roster).
//
// The server decides everything: who may take which slot (GET /api/roster/people), what is valid
// (a refused change is a 422 naming each field, marked on the form here), and what a shift's time
// allows. Every text from the server goes into the page with textContent, never as HTML.

import { dateTime, errorText, getJSON } from "./account.js";
import { post, request } from "./live.js";
import { el } from "./vitals.js";

const $ = (id) => document.getElementById(id);
let people = { nurse: [], backup: [], clinician: [] };
let editing = null; // the shift being edited, or null when the form creates one

function say(node, text, kind = "ok") {
  node.textContent = text;
  node.dataset.kind = kind;
}

function tag(text, kind) {
  return el("span", `status-tag ${kind}`, text);
}

function status(s, now) {
  if (s.ends <= now) return "ended";
  return s.starts <= now ? "running" : "upcoming";
}

/** Seconds since the epoch for a datetime-local value (this browser's time zone), or null. */
function seconds(value) {
  const t = value ? new Date(value).getTime() : NaN;
  return Number.isFinite(t) ? t / 1000 : null;
}

/** A datetime-local value for seconds since the epoch, in this browser's time zone. */
function local(secondsValue) {
  const d = new Date(secondsValue * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// Shifts ---------------------------------------------------------------------------------------

async function loadShifts() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const shifts = await getJSON(`/api/roster/shifts?after=${midnight.getTime() / 1000}`);
  const now = Date.now() / 1000;
  const body = $("shifts-body");
  if (!shifts.length) {
    const td = el("td", "empty-row", "No shifts today or later. Create one below.");
    td.colSpan = 7;
    const tr = el("tr");
    tr.append(td);
    body.replaceChildren(tr);
  } else {
    body.replaceChildren(...shifts.map((s) => shiftRow(s, now)));
  }
  const rooms = new Set(shifts.flatMap((s) => Object.keys(s.rooms)));
  try {
    for (const r of await getJSON("/api/rooms")) rooms.add(r.room);
  } catch {
    // a role without the live view (an admin) names rooms from the shifts, or types them
  }
  $("known-rooms").replaceChildren(...[...rooms].sort().map((r) => {
    const o = el("option");
    o.value = r;
    return o;
  }));
}

function shiftRow(s, now) {
  const tr = el("tr");
  const state = status(s, now);
  tr.dataset.shift = s.id;
  tr.dataset.status = state;
  const rooms = el("td", "rooms-cell");
  for (const [room, c] of Object.entries(s.rooms)) {
    rooms.append(el("div", "", `${room}: ${c.nurse}${c.backup ? ` / ${c.backup}` : ""}`));
  }
  if (!Object.keys(s.rooms).length) rooms.append(tag("no rooms", "off"));
  const st = el("td");
  st.append(tag(state, state === "running" ? "ok" : state === "upcoming" ? "upcoming" : "off"));
  const actions = el("td");
  const button = (label, action, onClick, cls = "") => {
    const b = el("button", cls, label);
    b.type = "button";
    b.dataset.action = action;
    b.addEventListener("click", () => onClick(s, b));
    actions.append(b, " ");
  };
  if (state !== "ended") button("Edit", "edit-shift", startEditing, "secondary");
  if (state === "running") button("End now", "end-shift", endShift, "danger");
  if (state === "upcoming") button("Delete", "delete-shift", deleteShift, "danger");
  tr.append(el("td", "", s.name), el("td", "t", dateTime(s.starts)), el("td", "t", dateTime(s.ends)),
    el("td", "", s.clinician), rooms, st, actions);
  return tr;
}

async function endShift(s, b) {
  if (!confirm(`End shift ${s.name} now? Its rooms are no longer covered by it from this moment.`)) return;
  b.disabled = true;
  const r = await post(`/api/roster/shifts/${s.id}/end`);
  say($("shifts-message"), r.ok ? `Shift ${s.name} ended.` : await errorText(r), r.ok ? "ok" : "error");
  await loadShifts();
}

async function deleteShift(s, b) {
  if (!confirm(`Delete the upcoming shift ${s.name}?`)) return;
  b.disabled = true;
  const r = await request("DELETE", `/api/roster/shifts/${s.id}`);
  say($("shifts-message"), r.ok ? `Shift ${s.name} deleted.` : await errorText(r), r.ok ? "ok" : "error");
  await loadShifts();
}

// The form -------------------------------------------------------------------------------------

function options(select, users, { blank = null, value = "" } = {}) {
  const opts = users.map((u) => {
    const o = el("option", "", `${u.name} (${u.role})`);
    o.value = u.name;
    return o;
  });
  if (blank !== null) {
    const o = el("option", "", blank);
    o.value = "";
    opts.unshift(o);
  }
  select.replaceChildren(...opts);
  // A name the list does not hold (a user since disabled) stays visible rather than silently changed.
  if (value && !users.some((u) => u.name === value)) {
    const o = el("option", "", `${value} (not available)`);
    o.value = value;
    select.append(o);
  }
  select.value = value;
}

function addRoomRow(room = "", cover = { nurse: "", backup: null }) {
  const i = $("room-rows").children.length;
  const row = el("div", "room-row");
  const roomInput = el("input");
  roomInput.setAttribute("list", "known-rooms");
  roomInput.maxLength = 64;
  roomInput.value = room;
  roomInput.className = "room-name";
  const nurse = el("select", "room-nurse");
  options(nurse, people.nurse, { blank: "— choose —", value: cover.nurse });
  const backup = el("select", "room-backup");
  options(backup, people.backup, { blank: "no backup", value: cover.backup ?? "" });
  const remove = el("button", "secondary", "Remove");
  remove.type = "button";
  remove.addEventListener("click", () => {
    row.remove();
    numberRows();
  });
  const label = (text, node) => {
    const l = el("label", "", text);
    l.append(node);
    return l;
  };
  row.append(label("Room ", roomInput), label("Nurse ", nurse), label("Backup ", backup), remove);
  $("room-rows").append(row);
  numberRows();
  return i;
}

/** Each row's inputs carry the field they fill (rooms.<i>.room …), as the server names them. */
function numberRows() {
  [...$("room-rows").children].forEach((row, i) => {
    row.querySelector(".room-name").dataset.field = `rooms.${i}.room`;
    row.querySelector(".room-nurse").dataset.field = `rooms.${i}.nurse`;
    row.querySelector(".room-backup").dataset.field = `rooms.${i}.backup`;
  });
}

function formRooms() {
  return [...$("room-rows").children].map((row) => ({
    room: row.querySelector(".room-name").value.trim(),
    nurse: row.querySelector(".room-nurse").value,
    backup: row.querySelector(".room-backup").value || null,
  }));
}

function clearErrors() {
  for (const node of document.querySelectorAll("#shift-form [aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    node.title = "";
  }
  for (const node of document.querySelectorAll("#shift-form .field-error")) node.remove();
}

/** Mark each field a 422 names, with its reason next to it; the summary goes to the message. */
async function showRefusal(r) {
  const text = await errorText(r.clone());
  const body = await r.json().catch(() => ({}));
  if (Array.isArray(body.detail)) {
    for (const d of body.detail) {
      const field = (d.loc || []).filter((p) => p !== "body").join(".");
      const node = document.querySelector(`#shift-form [data-field="${CSS.escape(field)}"]`);
      if (!node) continue;
      node.setAttribute("aria-invalid", "true");
      node.title = d.msg;
      node.closest("label")?.append(el("span", "field-error", d.msg));
    }
  }
  say($("shift-message"), text, "error");
}

function resetForm() {
  editing = null;
  $("shift-form").reset();
  clearErrors();
  $("editor-title").textContent = "New shift";
  $("shift-submit").textContent = "Create shift";
  $("shift-cancel").hidden = true;
  $("shift-starts").disabled = false;
  $("shift-ends").disabled = false;
  $("shift-starts").value = local(Date.now() / 1000);
  options($("shift-clinician"), people.clinician, { blank: "— choose —" });
  $("room-rows").replaceChildren();
  addRoomRow();
}

function startEditing(s) {
  resetForm();
  editing = s;
  $("editor-title").textContent = `Edit shift ${s.name}`;
  $("shift-submit").textContent = "Save changes";
  $("shift-cancel").hidden = false;
  $("shift-name").value = s.name;
  $("shift-starts").value = local(s.starts);
  $("shift-ends").value = local(s.ends);
  // A shift's times are not edited: a running one is ended early, an upcoming one replaced.
  $("shift-starts").disabled = true;
  $("shift-ends").disabled = true;
  options($("shift-clinician"), people.clinician, { blank: "— choose —", value: s.clinician });
  $("room-rows").replaceChildren();
  for (const [room, cover] of Object.entries(s.rooms)) addRoomRow(room, cover);
  if (!Object.keys(s.rooms).length) addRoomRow();
  $("shift-name").focus();
}

$("add-room").addEventListener("click", () => addRoomRow());
$("shift-cancel").addEventListener("click", () => resetForm());

$("shift-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  // Rows left wholly blank are dropped first, so each row's number is the one the server names.
  for (const row of [...$("room-rows").children]) {
    if (!row.querySelector(".room-name").value.trim() && !row.querySelector(".room-nurse").value &&
        !row.querySelector(".room-backup").value) row.remove();
  }
  numberRows();
  const rooms = formRooms();
  const common = { name: $("shift-name").value.trim(), clinician: $("shift-clinician").value, rooms };
  let r;
  if (editing) {
    r = await request("PATCH", `/api/roster/shifts/${editing.id}`, common);
  } else {
    r = await post("/api/roster/shifts", {
      ...common, starts: seconds($("shift-starts").value), ends: seconds($("shift-ends").value),
    });
  }
  if (!r.ok) {
    await showRefusal(r);
    return;
  }
  const saved = await r.json();
  const was = editing;
  resetForm();
  say($("shift-message"), was ? `Shift ${saved.name} saved.` : `Shift ${saved.name} created.`);
  await loadShifts();
});

// Start ----------------------------------------------------------------------------------------

async function start() {
  try {
    people = await getJSON("/api/roster/people");
  } catch (e) {
    say($("shift-message"), `Could not load the people who can take a slot: ${e.message}`, "error");
  }
  resetForm();
  try {
    await loadShifts();
  } catch (e) {
    say($("shifts-message"), `Could not load the shifts: ${e.message}`, "error");
  }
}

start();
