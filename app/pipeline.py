"""The pipeline: where a reading goes once it has been read off the socket.

    monitor message ─▶ store (SQLite, deduplicated by seq) ─▶ alarm system (alerts/)
                                         │                          │
                                         └──────────▶ hub ◀─────────┘ ─▶ every dashboard

One place wires the flow, so a reader can follow a reading from the socket to the screen. Ingest
(``ingest.py``) validates and calls ``accept``; the API calls the session methods; a supervisor
task calls ``supervise`` every second. Every method takes the server time it runs at.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from alerts.rules import RuleSet
from alerts.system import AlarmSystem, Change
from app.alarm_log import AlarmLog
from app.hub import Hub
from app.store import Store
from monitors.protocol import Hello

log = logging.getLogger("vitalwatch.pipeline")

# A monitor that has not been heard from for this long is shown as not live and starts the
# feed-lost condition (rule T4, whose own delay then applies). Adapters send a heartbeat every
# second when they have nothing else to send.
SILENCE_S = 3.0
FEED_RULES = {"T4"}
DEVICE_QUIET_S = 2.0


@dataclass
class MonitorState:
    monitor_id: str
    room: str = ""
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

    def to_json(self) -> dict[str, Any]:
        return {
            "monitor_id": self.monitor_id, "room": self.room, "session_id": self.session_id,
            "mode": self.mode, "vendor": self.vendor, "model": self.model,
            "connected": self.connected, "last_heard": self.last_heard,
            "accepted": self.accepted, "duplicates": self.duplicates, "refused": self.refused,
            "refused_by": dict(self.refused_by), "last_error": self.last_error,
        }


@dataclass
class SessionState:
    id: int
    room: str
    mode: str
    started: float
    alarms: AlarmSystem  # on the device's clock
    feed: AlarmSystem  # feed supervision, on the server's clock
    monitor_id: str | None = None
    last_heard: float = 0.0
    device_time: float | None = None  # the latest device timestamp, and when it arrived
    device_time_at: float = 0.0
    feed_silent: bool = False
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # the session's own limits

    def device_clock(self, now: float) -> float:
        """Now on the device's clock, for actions (an acknowledgement) that come from people."""
        if self.device_time is None:
            return now
        return self.device_time + (now - self.device_time_at)


class Pipeline:
    def __init__(self, store: Store, hub: Hub, rules: RuleSet, now: float) -> None:
        self.store = store
        self.alarm_log = AlarmLog(store.db)
        self.hub = hub
        self.rules = rules
        self.sessions: dict[int, SessionState] = {}
        self.monitors: dict[str, MonitorState] = {}
        self.last_seq: dict[tuple[str, str], int] = {}
        for row in store.sessions(active_only=True):
            self._load_session(row, now)

    # Sessions ----------------------------------------------------------------------------

    def _load_session(self, row: dict[str, Any], now: float) -> SessionState:
        alarms = AlarmSystem(self.rules)
        feed = AlarmSystem(self.rules, only=FEED_RULES)
        # After a restart the alarms still signalled come back with their state, onset and
        # priority, so that they end by their own rules rather than vanish or double.
        for alarm in self.alarm_log.alarms(row["id"], active_only=True):
            target = feed if alarm["rule"] in FEED_RULES else alarms
            target.restore({**alarm, "limit": alarm["limit_value"]}, alarm["state"],
                           alarm["acknowledged_by"])
        # The session's own limits, its dose and its baseline, as they were.
        overrides: dict[str, dict[str, Any]] = {}
        for change in self.store.rule_changes(row["id"]):
            overrides.setdefault(change["rule"], {}).update(change["change"])
        if overrides:
            alarms.replace_rules(self.rules.with_overrides(overrides), now)
        if row.get("baseline"):
            alarms.set_baseline(json.loads(row["baseline"]))
        if row.get("dose") is not None:
            alarms.engine.dose_t = row["dose"]
        state = SessionState(row["id"], row["room"], row["mode"], row["started"], alarms, feed)
        state.overrides = overrides
        # A session loaded at start-up expects its monitor back: if it stays away, that is a
        # lost feed like any other (the clock starts now, when the server could first hear it).
        state.monitor_id = self.store.session_monitor(row["id"])
        state.last_heard = now
        state.feed_silent = any(s.rule in FEED_RULES for s in feed.active())
        self.sessions[row["id"]] = state
        return state

    def session_for_room(self, room: str) -> SessionState | None:
        return next((s for s in self.sessions.values() if s.room == room), None)

    def start_session(self, room: str, mode: str, now: float, label: str = "") -> SessionState:
        existing = self.session_for_room(room)
        if existing is not None:
            return existing
        row = self.store.start_session(room, mode, now, label)
        state = self._load_session(row, now)
        self.hub.publish({"type": "session", "event": "started", "room": self.room_state(state)})
        return state

    def end_session(self, session_id: int, now: float) -> bool:
        state = self.sessions.pop(session_id, None)
        if state is None:
            return False
        self.store.end_session(session_id, now)
        for monitor in self.monitors.values():
            if monitor.session_id == session_id:
                monitor.session_id = None
        self.hub.publish({"type": "session", "event": "ended", "session_id": session_id,
                          "room": state.room})
        return True

    # Monitors ----------------------------------------------------------------------------

    def monitor(self, monitor_id: str) -> MonitorState:
        if monitor_id not in self.monitors:
            self.monitors[monitor_id] = MonitorState(monitor_id)
        return self.monitors[monitor_id]

    def hello(self, hello: Hello, now: float) -> tuple[int, int]:
        """A monitor (re)connects: join its room's session, or start one. Returns
        ``(session_id, last_seq)``, the seq of the stream already stored."""
        session = self.start_session(hello.room, hello.mode, now)
        session.monitor_id, session.last_heard = hello.monitor_id, now
        m = self.monitor(hello.monitor_id)
        m.room, m.session_id, m.stream, m.mode = hello.room, session.id, hello.stream, hello.mode
        m.vendor, m.model, m.connected, m.last_heard = hello.vendor, hello.model, True, now
        last = self.store.open_stream(hello, session.id)
        key = (hello.monitor_id, hello.stream)
        self.last_seq[key] = max(last, self.last_seq.get(key, 0))
        self._heard(session, now)
        self.hub.publish({"type": "room", "room": self.room_state(session)})
        return session.id, self.last_seq[key]

    def disconnected(self, monitor_id: str, now: float) -> None:
        m = self.monitor(monitor_id)
        m.connected = False
        session = self.sessions.get(m.session_id) if m.session_id else None
        if session is not None:
            self.hub.publish({"type": "room", "room": self.room_state(session)})

    def finished(self, monitor_id: str, now: float) -> None:
        """A replay has played to its end: its session no longer expects a monitor."""
        m = self.monitor(monitor_id)
        session = self.sessions.get(m.session_id) if m.session_id else None
        if session is not None and session.monitor_id == monitor_id:
            session.monitor_id = None
            self.hub.publish({"type": "room", "room": self.room_state(session)})

    def refuse(self, monitor_id: str, seq: int | None, field_: str, reason: str, raw: str) -> None:
        m = self.monitor(monitor_id)
        m.refused += 1
        m.refused_by[field_ or "message"] += 1
        m.last_error = {"seq": seq, "field": field_, "reason": reason}
        self.store.reject(monitor_id, seq, field_, reason, raw)

    # Messages ----------------------------------------------------------------------------

    def accept(self, monitor_id: str, msg: Any, now: float) -> bool:
        """Store, evaluate and broadcast one validated message. Returns False for a duplicate
        (a resent message already stored), which is acknowledged but not stored again."""
        m = self.monitor(monitor_id)
        session = self.sessions.get(m.session_id) if m.session_id is not None else None
        if session is None:
            # The session was ended while the monitor streamed: the next reading starts a new one.
            session = self.start_session(m.room, m.mode, now)
            m.session_id = session.id
            self.store.open_stream(
                Hello(type="hello", seq=0, protocol=1, monitor_id=monitor_id, stream=m.stream,
                      room=m.room, mode=m.mode), session.id)  # type: ignore[arg-type]
        key = (monitor_id, m.stream)
        last = self.last_seq.get(key, 0)
        if msg.seq <= last:
            m.duplicates += 1
            m.last_heard = now
            self._heard(session, now)
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
        self._heard(session, now)
        base = {"session_id": session.id, "room": session.room, "mode": session.mode}
        if msg.type != "heartbeat":
            session.device_time, session.device_time_at = msg.t, now
        if msg.type == "numerics":
            values = {p.value: v.value for p, v in msg.values.items()}
            self.hub.publish({"type": "numerics", **base, "t": msg.t, "values": values})
            self._alarms(session, session.alarms.numerics(msg.t, values), now)
        elif msg.type == "nibp":
            values = {"SBP": msg.sys, "DBP": msg.dia, "MAP": msg.map}
            self.hub.publish({"type": "nibp", **base, "t": msg.t, "status": msg.status,
                              "sys": msg.sys, "dia": msg.dia, "map": msg.map, "reason": msg.reason})
            self._alarms(session, session.alarms.nibp(msg.t, msg.status == "ok", values), now)
        elif msg.type == "waveform":
            self.hub.publish({"type": "waveform", **base, "t": msg.t, "wave": msg.wave.value,
                              "rate": msg.rate, "samples": msg.samples})
        elif msg.type == "mark":
            self._marked(session, msg.t, msg.what, msg.text, f"monitor:{monitor_id}", now, stored=True)
        elif msg.type == "status":
            entry = {"code": msg.code, "active": msg.active, "text": msg.text, "t": msg.t}
            if msg.active:
                session.statuses[msg.code] = entry
            else:
                session.statuses.pop(msg.code, None)
            self.hub.publish({"type": "status", **base, **entry})
            self._alarms(session, session.alarms.status(msg.t, msg.code, msg.active), now)
        return True

    def _heard(self, session: SessionState, now: float) -> None:
        session.last_heard = now
        if session.feed_silent:
            session.feed_silent = False
            self.hub.publish({"type": "room", "room": self.room_state(session)})
            self._alarms(session, session.feed.signal(now, "feed_lost", False), now)

    def _alarms(self, session: SessionState, changes: list[Change], now: float) -> None:
        for change in changes:
            alarm, log_id = self.alarm_log.record(session.id, change, decided=now)
            self.hub.publish({"type": "alarm", "event": change.event, "log_id": log_id,
                              "room": session.room, "by": change.by, "alarm": alarm})

    def mark(self, session_id: int, what: str, text: str, by: str, now: float) -> dict[str, Any]:
        """A clinician marks an event (the dose, a treatment, a note) at the session's now."""
        session = self.sessions[session_id]
        return self._marked(session, session.device_clock(now), what, text, by, now, stored=False)

    def _marked(self, session: SessionState, t: float, what: str, text: str, by: str, now: float,
                stored: bool) -> dict[str, Any]:
        mark = {"session_id": session.id, "t": t, "what": what, "text": text, "by": by}
        if not stored:
            mark = self.store.add_mark(session.id, t, what, text, by)
        self.hub.publish({"type": "mark", "room": session.room, "mark": mark})
        if what == "dose" and session.alarms.engine.dose_t is None:
            changes = session.alarms.dose(t)
            self.store.set_dose(session.id, t, session.alarms.engine.baseline or {})
            self._alarms(session, changes, now)
        return mark

    def capture_baseline(self, session_id: int, now: float) -> dict[str, float | None]:
        """Capture the pre-dose baseline now, from the readings so far (before the dose)."""
        session = self.sessions[session_id]
        baseline = session.alarms.engine.capture_baseline(session.device_clock(now))
        session.alarms.set_baseline(baseline)
        self.store.set_baseline(session_id, baseline)
        return baseline

    def change_rule(self, session_id: int, rule_id: str, change: dict[str, Any], by: str,
                    now: float, reason: str = "") -> RuleSet:
        """Change one rule for this session only. Raises RulesError if the change is invalid."""
        session = self.sessions[session_id]
        merged = {**session.overrides, rule_id: {**session.overrides.get(rule_id, {}), **change}}
        rules = self.rules.with_overrides(merged)
        self.store.add_rule_change(session_id, rule_id, change, by, now, reason)
        session.overrides = merged
        self._alarms(session, session.alarms.replace_rules(rules, session.device_clock(now)), now)
        return rules

    def act(self, alarm_id: int, action: str, by: str, now: float) -> dict[str, Any]:
        """A person acknowledges, pauses the audio of, or resets an alarm. Raises KeyError if
        the alarm is not signalled, IllegalTransition if its state does not allow it."""
        alarm = self.alarm_log.alarm(alarm_id)
        session = self.sessions.get(alarm["session_id"]) if alarm else None
        if alarm is None or session is None or alarm["state"] == "cleared":
            raise KeyError(alarm_id)
        system = session.feed if alarm["rule"] in FEED_RULES else session.alarms
        t = now if system is session.feed else session.device_clock(now)
        self._alarms(session, system.act(t, alarm["rule"], action, by), now)
        return self.alarm_log.alarm(alarm_id)  # type: ignore[return-value]

    # Supervision -------------------------------------------------------------------------

    def supervise(self, now: float) -> None:
        """Called every second: feed loss, technical delays and escalations, and the dashboards'
        heartbeat (which is how a dashboard knows its own connection is alive)."""
        for session in list(self.sessions.values()):
            if session.monitor_id is None:
                continue
            if not session.feed_silent and now - session.last_heard > SILENCE_S:
                session.feed_silent = True
                self.hub.publish({"type": "room", "room": self.room_state(session)})
                self._alarms(session, session.feed.signal(session.last_heard, "feed_lost", True), now)
            self._alarms(session, session.feed.tick(now), now)
            # Technical delays, the NIBP schedule and escalations must progress while a device
            # sends only statuses (or nothing): then tick on an estimate of the device's clock.
            # While readings flow they move time on themselves, exactly as offline evaluation.
            if (session.device_time is not None and not session.feed_silent
                    and now - session.device_time_at > DEVICE_QUIET_S):
                self._alarms(session, session.alarms.tick(session.device_clock(now)), now)
        self.hub.publish({"type": "heartbeat", "server_time": now})

    # Views -------------------------------------------------------------------------------

    def room_state(self, session: SessionState) -> dict[str, Any]:
        m = self.monitors.get(session.monitor_id) if session.monitor_id else None
        return {
            "session_id": session.id, "room": session.room, "mode": session.mode,
            "started": session.started, "monitor": m.to_json() if m else None,
            "live": bool(m and m.connected and not session.feed_silent),
            "dose": session.alarms.engine.dose_t,
            "last_heard": session.last_heard, "statuses": list(session.statuses.values()),
        }

    def snapshot(self, now: float) -> dict[str, Any]:
        rooms = []
        for session in sorted(self.sessions.values(), key=lambda s: s.room):
            state = self.room_state(session)
            state.update(self.store.latest(session.id))
            state["alarms"] = self.alarm_log.alarms(session.id, active_only=True)
            rooms.append(state)
        return {"type": "snapshot", "server_time": now, "rooms": rooms}
