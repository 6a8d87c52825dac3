// The live feed's state in the browser: the one place every page's view of its rooms is kept.
//
// Theory of operation. The server's feed (app/feed.py is its contract) sends a snapshot of the
// rooms a page subscribed to, then one message per change of one part of one room. This store
// applies exactly those shapes: a snapshot replaces everything, every other message changes its
// room in place, and renderers are told what changed (`subscribe(callback)`, called with
// {sessionId, room, part, msg}; part is "all" after a snapshot, else the message's kind or
// "room", "session_started", "session_ended", "heartbeat"). Pages draw from the store's rooms and
// never handle feed messages themselves.
//
// Every room is kept as the snapshot's RoomView (app/feed.py), with the fields named as there:
// `latest` (param -> {value, t_device}), `nibp`, `nibp_last_attempt`, `alarms` (a Map here, by
// id), `statuses`, `settings`, `dose_device`, `infusion_end_device`, `device_clock_offset`; and
// what the feed adds to it live: `marks` (those heard since the snapshot) and `escalated` (ids of
// alarms escalated while watched).
//
// Clocks: "last seen"/"heard" times are the server's (`serverNow()`, from live.js); ages of
// readings are on the room's device clock (`deviceNow(room)`: the server's clock plus the room's
// device_clock_offset, which every numerics message brings up to date).

import { connectLive, notLiveBanner } from "./live.js";

/** A room in the store, from a RoomView (snapshot or session_started). */
function roomFromView(view) {
  return {
    ...view,
    latest: { ...(view.latest || {}) },
    alarms: new Map((view.alarms || []).map((a) => [a.id, a])),
    statuses: [...(view.statuses || [])],
    marks: [],
    infusion_end_device: view.infusion_end_device ?? null,
    escalated: new Set(),
  };
}

/** Values are shown while at least one monitor of the room is live (each value greys on its own
 * once it is stale); the link state says which monitors are silent. */
export function showing(room) {
  return Boolean(room && (room.live || room.partial));
}

export class FeedStore {
  constructor() {
    this.rooms = new Map(); // session_id -> room
    this.listeners = new Set();
    this.tServer = null; // the server's clock at the last snapshot or heartbeat
    this.subscription = null; // what the snapshot in force answers
    this.siteLinks = new Map(); // site -> its SiteLink (app/feed.py), while its link is lost
    // What could not be applied, counted (and the refusals kept) for the page and its tests: a
    // subscribe the server refused, and messages of a session this store has no room for.
    this.stats = { refused: [], unknownSession: 0 };
    this.serverNow = () => Date.now() / 1000;
  }

  /** Call `callback(change)` on every change; returns a function that stops it. */
  subscribe(callback) {
    this.listeners.add(callback);
    return () => this.listeners.delete(callback);
  }

  notify(room, part, msg = null) {
    const change = { sessionId: room ? room.session_id : null, room: room ? room.room : null, part, msg };
    for (const cb of this.listeners) cb(change);
  }

  /** The room of a session, or undefined. */
  room(sessionId) {
    return this.rooms.get(sessionId);
  }

  /** The room's device clock now (seconds): the server's clock plus its offset. */
  deviceNow(room) {
    const t = this.serverNow();
    return room && Number.isFinite(room.device_clock_offset) ? t + room.device_clock_offset : t;
  }

  /** Every alarm still signalled, in every room. */
  allAlarms() {
    const out = [];
    for (const room of this.rooms.values()) out.push(...room.alarms.values());
    return out;
  }

  /** Replace everything with a snapshot. */
  applySnapshot(msg) {
    const before = this.rooms;
    this.rooms = new Map();
    for (const view of msg.rooms || []) {
      const room = roomFromView(view);
      const old = before.get(view.session_id);
      if (old) {
        // What the snapshot does not carry, and a page loaded (or heard) earlier.
        room.marks = old.marks;
        room.infusion_end_device = view.infusion_end_device ?? old.infusion_end_device;
        for (const id of old.escalated) if (room.alarms.has(id)) room.escalated.add(id);
      }
      this.rooms.set(view.session_id, room);
    }
    this.siteLinks = new Map((msg.site_links || []).map((s) => [s.site, s]));
    this.tServer = msg.t_server;
    this.subscription = msg.subscription;
    this.notify(null, "all", msg);
  }

  /** Apply one message of the feed (anything but a snapshot). A batch is its messages, applied
   * in order, each exactly as if it had come alone. */
  apply(msg) {
    switch (msg.type) {
      case "batch":
        for (const inner of msg.messages || []) this.apply(inner);
        return;
      case "heartbeat":
        this.tServer = msg.t_server;
        this.notify(null, "heartbeat", msg);
        return;
      case "session_started": {
        const room = roomFromView(msg.room);
        this.rooms.set(room.session_id, room);
        this.notify(room, "session_started", msg);
        return;
      }
      case "session_ended": {
        const room = this.rooms.get(msg.session_id);
        if (!room) return;
        this.rooms.delete(msg.session_id);
        this.notify(room, "session_ended", msg);
        return;
      }
      case "room": {
        const room = this.rooms.get(msg.room.session_id);
        if (!room) return;
        const wasShowing = showing(room);
        Object.assign(room, msg.room, { statuses: [...(msg.room.statuses || [])] });
        // Never show values from before a dropout as current once the monitor is back.
        if (wasShowing && !showing(room)) room.latest = {};
        this.notify(room, "room", msg);
        return;
      }
      case "site_link":
        if (msg.lost) this.siteLinks.set(msg.site, msg);
        else this.siteLinks.delete(msg.site);
        this.notify(null, "site_link", msg);
        return;
      case "refused":
        this.stats.refused.push({ field: msg.field, reason: msg.reason });
        console.error(`the server refused this page's message: ${msg.field || "frame"}: ${msg.reason}`);
        return;
      default:
        break;
    }
    const room = this.rooms.get(msg.session_id);
    if (!room) {
      // A session that ended an instant ago, or one whose start this page missed: the next
      // snapshot (a reconnect) brings it; counted so it is not lost unseen.
      this.stats.unknownSession += 1;
      return;
    }
    switch (msg.type) {
      case "numerics": {
        let newest = -Infinity;
        for (const [param, reading] of Object.entries(msg.readings)) {
          room.latest[param] = reading;
          if (reading.t_device > newest) newest = reading.t_device;
        }
        if (Number.isFinite(newest) && Number.isFinite(msg.t_server)) room.device_clock_offset = newest - msg.t_server;
        break;
      }
      case "nibp":
        room.nibp_last_attempt = msg.nibp;
        if (msg.nibp.status === "ok") room.nibp = msg.nibp;
        break;
      case "status": {
        const s = msg.status;
        room.statuses = room.statuses.filter((x) => x.code !== s.code);
        if (s.active) room.statuses.push(s);
        break;
      }
      case "alarm": {
        const a = msg.alarm;
        if (msg.event === "escalated") room.escalated.add(a.id);
        if (msg.event === "cleared" || a.state === "cleared") {
          room.alarms.delete(a.id);
          room.escalated.delete(a.id);
        } else {
          room.alarms.set(a.id, a);
        }
        break;
      }
      case "mark": {
        const m = msg.mark;
        room.marks.push(m);
        if (m.what === "dose" && room.dose_device == null) room.dose_device = m.t_device;
        if (m.what === "infusion end" && room.infusion_end_device == null) room.infusion_end_device = m.t_device;
        break;
      }
      case "settings":
        room.settings = msg.settings;
        break;
      case "waveform":
        break; // not kept: drawn by whoever listens, as it comes
      default:
        return; // a kind this page does not know: nothing to change
    }
    this.notify(room, msg.type, msg);
  }
}

/**
 * The page's store, connected: sends `subscription` (or what the function returns) on every
 * (re)connect and applies what the server sends. `onLiveChange` as for connectLive. Returns
 * {store, conn}.
 */
export function connectStore({
  subscription, onLiveChange = () => {}, path = "/ws/live", banner = notLiveBanner(),
}) {
  const store = new FeedStore();
  const conn = connectLive({
    path,
    subscription,
    onSnapshot: (msg) => store.applySnapshot(msg),
    onMessage: (msg) => store.apply(msg),
    onLiveChange: (live, since, never) => {
      banner(live, since, never); // every page says NOT LIVE the same way, first
      onLiveChange(live, since, never);
    },
  });
  store.serverNow = () => conn.serverNow();
  store.conn = conn;
  window.__vwStore = store; // for tests and inspection
  return { store, conn };
}
