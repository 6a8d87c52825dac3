"""Storage: the database holding every session's readings, cuff measurements, waveforms, device
statuses and refused messages (alarms: ``alarm_log.py``; accounts: ``accounts.py``): one SQLite
file (WAL) by default, or PostgreSQL (``app/storage/``: the same SQL through one interface).

Durability contract: a message is acknowledged to its monitor only after the transaction that
stores it (and advances its stream's last seq) has committed. In WAL mode with
``synchronous=NORMAL`` a committed transaction survives the process being killed (SIGKILL); an
operating-system crash or power loss may lose the last few (``--fsync`` trades throughput for that).
On PostgreSQL a commit is durable when it returns (``synchronous_commit``, the server's
default); a lost connection fails the group's commit, so none of it is acknowledged, and the
next statement reconnects (docs/storage.md). Storing the message and advancing ``last_seq`` in
one transaction is what makes resending after a reconnect safe: a message is either stored with its seq or not at all. A seq settled without
being stored (refused for good, or given up by the monitor) is recorded in ``unstored`` in the
transaction that advances ``last_seq`` past it, so a resend of it is refused again, never
acknowledged: every seq up to ``last_seq`` is either stored or in ``unstored``.

Grouped commits: on the server (inside a running event loop) ``store_message`` does not commit
on its own. It queues the message, and the queue is written and committed in one transaction as
soon as the event loop has run the callbacks already due (the messages that arrived together,
from any number of monitors), so a lone message waits for no timer: only for the callbacks ahead
of it. ``committed()`` is what the ack waits for: it resolves once everything queued before it
is committed, or raises if that commit failed (then nothing of the group is stored, and its
messages are not acknowledged). Everything else that writes or reads messages through the Store
commits the queue first, so they see the messages in seq order, and a seq is never recorded as
``unstored`` or given up while an earlier one is still queued. Outside an event loop (tools,
imports, tests driving a Pipeline directly) every message is committed at once, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from app import storage
from app.storage import Database
from app.storage.sqlite import SQLiteDatabase

log = logging.getLogger("vitalwatch.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, room TEXT NOT NULL, mode TEXT NOT NULL,
    started REAL NOT NULL, ended REAL, label TEXT NOT NULL DEFAULT '',
    dose REAL, baseline TEXT);
CREATE INDEX IF NOT EXISTS sessions_room ON sessions(room, ended);
CREATE TABLE IF NOT EXISTS streams (
    monitor_id TEXT NOT NULL, stream TEXT NOT NULL, session_id INTEGER NOT NULL,
    last_seq INTEGER NOT NULL, vendor TEXT, model TEXT, serial TEXT, mode TEXT,
    PRIMARY KEY (monitor_id, stream));
CREATE TABLE IF NOT EXISTS numerics (
    session_id INTEGER NOT NULL, t REAL NOT NULL, received REAL NOT NULL,
    param TEXT NOT NULL, value REAL);
CREATE INDEX IF NOT EXISTS numerics_session_t ON numerics(session_id, t);
CREATE TABLE IF NOT EXISTS nibp (
    session_id INTEGER NOT NULL, t REAL NOT NULL, received REAL NOT NULL, status TEXT NOT NULL,
    sys REAL, dia REAL, map REAL, reason TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS nibp_session_t ON nibp(session_id, t);
CREATE TABLE IF NOT EXISTS waveforms (
    session_id INTEGER NOT NULL, t REAL NOT NULL, wave TEXT NOT NULL, rate REAL NOT NULL,
    samples BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS waveforms_session_t ON waveforms(session_id, wave, t);
CREATE TABLE IF NOT EXISTS statuses (
    session_id INTEGER NOT NULL, t REAL NOT NULL, received REAL NOT NULL, code TEXT NOT NULL,
    active INTEGER NOT NULL, text TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS marks (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, t REAL NOT NULL, what TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '', by TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS marks_session ON marks(session_id, t);
CREATE TABLE IF NOT EXISTS session_rules (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, rule TEXT NOT NULL, change TEXT NOT NULL,
    by TEXT NOT NULL, t REAL NOT NULL, reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS session_monitors (
    session_id INTEGER NOT NULL, monitor_id TEXT NOT NULL, added REAL NOT NULL,
    added_by TEXT NOT NULL DEFAULT '', finished REAL, PRIMARY KEY (session_id, monitor_id));
CREATE TABLE IF NOT EXISTS unstored (
    monitor_id TEXT NOT NULL, stream TEXT NOT NULL, first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL, field TEXT NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS unstored_seq ON unstored(monitor_id, stream, first_seq);
CREATE TABLE IF NOT EXISTS server_starts (t REAL NOT NULL);
CREATE TABLE IF NOT EXISTS session_leases (
    session_id INTEGER PRIMARY KEY, holder TEXT NOT NULL, epoch INTEGER NOT NULL,
    expires REAL NOT NULL, taken REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rejects (
    id INTEGER PRIMARY KEY, monitor_id TEXT NOT NULL, received REAL NOT NULL, seq INTEGER,
    field TEXT NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL);
"""

# A refused message is kept for diagnosis up to this size; the rest is cut (and says so).
MAX_REJECT_RAW = 4096


class Store:
    # Whether messages stored from inside an event loop are grouped (see the module docstring);
    # off, every message is its own transaction (bench/latency.py --worse measures that).
    group_commits = True
    # A group this large is committed at once, without waiting for the end of the loop's turn.
    MAX_GROUP = 1000

    def __init__(self, where: str | Path | Database, fsync: bool = False) -> None:
        """``where``: a SQLite file's path, a ``--database`` URL, or an open ``Database``."""
        self._queue: list[tuple[str, str, int, Any, float]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._waiter: asyncio.Future[None] | None = None  # the queued group's commit
        self._last: asyncio.Future[None] | None = None  # the commit of the latest message's group
        self.commits = self.grouped = 0  # transactions of queued messages, and messages in them
        # On a store shared by several instances: called inside each transaction of messages with
        # their sessions' ids; raises (app/lease.py ``Fenced``) when this instance no longer runs
        # one of them, and then nothing of the transaction is stored or acknowledged.
        self.fence: Callable[[set[int]], None] | None = None
        if isinstance(where, Database):
            self.db = where
        else:
            # One connection, used only from the event loop's thread: the server's writes are
            # short and ordered, and a single writer is what SQLite is best at.
            url = where if isinstance(where, str) and "://" in where else Path(where)
            self.db = storage.connect(url, fsync=fsync)
        self.path = self.db.path if isinstance(self.db, SQLiteDatabase) else None
        if self.db.dialect != "sqlite":
            return  # PostgreSQL: the schema is the migrations' (app/storage/migrations/)
        listed = self.db.has_table("session_monitors")
        had_sessions = self.db.has_table("streams")
        self.db.create_tables(SCHEMA)
        if "baseline_t" not in self.db.columns("sessions"):
            # Databases from before a baseline's capture time was kept (a restart then replays
            # the session with its baseline from the start: ``app/resume.py``).
            self.db.execute("ALTER TABLE sessions ADD COLUMN baseline_t REAL")
        if "site" not in self.db.columns("sessions"):
            # The site the session's room belongs to (app/sites.py); '' for sessions from before
            # sites, which were the default site's. After baseline_t, as the migrations add it.
            self.db.execute("ALTER TABLE sessions ADD COLUMN site TEXT NOT NULL DEFAULT ''")
        if had_sessions and not listed:
            # A database from before sessions listed their monitors: each open session lists the
            # monitor that last streamed into it, which was then the session's one monitor.
            self.db.execute(
                "INSERT OR IGNORE INTO session_monitors(session_id, monitor_id, added)"
                " SELECT st.session_id, st.monitor_id, 0 FROM streams st"
                " JOIN sessions se ON se.id = st.session_id AND se.ended IS NULL"
                " WHERE st.rowid = (SELECT MAX(rowid) FROM streams WHERE session_id = st.session_id)")

    def start_checkpointer(self, every_s: float = 1.0) -> None:
        """Checkpoint the write-ahead log from a thread of its own, with its own connection.

        SQLite otherwise checkpoints inside whichever commit crosses its threshold, and that
        checkpoint (with its fsync) would stall the event loop, and with it ingest and every
        dashboard, for up to tens of milliseconds. A passive checkpoint never blocks the writer.
        """
        if self.path is None:
            return  # PostgreSQL checkpoints in its own processes
        path = self.path
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self._stop = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(path, isolation_level=None)
            try:
                while not self._stop.wait(every_s):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                conn.close()

        self._checkpointer = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
        self._checkpointer.start()

    def close(self) -> None:
        self.flush()
        if getattr(self, "_checkpointer", None) is not None:
            self._stop.set()
            self._checkpointer.join(timeout=5)
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        self.flush()
        with self.db.transaction() as db:
            yield db

    # Sessions and streams ------------------------------------------------------------------

    def active_session(self, room: str) -> dict | None:
        return self.db.execute(
            "SELECT * FROM sessions WHERE room=? AND ended IS NULL ORDER BY id DESC LIMIT 1", (room,)
        ).fetchone()

    def start_session(self, room: str, mode: str, started: float, label: str = "",
                      site: str = "") -> dict:
        """``site``: the site of the device that started it ('' : the default site)."""
        cur = self.db.execute(
            "INSERT INTO sessions(room, mode, started, label, site) VALUES (?,?,?,?,?)",
            (room, mode, started, label, site),
        )
        return self.session(cur.lastrowid)  # type: ignore[return-value, arg-type]

    def end_session(self, session_id: int, ended: float) -> None:
        self.db.execute("UPDATE sessions SET ended=? WHERE id=? AND ended IS NULL", (ended, session_id))

    def session(self, session_id: int) -> dict | None:
        return self.db.execute("SELECT * FROM sessions WHERE id=?", (session_id,)).fetchone()

    def sessions(self, active_only: bool = False) -> list[dict]:
        where = "WHERE ended IS NULL" if active_only else ""
        return self.db.execute(f"SELECT * FROM sessions {where} ORDER BY id").fetchall()

    def open_stream(self, hello: Any, session_id: int) -> int:
        """Register a monitor's stream; returns the last seq already stored for it."""
        self.flush()  # queued messages first: reads and writes see them in seq order
        row = self.db.execute(
            "SELECT last_seq FROM streams WHERE monitor_id=? AND stream=?",
            (hello.monitor_id, hello.stream),
        ).fetchone()
        if row:
            self.db.execute(
                "UPDATE streams SET session_id=? WHERE monitor_id=? AND stream=?",
                (session_id, hello.monitor_id, hello.stream),
            )
            return int(row["last_seq"])
        self.db.execute(
            "INSERT INTO streams VALUES (?,?,?,?,?,?,?,?)",
            (hello.monitor_id, hello.stream, session_id, 0, hello.vendor, hello.model,
             hello.serial, hello.mode),
        )
        return 0

    def last_seq(self, monitor_id: str, stream: str) -> int:
        """The last seq of a stream settled in the database (0 if it has none)."""
        self.flush()
        row = self.db.execute("SELECT last_seq FROM streams WHERE monitor_id=? AND stream=?",
                              (monitor_id, stream)).fetchone()
        return int(row["last_seq"]) if row else 0

    def add_mark(self, session_id: int, t: float, what: str, text: str, by: str) -> dict:
        self.flush()
        cur = self.db.execute("INSERT INTO marks(session_id, t, what, text, by) VALUES (?,?,?,?,?)",
                              (session_id, t, what, text, by))
        return self.db.execute("SELECT * FROM marks WHERE id=?", (cur.lastrowid,)).fetchone()

    def marks(self, session_id: int) -> list[dict]:
        self.flush()
        return self.db.execute("SELECT * FROM marks WHERE session_id=? ORDER BY t, id", (session_id,)).fetchall()

    def set_dose(self, session_id: int, t: float, baseline: dict) -> None:
        self.db.execute("UPDATE sessions SET dose=?, baseline=? WHERE id=?",
                        (t, json.dumps(baseline), session_id))

    def set_label(self, session_id: int, label: str) -> None:
        self.db.execute("UPDATE sessions SET label=? WHERE id=?", (label, session_id))

    def set_baseline(self, session_id: int, baseline: dict, t: float | None = None) -> None:
        """The session's baseline, captured at device time ``t`` (kept for a restart's replay)."""
        self.db.execute("UPDATE sessions SET baseline=?, baseline_t=? WHERE id=?",
                        (json.dumps(baseline), t, session_id))

    def server_started(self, t: float) -> None:
        """A server has started on this database at ``t`` (server time): a restart's replay
        needs to know when the device's ticks started again."""
        self.db.execute("INSERT INTO server_starts VALUES (?)", (t,))

    def server_starts(self) -> list[float]:
        return [r["t"] for r in self.db.execute("SELECT t FROM server_starts ORDER BY t")]

    def add_rule_change(self, session_id: int, rule: str, change: dict, by: str, t: float,
                        reason: str = "") -> None:
        self.db.execute(
            "INSERT INTO session_rules(session_id, rule, change, by, t, reason) VALUES (?,?,?,?,?,?)",
            (session_id, rule, json.dumps(change), by, t, reason))

    def rule_changes(self, session_id: int) -> list[dict]:
        rows = self.db.execute("SELECT * FROM session_rules WHERE session_id=? ORDER BY id",
                               (session_id,)).fetchall()
        for r in rows:
            r["change"] = json.loads(r["change"])
        return rows

    def session_monitors(self, session_id: int) -> list[dict]:
        """The monitors a session lists (the one that started it, those a clinician added), in
        the order they joined."""
        return self.db.execute(
            "SELECT monitor_id, added, added_by, finished FROM session_monitors WHERE session_id=?"
            " ORDER BY added, rowid", (session_id,)).fetchall()

    def add_session_monitor(self, session_id: int, monitor_id: str, t: float, by: str) -> None:
        self.db.execute(
            "INSERT INTO session_monitors(session_id, monitor_id, added, added_by) VALUES (?,?,?,?)"
            " ON CONFLICT(session_id, monitor_id) DO UPDATE SET finished=NULL",
            (session_id, monitor_id, t, by))

    def remove_session_monitor(self, session_id: int, monitor_id: str) -> None:
        self.db.execute("DELETE FROM session_monitors WHERE session_id=? AND monitor_id=?",
                        (session_id, monitor_id))

    def finish_session_monitor(self, session_id: int, monitor_id: str, t: float) -> None:
        """A replay has played to its end: its session no longer expects it (kept listed)."""
        self.db.execute("UPDATE session_monitors SET finished=? WHERE session_id=? AND monitor_id=?",
                        (t, session_id, monitor_id))

    # Messages ----------------------------------------------------------------------------

    def store_message(self, monitor_id: str, stream: str, session_id: int, msg: Any,
                      received: float) -> None:
        """Store one validated monitor message and advance its stream, in one transaction: at
        once outside an event loop, else in the next grouped commit (await ``committed()``
        before acknowledging it)."""
        loop = None
        if self.group_commits:
            with contextlib.suppress(RuntimeError):  # no running loop: a tool, an import
                loop = asyncio.get_running_loop()
        if loop is None:
            with self.transaction() as db:
                if self.fence is not None:
                    self.fence({session_id})
                self._write(db, [(monitor_id, stream, session_id, msg, received)])
            self._last = None
            return
        if not self._queue:
            self._waiter = loop.create_future()
            self._flush_handle = loop.call_soon(self.flush)
        self._queue.append((monitor_id, stream, session_id, msg, received))
        self._last = self._waiter
        if len(self._queue) >= self.MAX_GROUP:
            self.flush()

    def committed(self) -> asyncio.Future[None]:
        """The commit of the group that the latest message stored went into: resolves once it is
        committed, raises its error if it failed (nothing of that group is stored then). Done at
        once when that message is already committed."""
        if self._last is None:
            self._last = asyncio.get_running_loop().create_future()
            self._last.set_result(None)
        return self._last

    def flush(self) -> None:
        """Write and commit the queued messages in one transaction, then resolve their
        ``committed()``. A failed commit stores none of them and is that future's error."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        queue, self._queue = self._queue, []
        waiter, self._waiter = self._waiter, None
        if not queue or waiter is None:
            return
        try:
            with self.db.transaction() as db:
                if self.fence is not None:
                    self.fence({item[2] for item in queue})
                self._write(db, queue)
        except Exception as e:  # noqa: BLE001 - whatever it is, the waiting connections must hear it
            log.error("could not store %d messages (none is acknowledged): %s", len(queue), e)
            waiter.set_exception(e)
            waiter.exception()  # marked as seen: the ingest connections waiting on it get it
            return
        self.commits += 1
        self.grouped += len(queue)
        waiter.set_result(None)

    def _write(self, db: Database, items: list[tuple[str, str, int, Any, float]]) -> None:
        """Store messages (monitor id, stream, session id, message, received) and advance their
        streams. Rows of one table go in one ``executemany`` and each stream's last seq in one
        update: on PostgreSQL each statement is a round trip on the event loop's thread, and a
        group of 256 monitors' messages would otherwise be 512 of them."""
        rows: dict[str, list[tuple[Any, ...]]] = {}
        last: dict[tuple[str, str], int] = {}
        for monitor_id, stream, session_id, msg, received in items:
            kind = msg.type
            if kind == "numerics":
                rows.setdefault("INSERT INTO numerics VALUES (?,?,?,?,?)", []).extend(
                    (session_id, msg.t, received, p.value, m.value) for p, m in msg.values.items())
            elif kind == "nibp":
                rows.setdefault("INSERT INTO nibp VALUES (?,?,?,?,?,?,?,?)", []).append(
                    (session_id, msg.t, received, msg.status, msg.sys, msg.dia, msg.map, msg.reason))
            elif kind == "waveform":
                samples = np.array(msg.samples, np.float32)  # a None ("no value") becomes NaN
                rows.setdefault("INSERT INTO waveforms VALUES (?,?,?,?,?)", []).append(
                    (session_id, msg.t, msg.wave.value, msg.rate, samples.tobytes()))
            elif kind == "mark":
                rows.setdefault("INSERT INTO marks(session_id, t, what, text, by) VALUES (?,?,?,?,?)", []).append(
                    (session_id, msg.t, msg.what, msg.text, f"monitor:{monitor_id}"))
            elif kind == "status":
                rows.setdefault("INSERT INTO statuses VALUES (?,?,?,?,?,?)", []).append(
                    (session_id, msg.t, received, msg.code, int(msg.active), msg.text))
            last[(monitor_id, stream)] = msg.seq  # a stream's messages come in seq order
        for sql, values in rows.items():
            db.executemany(sql, values)
        if last:
            db.executemany("UPDATE streams SET last_seq=? WHERE monitor_id=? AND stream=?",
                           [(seq, monitor_id, stream) for (monitor_id, stream), seq in last.items()])

    def skip(self, monitor_id: str, stream: str, first: int, last: int, field: str,
             reason: str) -> None:
        """Settle seqs ``first``..``last`` of a stream without storing them (refused for good, or
        given up by the monitor): recorded, and the stream's last seq advanced, in one transaction."""
        with self.transaction() as db:
            db.execute("INSERT INTO unstored VALUES (?,?,?,?,?,?)",
                       (monitor_id, stream, first, last, field, reason[:500]))
            db.execute("UPDATE streams SET last_seq=? WHERE monitor_id=? AND stream=? AND last_seq<?",
                       (last, monitor_id, stream, last))

    def unstored(self, monitor_id: str, stream: str, seq: int) -> dict | None:
        """Why ``seq`` of this stream was settled without being stored, or None if it was stored."""
        self.flush()
        row = self.db.execute(
            "SELECT first_seq, last_seq, field, reason FROM unstored WHERE monitor_id=? AND stream=?"
            " AND first_seq<=? ORDER BY first_seq DESC LIMIT 1", (monitor_id, stream, seq),
        ).fetchone()
        return row if row is not None and row["last_seq"] >= seq else None

    def reject(self, monitor_id: str, seq: int | None, field: str, reason: str, raw: str) -> None:
        if len(raw) > MAX_REJECT_RAW:
            raw = raw[:MAX_REJECT_RAW] + f"… [{len(raw) - MAX_REJECT_RAW} more characters]"
        self.db.execute(
            "INSERT INTO rejects(monitor_id, received, seq, field, reason, raw) VALUES (?,?,?,?,?,?)",
            (monitor_id, time.time(), seq, field, reason, raw),
        )

    def rejects(self, monitor_id: str | None = None, limit: int = 100) -> list[dict]:
        args: tuple[Any, ...]
        if monitor_id is None:
            q, args = "SELECT * FROM rejects ORDER BY id DESC LIMIT ?", (limit,)
        else:
            q, args = "SELECT * FROM rejects WHERE monitor_id=? ORDER BY id DESC LIMIT ?", (monitor_id, limit)
        return self.db.execute(q, args).fetchall()

    # Reading back ------------------------------------------------------------------------

    def numerics(self, session_id: int, start: float | None = None, end: float | None = None,
                 params: list[str] | None = None) -> list[dict]:
        self.flush()
        q = "SELECT t, param, value FROM numerics WHERE session_id=? AND t>=? AND t<=?"
        args: list[Any] = [session_id, start if start is not None else -1e18,
                           end if end is not None else 1e18]
        if params:
            q += f" AND param IN ({','.join('?' * len(params))})"
            args += params
        return self.db.execute(q + " ORDER BY t, rowid", args).fetchall()

    def nibp(self, session_id: int, start: float | None = None, end: float | None = None) -> list[dict]:
        self.flush()
        return self.db.execute(
            "SELECT t, status, sys, dia, map, reason FROM nibp WHERE session_id=? AND t>=? AND t<=?"
            " ORDER BY t",
            (session_id, start if start is not None else -1e18, end if end is not None else 1e18),
        ).fetchall()

    def waveforms(self, session_id: int, wave: str, start: float, end: float) -> list[dict]:
        self.flush()
        rows = self.db.execute(
            "SELECT t, rate, samples FROM waveforms WHERE session_id=? AND wave=? AND t>=? AND t<=?"
            " ORDER BY t",
            (session_id, wave, start, end),
        ).fetchall()
        for r in rows:
            r["samples"] = [None if np.isnan(x) else float(x)
                            for x in np.frombuffer(r["samples"], np.float32)]
        return rows

    def latest_t(self, session_id: int) -> float | None:
        """The latest device time of a session's numerics, cuff readings and statuses."""
        self.flush()
        row = self.db.execute(
            "SELECT MAX(t) AS t FROM (SELECT MAX(t) AS t FROM numerics WHERE session_id=?"
            " UNION ALL SELECT MAX(t) FROM nibp WHERE session_id=?"
            " UNION ALL SELECT MAX(t) FROM statuses WHERE session_id=?) AS latest",
            (session_id, session_id, session_id)).fetchone()
        return None if row["t"] is None else float(row["t"])

    def replay_rows(self, session_id: int, since: float, pleth_lookback_s: float) -> dict[str, list[dict]]:
        """What a restart replays of a session (``app/resume.py``): its numerics, cuff
        readings and statuses from device time ``since`` on, in the order they arrived (with
        ``received``), its marks, and its PLETH chunks of the last ``pleth_lookback_s`` before
        the latest one."""
        self.flush()
        db = self.db
        args = (session_id, since)
        latest = db.execute("SELECT MAX(t) AS t FROM waveforms WHERE session_id=? AND wave='PLETH'",
                            (session_id,)).fetchone()["t"]
        return {
            "numerics": db.execute("SELECT t, received, param, value FROM numerics WHERE session_id=?"
                                   " AND t>=? ORDER BY received, rowid", args).fetchall(),
            # With the window: the last valid cuff reading before it (the NIBP schedule counts
            # from it) and each status code's last report before it (one may still be active).
            "nibp": db.execute(
                "SELECT t, received, status, sys, dia, map FROM nibp WHERE session_id=? AND (t>=?"
                " OR rowid=(SELECT MAX(rowid) FROM nibp WHERE session_id=? AND t<? AND status='ok'))"
                " ORDER BY received, rowid", args * 2).fetchall(),
            "statuses": db.execute(
                "SELECT t, received, code, active, text FROM statuses WHERE session_id=? AND (t>=?"
                " OR rowid IN (SELECT MAX(rowid) FROM statuses WHERE session_id=? AND t<?"
                " GROUP BY code)) ORDER BY received, rowid", args * 2).fetchall(),
            "marks": self.marks(session_id),
            "pleth": [] if latest is None else
            self.waveforms(session_id, "PLETH", max(since, latest - pleth_lookback_s), latest),
        }

    def statuses(self, session_id: int) -> list[dict]:
        self.flush()
        return self.db.execute(
            "SELECT t, code, active, text FROM statuses WHERE session_id=? ORDER BY t", (session_id,)
        ).fetchall()

    def latest(self, session_id: int) -> dict[str, Any]:
        """The last value of each parameter and the last cuff measurement, for snapshots."""
        self.flush()
        # Each parameter's row at its latest t (a join both databases plan well: PostgreSQL
        # has no SQLite's "bare column" taking the value from the row of the MAX).
        values = {
            r["param"]: {"value": r["value"], "t": r["t"]}
            for r in self.db.execute(
                "SELECT n.param, n.value, n.t FROM numerics n JOIN (SELECT param, MAX(t) AS t"
                " FROM numerics WHERE session_id=? GROUP BY param) m ON n.param = m.param AND n.t = m.t"
                " WHERE n.session_id=? ORDER BY n.t, n.rowid",
                (session_id, session_id),
            )
        }
        nibp = self.db.execute(
            "SELECT t, status, sys, dia, map FROM nibp WHERE session_id=? ORDER BY t DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        last_ok = self.db.execute(
            "SELECT t, sys, dia, map FROM nibp WHERE session_id=? AND status='ok'"
            " ORDER BY t DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        return {"values": values, "nibp": last_ok, "nibp_last_attempt": nibp}
