// Alarms on this phone: the nurse view's service worker and Web Push subscription, so that a
// locked phone (page frozen or closed) still rings (frontend/sw.js, app/push.py).
//
// States, shown as "Alarms on this phone: …" (#push-state, data-state):
//   on           subscribed and registered with the server; the page beats every 30 s
//   off          not yet enabled here (the button enables it: permission, subscribe, register)
//   unreachable  the browser's push service could not be reached (offline, blocked network)
//   blocked      notifications are blocked in the browser's settings
//   unsupported  this browser (or a page not served over HTTPS) has no service worker or push
// Anything but "on" raises a loud banner (#push-banner): the open page still shows and sounds
// alarms, but nothing will reach the phone once it is locked.

import { errorText, getJSON } from "./account.js";
import { post, request } from "./live.js";

const DEVICE_CACHE = "vitalwatch-device"; // shared with sw.js
const DEVICE_KEY = "/push-device";
const SUBSCRIBE_TIMEOUT_MS = 15000; // a push service that never answers is unreachable

const $ = (id) => document.getElementById(id);
let registration = null;
let beat = null;

export const pushState = { state: "starting", detail: "" };

const TEXT = {
  starting: "starting…",
  on: "on",
  off: "off",
  unreachable: "push service unreachable",
  blocked: "blocked in browser settings",
  unsupported: "not supported here",
};

function render(state, detail = "") {
  pushState.state = state;
  pushState.detail = detail;
  const node = $("push-state");
  node.dataset.state = state;
  node.textContent = `Alarms on this phone: ${TEXT[state]}`;
  const button = $("push-enable");
  button.hidden = state === "on" || state === "unsupported" || state === "starting";
  button.textContent = state === "off" ? "Enable alarms on this phone" : "Try again: enable alarms on this phone";
  $("push-disable").hidden = state !== "on";
  const banner = $("push-banner");
  banner.hidden = state === "on" || state === "starting" || state === "off";
  if (!banner.hidden) {
    banner.textContent = `Alarms will NOT reach this phone when it is locked or this page is closed: `
      + `${detail || TEXT[state]}. This page still shows and sounds alarms while it is open.`;
  }
}

async function savedDevice() {
  const r = await (await caches.open(DEVICE_CACHE)).match(DEVICE_KEY);
  return r ? r.json() : null;
}

async function saveDevice(device) {
  const cache = await caches.open(DEVICE_CACHE);
  await cache.put(DEVICE_KEY, new Response(JSON.stringify(device), { headers: { "Content-Type": "application/json" } }));
}

function deviceLabel() {
  const ua = navigator.userAgent;
  const kind = /iPhone|iPad/.test(ua) ? "iPhone/iPad" : /Android/.test(ua) ? "Android" : /Mac/.test(ua) ? "Mac" : /Windows/.test(ua) ? "Windows" : "browser";
  return `${kind}, ${new Date().toISOString().slice(0, 10)}`;
}

function withTimeout(promise, ms, what) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms))]);
}

function startBeat(device, everyS) {
  clearInterval(beat);
  const once = async () => {
    try {
      const r = await post(`/api/push/devices/${device.id}/heartbeat`);
      if (r.status === 404) {
        clearInterval(beat);
        render("off", "the server no longer knows this phone: enable alarms again");
        $("push-banner").hidden = false;
        $("push-banner").textContent = "Alarms will NOT reach this phone when it is locked: the server "
          + "no longer knows it (removed, or its push subscription expired). Enable alarms again.";
      } else if (r.ok && pushState.state !== "on") {
        render("on");
      }
    } catch {
      // the connection banner already says the server is unreachable; the next beat tries again
    }
  };
  once();
  beat = setInterval(once, everyS * 1000);
}

/** Permission, subscription and registration: after a tap, or at once if already permitted. */
async function enable() {
  if (Notification.permission === "default") await Notification.requestPermission();
  if (Notification.permission === "denied") {
    render("blocked", "notifications are blocked for this site in the browser's settings");
    return;
  }
  let key;
  try {
    key = await getJSON("/api/push/key");
  } catch (e) {
    render("unreachable", `the server's push key could not be fetched (${e.message})`);
    return;
  }
  let subscription;
  try {
    subscription = await registration.pushManager.getSubscription();
    if (!subscription) {
      subscription = await withTimeout(registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: key.key,
      }), SUBSCRIBE_TIMEOUT_MS, "push service");
    }
  } catch (e) {
    if (e.name === "NotAllowedError") render("blocked", `the browser refused push (${e.message})`);
    else render("unreachable", `the browser's push service could not be reached (${e.message})`);
    return;
  }
  const r = await post("/api/push/devices", { subscription: subscription.toJSON(), label: deviceLabel() });
  if (!r.ok) {
    render("unreachable", `the server refused this phone's registration (${await errorText(r)})`);
    return;
  }
  const device = await r.json();
  await saveDevice({ id: device.id, secret: device.secret });
  render("on");
  startBeat(device, device.heartbeat_s);
}

/** Set up alarms on this phone; the page works on (open-page notifications) whatever happens. */
export async function startPush() {
  $("push-enable").addEventListener("click", () => enable().catch((e) => render("unreachable", String(e))));
  $("push-disable").addEventListener("click", () => disablePush().catch((e) => render("unreachable", String(e))));
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    render("unsupported", window.isSecureContext
      ? "this browser has no Web Push (on an iPhone: add vitalwatch to the home screen first, then open it from there)"
      : "the page is not served over HTTPS, which Web Push requires");
    return;
  }
  try {
    registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    await navigator.serviceWorker.ready;
  } catch (e) {
    render("unsupported", `the service worker could not be installed (${e.message})`);
    return;
  }
  if (Notification.permission === "denied") {
    render("blocked", "notifications are blocked for this site in the browser's settings");
    return;
  }
  const [subscription, device] = await Promise.all([registration.pushManager.getSubscription(), savedDevice()]);
  if (Notification.permission === "granted") {
    if (subscription && device) {
      const known = await getJSON("/api/push/devices").catch(() => []);
      const mine = known.find((d) => d.id === device.id && d.state !== "gone");
      if (mine) {
        render("on");
        startBeat(device, (await getJSON("/api/push/key")).heartbeat_s);
        return;
      }
    }
    await enable(); // permitted already: no tap needed
    return;
  }
  render("off");
}

/** Forget this phone (the server stops sending to it, and it no longer counts as lapsed). */
async function disablePush() {
  const device = await savedDevice();
  clearInterval(beat);
  if (device) await request("DELETE", `/api/push/devices/${device.id}`);
  await (await registration?.pushManager.getSubscription())?.unsubscribe();
  await caches.delete(DEVICE_CACHE);
  render("off");
}
