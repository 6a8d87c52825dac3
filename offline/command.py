"""The ``vitalwatch evaluate`` command: what it prints, and the rule workbench on request.

stdout: the first rule set's alarm changes, one JSON line each. stderr: the JSON summary of the
first rule set first (a program reads it with one ``raw_decode``), then for people the per-rule
table (raised, escalated, time active, raised per hour), the records that were refused with
their line and why, and notes. A progress bar, only when stderr is a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from alerts.rules import RuleSet
from monitors import recording
from offline.evaluate import SessionResult, evaluate_many, quality

MAX_REFUSED_SHOWN = 20  # per file: the rest are counted


def rule_table(summary: dict[str, Any]) -> str:
    """The per-rule table of a summary: counts, time active and raised per hour."""
    rows = [("rule", "raised", "escalated", "time active", "raised/h")]
    per_hour = summary.get("alarms_per_hour_by_rule", {})
    for rule, row in summary.get("by_rule", {}).items():
        rows.append((rule, str(int(row["raised"])), str(int(row["escalated"])),
                     _duration(row["active_s"]), f"{per_hour.get(rule, 0.0):g}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@contextmanager
def _progress(paths: list[str], err: IO[str]) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over the records of all files, on a terminal only (a pipe or a log file
    gets no control characters)."""
    if not (hasattr(err, "isatty") and err.isatty()):
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=None, unit=" records", file=err, leave=False, dynamic_ncols=True,
              desc=f"evaluate ({len(paths)} file{'s' if len(paths) != 1 else ''})") as bar:
        yield bar.update


def run(paths: list[str], rulesets: list[RuleSet], out: IO[str] = sys.stdout,
        err: IO[str] = sys.stderr, report: Path | None = None) -> int:
    """Evaluate ``paths`` against ``rulesets`` (each recording read once for all of them), print
    as the module docstring says, and with ``report`` write the rule workbench there."""
    from offline.workbench import Trends

    rules = rulesets[0]
    results: list[SessionResult] = []
    sessions = []
    notes: list[str] = []
    with _progress(paths, err) as progress:
        for path in paths:
            try:
                if report is not None:
                    trends = Trends()
                    every = evaluate_many(path, rulesets, observe=trends.add, progress=progress)
                    sessions.append((path, trends, every))
                else:
                    every = evaluate_many(path, [rules], progress=progress)
            except (recording.RecordingError, OSError) as e:
                print(f"vitalwatch evaluate: {e}", file=err)
                return 2
            result = every[0]
            for c in result.changes:
                out.write(json.dumps({"file": path, **c.to_json()}, separators=(",", ":")) + "\n")
            results.append(result)
            notes += _notes(path, result)
    summary = quality(results, rules)
    print(json.dumps(summary, indent=2), file=err)
    print(f"\nalarms of {Path(rules.source).name or 'the built-in rules'} over {summary['hours']:g} h:",
          file=err)
    print(rule_table(summary), file=err)
    for note in notes:
        print(note, file=err)
    if report is not None:
        from offline.workbench import write_report

        try:
            write_report(paths, rulesets, report, sessions)
        except OSError as e:
            print(f"vitalwatch evaluate: cannot write the report: {e}", file=err)
            return 2
        print(f"vitalwatch evaluate: wrote the report of {len(rulesets)} rule set(s) over "
              f"{len(paths)} recording(s) to {report}", file=err)
    return 0


def _notes(path: str, result: SessionResult) -> list[str]:
    out = []
    for r in result.refused[:MAX_REFUSED_SHOWN]:
        where = f"{r.field}: " if r.field else ""
        out.append(f"vitalwatch evaluate: {path}: line {r.line}: refused, not evaluated: {where}{r.reason}")
    if len(result.refused) > MAX_REFUSED_SHOWN:
        out.append(f"vitalwatch evaluate: {path}: {len(result.refused) - MAX_REFUSED_SHOWN} more records refused")
    if result.refused:
        out.append(f"vitalwatch evaluate: {path}: {len(result.refused)} record(s) refused in all")
    for kind, n in sorted(result.ignored.items()):
        out.append(f"vitalwatch evaluate: {path}: {n} record(s) of unknown type {kind!r} ignored")
    if not result.gates:
        out.append(f"vitalwatch evaluate: {path}: not a session (no dose mark): pre-dose gates not applied")
    if result.shift:
        out.append(f"vitalwatch evaluate: {path}: times outside 2000-2100 evaluated shifted by "
                   f"{result.shift / 86400:+.0f} days and printed in the file's own times")
    return out
