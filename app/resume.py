"""Resuming a session's alarms after a restart: its stored messages replayed, then reconciled
with the alarm log.

Theory of operation. The alarm logic is pure, so the state it held when the server died — a
condition pending its delay, a cuff rule waiting for its repeat reading, the NIBP schedule's
last valid reading, the derived signals' history, the escalation and reminder timers of the
alarms signalled — is whatever the same inputs at the same times give. ``replay`` feeds a
session's stored inputs through ``alerts.intake`` again, in the order the server took them:

- the monitors' numerics, cuff readings and statuses in the order they arrived (``received``),
  each with the ticks due before it;
- the pleth only from ``PLETH_LOOKBACK_S`` before the latest one (it is the one waveform the
  engine reads, and only over its window: a heartbeat's evidence for the asystole cross-check);
  the other waves say nothing the rules use;
- marks (the dose) at their device time; a clinician's mark without a tick of its own, a
  monitor's as a message;
- what people did to the alarms (acknowledge, pause the audio, reset a latch: the alarm log's
  rows with ``by``) and the session's rule changes, at the moment the server took them (its
  own clock, placed among the messages by their arrival), as the server applied them then;
- the baseline at the device time it was captured (the dose captures it again from the same
  readings when it was not set before).

Ticks follow the live supervisor: while a device is heard from, the ticks due between messages
are ticked; once nothing has arrived for ``SILENCE_S`` (its feed lost) they pass without a tick, as
the live server lets them pass while rule T4 speaks, until the next message. The live server
estimates the device clock as the latest device time plus the server time since it arrived (or
since the server started: ``Store.server_starts``); so does the replay. Heartbeats are not
stored, so a stretch of heartbeats alone longer than ``SILENCE_S`` is replayed as a silence: what
the live server decided in it comes back from the alarm log (below).

A session open longer than ``REPLAY_WINDOW_S`` is replayed over its last ``REPLAY_WINDOW_S`` of
device time only. What came before is put in place at the window's start: the dose time, the
baseline, the rule changes made before it, the last valid cuff reading before it (the NIBP
schedule counts from it) and each device status's last report before it (one may still be on).
Alarms signalled from before the window come back from the log, as below.

``reconcile`` then holds the result to the alarm log, which is what people saw: a change the
replay gives that the log has (same rule, event and time) is not logged again; one it gives after
the log's latest entry (the server died between deciding and logging) is to be logged now; one
the log has that the replay does not give (its message never committed: the monitor resends it)
is remembered so that it is not logged twice when it is decided again. Every alarm the log says
is signalled keeps its logged state, and who acknowledged it; one the replay does not have is
put back from its log row (``AlarmSystem.restore``). A replayed change the log contradicts
earlier than its latest entry is counted as a divergence (the server logs a warning, and
``/api/health`` shows the count); where that leaves an alarm signalled in the replay that the
log does not have, it is logged from its latest raise on: a possible alarm is never dropped.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from alerts import intake
from alerts.rules import RuleSet
from alerts.signal import IllegalTransition, State
from alerts.system import AlarmSystem, Change
from app.store import Store
from monitors.protocol import Mark, Measurement, Nibp, Numerics, Param, Status, Wave, Waveform

# The pleth replayed before the latest chunk: the engine reads it over ``pleth_window_s`` (8 s by
# default) and remembers the pulse amplitude of its last pulsing stretch, so a minute gives both.
PLETH_LOOKBACK_S = 60.0
# A session open longer than this is replayed over its last REPLAY_WINDOW_S of device time only,
# so that a start-up stays in seconds (a session left open for a day holds 86 400 numerics):
# every timer the rules hold runs out well within it (see ``alerts.intake.CATCH_UP_S``).
REPLAY_WINDOW_S = 2 * 3600.0
# The live pipeline's feed silence (``app.pipeline.SILENCE_S``, kept equal by a test): after it
# the device's ticks pass.
SILENCE_S = 3.0
ACTIONS = {"acknowledged": "acknowledge", "audio_paused": "pause_audio", "reset": "reset"}


def key(rule: str, event: str, t: float) -> tuple[str, str, float]:
    """How a change is matched between the replay and the log."""
    return rule, event, round(t, 3)


@dataclass
class Resumed:
    """A session's alarm system as the replay left it."""

    alarms: AlarmSystem
    ticks: intake.Clock
    changes: list[Change] = field(default_factory=list)  # what the replay decided, in order
    device_time: float | None = None  # the latest device time, and the server time it came
    device_time_at: float = 0.0
    statuses: dict[str, Status] = field(default_factory=dict)  # device statuses active at the end
    messages: int = 0
    refused_actions: int = 0  # logged actions the replayed alarms did not allow (divergence)
    seconds: float = 0.0


@dataclass
class Reconciled:
    to_log: list[Change]  # decided by the replay after the log's latest entry: log them now
    already_logged: Counter[tuple[str, str, float]]  # logged, not (yet) decided again
    diverged: int  # replayed changes the log contradicts


@dataclass(order=True)
class _Event:
    at: float  # server time (messages: when they arrived)
    order: int
    kind: str = field(compare=False)
    data: Any = field(compare=False)


def _messages(rows: dict[str, list[dict]]) -> Iterator[tuple[float, Any]]:
    """The stored monitor messages as protocol messages, each with when it arrived."""
    for (t, received), group in itertools.groupby(rows["numerics"], lambda r: (r["t"], r["received"])):
        values = {Param(r["param"]): Measurement.model_construct(value=r["value"], unit="")
                  for r in group}
        yield received, Numerics.model_construct(type="numerics", seq=0, t=t, values=values)
    for r in rows["nibp"]:
        yield r["received"], Nibp.model_construct(type="nibp", seq=0, t=r["t"], status=r["status"],
                                                  sys=r["sys"], dia=r["dia"], map=r["map"])
    for r in rows["statuses"]:
        yield r["received"], Status.model_construct(type="status", seq=0, t=r["t"], code=r["code"],
                                                    active=bool(r["active"]), text=r["text"])


def replay(store: Store, log_rows: list[dict], session: dict[str, Any], rules: RuleSet,
           overrides: list[dict]) -> Resumed:
    """Replay session ``session`` (its ``sessions`` row) through a new alarm system; ``log_rows``
    are its alarm log entries, ``overrides`` its rule changes (``Store.rule_changes``)."""
    started = time.perf_counter()
    system, clock = AlarmSystem(rules), intake.Clock()
    out = Resumed(system, clock)
    latest = store.latest_t(session["id"])
    # A session open longer than the window is replayed over its last REPLAY_WINDOW_S; what came
    # before is put in place at the window's start (see the module docstring).
    since = -math.inf if latest is None or latest - session["started"] <= REPLAY_WINDOW_S \
        else latest - REPLAY_WINDOW_S
    rows = store.replay_rows(session["id"], since, PLETH_LOOKBACK_S)
    pleth = rows.pop("pleth")
    events = [_Event(at, 0, "message", msg) for at, msg in _messages(rows)]
    events.sort()
    first = events[0].at if events else math.inf  # when the window's first message arrived
    # Device-time events are placed among the messages by device time: before the first message
    # stamped at or after them (a monitor sends its mark before the numerics of that second).
    timed: list[tuple[float, int, str, Any]] = [
        (r["t"], i, "pleth", Waveform.model_construct(type="waveform", seq=0, t=r["t"], wave=Wave.PLETH,
                                                      rate=r["rate"], samples=r["samples"]))
        for i, r in enumerate(pleth)]
    for i, m in enumerate(rows["marks"]):
        if m["t"] >= since:
            timed.append((m["t"], i, "mark", m))
        elif m["what"] == "dose" and system.engine.dose_t is None:
            system.engine.dose_t = m["t"]  # before the window: the dose time alone counts
    baseline_t = session.get("baseline_t")
    if session.get("baseline") and baseline_t is not None and baseline_t >= since:
        timed.append((baseline_t, 0, "baseline", json.loads(session["baseline"])))
    elif session.get("baseline") and (baseline_t is not None or session.get("dose") is None
                                      or since > -math.inf):
        system.set_baseline(json.loads(session["baseline"]))  # from the start
    timed.sort(key=lambda e: (e[0], e[1]))
    merged: dict[str, dict[str, Any]] = {}
    for c in overrides:  # the rule changes made before the window: in force from its start
        if since > -math.inf and c["t"] < first:
            merged.setdefault(c["rule"], {}).update(c["change"])
    if merged:
        out.changes += system.replace_rules(rules.with_overrides(merged), since)
    # Server-time events among the messages by when the server took them.
    served = [_Event(r["decided"], 1, "action", r) for r in log_rows
              if r["event"] in ACTIONS and r["by"] and not r["monitor_id"] and r["t"] >= since]
    served += [_Event(c["t"], 1, "rules", c) for c in overrides if since == -math.inf or c["t"] >= first]
    events = sorted(events + served)
    starts = store.server_starts()
    heard: float | None = None  # when the latest message arrived
    anchor = 0.0  # the server time the device-clock estimate counts from
    ti = 0
    for ev in events:
        if ev.kind == "message":
            msg = ev.data
            while ti < len(timed) and timed[ti][0] <= msg.t:
                _timed(out, timed[ti])
                ti += 1
            if heard is not None and ev.at - heard > SILENCE_S:
                between = starts[bisect.bisect_right(starts, heard):bisect.bisect_right(starts, ev.at)]
                _silence(out, heard, anchor, ev.at, between)
            out.changes += intake.feed(system, clock, msg)
            out.messages += 1
            heard = ev.at
            if out.device_time is None or msg.t >= out.device_time:
                out.device_time, out.device_time_at = msg.t, ev.at
                anchor = ev.at
            if isinstance(msg, Status):
                if msg.active:
                    out.statuses[msg.code] = msg
                else:
                    out.statuses.pop(msg.code, None)
            continue
        t = _estimate(out, anchor, ev.at)
        if ev.kind == "action":
            row = ev.data
            out.changes += intake.tick(system, clock, row["t"])
            try:
                out.changes += system.act(row["t"], row["rule"], ACTIONS[row["event"]], row["by"])
            except (KeyError, IllegalTransition):
                out.refused_actions += 1
        else:
            change = ev.data
            merged.setdefault(change["rule"], {}).update(change["change"])
            out.changes += system.replace_rules(rules.with_overrides(merged), t)
    for item in timed[ti:]:
        _timed(out, item)
    out.seconds = time.perf_counter() - started
    return out


def _estimate(out: Resumed, anchor: float, now: float) -> float:
    """The live server's estimate of the device clock at server time ``now``."""
    return now if out.device_time is None else out.device_time + (now - anchor)


def _timed(out: Resumed, item: tuple[float, int, str, Any]) -> None:
    t, _, kind, data = item
    system, clock = out.alarms, out.ticks
    if kind == "pleth":
        out.changes += intake.feed(system, clock, data)
    elif kind == "baseline":
        system.set_baseline(data)
    elif data["by"].startswith("monitor:"):  # a monitor's mark: a message, with its ticks
        msg = Mark.model_construct(type="mark", seq=0, t=t, what=data["what"], text=data["text"])
        out.changes += intake.feed(system, clock, msg)
    elif data["what"] == "dose":  # a clinician's, at the session's clock (Pipeline.mark)
        out.changes += intake.tick(system, clock, t, before=True) + system.dose(t)


def _silence(out: Resumed, heard: float, anchor: float, arrived: float, starts: list[float]) -> None:
    """The ticks of the stretch between two messages (server times ``heard`` and ``arrived``) as
    the live supervisor ticked them: due by its device-clock estimate until the feed had been
    silent for SILENCE_S, then passed. A server start in between starts the count again."""
    for start, end in itertools.pairwise([heard, *starts, arrived]):
        base = anchor if start == heard else start
        if end - start <= SILENCE_S:
            continue
        out.changes += intake.tick(out.alarms, out.ticks, _estimate(out, base, start + SILENCE_S))
        out.ticks.skip(_estimate(out, base, end - intake.TICK_S / 2))


def reconcile(resumed: Resumed, log_rows: list[dict], signalled: list[dict]) -> Reconciled:
    """Hold the replayed alarm system to the alarm log (see the module docstring): ``log_rows``
    are the session's log entries, ``signalled`` its alarm rows still signalled (both of its
    own alarms, not a monitor's feed)."""
    logged = Counter(key(r["rule"], r["event"], r["t"]) for r in log_rows)
    last = max((r["t"] for r in log_rows), default=-math.inf)
    to_log, diverged = [], 0
    for change in resumed.changes:
        k = key(change.rule, change.event, change.t)
        if logged[k]:
            logged[k] -= 1
        elif change.t >= last:
            to_log.append(change)
        else:
            diverged += 1
    system = resumed.alarms
    rows = {r["rule"]: r for r in signalled}
    logged_now = {c.rule: c for c in to_log}  # what the log will say once these are logged
    for rule in list(system.signals):
        if rule not in rows and rule not in logged_now:
            # The replay has it signalled and the log has not: an alarm that may be real is
            # logged now, from its latest raise, never dropped.
            diverged += 1
            mine = [i for i, c in enumerate(resumed.changes) if c.rule == rule]
            raised = max(i for i in mine if resumed.changes[i].event == "raised")
            to_log += [resumed.changes[i] for i in mine if i >= raised]
    for rule, row in rows.items():
        if rule in logged_now:
            continue
        sig = system.signals.get(rule)
        if sig is None:
            system.restore({**row, "limit": row["limit_value"]}, row["state"], row["acknowledged_by"])
        elif sig.state.value != row["state"] or sig.acknowledged_by != row["acknowledged_by"]:
            diverged += 1
            sig.state, sig.acknowledged_by = State(row["state"]), row["acknowledged_by"]
    return Reconciled(to_log, +logged, diverged)
