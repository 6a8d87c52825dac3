// The nurse view's service worker (served at /sw.js, scope /): what rings a locked phone.
//
// The browser wakes it for each Web Push message (app/push.py, alerts/delivery/push.py), even
// with the page closed or frozen. An alarm message is shown as a notification (tag per alarm, so
// an escalation replaces what the phone shows); an "acknowledged" or "cleared" message closes
// it; a heartbeat is answered with a receipt and shown as one quiet status notification, since
// platforms make every push show something. Each alarm notification is receipted ("delivered"
// when shown, "seen" when touched), so the delivery knows the phone rang.
//
// It caches nothing and has no fetch handler: every page, reading and alarm comes from the
// server, never from a copy on the phone. The one thing kept is the device's own secret
// (Cache storage, written by frontend/push.js at registration), which authenticates receipts:
// a service worker has no login cookie's CSRF token.

const DEVICE_CACHE = "vitalwatch-device";
const DEVICE_KEY = "/push-device";
const STATUS_TAG = "vitalwatch-status";
const ICON = "/static/icon-192.png";
const BADGE = "/static/icon-192.png";
// Vibration per priority (where the platform honours it; iOS does not): high in IEC 60601-1-8's
// spirit of a burst repeated, medium a shorter burst, low a single pulse.
const VIBRATE = {
  high: [200, 100, 200, 100, 200, 400, 200, 100, 200],
  medium: [300, 150, 300],
  low: [200],
};
const CONFIRM_MS = 4000; // how long "acknowledged" stays on the screen

const alarmTag = (id) => `vitalwatch-alarm-${id}`;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

async function device() {
  try {
    const r = await (await caches.open(DEVICE_CACHE)).match(DEVICE_KEY);
    return r ? await r.json() : null;
  } catch {
    return null;
  }
}

/** Tell the server what happened here; never throws (a lost receipt must not stop a notification). */
async function receipt(body) {
  const d = await device();
  if (!d) return { ok: false, why: "this phone is not registered" };
  try {
    const r = await fetch("/api/push/receipts", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${d.secret}` },
      body: JSON.stringify(body),
    });
    return { ok: r.ok, why: r.ok ? "" : `server answered ${r.status}` };
  } catch (e) {
    return { ok: false, why: String(e) };
  }
}

async function closeAlarm(id) {
  for (const n of await self.registration.getNotifications({ tag: alarmTag(id) })) n.close();
}

async function showStatus(title, body) {
  await self.registration.showNotification(title, {
    tag: STATUS_TAG, body, silent: true, renotify: false, icon: ICON, badge: BADGE,
    data: { status: true },
  });
}

async function onPush(event) {
  let data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch {
    data = null;
  }
  if (!data || typeof data !== "object") {
    // Something arrived that cannot be read: better a loud "look at the nurse view" than nothing.
    await self.registration.showNotification("vitalwatch: message unreadable", {
      body: "An alarm message could not be read. Open the nurse view.", tag: STATUS_TAG,
      requireInteraction: true, icon: ICON,
    });
    return;
  }
  if (data.type === "heartbeat") {
    const rooms = Number(data.rooms) || 0;
    const sent = await receipt({ state: "heartbeat" });
    await showStatus(`vitalwatch: ${sent.ok ? "connected" : "NOT CONNECTED"} · ${rooms} room${rooms === 1 ? "" : "s"}`,
      sent.ok ? "Alarms on this phone are on." : `The server did not hear this phone: ${sent.why}`);
    return;
  }
  if (data.event === "acknowledged" || data.event === "cleared") {
    await closeAlarm(data.alarm_id);
    await showStatus(`vitalwatch: ${data.room} alarm ${data.event}`, data.body || "");
    await receipt({ state: "delivered", delivery_id: data.delivery_id });
    return;
  }
  const priority = VIBRATE[data.priority] ? data.priority : "high";
  const actions = [{ action: "open", title: "Open" }];
  if (data.ack_url) actions.unshift({ action: "acknowledge", title: "Acknowledge" });
  await self.registration.showNotification(data.title || "vitalwatch alarm", {
    body: data.body || "",
    tag: alarmTag(data.alarm_id),
    renotify: true, // an escalation or reminder of the same alarm rings again
    requireInteraction: priority !== "low",
    silent: false,
    vibrate: VIBRATE[priority],
    timestamp: Number.isFinite(data.t) ? data.t * 1000 : Date.now(),
    icon: ICON,
    badge: BADGE,
    actions,
    data: {
      alarm_id: data.alarm_id, delivery_id: data.delivery_id, ack_url: data.ack_url || null,
      room: data.room, priority,
    },
  });
  await receipt({ state: "delivered", delivery_id: data.delivery_id });
}

self.addEventListener("push", (event) => event.waitUntil(onPush(event)));

async function openNurseView() {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((w) => new URL(w.url).pathname === "/nurse");
  if (open) return open.focus();
  return self.clients.openWindow("/nurse");
}

async function acknowledge(notification) {
  const { ack_url: url, room, alarm_id: id } = notification.data;
  let why = "";
  try {
    // The link opens a page for people (/ack/<token>); acknowledging is its POST twin.
    const post = new URL(url);
    post.pathname = post.pathname.replace(/^\/ack\//, "/api/ack/");
    const r = await fetch(post, { method: "POST" });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      why = typeof body.detail === "string" ? body.detail : `server answered ${r.status}`;
    }
  } catch (e) {
    why = `server unreachable (${e})`;
  }
  if (why) {
    await self.registration.showNotification(`NOT acknowledged · ${room}`, {
      body: `${why}. Open the nurse view to acknowledge.`, tag: alarmTag(id),
      requireInteraction: true, icon: ICON, actions: [{ action: "open", title: "Open" }],
      data: { ...notification.data, ack_url: null },
    });
    return;
  }
  await self.registration.showNotification(`Acknowledged · ${room}`, {
    body: notification.body, tag: alarmTag(id), silent: true, icon: ICON, data: { alarm_id: id },
  });
  await new Promise((resolve) => setTimeout(resolve, CONFIRM_MS));
  await closeAlarm(id);
}

async function onClick(event) {
  const n = event.notification;
  const data = n.data || {};
  if (data.status) {
    n.close();
    await openNurseView();
    return;
  }
  if (data.delivery_id) await receipt({ state: "seen", delivery_id: data.delivery_id });
  if (event.action === "acknowledge" && data.ack_url) {
    n.close();
    await acknowledge(n);
    return;
  }
  n.close();
  await openNurseView();
}

self.addEventListener("notificationclick", (event) => event.waitUntil(onClick(event)));
