"""The embedded implementation: one SQLite file in write-ahead-log mode (the default).

Behaves as the store always has: ``synchronous=NORMAL`` (``FULL`` with ``--fsync``), foreign keys
on, autocommit outside explicit transactions, and the log checkpointed from a thread of its own
(``Store.start_checkpointer``). Statements go straight to ``sqlite3``; only its errors are
mapped to the common types.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from app.storage.base import Cursor, Database, DatabaseError, IntegrityError, OperationalError


def _row(cur: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cur.description, row)}


def _mapped(e: sqlite3.Error) -> DatabaseError:
    if isinstance(e, sqlite3.IntegrityError):
        return IntegrityError(str(e))
    if isinstance(e, sqlite3.OperationalError):
        return OperationalError(str(e))
    return DatabaseError(str(e))


class SQLiteDatabase(Database):
    dialect: ClassVar[str] = "sqlite"

    def __init__(self, path: str | Path, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.url = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = _row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self.conn.execute("PRAGMA foreign_keys=ON")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as e:
            raise _mapped(e) from e

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.conn.executemany(sql, rows)
        except sqlite3.Error as e:
            raise _mapped(e) from e

    def create_tables(self, script: str) -> None:
        try:
            self.conn.executescript(script)
        except sqlite3.Error as e:
            raise _mapped(e) from e

    def has_table(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                 (name,)).fetchone() is not None

    def columns(self, table: str) -> set[str]:
        return {r["name"] for r in self.conn.execute(f"PRAGMA table_info({table})")}

    def reopen(self) -> SQLiteDatabase:
        return SQLiteDatabase(self.path, self.fsync)

    def close(self) -> None:
        self.conn.close()
