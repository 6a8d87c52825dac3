"""The delivery log, persisted: one row per notice (an alarm change, for one recipient at one
destination), with the time it reached each state of ``alerts.delivery.wire.State``.

A row only ever moves as ``wire.advances`` allows, so a late "delivered" after "seen" changes
nothing and a failed delivery stays failed. Rows are written in the same SQLite file as the alarm
log they tell of (``log_id``), before the notice leaves the server.
"""

from __future__ import annotations

from typing import Any

from alerts.delivery.wire import State, advances
from app.storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY, alarm_id INTEGER NOT NULL, log_id INTEGER NOT NULL,
    session_id INTEGER NOT NULL, event TEXT NOT NULL, step TEXT NOT NULL,
    recipient TEXT NOT NULL DEFAULT '', channel TEXT NOT NULL, destination TEXT NOT NULL,
    state TEXT NOT NULL, queued REAL NOT NULL, sent REAL, delivered REAL, seen REAL,
    acknowledged REAL, failed REAL, detail TEXT NOT NULL DEFAULT '', by TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_alarm ON deliveries(alarm_id, id);
CREATE INDEX IF NOT EXISTS deliveries_session ON deliveries(session_id, id);
"""

# The columns that hold the time a delivery reached each state (the state's own name).
TIMES: dict[State, str] = {s: s.value for s in State if s is not State.queued}


class DeliveryLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_tables(SCHEMA)

    def add(self, *, alarm_id: int, log_id: int, session_id: int, event: str, step: str,
            recipient: str, channel: str, destination: str, t: float) -> int:
        """A notice about to be sent: a queued delivery; returns its id."""
        return int(self.db.execute(  # type: ignore[arg-type]
            "INSERT INTO deliveries(alarm_id, log_id, session_id, event, step, recipient, channel,"
            " destination, state, queued, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (alarm_id, log_id, session_id, event, step, recipient, channel, destination,
             State.queued.value, t, t)).lastrowid)

    def move(self, delivery_id: int, state: State, t: float, detail: str = "",
             by: str = "") -> bool:
        """Move a delivery to ``state`` at ``t`` if the state table allows it; whether it moved."""
        row = self.get(delivery_id)
        if row is None or not advances(State(row["state"]), state):
            return False
        self.db.execute(
            f"UPDATE deliveries SET state=?, {TIMES[state]}=?, updated=?,"
            " detail=CASE WHEN ?='' THEN detail ELSE ? END, by=CASE WHEN ?='' THEN by ELSE ? END"
            " WHERE id=?", (state.value, t, t, detail, detail, by, by, delivery_id))
        return True

    def attempted(self, delivery_id: int) -> None:
        """One more try of the send (the first, or a retry after a failure that may pass)."""
        self.db.execute("UPDATE deliveries SET attempts=attempts+1 WHERE id=?", (delivery_id,))

    def note(self, delivery_id: int, detail: str) -> None:
        """Why a delivery is still where it is (a failure about to be retried)."""
        self.db.execute("UPDATE deliveries SET detail=? WHERE id=?", (detail, delivery_id))

    def get(self, delivery_id: int) -> dict[str, Any] | None:
        return self.db.execute("SELECT * FROM deliveries WHERE id=?", (delivery_id,)).fetchone()

    def of_alarm(self, alarm_id: int) -> list[dict[str, Any]]:
        return self.db.execute("SELECT * FROM deliveries WHERE alarm_id=? ORDER BY id",
                               (alarm_id,)).fetchall()

    def of_session(self, session_id: int) -> list[dict[str, Any]]:
        return self.db.execute("SELECT * FROM deliveries WHERE session_id=? ORDER BY id",
                               (session_id,)).fetchall()
