"""``vitalwatch evaluate``: run alarm rules over recordings offline.

The recordings' messages go through the same ``AlarmSystem`` the live server uses, in the same
order and with the same times, so the transitions printed here are the ones the server would have
produced (a test holds the two to it). Feed supervision (T4) is the one exception: it judges the
server's clock, which a recording does not have.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from alerts.rules import RuleSet
from alerts.system import AlarmSystem, Change
from monitors import recording


def feed(system: AlarmSystem, rec: dict[str, Any]) -> list[Change]:
    """Apply one recorded wire message to an alarm system, as the live pipeline does."""
    kind = rec.get("type")
    if kind == "numerics":
        values = {p: (v or {}).get("value") for p, v in rec["values"].items()}
        return system.numerics(rec["t"], values)
    if kind == "nibp":
        values = {"SBP": rec.get("sys"), "DBP": rec.get("dia"), "MAP": rec.get("map")}
        return system.nibp(rec["t"], rec["status"] == "ok", values)
    if kind == "status":
        return system.status(rec["t"], rec["code"], rec.get("active", True))
    if kind == "waveform":
        return system.waveform(rec["t"], rec["wave"], rec["rate"], rec["samples"])
    if kind == "mark" and rec.get("what") == "dose":
        return system.dose(rec["t"])
    return []


@dataclass
class SessionResult:
    path: str
    start: float = 0.0
    end: float = 0.0
    changes: list[Change] = field(default_factory=list)
    truth: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return max(self.end - self.start, 1e-9) / 3600


def evaluate_file(path: str | Path, rules: RuleSet) -> SessionResult:
    return evaluate_many(path, [rules])[0]


def evaluate_many(path: str | Path, rulesets: list[RuleSet],
                  observe: Callable[[dict[str, Any]], None] | None = None) -> list[SessionResult]:
    """One recording through one alarm system per rule set, in a single pass; ``observe`` sees
    every record (the workbench collects the trends with it)."""
    _, records = recording.read(path)
    systems = [AlarmSystem(rules) for rules in rulesets]
    results = [SessionResult(str(path)) for _ in rulesets]
    first = True
    start = end = 0.0
    truth: list[dict[str, Any]] = []
    for rec in records:
        if observe is not None:
            observe(rec)
        t = rec.get("t", rec.get("start"))
        if rec.get("type") == "truth":
            truth.append(rec)
            continue
        if rec.get("type") == "alarm":  # the alarms of an export: history, not input
            continue
        if isinstance(t, (int, float)):
            if first:
                start, first = t, False
            end = max(end, t)
        for system, result in zip(systems, results):
            result.changes += feed(system, rec)
    for result in results:
        result.start, result.end, result.truth = start, end, truth
    return results


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


def run(paths: list[str], rulesets: list[RuleSet], out: IO[str] = sys.stdout,
        err: IO[str] = sys.stderr, report: Path | None = None) -> int:
    """Print the first rule set's alarm changes as JSON lines and each rule set's summary.
    (The side-by-side HTML report of several rule sets is ``report``.)"""
    rules = rulesets[0]
    results = []
    for path in paths:
        try:
            result = evaluate_file(path, rules)
        except (recording.RecordingError, OSError) as e:
            print(f"vitalwatch evaluate: {e}", file=err)
            return 2
        for c in result.changes:
            out.write(json.dumps({"file": path, **c.to_json()}, separators=(",", ":")) + "\n")
        results.append(result)
    print(json.dumps(quality(results, rules), indent=2), file=err)
    if report is not None:
        from app.workbench import write_report

        try:
            write_report(paths, rulesets, report)
        except OSError as e:
            print(f"vitalwatch evaluate: cannot write the report: {e}", file=err)
            return 2
        print(f"vitalwatch evaluate: wrote the report of {len(rulesets)} rule set(s) over "
              f"{len(paths)} recording(s) to {report}", file=err)
    return 0

