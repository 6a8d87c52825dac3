// The dashboards' connection to the server (/ws/live), supervised.
//
// Theory of operation. The server sends a snapshot on every (re)connect and a heartbeat every
// second. This client therefore trusts what it shows only between a snapshot and the moment the
// stream goes quiet: if nothing at all arrives for STALE_MS, or the socket closes, the view is
// NOT LIVE, whatever the cause (server down, network cut, a half-open socket, this tab throttled).
// Being NOT LIVE is itself a technical alarm: a full-width red banner says since when, and every
// value on the page is greyed. The view becomes live again only with the next snapshot, never
// just because a socket opened, so nothing shown is older than what the server holds.
//
// A page that says what it wants (`subscription`, the feed's `subscribe` message) sends it in the
// URL of every open, so the server never sends it anything else, not even before the first
// snapshot (a nurse view never receives a waveform); the view becomes live only with the snapshot that answers it (the one whose
// `subscription` is the one sent), so a page never shows rooms or kinds it did not ask for as if
// they were its own, and never misses what it asked for.

const STALE_MS = 3000;
const WATCH_EVERY_MS = 200;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;
const FIRST_CONNECT_GRACE_MS = 3000;
// A connection that has not brought its snapshot by then is given up and tried again (a server
// that accepts TCP but does not answer, e.g. stopped or overloaded, would otherwise hang it).
const CONNECT_TIMEOUT_MS = 5000;

/**
 * Connect to the live stream and keep connected.
 *
 * Handlers: onSnapshot(msg) on every snapshot (the page must replace its whole state with it),
 * onMessage(msg) for every other message (a `batch` too: its messages are applied in order), onLiveChange(live, sinceSeconds) when the view turns
 * live or not live (`sinceSeconds`: when the last message was heard, in seconds on the server's
 * clock; the third argument is true if no message was ever heard).
 * `subscription`: the feed's `subscribe` message (without `type`), or a function returning it,
 * sent in the URL of every open; only a snapshot answering it is handed on. None: the server's default.
 * Returns a handle with `live`, `serverNow()` (the server's clock, as seconds, estimated from
 * its heartbeats), `resubscribe(subscription)` and `close()`.
 */
export function connectLive({
  onSnapshot, onMessage = () => {}, onLiveChange = () => {}, path = "/ws/live", subscription = null,
}) {
  const base = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  const state = {
    ws: null,
    openedMs: 0,
    live: false,
    lastMessageMs: null, // Date.now() of the last message heard on any connection
    offsetS: 0, // server clock minus this browser's clock
    backoffMs: BACKOFF_MIN_MS,
    retry: null,
    closed: false,
    startedMs: Date.now(),
    announcedDown: false,
    wanted: null, // the subscribe message sent on this socket, awaiting (or answered by) a snapshot
  };

  function currentSubscription() {
    const sub = typeof subscription === "function" ? subscription() : subscription;
    return sub ? { type: "subscribe", ...sub } : null;
  }

  function send(ws, sub) {
    state.wanted = sub;
    if (sub && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(sub));
  }

  function setLive(live) {
    if (state.live === live && (live || state.announcedDown)) return;
    state.live = live;
    if (!live) state.announcedDown = true;
    // On the server's clock, like every other time on the page.
    const since = (state.lastMessageMs ?? state.startedMs) / 1000 + state.offsetS;
    onLiveChange(live, since, state.lastMessageMs === null);
  }

  function open() {
    if (state.closed) return;
    let ws;
    const sub = currentSubscription();
    const url = sub ? `${base}?subscribe=${encodeURIComponent(JSON.stringify(sub))}` : base;
    try {
      ws = new WebSocket(url);
    } catch {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    state.openedMs = Date.now();
    state.wanted = sub;
    ws.onmessage = (event) => {
      if (ws !== state.ws) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return; // a frame we cannot read says nothing about the patient; the watchdog stays armed
      }
      state.lastMessageMs = Date.now();
      // A batch (several messages in one frame, never a snapshot) carries heartbeats like any frame.
      for (const m of msg.type === "batch" ? msg.messages || [] : [msg]) {
        if ((m.type === "heartbeat" || m.type === "snapshot") && typeof m.t_server === "number") {
          state.offsetS = m.t_server - Date.now() / 1000;
        }
      }
      if (msg.type === "snapshot") {
        // After a resubscribe, snapshots of the previous selection may still be on their way:
        // wait for the one that answers it (the connect timeout still runs).
        if (state.wanted && !sameSubscription(msg.subscription, state.wanted)) return;
        state.backoffMs = BACKOFF_MIN_MS;
        onSnapshot(msg);
        setLive(true);
      } else if (state.live) {
        onMessage(msg);
      }
      // Messages between a reconnect and its snapshot cannot arrive (the snapshot comes first);
      // anything after a watchdog expiry on the same socket is ignored until the reconnect.
    };
    ws.onclose = () => {
      if (ws !== state.ws) return;
      state.ws = null;
      setLive(false);
      checkLogin();
      scheduleReconnect();
    };
    ws.onerror = () => {}; // onclose follows and handles it
  }

  // A refused handshake looks like any lost connection to a page; ask whether the login has
  // ended (idle timeout, logout elsewhere, disabled user) and if so go to the login page.
  async function checkLogin() {
    try {
      const r = await fetch("/api/me", { cache: "no-store" });
      if (r.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    } catch {
      // The server is unreachable: the NOT LIVE banner already says so.
    }
  }

  function abandon(reason) {
    const ws = state.ws;
    state.ws = null;
    if (ws) ws.close(4000, reason);
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (state.closed || state.retry !== null) return;
    const jitter = 0.8 + Math.random() * 0.4;
    const delay = Math.min(BACKOFF_MAX_MS, state.backoffMs) * jitter;
    state.backoffMs = Math.min(BACKOFF_MAX_MS, state.backoffMs * 2);
    state.retry = setTimeout(() => {
      state.retry = null;
      open();
    }, delay);
  }

  // The watchdog: a silent stream is a lost stream, even if the socket still looks open.
  const watchdog = setInterval(() => {
    const now = Date.now();
    if (state.live && now - state.lastMessageMs > STALE_MS) {
      setLive(false);
      abandon("no heartbeat");
    } else if (!state.live && state.ws && now - state.openedMs > CONNECT_TIMEOUT_MS) {
      abandon("no snapshot");
    }
    if (!state.live && !state.announcedDown && now - state.startedMs > FIRST_CONNECT_GRACE_MS) {
      setLive(false); // never connected at all: say so once the grace period is over
    }
  }, WATCH_EVERY_MS);

  open();
  return {
    get live() {
      return state.live;
    },
    serverNow: () => Date.now() / 1000 + state.offsetS,
    /** Ask for another selection now (and on every reconnect); live data keeps flowing until the
     * snapshot that answers it replaces the page's state. */
    resubscribe(next) {
      subscription = next;
      if (state.ws && state.ws.readyState === WebSocket.OPEN) send(state.ws, currentSubscription());
    },
    close() {
      state.closed = true;
      clearInterval(watchdog);
      clearTimeout(state.retry);
      if (state.ws) state.ws.close();
    },
  };
}

const ALL_KINDS = ["numerics", "nibp", "waveform", "status", "alarm", "mark", "settings"];

/** A subscription in one comparable form: defaults filled in, lists as sorted sets. */
function canonical(sub) {
  const set = (xs) => [...new Set(xs)].sort();
  const waves = Object.entries(sub?.waveforms ?? {}).map(([room, ws]) => [room, set(ws)]).sort();
  return JSON.stringify([sub?.rooms == null ? null : set(sub.rooms), set(sub?.kinds ?? ALL_KINDS), waves]);
}

/** Whether a snapshot's `subscription` is the one this page sent. */
export function sameSubscription(answered, sent) {
  return canonical(answered) === canonical(sent);
}

/**
 * The full-width NOT LIVE banner, and `body.not-live` (which greys every value through CSS).
 * Returns an onLiveChange handler for connectLive.
 */
export function notLiveBanner() {
  const banner = document.createElement("div");
  banner.id = "not-live-banner";
  banner.className = "not-live-banner";
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  document.body.prepend(banner);
  document.body.dataset.live = "connecting";
  return (live, since, neverConnected) => {
    document.body.dataset.live = live ? "true" : "false";
    document.body.classList.toggle("not-live", !live);
    banner.hidden = live;
    const title = document.title.replace(/^NOT LIVE — /, "");
    document.title = live ? title : `NOT LIVE — ${title}`;
    if (!live) {
      banner.textContent = neverConnected
        ? `NOT LIVE — cannot reach the server (trying since ${clock(since)})`
        : `NOT LIVE — connection to server lost since ${clock(since)}`;
    }
  };
}

/** HH:MM:SS in this browser's time zone, for a time in seconds since the epoch. */
export function clock(seconds) {
  if (seconds === null || seconds === undefined) return "--:--:--";
  return new Date(seconds * 1000).toLocaleTimeString("en-GB", { hour12: false });
}

/** A state-changing request to the API, carrying the login's CSRF token. */
export async function post(path, body = undefined) {
  return request("POST", path, body);
}

/** A state-changing request with any method (POST, PATCH, DELETE), carrying the CSRF token. */
export async function request(method, path, body = undefined) {
  const csrf = document.cookie.split("; ").find((c) => c.startsWith("vw_csrf="))?.slice(8) ?? "";
  const r = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
  return r;
}
