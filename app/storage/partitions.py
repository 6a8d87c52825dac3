"""Readings partitioned by month on PostgreSQL: numerics, nibp, waveforms and statuses are each
partitioned by range of device time ``t`` (seconds since the epoch, UTC), one partition per
calendar month, named ``<table>_yYYYYmMM``, plus a DEFAULT partition (made by the first
migration) that takes any time outside the months made, so no reading is ever refused for its
time.

The server makes the current month and the next ones ahead (``ensure_months``, at start-up and
hourly), so a reading lands in its month's partition. A year of sessions is then a dozen
partitions per table, each with its own small indexes, and a query over a session reads only the
month(s) it spans. Pruning is dropping whole months (``drop_months``): instant, and without the
bloat and vacuuming that deleting millions of rows would leave.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from app.storage.base import Database

READINGS = ("numerics", "nibp", "waveforms", "statuses")
MONTHS_AHEAD = 2
# Any fixed number: instances starting together make each month once, in turn.
PARTITION_LOCK = 0x70617274
_NAME = re.compile(r"^(?P<table>\w+)_y(?P<year>\d{4})m(?P<month>\d{2})$")


def month_start(year: int, month: int) -> float:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def months(db: Database, table: str) -> list[tuple[str, float, float]]:
    """The monthly partitions of ``table``: (name, first t, end t), oldest first."""
    out = []
    for r in db.execute(
            "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ?", (table,)):
        m = _NAME.match(r["name"])
        if m and m["table"] == table:
            y, mo = int(m["year"]), int(m["month"])
            out.append((r["name"], month_start(y, mo), month_start(y, mo + 1)))
    return sorted(out, key=lambda p: p[1])


def ensure_months(db: Database, now: float, ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make the partitions of the month of ``now`` and of the ``ahead`` months after it, where
    missing; returns the ones made. Readings of such a month already in the DEFAULT partition
    are moved into it, in the same transaction (PostgreSQL refuses a partition whose rows sit in
    the default one)."""
    made = []
    today = datetime.fromtimestamp(now, UTC)
    for table in READINGS:
        have = {name for name, _, _ in months(db, table)}
        for k in range(ahead + 1):
            y, mo = today.year + (today.month - 1 + k) // 12, (today.month - 1 + k) % 12 + 1
            name = f"{table}_y{y:04d}m{mo:02d}"
            if name in have:
                continue
            start, end = month_start(y, mo), month_start(y, mo + 1)
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(?)", (PARTITION_LOCK,))
                if db.has_table(name):  # another instance made it meanwhile
                    continue
                db.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
                db.execute(f"WITH moved AS (DELETE FROM {table}_default WHERE t >= ? AND t < ? RETURNING *)"
                           f" INSERT INTO {name} SELECT * FROM moved", (start, end))
                db.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({start!r}) TO ({end!r})")
            made.append(name)
    return made


def drop_months(db: Database, before: float) -> list[str]:
    """Prune: drop every monthly partition that ends at or before ``before`` (device time), with
    all its readings; returns the ones dropped. Readings in the DEFAULT partition (times outside
    the months made) are left: they are few, and deleted by hand if ever needed."""
    dropped = []
    for table in READINGS:
        for name, _, end in months(db, table):
            if end <= before:
                with db.transaction():
                    db.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
                    db.execute(f"DROP TABLE {name}")
                dropped.append(name)
    return dropped
