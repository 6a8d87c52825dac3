// The administration page: users (list, add, disable), devices (list, add — its token shown once
// —, change the rooms each may feed, revoke) and the audit trail (filter by action, CSV export).
// Admins only; no patient data.
//
// Every text from the server goes into the page with textContent, never as HTML. State-changing
// requests go through post(), which sends the login's CSRF token.

import { dateTime, errorText, getJSON, me } from "./account.js";
import { post, request } from "./live.js";
import { el } from "./vitals.js";

const $ = (id) => document.getElementById(id);

function say(node, text, kind = "ok") {
  node.textContent = text;
  node.dataset.kind = kind;
}

function emptyRow(body, columns, text) {
  const td = el("td", "empty-row", text);
  td.colSpan = columns;
  const tr = el("tr");
  tr.append(td);
  body.replaceChildren(tr);
}

function tag(text, kind) {
  return el("span", `status-tag ${kind}`, text);
}

// Users ---------------------------------------------------------------------------------------

async function loadUsers() {
  const [users, self] = await Promise.all([getJSON("/api/users"), me]);
  const body = $("users-body");
  if (!users.length) {
    emptyRow(body, 6, "No users.");
    return;
  }
  body.replaceChildren(...users.map((u) => {
    const tr = el("tr");
    tr.dataset.user = u.name;
    tr.dataset.state = u.disabled ? "disabled" : "active";
    const status = el("td");
    status.append(u.disabled ? tag("disabled", "off") : tag("active", "ok"));
    if (u.demo) status.append(" ", tag("demo", "demo"));
    const action = el("td");
    if (!u.disabled && u.name !== self.name) { // disabling yourself would lock you out at once
      const button = el("button", "danger", "Disable");
      button.type = "button";
      button.dataset.action = "disable-user";
      button.addEventListener("click", () => disableUser(u.name, button));
      action.append(button);
    }
    // The sites the user sees: those granted; none granted is the default site; admins see all.
    const sites = el("td", "sites", u.role === "admin" ? "every site" : u.sites.join(", ") || "default site");
    tr.append(el("td", "", u.name), el("td", "", u.role), sites, el("td", "t", dateTime(u.created)), status, action);
    return tr;
  }));
}

async function disableUser(name, button) {
  if (!confirm(`Disable ${name}? Their logins end at once, and they cannot log in again.`)) return;
  button.disabled = true;
  const r = await post(`/api/users/${encodeURIComponent(name)}/disable`);
  if (r.ok) say($("user-message"), `${name} is disabled.`);
  else say($("user-message"), await errorText(r), "error");
  await Promise.all([loadUsers(), loadAudit()]);
}

$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const body = {
    name: $("user-name").value.trim(), role: $("user-role").value, password: $("user-password").value,
    sites: $("user-sites").value.split(",").map((x) => x.trim()).filter(Boolean),
  };
  const r = await post("/api/users", body);
  if (r.ok) {
    say($("user-message"), `${body.name} added (${body.role}).`);
    form.reset();
  } else {
    say($("user-message"), await errorText(r), "error");
  }
  $("user-password").value = "";
  await Promise.all([loadUsers(), loadAudit()]);
});

// Devices ------------------------------------------------------------------------------------

async function loadDevices() {
  const devices = await getJSON("/api/devices");
  const body = $("devices-body");
  if (!devices.length) {
    emptyRow(body, 6, "No devices. Add one for each monitor adapter.");
    return;
  }
  body.replaceChildren(...devices.map((d) => {
    const tr = el("tr");
    tr.dataset.device = d.name;
    tr.dataset.state = d.revoked ? "revoked" : "active";
    const status = el("td");
    status.append(d.revoked ? tag(`revoked ${dateTime(d.revoked)}`, "off") : tag("active", "ok"));
    if (d.demo) status.append(" ", tag("demo", "demo"));
    const action = el("td");
    if (!d.revoked) {
      const rooms = el("button", "", "Rooms…");
      rooms.type = "button";
      rooms.dataset.action = "device-rooms";
      rooms.addEventListener("click", () => changeRooms(d, rooms));
      const button = el("button", "danger", "Revoke");
      button.type = "button";
      button.dataset.action = "revoke-device";
      button.addEventListener("click", () => revokeDevice(d.name, button));
      action.append(rooms, " ", button);
    }
    const rooms = el("td", "rooms", roomsText(d));
    if (!d.any_room && !d.rooms.length) rooms.append(" ", tag("refused everywhere", "off"));
    tr.append(el("td", "", d.name), rooms, el("td", "site", d.site), el("td", "t", dateTime(d.created)), status, action);
    return tr;
  }));
}

function roomsText(d) {
  return d.any_room ? "any room" : d.rooms.join(", ");
}

/** Rooms typed as a comma-separated list; "*" alone means any room. */
function roomsBody(text, anyRoom = false) {
  const rooms = text.split(",").map((r) => r.trim()).filter(Boolean);
  if (anyRoom || (rooms.length === 1 && rooms[0] === "*")) return { rooms: [], any_room: true };
  return { rooms, any_room: false };
}

async function changeRooms(d, button) {
  const text = prompt(`Rooms ${d.name} may feed (comma-separated; * for any room). It takes effect at its next connection.`,
    d.any_room ? "*" : d.rooms.join(", "));
  if (text === null) return;
  button.disabled = true;
  const r = await request("PUT", `/api/devices/${encodeURIComponent(d.name)}/rooms`, roomsBody(text));
  if (r.ok) say($("device-message"), `${d.name} may feed ${roomsText(await r.json())}.`);
  else say($("device-message"), await errorText(r), "error");
  await Promise.all([loadDevices(), loadAudit()]);
}

async function revokeDevice(name, button) {
  if (!confirm(`Revoke the token of ${name}? The monitor cannot connect again until it has a new one.`)) return;
  button.disabled = true;
  const r = await post(`/api/devices/${encodeURIComponent(name)}/revoke`);
  if (r.ok) say($("device-message"), `${name} is revoked.`);
  else say($("device-message"), await errorText(r), "error");
  await Promise.all([loadDevices(), loadAudit()]);
}

function showToken(name, token) {
  $("token-device").textContent = name;
  $("token-value").textContent = token;
  $("token-copied").textContent = "";
  $("token-box").hidden = false;
  $("token-copy").focus();
}

function hideToken() {
  // The token leaves the page: it is never shown again.
  $("token-value").textContent = "";
  $("token-device").textContent = "";
  $("token-box").hidden = true;
}

async function copyToken() {
  const token = $("token-value").textContent;
  try {
    await navigator.clipboard.writeText(token);
  } catch {
    // Not a secure context (plain http on the network) or no permission: select it instead.
    const range = document.createRange();
    range.selectNodeContents($("token-value"));
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    say($("token-copied"), "Selected: press Ctrl+C to copy it.");
    return;
  }
  say($("token-copied"), "Copied to the clipboard.");
}

$("token-copy").addEventListener("click", copyToken);
$("token-done").addEventListener("click", hideToken);

$("device-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const name = $("device-name").value.trim();
  const site = $("device-site").value.trim();
  const r = await post("/api/devices", {
    name, ...roomsBody($("device-rooms").value, $("device-any-room").checked), ...(site ? { site } : {}),
  });
  if (r.ok) {
    const added = await r.json();
    say($("device-message"), `${added.name} added.`);
    form.reset();
    showToken(added.name, added.token);
  } else {
    say($("device-message"), await errorText(r), "error");
  }
  await Promise.all([loadDevices(), loadAudit()]);
});

// Audit trail --------------------------------------------------------------------------------

const knownActions = new Set();

function change(entry) {
  const show = (v) => (v === null || v === undefined ? "" : v);
  if (entry.old === null && entry.new === null) return "";
  if (entry.old === null) return show(entry.new);
  return `${show(entry.old)} → ${show(entry.new)}`;
}

function updateActions(entries) {
  const select = $("audit-action");
  let added = false;
  for (const e of entries) {
    if (!knownActions.has(e.action)) {
      knownActions.add(e.action);
      added = true;
    }
  }
  if (!added) return;
  const chosen = select.value;
  const options = [...knownActions].sort().map((a) => {
    const o = el("option", "", a);
    o.value = a;
    return o;
  });
  const all = el("option", "", "all actions");
  all.value = "";
  select.replaceChildren(all, ...options);
  select.value = chosen;
}

async function loadAudit() {
  const action = $("audit-action").value;
  const query = action ? `?action=${encodeURIComponent(action)}` : "";
  let entries;
  try {
    entries = await getJSON(`/api/audit${query}`);
  } catch (e) {
    say($("audit-message"), `Cannot load the audit trail: ${e.message}`, "error");
    return;
  }
  say($("audit-message"), "");
  if (!action) updateActions(entries);
  const body = $("audit-body");
  if (!entries.length) {
    emptyRow(body, 6, "No entries.");
    return;
  }
  body.replaceChildren(...entries.map((e) => {
    const tr = el("tr");
    tr.dataset.action = e.action;
    tr.append(el("td", "t", dateTime(e.t)), el("td", "", e.user), el("td", "", e.action),
      el("td", "", e.target), el("td", "change", change(e)), el("td", "", e.source));
    return tr;
  }));
}

$("audit-action").addEventListener("change", loadAudit);
$("audit-refresh").addEventListener("click", loadAudit);

// Start --------------------------------------------------------------------------------------

for (const [load, message] of [[loadUsers, "user-message"], [loadDevices, "device-message"], [loadAudit, "audit-message"]]) {
  load().catch((e) => say($(message), `Cannot load: ${e.message}`, "error"));
}
