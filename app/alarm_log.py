"""The alarm log, persisted: one row per alarm (as it stands now) and one row per change.

IEC 60601-1-8 asks a log to keep at least every high alarm with its time, and says whether it
survives power loss. This one keeps every change of every alarm — raised, escalated, acknowledged
(by whom), audio paused, reminded, latched, cleared, reset — in the same SQLite file as the
readings, committed before it is broadcast, so it survives a killed server; after a restart the
alarms still signalled are loaded back from it (``signalled``).

Messages are plain text and the parameter a rule watches is a column of its own: databases from
before both are migrated on open (their messages lose the priority marker they began with).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alerts.rules import strip_prefix
from app import feed
from app.storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, rule TEXT NOT NULL, kind TEXT NOT NULL,
    priority TEXT NOT NULL, title TEXT NOT NULL, message TEXT NOT NULL, onset REAL NOT NULL,
    raised REAL NOT NULL, ended REAL, delay_s REAL NOT NULL, value REAL, limit_value REAL,
    decided REAL NOT NULL, state TEXT NOT NULL, tier TEXT NOT NULL DEFAULT '',
    acknowledged_by TEXT, updated REAL NOT NULL, monitor_id TEXT NOT NULL DEFAULT '', param TEXT);
CREATE INDEX IF NOT EXISTS alarms_session ON alarms(session_id, state);
CREATE TABLE IF NOT EXISTS alarm_log (
    id INTEGER PRIMARY KEY, alarm_id INTEGER NOT NULL, session_id INTEGER NOT NULL,
    t REAL NOT NULL, rule TEXT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL,
    priority TEXT NOT NULL, message TEXT NOT NULL, by TEXT NOT NULL DEFAULT '',
    tier TEXT NOT NULL DEFAULT '', decided REAL NOT NULL, delivered REAL,
    monitor_id TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS alarm_log_session ON alarm_log(session_id, id);
"""


class AlarmLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        # On a store shared by several instances: called inside each write's transaction with
        # its session's id, raises (app/lease.py ``Fenced``) when this instance no longer runs it.
        self.fence: Callable[[int], None] | None = None
        db.create_tables(SCHEMA)
        for table in ("alarms", "alarm_log"):  # databases from before alarms named a monitor
            if "monitor_id" not in db.columns(table):
                db.execute(f"ALTER TABLE {table} ADD COLUMN monitor_id TEXT NOT NULL DEFAULT ''")
        if "param" not in db.columns("alarms"):
            # Databases from before alarms named their parameter, whose messages began with the
            # priority marker ("*** SpO2 84 <= 85"): the parameter is filled in when a session's
            # alarms are restored (``assign_param``), the markers go now.
            db.execute("ALTER TABLE alarms ADD COLUMN param TEXT")
            for table in ("alarms", "alarm_log"):
                for row in db.execute(f"SELECT id, message FROM {table} WHERE message LIKE '*%'").fetchall():
                    db.execute(f"UPDATE {table} SET message=? WHERE id=?",
                               (strip_prefix(row["message"]), row["id"]))

    def record(self, session_id: int, change: Any, decided: float,
               monitor_id: str = "") -> tuple[dict, int]:
        """Store one change (an ``alerts.system.Change``); returns the alarm row as it now
        stands and the id of the log entry. ``monitor_id`` names the monitor a per-monitor alarm
        (a lost feed) is about: each monitor of a session has its own."""
        db = self.db
        db.execute("BEGIN")
        try:
            if self.fence is not None:
                self.fence(session_id)
            current = db.execute(
                "SELECT id FROM alarms WHERE session_id=? AND rule=? AND monitor_id=?"
                " AND state != 'cleared'", (session_id, change.rule, monitor_id)).fetchone()
            if change.event == "raised" and current is None:
                alarm_id = db.execute(
                    "INSERT INTO alarms(session_id, rule, kind, priority, title, message, onset,"
                    " raised, delay_s, value, limit_value, decided, state, tier, updated, monitor_id,"
                    " param) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (session_id, change.rule, change.kind, change.priority, change.title,
                     change.message, change.onset, change.t, change.delay_s, change.value,
                     change.limit, decided, change.state, change.tier, change.t,
                     monitor_id, change.param)).lastrowid
            elif current is None:
                raise ValueError(f"{change.event} of rule {change.rule} with no alarm signalled")
            else:
                alarm_id = current["id"]
                db.execute(
                    "UPDATE alarms SET state=?, priority=?, message=?, tier=?, updated=?,"
                    " ended=CASE WHEN ? IN ('cleared', 'latched') AND ended IS NULL THEN ? ELSE ended END,"
                    " acknowledged_by=CASE WHEN ?='acknowledged' THEN ? ELSE acknowledged_by END"
                    " WHERE id=?",
                    (change.state, change.priority, change.message, change.tier, change.t,
                     change.event, change.t, change.event, change.by, alarm_id))
            log_id = db.execute(
                "INSERT INTO alarm_log(alarm_id, session_id, t, rule, event, state, priority, message,"
                " by, tier, decided, monitor_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (alarm_id, session_id, change.t, change.rule, change.event, change.state,
                 change.priority, change.message, change.by, change.tier, decided,
                 monitor_id)).lastrowid
            row = db.execute("SELECT * FROM alarms WHERE id=?", (alarm_id,)).fetchone()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return row, int(log_id)  # type: ignore[arg-type]

    def note(self, alarm_id: int, t: float, event: str, by: str, message: str) -> None:
        """A log entry that changes nothing of the alarm (a handover to another instance): its
        state and priority as they stand, at server time ``t``."""
        self.db.execute(
            "INSERT INTO alarm_log(alarm_id, session_id, t, rule, event, state, priority, message, by, tier,"
            " decided, monitor_id) SELECT id, session_id, ?, rule, ?, state, priority, ?, ?, tier, ?, monitor_id"
            " FROM alarms WHERE id=?", (t, event, message, by, t, alarm_id))

    def assign_monitor(self, alarm_id: int, monitor_id: str) -> None:
        """Name the monitor of an alarm logged before alarms named one (restored at start-up)."""
        self.db.execute("UPDATE alarms SET monitor_id=? WHERE id=? AND monitor_id=''",
                        (monitor_id, alarm_id))

    def assign_param(self, alarm_id: int, param: str | None) -> None:
        """Name the parameter of an alarm logged before alarms named one (restored at start-up)."""
        if param is not None:
            self.db.execute("UPDATE alarms SET param=? WHERE id=? AND param IS NULL", (param, alarm_id))

    def delivered(self, log_id: int, t: float) -> None:
        """The first delivery of a change to a dashboard (for the signal-generation delay)."""
        self.db.execute("UPDATE alarm_log SET delivered=? WHERE id=? AND delivered IS NULL", (t, log_id))

    def alarm(self, alarm_id: int) -> dict | None:
        return self.db.execute("SELECT * FROM alarms WHERE id=?", (alarm_id,)).fetchone()

    def alarms(self, session_id: int | None = None, active_only: bool = False,
               limit: int = 500) -> list[dict]:
        """Alarms newest first; ``active_only``: those still signalled (not cleared)."""
        q, args = "SELECT * FROM alarms WHERE 1=1", []
        if session_id is not None:
            q += " AND session_id=?"
            args.append(session_id)
        if active_only:
            q += " AND state != 'cleared'"
        return self.db.execute(q + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()

    def log(self, session_id: int, since_id: int = 0) -> list[dict[str, Any]]:
        return self.db.execute(
            "SELECT * FROM alarm_log WHERE session_id=? AND id>? ORDER BY id", (session_id, since_id)
        ).fetchall()


def to_feed(row: dict[str, Any]) -> feed.Alarm:
    """An ``alarms`` row as the live feed shows it (``feed.Alarm``): the one mapping of the two."""
    return feed.Alarm(
        id=row["id"], session_id=row["session_id"], monitor_id=row["monitor_id"], rule=row["rule"],
        param=row["param"], kind=row["kind"], priority=row["priority"], tier=row["tier"],
        state=row["state"], title=row["title"], message=strip_prefix(row["message"]),
        value=row["value"], limit=row["limit_value"], delay_s=row["delay_s"],
        onset_device=row["onset"], raised_device=row["raised"], ended_device=row["ended"],
        updated_device=row["updated"], decided_server=row["decided"],
        acknowledged_by=row["acknowledged_by"],
    )
