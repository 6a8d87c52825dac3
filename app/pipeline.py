"""The pipeline: where a reading goes once it has been read off the socket.

    monitor message ─▶ store (SQLite, deduplicated by seq) ─▶ alarm system (alerts/)
                                         │                          │
                                         └──────────▶ hub ◀─────────┘ ─▶ every dashboard

One place wires the flow, so a reader can follow a reading from the socket to the screen. Ingest
(``ingest.py``) validates and calls ``accept``; the API calls the session methods; a supervisor
task calls ``supervise`` every second. Every method takes the server time it runs at.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from alerts import baseline as protocol
from alerts import discharge, intake
from alerts.baseline import CuffReading
from alerts.engine import rule_param
from alerts.rules import RuleSet
from alerts.signal import IllegalTransition
from alerts.system import AlarmSystem, Change
from app import clinical, refusals, resume
from app import feed as wire  # the live feed's models (here a "feed" is one monitor's link)
from app.alarm_log import AlarmLog, to_feed
from app.hub import Hub
from app.lease import RENEW_S, Fenced, Leases, Taken
from app.record import Entry, Record, Stored
from app.site_link import SiteLinks
from app.sites import DEFAULT_SITE, EVERY_SITE, Visible
from app.store import Store
from monitors.protocol import Hello, last_t

log = logging.getLogger("vitalwatch.pipeline")

# A monitor that has not been heard from for this long is shown as not live and starts the
# feed-lost condition (rule T4, whose own delay then applies). Adapters send a heartbeat every
# second when they have nothing else to send.
SILENCE_S = 3.0
FEED_RULES = {"T4"}
# The alarm delivery's own supervision (app/delivery.py): signal rules on the server's clock, one
# small alarm system per session, as a monitor's feed rules are.
DELIVERY_SIGNALS = {"D1": "delivery_failed", "D2": "channel_down", "D3": "nurse_device_lapsed"}
# The cluster's own supervision: the bus between instances lost (N1, app/bus.py), a site's link
# lost (N2, app/site_link.py). Signals on the server's clock like D1-D3, held by the same small
# alarm system of each session, so they are logged and delivered like every other alarm.
CLUSTER_SIGNALS = {"N1": "cluster_degraded", "N2": "site_link_lost"}
DELIVERY_RULES = set(DELIVERY_SIGNALS) | set(CLUSTER_SIGNALS)
INFUSION_END = "infusion end"  # the mark that ends an IV infusion (api.MarkIn.what)


@dataclass
class MonitorState:
    monitor_id: str
    device_time: float | None = None  # the latest device time it has sent (a waveform: its end)
    room: str = ""
    site: str = ""  # the site of its device registration (app/sites.py), from its hello
    session_id: int | None = None
    stream: str = ""
    mode: str = ""
    vendor: str = ""
    model: str = ""
    connected: bool = False
    last_heard: float = 0.0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    refused_by: Counter[str] = field(default_factory=Counter)
    last_error: dict[str, Any] | None = None
    # Which websocket connection is this monitor's current one: only that connection's close
    # can mark it disconnected (an old, half-open one may be closed long after a reconnect).
    connection: int = 0

    def to_json(self, values: bool = True) -> dict[str, Any]:
        """The monitor's state for a view. A refusal's reason quotes what was sent (vital signs):
        without ``values`` (a role that may not see them) ``last_error`` has its seq, field and
        kind, not its reason."""
        last_error = self.last_error
        if last_error is not None and not values:
            last_error = {k: v for k, v in last_error.items() if k != "reason"}
        return {
            "monitor_id": self.monitor_id, "room": self.room, "session_id": self.session_id,
            "mode": self.mode, "vendor": self.vendor, "model": self.model,
            "connected": self.connected, "last_heard": self.last_heard,
            "accepted": self.accepted, "duplicates": self.duplicates, "refused": self.refused,
            "refused_by": dict(self.refused_by), "last_error": last_error,
        }


class NotAdmitted(ValueError):
    """A monitor may not feed a room's running session (the session does not list it)."""


class HeldElsewhere(NotAdmitted):
    """The room's running session is run by another instance (its lease is live there)."""


# The alarm log's entry, on each alarm still signalled, for a session's alarm system taken over
# from another instance (app/lease.py): the log shows where the alarm went on.
HANDOVER = "handover"


@dataclass
class Feed:
    """One monitor of a session, supervised on its own: its own feed-lost condition (rule T4),
    its own link state. A second monitor in the room must never hide a dead one."""

    monitor_id: str
    alarms: AlarmSystem  # only the feed rules, on the server's clock
    last_heard: float
    silent: bool = False
    finished: bool = False  # a replay that played to its end: no longer expected
    listed: bool = True  # False once a clinician took it off (kept until its alarm is settled)

    @property
    def expected(self) -> bool:
        return self.listed and not self.finished


@dataclass
class SessionState:
    id: int
    room: str
    mode: str
    started: float
    alarms: AlarmSystem  # on the device's clock
    site: str = DEFAULT_SITE  # the site of the device that started it (app/sites.py)
    # The monitors the session lists, in the order they joined: the first device to start it and
    # those a clinician added. Only they may feed it; each is supervised on its own.
    feeds: dict[str, Feed] = field(default_factory=dict)
    last_heard: float = 0.0
    device_time: float | None = None  # the latest device timestamp, and when it arrived
    device_time_at: float = 0.0
    statuses: dict[str, wire.DeviceStatus] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # the session's own limits
    label: str = ""
    # The rules in force as the feed gives them: built when first asked for, dropped when they
    # change (a limit, the baseline, the dose), so a snapshot does not rebuild them per room.
    settings: wire.Settings | None = None
    ticks: intake.Clock = field(default_factory=intake.Clock)  # when its alarms tick between messages
    infusion_end: float | None = None  # the first "infusion end" mark's time
    # The session record's live side (app/clinical.py): the record as it stands, the valid cuff
    # readings and the latest SpO2 (for the baseline protocol and discharge readiness), whether
    # the protocol's baseline was set, and the discharge readiness last shown.
    doc: clinical.Documented = field(default_factory=clinical.Documented)
    cuffs: list[CuffReading] = field(default_factory=list)
    spo2: tuple[float, float | None] | None = None
    protocol_done: bool = False
    discharge: wire.Discharge | None = None

    @property
    def infusion_end_t(self) -> float | None:
        """The infusion's end: marked, or planned by the dose (given over ``infusion_min``)."""
        return self.infusion_end if self.infusion_end is not None else self.doc.planned_infusion_end
    # Whether alarms reach people (D1-D3, app/delivery.py), on the server's clock; made with the
    # session (``Pipeline._load_session``).
    delivery: AlarmSystem | None = None
    # After a restart: alarm changes the log has that the replay did not decide (their message
    # was never committed, so the monitor resends it): not logged again when decided again.
    already_logged: Counter[tuple[str, str, float]] = field(default_factory=Counter)
    resumed: dict[str, Any] = field(default_factory=dict)  # what the replay at start-up did

    def device_clock(self, now: float) -> float:
        """Now on the device's clock, for actions (an acknowledgement) that come from people."""
        if self.device_time is None:
            return now
        return self.device_time + (now - self.device_time_at)


class Pipeline:
    def __init__(self, store: Store, hub: Hub, rules: RuleSet, now: float, leases: Leases | None = None,
                 default_site: str = DEFAULT_SITE) -> None:
        """``leases``: on a store shared by several instances, the sessions this one runs
        (app/lease.py); None on a store of its own, which runs every open session.
        ``default_site``: the site of sessions stored before sites, and of those started without
        a device (app/sites.py)."""
        self.store = store
        self.default_site = default_site
        self.site_links = SiteLinks(rules)  # each site's link (app/site_link.py)
        self.alarm_log = AlarmLog(store.db)
        self.record = Record(store.db)
        self.hub = hub
        self.rules = rules
        self.sessions: dict[int, SessionState] = {}
        self.monitors: dict[str, MonitorState] = {}
        self.last_seq: dict[tuple[str, str], int] = {}
        self._connections = itertools.count(1)
        # Told of every alarm change once it is logged and published (the alarm delivery). It
        # runs on the hot path: it must only take note, never wait.
        self.on_alarm: Callable[[SessionState, Change, dict[str, Any], int, float], None] | None = None
        # The other instances' rooms for a snapshot (app/bus.py), when the server runs on a bus.
        self.remote: Callable[[wire.Subscribe], list[wire.RoomView]] | None = None
        self.leases = leases
        if leases is not None:
            self.alarm_log.fence = lambda session_id: leases.fence([session_id])
            store.fence = leases.fence
        self.handovers = 0  # sessions taken over from another instance
        self._leases_due = now
        for row in store.sessions(active_only=True):
            taken = leases.take(row["id"], now) if leases is not None else None
            if leases is not None and taken is None:
                continue  # another live instance runs it
            state = self._load_session(row, now)
            if taken is not None:
                self._handed_over(state, taken, now)

    def started(self, now: float) -> None:
        """The server serves from ``now`` on, its open sessions loaded (which may have taken
        seconds): the monitors they expect back, and their device clocks, count from now."""
        for state in self.sessions.values():
            state.last_heard = now
            if state.device_time is not None:
                state.device_time_at = now
            for feed in state.feeds.values():
                feed.last_heard = now
        self.store.server_started(now)

    # Sessions ----------------------------------------------------------------------------

    def _load_session(self, row: dict[str, Any], now: float, restarted: bool = True) -> SessionState:
        """A session as the server holds it: a new one, or one that was open when
        the server stopped (``restarted``), its alarms rebuilt by replaying what it stored
        (``resume.py``)."""
        state = SessionState(row["id"], row["room"], row["mode"], row["started"],
                             AlarmSystem(self.rules), site=self.site_of(row),
                             label=row.get("label") or "",
                             delivery=AlarmSystem(self.rules, only=DELIVERY_RULES))
        self.hub.place(state.room, state.site)
        # A session loaded at start-up expects its monitors back: one that stays away has lost
        # its feed like any other (the clock starts now, when the server could first hear it).
        for listed in self.store.session_monitors(row["id"]):
            feed = self._feed(state, listed["monitor_id"], now)
            feed.finished = listed["finished"] is not None
        changes = self.store.rule_changes(row["id"])
        for change in changes:
            state.overrides.setdefault(change["rule"], {}).update(change["change"])
        state.last_heard = now
        # The session record as it stands, and the valid cuff readings its baseline protocol and
        # discharge readiness are judged on.
        state.doc = clinical.documented(self.record.current(row["id"]))
        state.cuffs = [CuffReading(r["t"], r["sys"], r["dia"], r["map"])
                       for r in self.store.nibp(row["id"]) if r["status"] == "ok"]
        state.protocol_done = bool(row.get("baseline"))
        self.sessions[row["id"]] = state
        if not restarted:
            return state
        signalled = self.alarm_log.alarms(row["id"], active_only=True)
        for alarm in signalled:
            if alarm["param"] is None and alarm["rule"] in self.rules.rules:  # logged before params
                self.alarm_log.assign_param(alarm["id"], rule_param(self.rules.rules[alarm["rule"]]))
                alarm["param"] = rule_param(self.rules.rules[alarm["rule"]])
        self._restore_feeds(state, [a for a in signalled if a["rule"] in FEED_RULES], now)
        # Whether alarms reach people (D1-D3) is judged on the server's clock, like a lost feed:
        # restored from the log, not replayed.
        for alarm in signalled:
            if alarm["rule"] in DELIVERY_RULES and state.delivery is not None:
                state.delivery.restore({**alarm, "limit": alarm["limit_value"]}, alarm["state"],
                                       alarm["acknowledged_by"])
        # The session's own alarms: replayed, then held to the alarm log.
        own = [r for r in self.alarm_log.log(row["id"])
               if not r["monitor_id"] and r["rule"] not in DELIVERY_RULES and r["event"] != HANDOVER]
        resumed = resume.replay(self.store, own, row, self.rules, changes)
        state.alarms, state.ticks = resumed.alarms, resumed.ticks
        if row.get("dose") is not None and state.alarms.engine.dose_t is None:
            state.alarms.engine.dose_t = row["dose"]  # stored, its mark not: kept as it was
        if row.get("baseline") and state.alarms.engine.baseline is None:
            state.alarms.set_baseline(json.loads(row["baseline"]))
        if resumed.device_time is not None:
            # The device clock runs on from its latest time, counted from now: actions taken
            # before the monitor is back are timed on it, and its ticks go on (then pass once its
            # feed is lost, as for any silence).
            state.device_time, state.device_time_at = resumed.device_time, now
        state.statuses = {code: wire.DeviceStatus(code=s.code, active=s.active, text=s.text,
                                                  t_device=s.t)
                          for code, s in resumed.statuses.items()}
        reconciled = resume.reconcile(resumed, own, [a for a in signalled
                                                     if a["rule"] not in FEED_RULES | DELIVERY_RULES])
        state.already_logged = reconciled.already_logged
        state.resumed = {"messages": resumed.messages, "seconds": round(resumed.seconds, 3),
                         "logged_now": len(reconciled.to_log), "diverged": reconciled.diverged,
                         "refused_actions": resumed.refused_actions}
        if reconciled.diverged or resumed.refused_actions:
            log.warning("session %s: its replay differs from the alarm log (%d changes, %d actions);"
                        " the log's alarm states are kept", row["id"], reconciled.diverged,
                        resumed.refused_actions)
        self._alarms(state, reconciled.to_log, now)
        state.infusion_end = next(
            (m["t"] for m in self.store.marks(row["id"]) if m["what"] == INFUSION_END), None)
        return state

    def _restore_feeds(self, state: SessionState, alarms: list[dict[str, Any]], now: float) -> None:
        """Lost-feed alarms (T4, on the server's clock) come back from the alarm log with their
        state, onset and priority, so that they end by their own rule rather than vanish or
        double."""
        for alarm in alarms:
            monitor_id = alarm["monitor_id"] or next(iter(state.feeds), "")
            if not alarm["monitor_id"] and monitor_id:
                self.alarm_log.assign_monitor(alarm["id"], monitor_id)
            known = monitor_id in state.feeds
            feed = self._feed(state, monitor_id, now)
            feed.listed = feed.listed and known  # taken off before the restart: unlisted
            feed.alarms.restore({**alarm, "limit": alarm["limit_value"]}, alarm["state"],
                                alarm["acknowledged_by"])
        for feed in state.feeds.values():
            feed.silent = any(s.rule in FEED_RULES for s in feed.alarms.active())

    def _feed(self, session: SessionState, monitor_id: str, now: float) -> Feed:
        if monitor_id not in session.feeds:
            session.feeds[monitor_id] = Feed(monitor_id, AlarmSystem(self.rules, only=FEED_RULES), now)
        return session.feeds[monitor_id]

    def session_for_room(self, room: str) -> SessionState | None:
        return next((s for s in self.sessions.values() if s.room == room), None)

    def site_of(self, row: dict[str, Any]) -> str:
        """The site of a stored session (one stored before sites: the default site's)."""
        return row.get("site") or self.default_site

    def start_session(self, room: str, mode: str, now: float, label: str = "", take: bool = False,
                      site: str | None = None) -> SessionState:
        """The room's running session, or a new one, at ``site`` (None: the default site). On a
        shared store, a room whose session another instance runs raises HeldElsewhere, unless
        ``take`` (its monitor has connected here): then this instance takes it over
        (``_take_over``)."""
        existing = self.session_for_room(room)
        if existing is not None:
            return existing
        if self.leases is not None:
            row = self.store.active_session(room)
            if row is not None:
                return self._take_over(row, now, steal=take)
        row = self.store.start_session(room, mode, now, label, site or self.default_site)
        if self.leases is not None:
            self.leases.take(row["id"], now)
        state = self._load_session(row, now, restarted=False)
        self.hub.publish(wire.SessionStarted(room=self.room_view(state)))
        return state

    # Leases (several instances on one store) --------------------------------------------

    def _take_over(self, row: dict[str, Any], now: float, steal: bool) -> SessionState:
        """Run a session another instance ran (or left): its lease taken, its alarm state rebuilt
        from the store as after a restart, the handover logged."""
        assert self.leases is not None
        taken = self.leases.take(row["id"], now, steal=steal)
        if taken is None:
            holder = self.leases.holder_of(row["id"], now) or "another instance"
            raise HeldElsewhere(f"room {row['room']!r} has a running session ({row['id']}) run by {holder}")
        state = self._load_session(row, now)
        self._handed_over(state, taken, now)
        self.hub.publish(wire.SessionStarted(room=self.room_view(state)))
        return state

    def _handed_over(self, state: SessionState, taken: Taken, now: float) -> None:
        if taken.previous is None:
            return
        assert self.leases is not None
        self.handovers += 1
        why = "its lease expired" if taken.expired else "its monitor connected here"
        log.warning("session %s (%s): alarm system taken over from %s (%s), lease epoch %d", state.id,
                    state.room, taken.previous, why, taken.epoch)
        for alarm in self.alarm_log.alarms(state.id, active_only=True):
            self.alarm_log.note(alarm["id"], now, HANDOVER, self.leases.holder,
                                f"alarm system taken over from {taken.previous}: {why}")

    def _lost(self, session_id: int, now: float) -> None:
        """Another instance runs this session now (it took the lease while this one was stalled
        or cut off): stop running it at once. Its dashboards here see it again through the bus."""
        state = self.sessions.pop(session_id, None)
        if state is None:
            return
        log.warning("session %s (%s): its lease is held by another instance now; no longer run here",
                    session_id, state.room)
        for monitor in self.monitors.values():
            if monitor.session_id == session_id:
                monitor.session_id = None
        self.hub.publish(wire.SessionEnded(room=state.room, session_id=session_id))

    def _leases(self, now: float) -> None:
        """Every RENEW_S: renew the held leases, stop running the lost ones, take the orphans."""
        if self.leases is None or now < self._leases_due:
            return
        self._leases_due = now + RENEW_S
        for sid in self.leases.renew(now):
            self._lost(sid, now)
        for sid in self.leases.orphans(now):
            row = self.store.session(sid)
            if row is None or self.session_for_room(row["room"]) is not None:
                continue
            with contextlib.suppress(HeldElsewhere):  # another instance was quicker
                self._take_over(row, now, steal=False)

    def end_session(self, session_id: int, now: float) -> bool:
        state = self.sessions.pop(session_id, None)
        if state is None:
            return False
        self.store.end_session(session_id, now)
        if self.leases is not None:
            self.leases.release(session_id)
        for monitor in self.monitors.values():
            if monitor.session_id == session_id:
                monitor.session_id = None
        self.hub.publish(wire.SessionEnded(room=state.room, session_id=session_id))
        return True

    # Monitors ----------------------------------------------------------------------------

    def monitor(self, monitor_id: str) -> MonitorState:
        if monitor_id not in self.monitors:
            self.monitors[monitor_id] = MonitorState(monitor_id)
        return self.monitors[monitor_id]

    def admission(self, monitor_id: str, room: str) -> str:
        """"" if ``monitor_id`` may feed ``room`` now, else why not: a room's running session is
        fed only by the monitors it lists (the first to start it, and those a clinician adds)."""
        session = self.session_for_room(room)
        listed = [f.monitor_id for f in session.feeds.values() if f.listed] if session else []
        session_id = session.id if session else None
        if session is None and self.leases is not None:
            # Run by another instance (or by none): the monitors it lists are in the store.
            row = self.store.active_session(room)
            if row is not None:
                session_id = row["id"]
                listed = [m["monitor_id"] for m in self.store.session_monitors(row["id"])]
        if not listed or monitor_id in listed:
            return ""
        return (f"room {room!r} has a running session ({session_id}) fed by "
                f"{', '.join(listed)}; a clinician adds {monitor_id!r} to that session first")

    def hello(self, hello: Hello, now: float, site: str | None = None) -> tuple[int, int, int]:
        """A monitor (re)connects: join its room's session, or start one. Returns
        ``(session_id, last_seq, connection)``: the seq of the stream already stored, and the id
        of this connection, which only its own ``disconnected`` may end. Raises NotAdmitted if
        the room's running session does not list the monitor (see ``admission``)."""
        if why := self.admission(hello.monitor_id, hello.room):
            raise NotAdmitted(why)
        session = self.start_session(hello.room, hello.mode, now, take=True, site=site)
        self._list(session, hello.monitor_id, f"monitor:{hello.monitor_id}", now)
        session.last_heard = now
        m = self.monitor(hello.monitor_id)
        m.room, m.session_id, m.stream, m.mode = hello.room, session.id, hello.stream, hello.mode
        m.site = site or self.default_site
        m.vendor, m.model, m.connected, m.last_heard = hello.vendor, hello.model, True, now
        m.connection = next(self._connections)
        last = self.store.open_stream(hello, session.id)
        key = (hello.monitor_id, hello.stream)
        self.last_seq[key] = max(last, self.last_seq.get(key, 0))
        # Every adapter start is a new stream: keep only this monitor's current one in memory
        # (the store holds every stream's last seq, and a returning stream reads it back above).
        for old in [k for k in self.last_seq if k[0] == hello.monitor_id and k != key]:
            del self.last_seq[old]
        self._heard(session, hello.monitor_id, now)
        self._room_changed(session)
        return session.id, self.last_seq[key], m.connection

    def _list(self, session: SessionState, monitor_id: str, by: str, now: float) -> Feed:
        """List a monitor in a session (again): it is expected from now on."""
        known = monitor_id in session.feeds and session.feeds[monitor_id].listed
        feed = self._feed(session, monitor_id, now)
        if not known or feed.finished:
            self.store.add_session_monitor(session.id, monitor_id, now, by)
        if not known:
            feed.last_heard = now
        feed.finished, feed.listed = False, True
        return feed

    def add_monitor(self, session_id: int, monitor_id: str, by: str, now: float) -> list[str]:
        """A clinician lists another monitor in a running session; returns the monitors it lists
        now. The session expects it from now on: if it does not come, its feed is lost."""
        session = self.sessions[session_id]
        self._list(session, monitor_id, by, now)
        self._room_changed(session)
        return [f.monitor_id for f in session.feeds.values() if f.listed]

    def remove_monitor(self, session_id: int, monitor_id: str, now: float) -> list[str]:
        """A clinician takes a monitor off a running session: it is no longer expected (its
        lost-feed condition ends) and may not feed the session again unless added back. Raises
        KeyError if the session does not list it."""
        session = self.sessions[session_id]
        feed = session.feeds[monitor_id]
        if not feed.listed:
            raise KeyError(monitor_id)
        feed.silent = False
        self._alarms(session, feed.alarms.signal(now, "feed_lost", False), now, monitor_id)
        if not feed.alarms.active():
            del session.feeds[monitor_id]
        else:  # an alarm still to acknowledge keeps its feed, unexpected, until it is settled
            feed.listed = False
        self.store.remove_session_monitor(session_id, monitor_id)
        m = self.monitors.get(monitor_id)
        if m is not None and m.session_id == session_id:
            m.session_id = None
        self._room_changed(session)
        return [f.monitor_id for f in session.feeds.values() if f.listed]

    def disconnected(self, monitor_id: str, now: float, connection: int | None = None) -> None:
        """A monitor's connection has closed. Only its current connection counts: the close of a
        connection it has already replaced (a reconnect after a half-open path) changes nothing."""
        m = self.monitor(monitor_id)
        if connection is not None and connection != m.connection:
            log.info("monitor %s: an old connection closed; the current one stays", monitor_id)
            return
        m.connected = False
        session = self.sessions.get(m.session_id) if m.session_id else None
        if session is not None:
            self._room_changed(session)

    def finished(self, monitor_id: str, now: float, connection: int | None = None) -> None:
        """A replay has played to its end: its session no longer expects this monitor."""
        m = self.monitor(monitor_id)
        if connection is not None and connection != m.connection:
            return
        session = self.sessions.get(m.session_id) if m.session_id else None
        feed = session.feeds.get(monitor_id) if session is not None else None
        if session is not None and feed is not None and not feed.finished:
            feed.finished = True
            self.store.finish_session_monitor(session.id, monitor_id, now)
            if feed.silent:
                feed.silent = False
                self._alarms(session, feed.alarms.signal(now, "feed_lost", False), now, monitor_id)
            self._room_changed(session)

    def refuse(self, monitor_id: str, seq: int | None, field_: str, reason: str, raw: str) -> None:
        m = self.monitor(monitor_id)
        m.refused += 1
        m.refused_by[refusals.counted_field(field_, m.refused_by)] += 1
        m.last_error = {"seq": seq, "field": field_, "kind": refusals.kind(reason), "reason": reason}
        self.store.reject(monitor_id, seq, field_, reason, raw)

    # Messages ----------------------------------------------------------------------------

    def accept(self, monitor_id: str, msg: Any, now: float) -> bool:
        """Store, evaluate and broadcast one validated message. Returns False for a duplicate
        (a resent message already stored), which is acknowledged but not stored again."""
        m = self.monitor(monitor_id)
        session = self.sessions.get(m.session_id) if m.session_id is not None else None
        if session is None:
            # The session was ended while the monitor streamed: the next reading starts a new one
            # (unless another monitor has started one in the room meanwhile). Or another instance
            # took the session over while this one was stalled, and this connection is the
            # monitor's old one: never taken back on its account (take=False: HeldElsewhere, and
            # the connection ends). Only a hello, the monitor being here now, takes a session.
            if why := self.admission(monitor_id, m.room):
                raise NotAdmitted(why)
            session = self.start_session(m.room, m.mode, now, take=False, site=m.site or None)
            self._list(session, monitor_id, f"monitor:{monitor_id}", now)
            m.session_id = session.id
            self.store.open_stream(
                Hello(type="hello", seq=0, protocol=1, monitor_id=monitor_id, stream=m.stream,
                      room=m.room, mode=m.mode), session.id)
        key = (monitor_id, m.stream)
        last = self.last_seq.get(key, 0)
        if msg.seq <= last:
            m.duplicates += 1
            m.last_heard = now
            self._heard(session, monitor_id, now)
            return False
        if msg.seq != last + 1:
            # Ingest refuses a seq gap before it gets here: last_seq never jumps.
            raise ValueError(f"seq {msg.seq} of {monitor_id} is not the next one ({last + 1})")
        # A heartbeat stores nothing but advances the stream's seq, so that after a restart the
        # stream goes on from it rather than waiting for a seq that was never a reading.
        self.store.store_message(monitor_id, m.stream, session.id, msg, now)
        self.last_seq[key] = msg.seq
        m.accepted += 1
        m.last_heard = now
        self._heard(session, monitor_id, now)
        room, sid = session.room, session.id
        if msg.type != "heartbeat":
            end = last_t(msg)
            m.device_time = end if m.device_time is None else max(m.device_time, end)
            # The session's device clock, on which the supervisor ticks its alarms, only moves
            # forward: a message stamped in the past (a device clock in the wrong time zone, a
            # second monitor's backlog) must not wind it back and hold the alarms' timers.
            if session.device_time is None or msg.t >= session.device_time:
                session.device_time, session.device_time_at = msg.t, now
        # The feed's messages are built with model_construct: their fields come from a protocol
        # message ingest has validated already, and this is the hot path.
        if msg.type == "numerics":
            values = {p.value: v.value for p, v in msg.values.items()}
            if "SpO2" in values and (session.spo2 is None or msg.t >= session.spo2[0]):
                session.spo2 = (msg.t, values["SpO2"])
            self.hub.publish(wire.NumericsMessage.model_construct(
                room=room, session_id=sid, t_server=now,
                readings={p: wire.Reading.model_construct(value=v, t_device=msg.t)
                          for p, v in values.items()}))
        elif msg.type == "nibp":
            if msg.status == "ok":
                session.cuffs.append(CuffReading(msg.t, msg.sys, msg.dia, msg.map))
            cuff = wire.Cuff.model_construct(status=msg.status, sys=msg.sys, dia=msg.dia, map=msg.map,
                                             reason=msg.reason, t_device=msg.t)
            self.hub.publish(wire.NibpMessage.model_construct(room=room, session_id=sid, nibp=cuff))
        elif msg.type == "waveform":
            self.hub.publish(wire.WaveformMessage.model_construct(
                room=room, session_id=sid, wave=msg.wave.value, rate=msg.rate, t_device=msg.t,
                samples=msg.samples))
        elif msg.type == "status":
            status = wire.DeviceStatus.model_construct(code=msg.code, active=msg.active,
                                                       text=msg.text, t_device=msg.t)
            if msg.active:
                session.statuses[msg.code] = status
            else:
                session.statuses.pop(msg.code, None)
            self.hub.publish(wire.StatusMessage.model_construct(room=room, session_id=sid, status=status))
        # Every message reaches the alarms through alerts.intake, as in offline evaluation: first
        # the ticks due before it, then the message. A mark is made as a clinician's is (a dose
        # is also stored), after the same ticks.
        if msg.type == "mark":
            self._alarms(session, intake.tick(session.alarms, session.ticks, msg.t, before=True), now)
            self._marked(session, msg.t, msg.what, msg.text, f"monitor:{monitor_id}", now, stored=True)
            session.ticks.heard(msg)
        else:
            self._alarms(session, intake.feed(session.alarms, session.ticks, msg), now)
        if msg.type == "nibp" and session.doc.check_in is not None:
            self._baseline_protocol(session, msg.t)
        return True

    def _heard(self, session: SessionState, monitor_id: str, now: float) -> None:
        session.last_heard = now
        feed = session.feeds.get(monitor_id)
        if feed is None:
            return
        feed.last_heard = now
        if feed.silent:
            feed.silent = False
            self._room_changed(session)
            self._alarms(session, feed.alarms.signal(now, "feed_lost", False), now, monitor_id)

    def _alarms(self, session: SessionState, changes: list[Change], now: float,
                monitor_id: str = "") -> None:
        """Log and broadcast alarm changes; ``monitor_id`` for a monitor's own alarms (a lost
        feed), which then name it in their message and in the alarm log."""
        for change in changes:
            k = resume.key(change.rule, change.event, change.t)
            if not monitor_id and session.already_logged[k]:
                session.already_logged[k] -= 1
                continue
            if monitor_id and not change.message.endswith(f": {monitor_id}"):
                change = replace(change, message=f"{change.message}: {monitor_id}")
            try:
                alarm, log_id = self.alarm_log.record(session.id, change, decided=now,
                                                      monitor_id=monitor_id)
            except Fenced:
                # Taken over by another instance meanwhile: nothing of it is logged here; the
                # successor's replay decides it again.
                self._lost(session.id, now)
                return
            self.hub.publish(wire.AlarmMessage(room=session.room, session_id=session.id,
                                               event=change.event, log_id=log_id, by=change.by,
                                               alarm=to_feed(alarm)))
            if self.on_alarm is not None:
                self.on_alarm(session, change, alarm, log_id, now)

    def delivery_signal(self, session_id: int, rule: str, on: bool, now: float) -> None:
        """Set one of the delivery's supervision signals (D1-D3) of a session at ``now``."""
        session = self.sessions.get(session_id)
        if session is not None and session.delivery is not None:
            self._alarms(session, session.delivery.signal(now, DELIVERY_SIGNALS[rule], on), now)

    def cluster_signal(self, on: bool, now: float) -> None:
        """Set the cluster's supervision signal (N1: the bus lost) in every session at ``now``.
        Level-triggered: called every second, so a session started meanwhile gets it too."""
        for session in list(self.sessions.values()):
            if session.delivery is not None:
                self._alarms(session, session.delivery.signal(now, CLUSTER_SIGNALS["N1"], on), now)

    def _site_signal(self, now: float, lost: set[str]) -> None:
        """Set N2 (the site's link lost) in every session of a site in ``lost``, clear it in the
        others. Level-triggered, every second, like ``cluster_signal``."""
        for session in list(self.sessions.values()):
            if session.delivery is not None:
                self._alarms(session, session.delivery.signal(now, CLUSTER_SIGNALS["N2"],
                                                              session.site in lost), now)

    def mark(self, session_id: int, what: str, text: str, by: str, now: float) -> dict[str, Any]:
        """A clinician marks an event (the dose, a treatment, a note) at the session's now. A
        dose mark is held to the pre-dose gate as a dose entry is (``clinical.Refusal``); a
        monitor's or a replay's dose mark is what the device recorded, and is not."""
        session = self.sessions[session_id]
        if what == "dose" and session.alarms.engine.dose_t is None:
            active = self.gates_active(session)
            rules = session.alarms.rules
            clinical.gate(session.doc, active, {r: rules.rules[r].title for r in active}, "what")
        return self._marked(session, session.device_clock(now), what, text, by, now, stored=False)

    def _marked(self, session: SessionState, t: float, what: str, text: str, by: str, now: float,
                stored: bool) -> dict[str, Any]:
        mark = {"session_id": session.id, "t": t, "what": what, "text": text, "by": by}
        if not stored:
            mark = self.store.add_mark(session.id, t, what, text, by)
        self.hub.publish(wire.MarkMessage(room=session.room, session_id=session.id, mark=wire.Mark(
            session_id=session.id, t_device=t, what=what, text=text, by=by)))
        if what == "dose" and session.alarms.engine.dose_t is None:
            changes = session.alarms.dose(t)
            self.store.set_dose(session.id, t, session.alarms.engine.baseline or {})
            self._room_changed(session)  # its dose
            self._settings_changed(session)  # the baseline, captured at the dose
            self._alarms(session, changes, now)
        if what == "dose" and session.doc.check_in is not None:
            self.judge(session, now)  # the minimum time counts from the dose
        if what == INFUSION_END and session.infusion_end is None:
            session.infusion_end = t
            self._room_changed(session)  # the discharge window counts from it
        return mark

    # The session record ---------------------------------------------------------------------

    def gates_active(self, session: SessionState) -> set[str]:
        """The pre-dose gates (``documentation.dose_gates``) whose condition is active now."""
        gates = set(session.alarms.rules.documentation.dose_gates)
        return {t.rule for t in session.alarms.engine.active() if t.rule in gates}

    def add_entry(self, session_id: int, entry: Entry, by: str, role: str, now: float) -> Stored:
        """Record one entry of the session record, by ``by`` (of ``role``), after
        ``clinical.check`` (which raises ``clinical.Refusal``). A dose starts the alarm system's
        dose clock through the dose mark, as a clinician's mark does; a pre-dose sign-off
        acknowledges the gates' alarms it covers, in the alarm log, in the signer's name."""
        session = self.sessions[session_id]
        rules = session.alarms.rules
        active = self.gates_active(session)
        entry = clinical.check(entry, session.doc, rules, role, session.alarms.engine.dose_t is not None,
                               active, {r: rules.rules[r].title for r in active},
                               None if session.device_time is None else session.device_clock(now))
        try:
            stored = self.record.add(session_id, entry, by, now)
        except ValueError as e:
            raise clinical.Refusal(422, "replaces", str(e).removeprefix("replaces: ")) from None
        session.doc = clinical.documented(self.record.current(session_id))
        if entry.kind == "check_in":
            session.label = entry.label
            self.store.set_label(session_id, session.label)
            self._settings_changed(session)  # the route's timeline
            self._baseline_protocol(session, session.device_clock(now))
        elif entry.kind == "dose":
            self._marked(session, entry.t_device, "dose", clinical.dose_text(entry),
                         by, now, stored=False)
        elif entry.kind == "sign_off" and entry.what == "pre_dose_bp":
            for alarm in self.alarm_log.alarms(session_id, active_only=True):
                if alarm["rule"] in active and alarm["state"] in ("active", "audio_paused", "latched"):
                    with contextlib.suppress(IllegalTransition):  # acknowledged meanwhile
                        self.act(alarm["id"], "acknowledge", by, now)
        self.judge(session, now, force=True)
        return stored

    def _baseline_protocol(self, session: SessionState, t: float) -> None:
        """Capture the baseline once the protocol has its readings, unless the dose came first
        (the capture at the dose holds) or it was set already."""
        if session.protocol_done or session.doc.check_in is None or session.alarms.engine.dose_t is not None:
            return
        step = self._protocol(session, t)
        if step.step != "captured":
            return
        last = step.readings[-1].t
        baseline = {**session.alarms.engine.capture_baseline(last), **step.mean()}
        session.alarms.set_baseline(baseline)
        self.store.set_baseline(session.id, baseline, last)
        session.protocol_done = True
        self._settings_changed(session)

    def _protocol(self, session: SessionState, t: float) -> protocol.Protocol:
        assert session.doc.check_in is not None
        return protocol.protocol(session.alarms.rules.baseline, session.doc.check_in.t_device,
                                 session.cuffs, t)

    def readiness(self, session: SessionState, now: float) -> discharge.Readiness:
        """Discharge readiness now (``alerts.discharge``), on the session's clock."""
        rules = session.alarms.rules
        t = session.device_clock(now)
        spans = [discharge.AlarmSpan(a["rule"], a["priority"], a["onset"], a["ended"],
                                     waiting=a["state"] == "latched")
                 for a in self.alarm_log.alarms(session.id)]
        route = session.doc.check_in.route if session.doc.check_in else None
        return discharge.readiness(rules.discharge, rules.timeline.for_route(route), discharge.Inputs(
            dose_t=session.alarms.engine.dose_t, infusion_end_t=session.infusion_end_t,
            baseline=session.alarms.engine.baseline, cuffs=session.cuffs, spo2=session.spo2,
            alarms=spans, confirmations=session.doc.confirmations), t)

    def judge(self, session: SessionState, now: float, force: bool = False) -> None:
        """Judge discharge readiness again; the room is sent when it changed (or ``force``)."""
        if session.doc.check_in is None:
            return
        r = self.readiness(session, now)
        route = session.doc.check_in.route
        view = wire.Discharge(
            criteria=[wire.Criterion(key=c.key, label=c.label, status=c.status, why=c.why)
                      for c in r.criteria],
            met=r.met, total=len(r.criteria), ready=r.ready, blocked_by=r.blocked_by,
            phase=session.alarms.rules.timeline.for_route(route).phase_at(
                session.alarms.engine.dose_t, session.infusion_end_t, session.device_clock(now)))
        if force or view != session.discharge:
            session.discharge = view
            self._room_changed(session)

    def capture_baseline(self, session_id: int, now: float) -> dict[str, float | None]:
        """Capture the pre-dose baseline now, from the readings so far (before the dose)."""
        session = self.sessions[session_id]
        baseline = session.alarms.engine.capture_baseline(session.device_clock(now))
        session.alarms.set_baseline(baseline)
        self.store.set_baseline(session_id, baseline, session.device_clock(now))
        self._settings_changed(session)
        return baseline

    def change_rule(self, session_id: int, rule_id: str, change: dict[str, Any], by: str,
                    now: float, reason: str = "") -> RuleSet:
        """Change one rule for this session only. Raises RulesError if the change is invalid."""
        session = self.sessions[session_id]
        merged = {**session.overrides, rule_id: {**session.overrides.get(rule_id, {}), **change}}
        rules = self.rules.with_overrides(merged)
        self.store.add_rule_change(session_id, rule_id, change, by, now, reason)
        session.overrides = merged
        changes = session.alarms.replace_rules(rules, session.device_clock(now))
        self._settings_changed(session)
        self._alarms(session, changes, now)
        return rules

    def act(self, alarm_id: int, action: str, by: str, now: float) -> dict[str, Any]:
        """A person acknowledges, pauses the audio of, or resets an alarm. Raises KeyError if
        the alarm is not signalled, IllegalTransition if its state does not allow it."""
        alarm = self.alarm_log.alarm(alarm_id)
        session = self.sessions.get(alarm["session_id"]) if alarm else None
        if alarm is None or session is None or alarm["state"] == "cleared":
            raise KeyError(alarm_id)
        if alarm["rule"] in FEED_RULES:
            feed = session.feeds.get(alarm["monitor_id"])
            if feed is None:
                raise KeyError(alarm_id)
            changes = feed.alarms.act(now, alarm["rule"], action, by)
            self._alarms(session, changes, now, feed.monitor_id)
            if not feed.listed and not feed.alarms.active():  # taken off the session, now settled
                del session.feeds[feed.monitor_id]
        elif alarm["rule"] in DELIVERY_RULES and session.delivery is not None:
            self._alarms(session, session.delivery.act(now, alarm["rule"], action, by), now)
        else:
            changes = session.alarms.act(session.device_clock(now), alarm["rule"], action, by)
            self._alarms(session, changes, now)
        return self.alarm_log.alarm(alarm_id)  # type: ignore[return-value]

    # Supervision -------------------------------------------------------------------------

    def supervise(self, now: float) -> None:
        """Called every second: feed loss, technical delays and escalations, and the dashboards'
        heartbeat (which is how a dashboard knows its own connection is alive)."""
        self._leases(now)
        for session in list(self.sessions.values()):
            # Each monitor on its own: one that is silent loses its feed even while another in
            # the same room keeps streaming.
            for feed in list(session.feeds.values()):
                if feed.expected and not feed.silent and now - feed.last_heard > SILENCE_S:
                    feed.silent = True
                    self._room_changed(session)
                    self._alarms(session, feed.alarms.signal(feed.last_heard, "feed_lost", True), now,
                                 feed.monitor_id)
                self._alarms(session, feed.alarms.tick(now), now, feed.monitor_id)
            if session.delivery is not None:
                self._alarms(session, session.delivery.tick(now), now)
            # Technical delays, the NIBP schedule and escalations must progress while a device
            # is quiet: tick the ticks alerts.intake says are due by an estimate of the device's
            # clock (the same ticks offline evaluation gives). While its feed is lost, T4 speaks
            # for that time and the device's ticks pass.
            feeding = any(f.expected and not f.silent for f in session.feeds.values())
            if session.device_time is not None:
                if feeding:
                    changes = intake.tick(session.alarms, session.ticks, session.device_clock(now))
                    self._alarms(session, changes, now)
                else:
                    session.ticks.skip(session.device_clock(now))
            self.judge(session, now)
        for message in self.site_links.supervise(now, self._sites_heard()):
            log.warning("site %s: link %s (no monitor heard for %.0f s)", message.site,
                        "lost" if message.lost else "back", now - message.last_heard_server)
            self.hub.publish(message)
        self._site_signal(now, self.site_links.silent(now, SILENCE_S))
        self.hub.publish(wire.Heartbeat(t_server=now))

    def _sites_heard(self) -> dict[str, float]:
        """For each site with monitors this instance expects, when one of them was last heard."""
        heard: dict[str, float] = {}
        for session in self.sessions.values():
            for feed in session.feeds.values():
                if feed.expected:
                    heard[session.site] = max(heard.get(session.site, feed.last_heard), feed.last_heard)
        return heard

    # Views -------------------------------------------------------------------------------

    def _room_changed(self, session: SessionState) -> None:
        self.hub.publish(wire.RoomChanged(room=self.room_state(session)))

    def _settings_changed(self, session: SessionState) -> None:
        session.settings = None
        self.hub.publish(wire.SettingsMessage(room=session.room, session_id=session.id,
                                              settings=self.settings(session)))

    def room_state(self, session: SessionState) -> wire.RoomState:
        """The room as the dashboards show it (``wire.RoomState``). ``live``: every monitor the
        session expects is connected and heard from; ``partial``: some are, ``silent`` names
        those that are not. ``monitors`` has each one's own link state."""
        return wire.RoomState(**self._room_fields(session))

    def room_view(self, session: SessionState) -> wire.RoomView:
        """The room as a snapshot gives it (``wire.RoomView``): its state, latest readings, cuff
        readings, alarms still signalled and the settings in force."""
        latest = self.store.latest(session.id)
        ok, attempt = latest["nibp"], latest["nibp_last_attempt"]
        offset = (None if session.device_time is None
                  else session.device_time - session.device_time_at)
        return wire.RoomView(
            **self._room_fields(session),
            latest={p: wire.Reading(value=r["value"], t_device=r["t"])
                    for p, r in latest["values"].items()},
            nibp=None if ok is None else wire.Cuff(
                status="ok", sys=ok["sys"], dia=ok["dia"], map=ok["map"], t_device=ok["t"]),
            nibp_last_attempt=None if attempt is None else wire.Cuff(
                status=attempt["status"], sys=attempt["sys"], dia=attempt["dia"],
                map=attempt["map"], reason=attempt.get("reason") or "", t_device=attempt["t"]),
            alarms=[to_feed(a) for a in self.alarm_log.alarms(session.id, active_only=True)],
            settings=self.settings(session),
            device_clock_offset=offset,
        )

    def _room_fields(self, session: SessionState) -> dict[str, Any]:
        monitors = []
        for f in session.feeds.values():
            if not f.expected:
                continue
            m = self.monitors.get(f.monitor_id) or MonitorState(f.monitor_id)
            connected = bool(m.connected and m.session_id == session.id)
            last_error = m.last_error
            monitors.append(wire.MonitorLink(
                monitor_id=m.monitor_id, room=m.room or session.room, session_id=m.session_id,
                mode=m.mode or session.mode, vendor=m.vendor, model=m.model, connected=connected,
                live=connected and not f.silent, last_heard_server=f.last_heard,
                accepted=m.accepted, duplicates=m.duplicates, refused=m.refused,
                refused_by=dict(m.refused_by),
                last_error=dict(last_error) if last_error is not None else None))
        silent = [v.monitor_id for v in monitors if not v.live]
        return {
            "session_id": session.id, "room": session.room, "site": session.site, "mode": session.mode,
            "label": session.label, "started_server": session.started, "monitors": monitors,
            "live": bool(monitors) and not silent,
            "partial": bool(silent) and len(silent) < len(monitors),
            "silent": silent,
            "dose_device": session.alarms.engine.dose_t,
            "infusion_end_device": session.infusion_end_t,
            "last_heard_server": session.last_heard,
            "statuses": list(session.statuses.values()),
            **self._record_fields(session),
        }

    def _record_fields(self, session: SessionState) -> dict[str, Any]:
        doc, rules = session.doc, session.alarms.rules
        if doc.check_in is None:
            return {}
        c = doc.check_in
        step = self._protocol(session, session.device_time if session.device_time is not None
                              else c.t_device)
        captured = session.protocol_done or step.step == "captured"
        status = "captured" if captured else "implausible" if step.implausible else "missing"
        why = ("" if captured else step.implausible
               or ("resting until the rest is over" if step.step == "resting" else "waiting for a cuff reading"))
        return {
            "check_in": wire.CheckIn(label=c.label, weight_kg=c.weight_kg, drug=c.drug,
                                     route=c.route, t_device=c.t_device),
            "baseline_protocol": wire.BaselineProtocol(
                step="captured" if captured else step.step, status=status,
                rest_ends_device=step.rest_ends, readings=len(step.readings),
                needed=rules.baseline.nibp_readings, why=why),
            "dose_gate": wire.DoseGate(active=sorted(self.gates_active(session)),
                                       signed_off=sorted(doc.signed_gates)),
            "dosing": clinical.dosing(doc, rules),
            "discharge": session.discharge,
        }

    def settings(self, session: SessionState) -> wire.Settings:
        """The rules in force for a session (``wire.Settings``): the clinic's rules file with the
        session's own changes, and its baseline."""
        if session.settings is None:
            rules = session.alarms.rules
            baseline = session.alarms.engine.baseline
            session.settings = wire.Settings(
                rules_source=rules.source,
                nibp_schedule=wire.NibpSchedule.model_validate(
                    rules.schedule.model_dump(include={"nibp", "overdue_grace_min"})),
                signals=wire.SignalPolicy.model_validate(rules.signals.model_dump()),
                timeline=wire.Timeline.model_validate(rules.timeline.for_route(
                    session.doc.check_in.route if session.doc.check_in else None).model_dump(
                    exclude={"routes"})),
                limits=[wire.Limit(rule=r.id, priority=r.priority, when=r.when.text,
                                   param=rule_param(r), enabled=r.enabled)
                        for r in rules.rules.values() if r.when is not None],
                baseline=dict(baseline) if baseline is not None else None,
                scales=[wire.Scale(name=n, label=sc.label, kind=sc.kind, min=sc.min, max=sc.max,
                                   step=sc.step) for n, sc in rules.documentation.scales.items()],
                confirmable=[wire.Confirmable(key=c.key, label=c.label) for c in rules.discharge.confirmed],
            )
        return session.settings

    def snapshot(self, now: float, subscription: wire.Subscribe | None = None,
                 local_only: bool = False, visible: Visible = EVERY_SITE) -> wire.Snapshot:
        """Every room ``subscription`` selects (default: every room) of the sites ``visible``
        (default: every site), as the feed's snapshot: this instance's rooms, then (unless
        ``local_only``) the other instances' rooms as heard on the bus (``remote``, app/bus.py)."""
        subscription = subscription or wire.Subscribe()
        rooms = [self.room_view(s) for s in sorted(self.sessions.values(), key=lambda s: s.room)
                 if (subscription.rooms is None or s.room in subscription.rooms) and visible.sees(s.site)]
        if self.remote is not None and not local_only:
            rooms += [v for v in self.remote(subscription) if visible.sees(v.site)]
        return wire.Snapshot(t_server=now, subscription=subscription, rooms=rooms,
                             site_links=[s for s in self.site_links.lost() if visible.sees(s.site)])
