"""An alarm log from before messages were plain and alarms named their parameter is migrated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app import feed
from app.alarm_log import AlarmLog, to_feed
from app.store import Store

OLD_ALARMS = """
CREATE TABLE alarms (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, rule TEXT NOT NULL, kind TEXT NOT NULL,
    priority TEXT NOT NULL, title TEXT NOT NULL, message TEXT NOT NULL, onset REAL NOT NULL,
    raised REAL NOT NULL, ended REAL, delay_s REAL NOT NULL, value REAL, limit_value REAL,
    decided REAL NOT NULL, state TEXT NOT NULL, tier TEXT NOT NULL DEFAULT '',
    acknowledged_by TEXT, updated REAL NOT NULL);
CREATE TABLE alarm_log (
    id INTEGER PRIMARY KEY, alarm_id INTEGER NOT NULL, session_id INTEGER NOT NULL,
    t REAL NOT NULL, rule TEXT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL,
    priority TEXT NOT NULL, message TEXT NOT NULL, by TEXT NOT NULL DEFAULT '',
    tier TEXT NOT NULL DEFAULT '', decided REAL NOT NULL, delivered REAL);
INSERT INTO alarms VALUES (1, 1, 'O3', 'physiological', 'high', 'Severe desaturation',
    '*** SpO2 84 <= 85', 100, 105, NULL, 5, 84, 85, 105.1, 'active', '', NULL, 105);
INSERT INTO alarm_log VALUES (1, 1, 1, 105, 'O3', 'raised', 'active', 'high', '*** SpO2 84 <= 85',
    '', '', 105.1, NULL);
"""


def test_old_alarm_log_gets_plain_messages_and_a_param_column(tmp_path: Path) -> None:
    """Opening an old alarm log strips the priority marker from its messages, adds the param
    column (filled by assign_param), and its rows map to valid feed alarms."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_ALARMS)
    db.close()
    store = Store(path)
    try:
        log = AlarmLog(store.db)
        row = log.alarm(1)
        assert row is not None and row["message"] == "SpO2 84 <= 85" and row["param"] is None
        assert [e["message"] for e in log.log(1)] == ["SpO2 84 <= 85"]
        log.assign_param(1, "SpO2")
        alarm = to_feed(log.alarm(1))  # type: ignore[arg-type]
        assert isinstance(alarm, feed.Alarm)
        assert (alarm.param, alarm.message, alarm.priority, alarm.limit) == ("SpO2", "SpO2 84 <= 85", "high", 85)
        AlarmLog(store.db)  # opening it again changes nothing
        assert log.alarm(1)["param"] == "SpO2"  # type: ignore[index]
    finally:
        store.db.close()
