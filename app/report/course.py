"""A label's course of treatment: its sessions side by side (at most ``MAX_SESSIONS``, the
latest), each with its baseline and peak blood pressure, alarms by priority and doses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from app.alarm_log import AlarmLog
from app.record import Record
from app.store import Store

MAX_SESSIONS = 10


class CourseSession(BaseModel):
    session_id: int
    mode: str
    started: float
    ended: float | None
    baseline_sbp: float | None
    baseline_dbp: float | None
    peak_sbp: float | None
    peak_dbp: float | None
    alarms: dict[str, int]
    doses: list[dict[str, Any]]


class Course(BaseModel):
    label: str
    sessions: list[CourseSession]
    more: int  # sessions of the label left out (older than the ones shown)


def sessions_of(store: Store, record: Record, label: str) -> list[int]:
    """Ids of the sessions with this label, on the session or at its check-in, oldest first."""
    ids = {r["id"] for r in store.db.execute("SELECT id FROM sessions WHERE label=?", (label,))}
    # The check-ins' labels are read here rather than by SQL: JSON functions differ between the
    # two databases, and a session has one check-in.
    for r in store.db.execute("SELECT session_id, data FROM record_entries WHERE kind='check_in'"):
        if json.loads(r["data"]).get("label") == label:
            ids.add(r["session_id"])
    return sorted(ids)


def course(store: Store, alarm_log: AlarmLog, record: Record, label: str,
           shown_ids: Callable[[list[int]], list[int]] | None = None) -> Course:
    """``shown_ids``: keeps the sessions the reader may see (app/sites.py); None: every one."""
    ids = sessions_of(store, record, label)
    if shown_ids is not None:
        ids = shown_ids(ids)
    shown = ids[-MAX_SESSIONS:]
    out = []
    for sid in shown:
        s = store.session(sid)
        assert s is not None
        baseline = json.loads(s["baseline"]) if s["baseline"] else {}
        valid = [r for r in store.nibp(sid) if r["status"] == "ok" and r["sys"] is not None]
        peak = max(valid, key=lambda r: (r["sys"], r["dia"] or 0), default=None)
        counts: dict[str, int] = {}
        for a in alarm_log.alarms(sid, limit=10_000):
            counts[a["priority"]] = counts.get(a["priority"], 0) + 1
        doses = [{"t": d.entry.t_device, "drug": d.entry.drug, "route": d.entry.route,  # type: ignore[union-attr]
                  "dose_mg": d.entry.dose_mg} for d in record.current(sid, "dose")]  # type: ignore[union-attr]
        out.append(CourseSession(
            session_id=sid, mode=s["mode"], started=s["started"], ended=s["ended"],
            baseline_sbp=baseline.get("SBP"), baseline_dbp=baseline.get("DBP"),
            peak_sbp=peak["sys"] if peak else None, peak_dbp=peak["dia"] if peak else None,
            alarms=counts, doses=doses))
    return Course(label=label, sessions=out, more=len(ids) - len(shown))
