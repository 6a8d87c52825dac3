"""``vitalwatch export``: one stored session as a recording file (monitors/recording.py).

Full disclosure: everything the server stored for the session — numerics, cuff measurements,
waveforms, device statuses, marks (when the ``marks`` table exists) and the alarm log with every
acknowledgement, and every notice of those alarms with who it reached (``delivery`` records) —
comes out in time order, so the session can be reviewed, replayed through any
server or evaluated against other rules. Readings are written as the wire messages that brought
them (less ``seq``), in canonical units; the alarm log as ``alarm`` records.

The database is opened read-only, so a running server is never disturbed (WAL allows the reader).
Everything is streamed: a long session with waveforms never sits in memory whole.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from monitors import recording
from monitors.protocol import UNITS

# Records at the same time come in this order: what the clinician did or saw before the
# readings, and the alarm changes after the readings that caused them.
_MARK, _STATUS, _NIBP, _NUMERICS, _WAVE, _ALARM, _DELIVERY = range(7)
# A float32 sample keeps ~7 significant digits; more would print the float32 error as data.
WAVE_DIGITS = 7


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def _numerics(db: sqlite3.Connection, sid: int) -> Iterator[tuple[float, int, dict[str, Any]]]:
    """One numerics message per stored message: its rows share ``t`` and ``received``."""
    rows = db.execute("SELECT t, received, param, value FROM numerics WHERE session_id=? ORDER BY t, rowid", (sid,))
    values: dict[str, dict[str, Any]]
    key, values = None, {}
    for r in rows:
        if (r["t"], r["received"]) != key:
            if key is not None:
                yield key[0], _NUMERICS, {"type": "numerics", "t": key[0], "values": values}
            key, values = (r["t"], r["received"]), {}
        values[r["param"]] = {"value": r["value"], "unit": UNITS[r["param"]][0] if r["param"] in UNITS else ""}
    if key is not None:
        yield key[0], _NUMERICS, {"type": "numerics", "t": key[0], "values": values}


def _nibp(db: sqlite3.Connection, sid: int) -> Iterator[tuple[float, int, dict[str, Any]]]:
    for r in db.execute("SELECT * FROM nibp WHERE session_id=? ORDER BY t, rowid", (sid,)):
        rec: dict[str, Any] = {"type": "nibp", "t": r["t"], "status": r["status"]}
        if r["status"] == "ok":
            rec.update(sys=r["sys"], dia=r["dia"], map=r["map"], unit="mmHg")
        if r["reason"]:
            rec["reason"] = r["reason"]
        yield r["t"], _NIBP, rec


def samples(blob: bytes) -> list[float | None]:
    """Stored float32 samples as JSON-ready numbers, ``None`` for a gap (NaN)."""
    x = np.frombuffer(blob, np.float32).astype(np.float64)
    gap = np.isnan(x)
    finite = np.abs(x[~gap])
    if finite.size and finite.max() > 0:
        decimals = max(0, WAVE_DIGITS - 1 - int(np.floor(np.log10(finite.max()))))
        x = np.round(x, decimals)
    values = x.tolist()
    if gap.any():
        for i in np.flatnonzero(gap).tolist():
            values[i] = None
    return values


def _waveforms(db: sqlite3.Connection, sid: int) -> Iterator[tuple[float, int, dict[str, Any]]]:
    waves = [r[0] for r in db.execute("SELECT DISTINCT wave FROM waveforms WHERE session_id=?", (sid,))]

    def one(wave: str) -> Iterator[tuple[float, int, dict[str, Any]]]:
        # The (session_id, wave, t) index gives each wave in time order without sorting blobs.
        for r in db.execute("SELECT t, rate, samples FROM waveforms WHERE session_id=? AND wave=? ORDER BY t",
                            (sid, wave)):
            yield r["t"], _WAVE, {"type": "waveform", "t": r["t"], "wave": wave, "rate": r["rate"],
                                  "samples": samples(r["samples"])}

    # A cursor per wave: sqlite3 allows several open on one connection.
    yield from heapq.merge(*(one(w) for w in sorted(waves)), key=lambda x: x[0])


def _statuses(db: sqlite3.Connection, sid: int) -> Iterator[tuple[float, int, dict[str, Any]]]:
    for r in db.execute("SELECT * FROM statuses WHERE session_id=? ORDER BY t, rowid", (sid,)):
        rec = {"type": "status", "t": r["t"], "code": r["code"], "active": bool(r["active"])}
        if r["text"]:
            rec["text"] = r["text"]
        yield r["t"], _STATUS, rec


def _marks(db: sqlite3.Connection, sid: int) -> Iterator[tuple[float, int, dict[str, Any]]]:
    """Clinical event marks, if this database has them: every column but the row's own keys."""
    if not _has_table(db, "marks"):
        return
    for r in db.execute("SELECT * FROM marks WHERE session_id=? ORDER BY t, rowid", (sid,)):
        rec = {k: r[k] for k in r.keys() if k not in ("id", "session_id", "type")}  # noqa: SIM118 - a Row iterates values
        yield r["t"], _MARK, {"type": "mark", **rec}


ALARM_FIELDS = ("t", "alarm_id", "rule", "kind", "title", "event", "state", "priority", "message",
                "by", "tier", "onset", "value", "limit", "decided", "delivered")


def _alarms(db: sqlite3.Connection, sid: int) -> Iterator[tuple[float, int, dict[str, Any]]]:
    if not _has_table(db, "alarm_log"):
        return
    rows = db.execute(
        "SELECT l.t, l.alarm_id, l.rule, a.kind, a.title, l.event, l.state, l.priority, l.message, l.by,"
        " l.tier, a.onset, a.value, a.limit_value AS 'limit', l.decided, l.delivered"
        " FROM alarm_log l JOIN alarms a ON a.id = l.alarm_id WHERE l.session_id=? ORDER BY l.id", (sid,))
    # The log is in the order changes were decided; the device times of two sources (a monitor's
    # and the server's feed supervision) may interleave, so sort by time, keeping log order on ties.
    entries = sorted((dict(zip(ALARM_FIELDS, r)) for r in rows), key=lambda e: e["t"])
    for e in entries:
        yield e["t"], _ALARM, {"type": "alarm", **e}


DELIVERY_FIELDS = ("alarm_id", "log_id", "event", "step", "recipient", "channel", "destination",
                   "state", "sent", "delivered", "seen", "acknowledged", "failed", "detail", "by",
                   "attempts")


def _deliveries(db: sqlite3.Connection, sid: int) -> Iterator[tuple[float, int, dict[str, Any]]]:
    if not _has_table(db, "deliveries"):
        return
    for r in db.execute("SELECT * FROM deliveries WHERE session_id=? ORDER BY queued, id", (sid,)):
        yield r["queued"], _DELIVERY, {"type": "delivery", "t": r["queued"], "delivery_id": r["id"],
                                       **{k: r[k] for k in DELIVERY_FIELDS}}


def header(db: sqlite3.Connection, session: sqlite3.Row) -> recording.Header:
    sid = session["id"]
    streams = [dict(r) for r in db.execute(
        "SELECT monitor_id, vendor, model, serial, mode FROM streams WHERE session_id=? ORDER BY rowid", (sid,))]
    monitor = streams[-1]["monitor_id"] if streams else f"session-{sid}"
    meta: dict[str, Any] = {
        "session_id": sid, "label": session["label"], "started": session["started"],
        "ended": session["ended"], "exported": round(time.time(), 3),
        "monitors": [dict(s) for s in {s["monitor_id"]: s for s in streams}.values()]}
    # The session's own clinical context, where this database keeps it: a replay's server does
    # not know it, so its alarms may differ from these (the export's alarm records are the truth).
    columns = session.keys()
    if "dose" in columns:
        meta["dose"] = session["dose"]
    if "baseline" in columns and session["baseline"]:
        meta["baseline"] = json.loads(session["baseline"])
    if _has_table(db, "session_rules"):
        meta["rule_changes"] = [
            {"t": r["t"], "rule": r["rule"], "change": json.loads(r["change"]), "by": r["by"]}
            for r in db.execute("SELECT * FROM session_rules WHERE session_id=? ORDER BY id", (sid,))]
    return recording.Header(
        room=session["room"], monitor_id=monitor, mode=session["mode"], start=session["started"],
        source=f"vitalwatch session {sid}", meta=meta)


def records(db: sqlite3.Connection, sid: int) -> Iterator[dict[str, Any]]:
    """Every stored record of session ``sid`` in time order (see the order above)."""
    streams = [_marks(db, sid), _statuses(db, sid), _nibp(db, sid), _numerics(db, sid),
               _waveforms(db, sid), _alarms(db, sid), _deliveries(db, sid)]
    for _, _, rec in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
        yield rec


def export_session(session_id: int, out: str | Path, data_dir: str | Path = "data",
                   stdout: IO[str] = sys.stdout, stderr: IO[str] = sys.stderr) -> int:
    """Write session ``session_id`` of the server whose data is in ``data_dir`` to ``out``
    (gzip when it ends in .gz). Returns 0, or 2 with the reason on ``stderr``."""
    path = Path(data_dir) / "vitalwatch.sqlite3"
    if not path.exists():
        print(f"vitalwatch export: no database at {path} (wrong --data-dir?)", file=stderr)
        return 2
    db = _connect(path)
    try:
        session = db.execute("SELECT * FROM sessions WHERE id=?", (session_id,)).fetchone()
        if session is None:
            print(f"vitalwatch export: no session {session_id} in {path}", file=stderr)
            return 2
        head = header(db, session)
        try:
            n = recording.write_whole(out, head, records(db, session_id))
        except OSError as e:
            print(f"vitalwatch export: {e}", file=stderr)
            return 2
    finally:
        db.close()
    state = "ended" if session["ended"] else "still active: exported so far"
    print(f"wrote {n} records of session {session_id} ({session['room']}, {state}) to {out}", file=stdout)
    return 0
