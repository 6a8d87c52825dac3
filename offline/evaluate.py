"""``vitalwatch evaluate``: run alarm rules over recordings offline.

Every record of a recording that is a wire message is parsed into the protocol model the live
server validates with (``monitors.protocol``), and fed to the alarm system through the one
feeding path the live pipeline uses (``alerts.intake.feed``): the same messages, in the same
order, at the same device times, with the same clock ticks between them — so the transitions
printed here are the ones a server would have produced from the recording streamed into it, for
sparse recordings (a 1-a-minute ICU trend) and quiet stretches too (a test holds the two to it).
A record the server would refuse is reported with its line and why, and counted; never fed.
Feed supervision (T4) is the one exception: it judges the server's clock, which a recording does
not have, so offline the device is taken to have stayed connected through every gap.

Pre-dose gates (G1, G2, G2V: "do not dose") apply only to a recording of a session: one with a
dose mark, in a session's mode (``live``, ``demo``, ``test``) or exported from a session. An
imported trend (a day in an ICU) has no dose to gate.

Recordings whose times lie outside the protocol's 2000–2100 (MIMIC's shifted dates, a WFDB record
with no date, placed in 1970) are evaluated shifted into it by a whole number of days and printed
back in their own times; the alarm logic depends on time differences only.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerts import intake
from alerts.rules import RuleSet
from alerts.system import AlarmSystem, Change
from monitors import recording
from monitors.protocol import T_MAX, T_MIN, monitor_message, refusal

WIRE = {"numerics", "nibp", "waveform", "status", "mark", "heartbeat"}
# Fields a recording may carry beyond the wire message (an export says who made a mark).
RECORDING_ONLY = {"mark": ("by",)}
SESSION_MODES = {"live", "demo", "test"}
DAY_S = 86_400


class RecordError(ValueError):
    """A record that is not a valid wire message: ``field`` and ``reason`` say why, as the
    server's refusal would."""

    def __init__(self, field_: str, reason: str) -> None:
        super().__init__(f"{field_}: {reason}" if field_ else reason)
        self.field, self.reason = field_, reason


def parse(rec: dict[str, Any], shift: float = 0.0) -> intake.Message:
    """A recording's wire record as the protocol message a server would take (``seq`` added, as
    the uplink numbers them; ``shift`` added to its time). Raises RecordError."""
    data = {k: v for k, v in rec.items() if k not in RECORDING_ONLY.get(rec.get("type", ""), ())}
    data.setdefault("seq", 1)
    if shift and isinstance(data.get("t"), (int, float)) and not isinstance(data["t"], bool):
        data["t"] = data["t"] + shift
    try:
        msg = monitor_message.validate_python(data)
    except RecursionError:
        raise RecordError("", "nested too deeply") from None
    except ValidationError as e:
        raise RecordError(*refusal(e, data)) from None
    if msg.type == "hello":
        raise RecordError("type", "a hello is not part of a recording")
    return msg


def feed(system: AlarmSystem, clock: intake.Clock, rec: dict[str, Any], shift: float = 0.0) -> list[Change]:
    """One recorded wire message through the live feeding path (``alerts.intake.feed``), with
    the ticks due before it. Raises RecordError for a record the server would refuse."""
    return intake.feed(system, clock, parse(rec, shift))


@dataclass
class Refused:
    line: int
    field: str
    reason: str


@dataclass
class SessionResult:
    path: str
    start: float = 0.0
    end: float = 0.0
    changes: list[Change] = field(default_factory=list)
    truth: list[dict[str, Any]] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)  # record types this reader does not know
    gates: bool = True  # whether the pre-dose gates applied (a session, or a dose mark)
    shift: float = 0.0  # seconds added to every time to bring it into the protocol's range

    @property
    def hours(self) -> float:
        return max(self.end - self.start, 1e-9) / 3600


def evaluate_file(path: str | Path, rules: RuleSet) -> SessionResult:
    return evaluate_many(path, [rules])[0]


def is_session(path: str | Path) -> bool:
    """Whether the pre-dose gates apply to a recording: it was recorded as a session (a
    session's mode, or an export of one) or it has a dose mark."""
    header, records = recording.read(path)
    if header.mode in SESSION_MODES or "session_id" in header.meta:
        return True
    return any(r.get("type") == "mark" and r.get("what") == "dose" for r in records)


def _shift_for(t: float) -> float:
    """Whole days that bring a recording starting at ``t`` into the protocol's time range."""
    if T_MIN <= t <= T_MAX - 366 * DAY_S:
        return 0.0
    return float((math.floor((T_MIN - t) / DAY_S) + 1) * DAY_S)


def evaluate_many(path: str | Path, rulesets: list[RuleSet],
                  observe: Callable[[dict[str, Any]], None] | None = None,
                  progress: Callable[[int], None] | None = None) -> list[SessionResult]:
    """One recording through one alarm system per rule set, in a single pass; ``observe`` sees
    every record fed (the workbench collects the trends with it), ``progress`` the number of
    records read since its last call. Raises RecordingError for a file that is not a recording."""
    gates = is_session(path)
    _, records = recording.read_numbered(path)
    systems = [AlarmSystem(rules, only=None if gates else
                           {r.id for r in rules.active() if r.phase != "pre_dose"})
               for rules in rulesets]
    clocks = [intake.Clock() for _ in rulesets]
    results = [SessionResult(str(path), gates=gates) for _ in rulesets]
    refused: list[Refused] = []
    ignored: Counter[str] = Counter()
    shift: float | None = None
    start = end = math.nan
    truth: list[dict[str, Any]] = []
    read = 0
    for lineno, rec in records:
        read += 1
        if progress is not None and read % 1000 == 0:
            progress(1000)
        kind = rec.get("type")
        if kind == "truth":
            truth.append(rec)
            if observe is not None:
                observe(rec)
            continue
        if kind not in WIRE:  # the alarms of an export (history, not input), or a newer record type
            if kind not in ("alarm", "delivery"):
                ignored[str(kind)[:40]] += 1
            continue
        t = rec.get("t")
        if shift is None and isinstance(t, (int, float)) and not isinstance(t, bool):
            shift = _shift_for(t)
        try:
            msg = parse(rec, shift or 0.0)
        except RecordError as e:
            refused.append(Refused(lineno, e.field, e.reason))
            continue
        if observe is not None:
            observe(rec)
        t0 = msg.t - (shift or 0.0)
        start = t0 if math.isnan(start) else start
        end = t0 if math.isnan(end) else max(end, t0)
        for system, clock, result in zip(systems, clocks, results):
            result.changes += intake.feed(system, clock, msg)
    if progress is not None:
        progress(read % 1000)
    if math.isnan(start):
        start = end = 0.0
    for result in results:
        result.start, result.end, result.truth = start, end, truth
        result.refused, result.ignored, result.shift = refused, ignored, shift or 0.0
        if result.shift:
            result.changes = [replace(c, t=c.t - result.shift, onset=c.onset - result.shift)
                              for c in result.changes]
    return results


def by_rule(results: Iterable[SessionResult]) -> dict[str, dict[str, float]]:
    """Per rule: how often it was raised and escalated, and for how long it was active (raised
    until cleared, or to the end of its recording)."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"raised": 0, "escalated": 0, "active_s": 0.0})
    for r in results:
        opened: dict[str, float] = {}
        for c in r.changes:
            row = out[c.rule]
            if c.event == "raised":
                row["raised"] += 1
                opened.setdefault(c.rule, c.t)
            elif c.event == "escalated":
                row["escalated"] += 1
            elif c.state == "cleared" and c.rule in opened:
                row["active_s"] += c.t - opened.pop(c.rule)
        for rule, t in opened.items():
            out[rule]["active_s"] += r.end - t
    return {k: {**v, "active_s": round(v["active_s"], 1)} for k, v in sorted(out.items())}


def quality(results: Iterable[SessionResult], rules: RuleSet) -> dict[str, Any]:
    """Alarm counts and, where recordings carry ground truth, sensitivity, non-actionable alarms
    per hour and detection delay. A raised alarm is actionable when a true event that its rule
    ``detects`` is present at the moment it is raised (or ended less than a minute before)."""
    results = list(results)
    hours = sum(r.hours for r in results)
    raised = [(r, c) for r in results for c in r.changes if c.event == "raised"]
    per_rule = Counter(c.rule for _, c in raised)
    per_priority = Counter(c.priority for _, c in raised)
    in_alarm = 0.0
    for r in results:
        opened: dict[str, float] = {}
        for c in r.changes:
            if c.event == "raised":
                opened.setdefault(c.rule, c.t)
            elif c.state == "cleared" and c.rule in opened:
                in_alarm += c.t - opened.pop(c.rule)
        in_alarm += sum(r.end - t for t in opened.values())
    out: dict[str, Any] = {
        "sessions": len(results), "hours": round(hours, 3),
        "alarms_per_hour": {p: round(n / hours, 2) for p, n in sorted(per_priority.items())},
        "alarms_per_hour_by_rule": {k: round(n / hours, 2) for k, n in sorted(per_rule.items())},
        "time_in_alarm_s": round(in_alarm, 1),
        "by_rule": by_rule(results),
        "refused_records": sum(len(r.refused) for r in results),
    }
    if not any(r.truth for r in results):
        return out
    detects = {rid: set(rule.detects) for rid, rule in rules.rules.items()}
    found: dict[str, list[float | None]] = defaultdict(list)
    non_actionable: Counter[str] = Counter()
    for r in results:
        events = [e for e in r.truth if e.get("kind") == "event"]
        for e in events:
            hits = [c.t for c in r.changes if c.event == "raised" and e["label"] in detects.get(c.rule, ())
                    and e["start"] - 60 <= c.t <= e["end"] + 60]
            found[e["label"]].append(min(hits) - e["start"] if hits else None)
        for c in r.changes:
            if c.event != "raised" or c.kind != "physiological" or c.priority == "low":
                continue
            if not any(e["label"] in detects.get(c.rule, ()) and e["start"] - 60 <= c.t <= e["end"] + 60
                       for e in events):
                non_actionable[c.rule] += 1
    out["sensitivity"] = {k: round(sum(d is not None for d in v) / len(v), 3) for k, v in sorted(found.items())}
    out["events"] = {k: len(v) for k, v in sorted(found.items())}
    delays = {k: [d for d in v if d is not None] for k, v in found.items()}
    out["median_detection_delay_s"] = {k: round(statistics.median(v), 1) for k, v in sorted(delays.items()) if v}
    out["non_actionable_medium_high_per_hour"] = round(sum(non_actionable.values()) / hours, 3)
    out["non_actionable_by_rule"] = dict(sorted(non_actionable.items()))
    return out
