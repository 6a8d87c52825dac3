"""The store's writer: one SQLite connection for the grouped messages, whose commits run in a
thread of their own, so that a commit (the write of the log, an fsync with ``--fsync``: the part
that waits for the disk) never holds up the event loop, where every connection, ingest and
dashboards alike, waits for its turn.

Contract. The connection (``db``) belongs to one group at a time: the event loop opens a
transaction on it and writes the group's rows (work for the CPU alone: pages in memory), then
calls ``commit(done)``; the thread commits, or rolls back if the commit fails, and then calls
``done(error)`` from the thread (``None``: committed; else nothing of the group is stored). While
a commit is under way (``busy``) nobody else touches the connection; ``wait()`` blocks until it
is over. Only one call into SQLite per group crosses to the thread: each crossing hands the
interpreter's lock between the two threads, which costs more than writing a row.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("vitalwatch.store")

Done = Callable[[BaseException | None], None]


class Writer:
    def __init__(self, path: Path, fsync: bool = False, autocheckpoint: bool = True) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self.db.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:  # a checkpointer thread does it (Store.start_checkpointer)
            self.db.execute("PRAGMA wal_autocheckpoint=0")
        self._cond = threading.Condition()
        self._job: tuple[int, Done] | None = None  # (messages, done) of the commit asked for
        self._stopping = False
        self.commits = self.messages = 0  # transactions committed, and the messages in them
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """Whether a commit is asked for or under way (then the connection is the thread's)."""
        with self._cond:
            return self._job is not None

    def commit(self, messages: int, done: Done) -> None:
        """Commit the transaction open on ``db`` (``messages`` in it) in the thread; never blocks."""
        with self._cond:
            if self._stopping or self._job is not None:
                raise RuntimeError("the store's writer is closed or still committing")
            self._job = (messages, done)
            self._cond.notify_all()

    def wait(self) -> None:
        """Block until no commit is under way."""
        with self._cond:
            self._cond.wait_for(lambda: self._job is None)

    def close(self) -> None:
        """Finish the commit under way, then end the thread and close the connection."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        self.db.close()

    def commit_here(self, messages: int) -> Exception | None:
        """Commit the open transaction on the calling thread, when nothing else is to run before
        (``Store.flush``); the error if it failed (then nothing of it is stored)."""
        with self._cond:
            if self._job is not None:
                raise RuntimeError("the store's writer is still committing")
        return self._commit(messages)

    def _commit(self, messages: int) -> Exception | None:
        try:
            self.db.execute("COMMIT")
        except Exception as e:  # noqa: BLE001 - whatever it is, the waiting connections must hear it
            log.error("could not store %d messages (none is acknowledged): %s", messages, e)
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            return e
        self.commits += 1
        self.messages += messages
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._job is not None or self._stopping)
                job = self._job
            if job is None:
                return  # stopping, nothing asked for
            messages, done = job
            error = self._commit(messages)
            with self._cond:
                self._job = None
                self._cond.notify_all()
            try:
                done(error)
            except Exception:  # one waiter's trouble must not stop the writer
                log.exception("could not report a commit")
