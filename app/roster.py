"""Who covers what: shifts, the nurse (and backup) of each room in a shift, and the supervising
clinician — the people an alarm's escalation chain (``alerts.delivery.chain``) reaches.

A shift runs from ``starts`` to ``ends`` (server time) with one supervising clinician; within it
each room has one primary nurse and, optionally, a backup. Shifts may overlap (a hand-over): then
a room has the nurses of both, and everyone on duty is everyone in either. A room no shift covers
has no nurse: its alarms go straight to the clinician step, and if nobody is on duty at all they
reach nobody — which the delivery reports as a technical alarm rather than hiding.
"""

from __future__ import annotations

import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS shifts (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, starts REAL NOT NULL, ends REAL NOT NULL,
    clinician TEXT NOT NULL, created REAL NOT NULL, by TEXT NOT NULL, CHECK (ends > starts));
CREATE TABLE IF NOT EXISTS assignments (
    shift_id INTEGER NOT NULL REFERENCES shifts(id) ON DELETE CASCADE, room TEXT NOT NULL,
    nurse TEXT NOT NULL, backup TEXT, PRIMARY KEY (shift_id, room));
"""


class RosterError(ValueError):
    pass


class Roster:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def add_shift(self, name: str, starts: float, ends: float, clinician: str,
                  rooms: dict[str, tuple[str, str | None]], by: str, now: float) -> int:
        """A shift and its rooms (room -> (nurse, backup)); returns its id."""
        if ends <= starts:
            raise RosterError("ends: a shift must end after it starts")
        for room, (nurse, backup) in rooms.items():
            if backup is not None and backup == nurse:
                raise RosterError(f"rooms.{room}.backup: a nurse cannot be their own backup")
        with _transaction(self.db):
            shift_id = self.db.execute(
                "INSERT INTO shifts(name, starts, ends, clinician, created, by) VALUES (?,?,?,?,?,?)",
                (name, starts, ends, clinician, now, by)).lastrowid
            self.db.executemany(
                "INSERT INTO assignments(shift_id, room, nurse, backup) VALUES (?,?,?,?)",
                [(shift_id, room, nurse, backup) for room, (nurse, backup) in rooms.items()])
        return int(shift_id)  # type: ignore[arg-type]

    def shifts(self, at: float | None = None) -> list[dict[str, Any]]:
        """Shifts (covering ``at`` when given), each with its ``rooms``."""
        q, args = "SELECT * FROM shifts", [] if at is None else [at, at]
        if at is not None:
            q += " WHERE starts <= ? AND ? < ends"
        out = self.db.execute(q + " ORDER BY starts, id", args).fetchall()
        for shift in out:
            shift["rooms"] = {r["room"]: {"nurse": r["nurse"], "backup": r["backup"]} for r in self.db.execute(
                "SELECT room, nurse, backup FROM assignments WHERE shift_id=? ORDER BY room",
                (shift["id"],))}
        return out

    def recipients(self, room: str, step: str, t: float) -> list[str]:
        """The users a chain step reaches for ``room`` at ``t`` (``alerts.delivery.wire.Step``
        values primary, backup, clinician, everyone), sorted and without repeats."""
        shifts = self.shifts(at=t)
        names: set[str] = set()
        for shift in shifts:
            cover = shift["rooms"].get(room)
            if step == "primary" and cover:
                names.add(cover["nurse"])
            elif step == "backup" and cover and cover["backup"]:
                names.add(cover["backup"])
            elif step == "clinician":
                names.add(shift["clinician"])
            elif step == "everyone":
                names.add(shift["clinician"])
                for c in shift["rooms"].values():
                    names.update(n for n in (c["nurse"], c["backup"]) if n)
        return sorted(names)

    def rooms_of(self, user: str, t: float) -> list[str]:
        """The rooms ``user`` covers at ``t`` as primary nurse or backup (the nurse view's rooms)."""
        return sorted({r["room"] for r in self.db.execute(
            "SELECT a.room FROM assignments a JOIN shifts s ON s.id = a.shift_id"
            " WHERE s.starts <= ? AND ? < s.ends AND (a.nurse = ? OR a.backup = ?)", (t, t, user, user))})


class _transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")
