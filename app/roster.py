"""Who covers what: shifts, the nurse (and backup) of each room in a shift, and the supervising
clinician — the people an alarm's escalation chain (``alerts.delivery.chain``) reaches.

A shift runs from ``starts`` to ``ends`` (server time) with one supervising clinician; within it
each room has one primary nurse and, optionally, a backup. Shifts may overlap (a hand-over): then
a room has the nurses of both, and everyone on duty is everyone in either. A room no shift covers
has no nurse: its alarms go straight to the clinician step, and if nobody is on duty at all they
reach nobody — which the delivery reports as a technical alarm rather than hiding.

What has happened stays as it happened: a shift that has ended cannot be changed, one that has
started cannot be deleted (it is ended early instead), so the roster also answers who covered a
room at any past moment. Who may take which slot (a role check) is the caller's business; this
store checks only what it can see itself.
"""

from __future__ import annotations

from typing import Any

from app.storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS shifts (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, starts REAL NOT NULL, ends REAL NOT NULL,
    clinician TEXT NOT NULL, created REAL NOT NULL, by TEXT NOT NULL, CHECK (ends > starts));
CREATE TABLE IF NOT EXISTS assignments (
    shift_id INTEGER NOT NULL REFERENCES shifts(id) ON DELETE CASCADE, room TEXT NOT NULL,
    nurse TEXT NOT NULL, backup TEXT, PRIMARY KEY (shift_id, room));
"""


class RosterError(ValueError):
    """A change the roster refuses: ``field`` (dotted, as in the request) and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class NoShift(RosterError):
    """No shift of that id."""


class ShiftState(RosterError):
    """The shift exists but its time forbids the change (ended, started, not started)."""


class Roster:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_tables(SCHEMA)

    def add_shift(self, name: str, starts: float, ends: float, clinician: str,
                  rooms: dict[str, tuple[str, str | None]], by: str, now: float) -> int:
        """A shift and its rooms (room -> (nurse, backup)); returns its id."""
        if ends <= starts:
            raise RosterError("ends", "a shift must end after it starts")
        _check_rooms(rooms)
        with _transaction(self.db):
            shift_id = self.db.execute(
                "INSERT INTO shifts(name, starts, ends, clinician, created, by) VALUES (?,?,?,?,?,?)",
                (name, starts, ends, clinician, now, by)).lastrowid
            self.db.executemany(
                "INSERT INTO assignments(shift_id, room, nurse, backup) VALUES (?,?,?,?)",
                [(shift_id, room, nurse, backup) for room, (nurse, backup) in rooms.items()])
        return int(shift_id)  # type: ignore[arg-type]

    def shifts(self, at: float | None = None, ending_after: float | None = None) -> list[dict[str, Any]]:
        """Shifts (covering ``at``, and ending after ``ending_after``, when given), each with its
        ``rooms``, by start."""
        where, args = ["1=1"], []  # "1=1": PostgreSQL wants a boolean, not SQLite's 1
        if at is not None:
            where.append("starts <= ? AND ? < ends")
            args += [at, at]
        if ending_after is not None:
            where.append("ends > ?")
            args.append(ending_after)
        out = self.db.execute(f"SELECT * FROM shifts WHERE {' AND '.join(where)} ORDER BY starts, id",
                              args).fetchall()
        for shift in out:
            shift["rooms"] = self._rooms(shift["id"])
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


    def shift(self, shift_id: int) -> dict[str, Any]:
        """One shift with its ``rooms``; ``NoShift`` if there is none of that id."""
        row = self.db.execute("SELECT * FROM shifts WHERE id=?", (shift_id,)).fetchone()
        if row is None:
            raise NoShift("shift_id", f"no shift {shift_id}")
        row["rooms"] = self._rooms(shift_id)
        return row

    def shifts_of(self, user: str, t: float) -> list[dict[str, Any]]:
        """The shifts in which ``user`` covers a room at ``t`` (as nurse or backup), by start."""
        return [s for s in self.shifts(at=t)
                if any(user in (c["nurse"], c["backup"]) for c in s["rooms"].values())]

    def update_shift(self, shift_id: int, now: float, name: str | None = None,
                     clinician: str | None = None,
                     rooms: dict[str, tuple[str, str | None]] | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Change a shift that has not ended: what is given replaces what was (``rooms`` replaces
        every assignment of the shift). Returns the shift before and after, for the audit."""
        old = self.shift(shift_id)
        if old["ends"] <= now:
            raise ShiftState("shift_id", f"shift {shift_id} has ended; its record stays as it was")
        if rooms is not None:
            _check_rooms(rooms)
        with _transaction(self.db):
            if name is not None:
                self.db.execute("UPDATE shifts SET name=? WHERE id=?", (name, shift_id))
            if clinician is not None:
                self.db.execute("UPDATE shifts SET clinician=? WHERE id=?", (clinician, shift_id))
            if rooms is not None:
                self.db.execute("DELETE FROM assignments WHERE shift_id=?", (shift_id,))
                self.db.executemany(
                    "INSERT INTO assignments(shift_id, room, nurse, backup) VALUES (?,?,?,?)",
                    [(shift_id, room, nurse, backup) for room, (nurse, backup) in rooms.items()])
        return old, self.shift(shift_id)

    def end_shift(self, shift_id: int, now: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """End a running shift at ``now`` (early); returns the shift before and after."""
        old = self.shift(shift_id)
        if old["starts"] > now:
            raise ShiftState("shift_id", f"shift {shift_id} has not started; delete it instead")
        if old["ends"] <= now:
            raise ShiftState("shift_id", f"shift {shift_id} has ended already")
        # A shift is never empty (CHECK ends > starts): one ended at the instant it started
        # keeps the smallest length there is.
        ends = max(now, old["starts"] + 1e-3)
        self.db.execute("UPDATE shifts SET ends=? WHERE id=?", (ends, shift_id))
        return old, self.shift(shift_id)

    def delete_shift(self, shift_id: int, now: float) -> dict[str, Any]:
        """Delete a shift that has not started yet; returns it, for the audit."""
        old = self.shift(shift_id)
        if old["starts"] <= now:
            raise ShiftState("shift_id", f"shift {shift_id} has started; end it early instead")
        self.db.execute("DELETE FROM shifts WHERE id=?", (shift_id,))
        return old

    def _rooms(self, shift_id: int) -> dict[str, dict[str, str | None]]:
        return {r["room"]: {"nurse": r["nurse"], "backup": r["backup"]} for r in self.db.execute(
            "SELECT room, nurse, backup FROM assignments WHERE shift_id=? ORDER BY room", (shift_id,))}


def _check_rooms(rooms: dict[str, tuple[str, str | None]]) -> None:
    for room, (nurse, backup) in rooms.items():
        if backup is not None and backup == nurse:
            raise RosterError(f"rooms.{room}.backup", "a nurse cannot be their own backup")


class _transaction:
    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")
