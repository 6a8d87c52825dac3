"""The connection every module writes its SQL through, whichever database is behind it.

Each module keeps its own SQL in the subset the two implementations share (``?`` placeholders,
rows as dicts, ``lastrowid`` after an INSERT into a table with a generated id); what differs is
translated by the PostgreSQL side in one place (``app/storage/postgres.py``). Errors come out as
this module's exception types, so a module catches ``IntegrityError`` whatever the database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, Protocol


class DatabaseError(Exception):
    """A statement or the connection failed (the database's own message, never its password)."""


class IntegrityError(DatabaseError):
    """A constraint refused the write: a duplicate key, a NOT NULL, an append-only trigger."""


class OperationalError(DatabaseError):
    """The database could not be reached or the connection was lost: nothing of the current
    transaction is committed; the next statement outside a transaction reconnects."""


class Cursor(Protocol):
    """What a statement returns: its rows (dicts), how many it changed, the id it inserted."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...


class Database:
    """One connection, used from one thread (the event loop's): statements outside a transaction
    commit on their own; ``begin``/``commit``/``rollback`` (or ``transaction()``) group them."""

    dialect: ClassVar[str]
    url: str  # where it is, without any password

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def create_tables(self, script: str) -> None:
        """A module's ``CREATE TABLE IF NOT EXISTS`` script: run by SQLite; on PostgreSQL the
        schema comes only from the migrations (``app/storage/migrations/``), so nothing."""
        raise NotImplementedError

    def has_table(self, name: str) -> bool:
        raise NotImplementedError

    def columns(self, table: str) -> set[str]:
        raise NotImplementedError

    def begin(self) -> None:
        self.execute("BEGIN")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        self.begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def reopen(self) -> Database:
        """Another connection to the same database (for a thread of its own)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
