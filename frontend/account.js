// The signed-in user in a page's header: who is logged in, the pages their role may open, and
// the logout button. Shared by the central station, the sessions page and the admin page.
//
// A page includes it as a module and puts any of these in its header: #who (the user's name and
// role), #nav (links, shown only when the role may open them) and #logout (a button).

import { post } from "./live.js";

const PAGES = [
  { href: "/", label: "Central station", permission: "view_live" },
  { href: "/sessions", label: "Sessions", permission: "view_history" },
  { href: "/roster", label: "Roster", permission: "manage_roster" },
  { href: "/admin", label: "Administration", permission: "manage_users" },
];

/** GET a JSON resource of the API; a login that has ended goes to the login page. */
export async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (r.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new Error("logged out");
  }
  if (!r.ok) throw new Error(await errorText(r));
  return r.json();
}

/** The reason an API request failed, as one line of text for the page. */
export async function errorText(r) {
  const body = await r.json().catch(() => ({}));
  const detail = body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return `request failed (HTTP ${r.status})`;
}

/** A date and time in this browser's time zone, for seconds since the epoch. */
export function dateTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The current login: {name, role, demo, permissions}, fetched once per page. */
export const me = getJSON("/api/me");

me.then((who) => {
  const whoEl = document.getElementById("who");
  if (whoEl) whoEl.textContent = `${who.name} (${who.role})`;
  const nav = document.getElementById("nav");
  if (nav) {
    for (const p of PAGES) {
      if (!who.permissions.includes(p.permission)) continue;
      const a = document.createElement("a");
      a.href = p.href;
      a.textContent = p.label;
      if (p.href === location.pathname) a.setAttribute("aria-current", "page");
      nav.append(a);
    }
  }
}).catch(() => {});

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    logout.disabled = true;
    await post("/api/logout").catch(() => null);
    location.assign("/login");
  });
}
