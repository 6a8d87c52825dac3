"""Session leases: each open session's alarm system runs on exactly one instance at a time.

Theory of operation. Instances that share one store (PostgreSQL) hold a lease per session they
run, a row of ``session_leases``: who holds it (``holder``: the instance's id and boot, so that a
restarted instance is a new holder), its ``epoch`` and when it ``expires`` (wall clock). Every
change is one conditional statement, so the database decides every race:

- **take**: a session this instance starts, one whose monitor has just connected here (taken
  from its holder: the monitor is where the session's inputs now arrive), or one left behind
  (no lease, or an expired one: its instance died or stalled). A lease changing hands gets the
  next epoch; one renewed by its holder keeps it.
- **renew**: every second (``RENEW_S``) the holder pushes ``expires`` ``TTL_S`` ahead, for every
  session it holds; the sessions whose row is no longer its own (same holder and epoch) are
  lost: taken by another instance while this one was stalled or cut off. The instance stops
  running them at once.
- **orphans**: every instance looks, every second, for open sessions with no live lease, and
  takes them (restoring their alarm state from the store, as a restarted server does).
- **fence**: every transaction that writes a session's data also updates the session's lease
  row where the holder and epoch are still this instance's, and rolls back when they are not
  (``Fenced``). On PostgreSQL that update also locks the row until the commit, so a take that
  comes meanwhile waits for it: an instance that was paused and wakes up can never write over
  its successor, and nothing it could not store is acknowledged.

The clocks of the instances only decide when a lease counts as expired: a clock that is off makes
a takeover come early or late, never two writers at once (the fence).

Plain SQL in the subset both stores share (the table: ``app/store.py`` on SQLite, migration 0002
on PostgreSQL); a SQLite store has one instance, which runs no leases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.storage import Database, IntegrityError

# A holder renews every RENEW_S; a lease not renewed for TTL_S is another instance's to take.
RENEW_S = 1.0
TTL_S = 5.0

class Fenced(Exception):
    """A write for sessions whose lease this instance no longer holds: nothing was written."""

    def __init__(self, session_ids: Iterable[int]) -> None:
        self.session_ids = sorted(set(session_ids))
        super().__init__(f"the lease of session(s) {', '.join(map(str, self.session_ids))} is held elsewhere")


@dataclass(frozen=True)
class Taken:
    """A lease this instance now holds, and whom it came from (None: nobody held it)."""

    session_id: int
    epoch: int
    previous: str | None
    expired: bool  # the previous holder's lease had run out (it did not hand it over)


class Leases:
    """This instance's leases in the shared store; ``db`` is the store's connection (the event
    loop's thread only, like every module's)."""

    def __init__(self, db: Database, holder: str, ttl_s: float = TTL_S) -> None:
        self.db, self.holder, self.ttl_s = db, holder, ttl_s
        self.held: dict[int, int] = {}  # session id -> epoch

    def take(self, session_id: int, now: float, steal: bool = False) -> Taken | None:
        """Hold ``session_id``'s lease: when it is free, expired or already this instance's, or
        (``steal``) whoever holds it. None when another instance holds it (and not ``steal``), or
        won the race for it."""
        before = self.db.execute("SELECT holder, epoch, expires FROM session_leases WHERE session_id=?",
                                 (session_id,)).fetchone()
        if before is None:
            try:
                self.db.execute("INSERT INTO session_leases(session_id, holder, epoch, expires, taken)"
                                " VALUES (?,?,1,?,?)", (session_id, self.holder, now + self.ttl_s, now))
            except IntegrityError:  # another instance inserted it first
                return None
            self.held[session_id] = 1
            return Taken(session_id, 1, None, False)
        ours = before["holder"] == self.holder
        expired = before["expires"] < now
        if not (ours or expired or steal):
            return None
        epoch = before["epoch"] if ours else before["epoch"] + 1
        # Conditional on the row as it was read: a take by another instance in between wins.
        cur = self.db.execute(
            "UPDATE session_leases SET holder=?, epoch=?, expires=?, taken=? WHERE session_id=? AND holder=?"
            " AND epoch=?", (self.holder, epoch, now + self.ttl_s, now, session_id, before["holder"],
                             before["epoch"]))
        if cur.rowcount != 1:
            return None
        self.held[session_id] = epoch
        return Taken(session_id, epoch, None if ours else before["holder"], expired and not ours)

    def renew(self, now: float) -> list[int]:
        """Push every held lease ``ttl_s`` ahead; returns the sessions lost (no longer held)."""
        if not self.held:
            return []
        ids = sorted(self.held)
        marks = ",".join("?" * len(ids))
        self.db.execute(f"UPDATE session_leases SET expires=? WHERE holder=? AND session_id IN ({marks})",
                        (now + self.ttl_s, self.holder, *ids))
        rows = self.db.execute(f"SELECT session_id, epoch FROM session_leases WHERE holder=? AND"
                               f" session_id IN ({marks})", (self.holder, *ids)).fetchall()
        still = {r["session_id"]: r["epoch"] for r in rows}
        lost = [sid for sid in ids if still.get(sid) != self.held[sid]]
        for sid in lost:
            del self.held[sid]
        return lost

    def orphans(self, now: float) -> list[int]:
        """Open sessions nobody holds a live lease on (their instance died, or never took one)."""
        rows = self.db.execute(
            "SELECT s.id FROM sessions s LEFT JOIN session_leases l ON l.session_id = s.id"
            " WHERE s.ended IS NULL AND (l.session_id IS NULL OR l.expires < ?) ORDER BY s.id", (now,)).fetchall()
        return [r["id"] for r in rows if r["id"] not in self.held]

    def holder_of(self, session_id: int, now: float) -> str | None:
        """Who holds a live lease on ``session_id`` (None: nobody)."""
        row = self.db.execute("SELECT holder, expires FROM session_leases WHERE session_id=?",
                              (session_id,)).fetchone()
        return row["holder"] if row is not None and row["expires"] >= now else None

    def fence(self, session_ids: Iterable[int]) -> None:
        """Inside the caller's transaction: confirm (and on PostgreSQL lock until the commit) that
        this instance still holds every one of ``session_ids``; raise ``Fenced`` otherwise."""
        ids = sorted(set(session_ids))
        if not ids:
            return
        missing = [sid for sid in ids if sid not in self.held]
        if missing:
            raise Fenced(missing)
        where = " OR ".join("(session_id=? AND epoch=?)" for _ in ids)
        params: list[Any] = [self.holder]
        for sid in ids:
            params += [sid, self.held[sid]]
        cur = self.db.execute(f"UPDATE session_leases SET holder=holder WHERE holder=? AND ({where})", params)
        if cur.rowcount != len(ids):
            rows = self.db.execute(
                f"SELECT session_id FROM session_leases WHERE holder=? AND ({where})", params).fetchall()
            raise Fenced(set(ids) - {r["session_id"] for r in rows})

    def release(self, session_id: int) -> None:
        """Give a lease up (the session ended, or this instance stops): another may take it now.
        The row stays, expired, so that epochs only ever grow."""
        epoch = self.held.pop(session_id, None)
        if epoch is not None:
            self.db.execute("UPDATE session_leases SET expires=0 WHERE session_id=? AND holder=? AND epoch=?",
                            (session_id, self.holder, epoch))

    def release_all(self) -> None:
        for sid in list(self.held):
            self.release(sid)
