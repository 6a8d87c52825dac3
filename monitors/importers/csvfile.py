"""Import a CSV of numerics and cuff measurements whose header names the parameters.

One column is the time: the first whose name is ``time``, ``t``, ``timestamp``, ``datetime``,
``date``, ``seconds`` or ``epoch`` (a unit in brackets allowed), else the first column. A time is
either a number of seconds (since the Unix epoch, or since the start of the recording: a replay
moves times to now either way) or an ISO 8601 date-time (without a zone: UTC). The other columns
are placed by the signal-name map (``names.py``), with an optional unit in brackets
(``SpO2 [%]``, ``NBP Sys [kPa]``). Comma, semicolon or tab separated.

Cells: a number is a value; ``NA``, ``null``, ``nan``, ``-`` or ``---`` is "no value" (null); an
empty cell means the parameter was not reported at that time (nothing is written for it), which
is how sparse cuff columns look. Unlike MIMIC numerics records, a 0 here is a value. Rows are
written in time order (sorted if the file is not).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from monitors.importers import build
from monitors.importers.names import Target, classify, normalise
from monitors.importers.report import Report, Unreadable
from monitors.recording import Header

TIME_NAMES = ("time", "t", "timestamp", "datetime", "date", "seconds", "epoch", "times")
NO_VALUE = {"na", "n/a", "nan", "null", "none", "-", "--", "---"}


def _time(text: str, row: int) -> float:
    text = text.strip()
    try:
        t = float(text)
    except ValueError:
        try:
            return build.epoch(datetime.fromisoformat(text))
        except ValueError:
            raise Unreadable(f"row {row}: time {text!r} is neither seconds nor ISO 8601") from None
    if not math.isfinite(t):
        raise Unreadable(f"row {row}: time {text!r} is not a number")
    return t


def _cell(text: str) -> tuple[bool, float | None, bool]:
    """``(present, value, readable)``: an empty cell is absent; a no-value word is null."""
    text = text.strip()
    if not text:
        return False, None, True
    if text.lower() in NO_VALUE:
        return True, None, True
    try:
        v = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError:
        return True, None, False
    return True, (v if math.isfinite(v) else None), True


def read(path: str, report: Report) -> tuple[Header, Iterator[dict[str, Any]]]:
    file = Path(path)
    report.noun = "column"
    with open(file, newline="", encoding="utf-8-sig") as f:
        sample = f.read(4096)
        f.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(f, dialect))
    if not rows or not any(c.strip() for c in rows[0]):
        raise Unreadable(f"{file}: no header row")
    names = [c.strip() for c in rows[0]]
    keys = [normalise(n)[0] for n in names]
    tcol = next((i for i, k in enumerate(keys) if k in TIME_NAMES), 0)
    columns = []  # (index, target, parameter, factor)
    claimed: dict[tuple[str, str], str] = {}
    for i, name in enumerate(names):
        if i == tcol or not name:
            continue
        target = classify(name, waveform=False)
        if target.kind == "unsupported" and "wave" in target.name:
            target = Target("unsupported", "a waveform column: CSV import takes numerics and NIBP")
        if target.kind in ("unsupported", "unknown"):
            report.unmapped_signal(name, target.name)
            continue
        key = (target.kind, target.name)
        if key in claimed:
            report.unmapped_signal(name, f"column {claimed[key]!r} already gives {target.name}")
            continue
        claimed[key] = name
        param = target.name if target.kind == "numerics" else build.NIBP_PARAM[target.name]
        columns.append((i, target, param, build.unit_factor(param, target.unit, name, report)))
    if not columns:
        raise Unreadable(f"{file}: no column names a parameter (header: {', '.join(names)})")

    timed = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if tcol >= len(row) or not row[tcol].strip():
            raise Unreadable(f"{file}: row {n}: no time")
        timed.append((_time(row[tcol], n), n, row))
    if any(a[0] > b[0] for a, b in pairwise(timed)):
        report.note("rows are not in time order: sorted")
        timed.sort(key=lambda x: x[0])
    start = timed[0][0] if timed else 0.0
    meta = {"importer": "csv", "file": file.name, "time_column": names[tcol],
            "columns": {claimed[k]: k[1] for k in claimed}, **report.meta()}
    header = Header(room=file.stem[:64], monitor_id=f"csv-{_safe(file.stem)}"[:64], mode="replay",
                    start=start, source=f"CSV file {file.name}", meta=meta)
    return header, _records(timed, columns, report)


def _records(timed: list, columns: list, report: Report) -> Iterator[dict[str, Any]]:
    for t, _n, row in timed:
        values: dict[str, float | None] = {}
        parts: dict[str, float | None] = {}
        for i, target, param, factor in columns:
            present, raw, readable = _cell(row[i]) if i < len(row) else (False, None, True)
            if not present:
                continue
            if not readable:
                report.bad_value(f"{param} (not a number)", math.nan)
            v = build.value(param, raw, factor, report=report)
            if target.kind == "numerics":
                values[param] = v
            else:
                parts[target.name] = v
        yield from build.at(t, values, parts, report)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_.:-" else "-" for c in text)
