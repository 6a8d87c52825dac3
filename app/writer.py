"""The store's writer thread: commits groups of queued messages with its own SQLite connection,
so that a commit (its inserts, its write to the log, an fsync with ``--fsync``) never holds up the
event loop, where every connection, ingest and dashboards alike, waits for its turn.

Contract: groups are committed in the order they were submitted, each group entirely or not at
all; ``done(error)`` is called from the writer thread once its group is committed (``None``) or
has failed (the exception; nothing of that group is stored). Groups that are waiting when the
thread comes round share one transaction (the disk's work is per commit, not per message); if
that shared transaction fails, each group is tried again on its own, so that one bad message
fails only its own group, as it would have alone. ``wait()`` returns once every group submitted
before it is settled: what the event loop calls before reading or writing anything that must
see them (see ``app.store``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("vitalwatch.store")

Write = Callable[[sqlite3.Connection], None]
Done = Callable[[BaseException | None], None]


@dataclass
class _Group:
    write: Write  # executes the group's statements on the writer's connection
    messages: int
    done: Done


class Writer:
    def __init__(self, path: Path, fsync: bool = False, autocheckpoint: bool = True) -> None:
        self.path, self._fsync, self._autocheckpoint = path, fsync, autocheckpoint
        self._cond = threading.Condition()
        self._pending: list[_Group] = []
        self._submitted = self._settled = 0
        self._stopping = False
        self.commits = self.messages = 0  # transactions committed, and the messages in them
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def submit(self, write: Write, messages: int, done: Done) -> None:
        """Queue one group (``write`` runs its statements; ``messages``: how many it stores) for
        the writer; never blocks."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the store's writer is closed")
            self._pending.append(_Group(write, messages, done))
            self._submitted += 1
            self._cond.notify_all()

    def wait(self) -> None:
        """Block until every group submitted so far is committed or has failed."""
        with self._cond:
            target = self._submitted
            self._cond.wait_for(lambda: self._settled >= target)

    def close(self) -> None:
        """Commit what is submitted, then end the thread and its connection."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        broken: Exception | None = None
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA synchronous={'FULL' if self._fsync else 'NORMAL'}")
            db.execute("PRAGMA foreign_keys=ON")
            if not self._autocheckpoint:  # a checkpointer thread does it (Store.start_checkpointer)
                db.execute("PRAGMA wal_autocheckpoint=0")
        except Exception as e:  # noqa: BLE001 - no connection: every group fails, none waits forever
            log.error("the store's writer cannot open %s: %s", self.path, e)
            broken = e
        try:
            while groups := self._take():
                if db is None or broken is not None:
                    errors: list[Exception | None] = [broken] * len(groups)
                else:
                    error = self._commit(db, groups)
                    errors = ([self._commit(db, [g]) for g in groups]
                              if error is not None and len(groups) > 1 else [error] * len(groups))
                for group, err in zip(groups, errors):
                    try:
                        group.done(err)
                    except Exception:  # one waiter's trouble must not stop the writer
                        log.exception("could not report a commit")
                with self._cond:
                    self._settled += len(groups)
                    self._cond.notify_all()
        finally:
            if db is not None:
                db.close()

    def _take(self) -> list[_Group]:
        """The groups waiting, once there are any; [] once closed with none left."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._pending) or self._stopping)
            groups, self._pending = self._pending, []
        return groups

    def _commit(self, db: sqlite3.Connection, groups: list[_Group]) -> Exception | None:
        """Write ``groups`` in one transaction; the error if it failed (then none is stored)."""
        n = sum(g.messages for g in groups)
        try:
            db.execute("BEGIN")
            try:
                for group in groups:
                    group.write(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except Exception as e:  # noqa: BLE001 - whatever it is, the waiting connections must hear it
            if len(groups) == 1:
                log.error("could not store %d messages (none is acknowledged): %s", n, e)
            return e
        self.commits += 1
        self.messages += n
        return None
