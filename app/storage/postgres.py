"""The PostgreSQL implementation, on psycopg 3: the system of record of several instances.

The modules' SQL is SQLite's dialect in the subset both share; ``translate`` turns what differs
into PostgreSQL's, in this one place (each rule has its test in tests/app/test_storage.py):

- ``?`` placeholders become ``%s`` (and a literal ``%`` becomes ``%%``, as psycopg needs);
- ``INSERT OR IGNORE INTO ...`` becomes ``INSERT INTO ... ON CONFLICT DO NOTHING``;
- the column ``user`` (a reserved word in PostgreSQL: bare, it means the current role) is quoted.

What is not translated is in the schema instead (``app/storage/migrations/``): the tables whose
rows SQLite orders by ``rowid`` have a ``rowid`` column filled from a sequence, BLOBs are
``bytea``, SQLite's append-only triggers are PL/pgSQL triggers raising an integrity error.
``PRAGMA`` has no translation: what the modules asked it (a table's columns, whether a table
exists) is ``Database.columns`` and ``Database.has_table``.

Durability: a statement outside a transaction, and a transaction at its COMMIT, is durable once
it returns (``synchronous_commit`` on, the server's default). If the connection is lost, the
statement or transaction under way raises ``OperationalError`` and is not committed (an ingest
acknowledges nothing of it); the next statement outside a transaction connects again.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg.rows import dict_row

from app.storage.base import Cursor, Database, DatabaseError, IntegrityError, OperationalError
from app.storage.url import redacted

CONNECT_TIMEOUT_S = 5
# After a failed connection attempt, statements fail at once for this long before the next
# attempt: connecting blocks the calling thread (the event loop's), so it is not tried per statement.
RECONNECT_EVERY_S = 0.5

_LITERAL = re.compile(r"('(?:[^']|'')*')")
_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_USER = re.compile(r'(?<!["\w.])user(?![\w"])', re.IGNORECASE)
_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """SQLite's dialect, as the modules write it, in PostgreSQL's."""
    parts = _LITERAL.split(sql)  # string literals at the odd indices, kept as they are
    ignore = bool(_OR_IGNORE.match(parts[0]))
    if ignore:
        parts[0] = _OR_IGNORE.sub("INSERT INTO", parts[0], count=1)
    out = []
    for i, part in enumerate(parts):
        part = part.replace("%", "%%")
        if i % 2 == 0:
            part = _USER.sub('"user"', part.replace("?", "%s"))
        out.append(part)
    text = "".join(out)
    if ignore:
        text = text.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return text


def _mapped(e: psycopg.Error) -> DatabaseError:
    # Integrity errors (class 23) include the triggers' "append-only" refusals.
    if isinstance(e, psycopg.IntegrityError):
        return IntegrityError(str(e))
    if isinstance(e, psycopg.OperationalError | psycopg.InterfaceError):
        return OperationalError(str(e))
    return DatabaseError(str(e))


def _param(v: Any) -> Any:
    # SQLite stores a bool as 0/1 in an INTEGER column; PostgreSQL would refuse a boolean there.
    return int(v) if isinstance(v, bool) else v


class _Cursor:
    def __init__(self, cur: psycopg.Cursor[dict[str, Any]], db: PostgresDatabase, insert: bool) -> None:
        self._cur = cur
        self._db = db
        self._insert = insert

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur)

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        """The id the INSERT just made (the session's last sequence value, as SQLite's
        ``lastrowid`` is its last rowid): read right after the INSERT, as the modules do."""
        if not self._insert:
            return None
        row = self._db.execute("SELECT lastval() AS id").fetchone()
        return int(row["id"])


class PostgresDatabase(Database):
    dialect: ClassVar[str] = "postgresql"

    def __init__(self, url: str) -> None:
        self._dsn = url
        self.url = redacted(url)
        self._in_transaction = False
        self.reconnects = 0
        self._retry_at = 0.0
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        try:
            return psycopg.connect(self._dsn, autocommit=True, row_factory=dict_row,
                                   connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as e:
            # libpq's message names the host and port, never the password.
            raise OperationalError(f"cannot connect to {self.url}: {e}") from e

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn.closed or self._conn.broken:
            if self._in_transaction:
                # A new connection would run the rest of the transaction outside it.
                raise OperationalError("the connection was lost inside a transaction")
            if time.monotonic() < self._retry_at:
                raise OperationalError(f"{self.url} is unavailable (reconnecting)")
            try:
                self._conn = self._connect()
            except OperationalError:
                self._retry_at = time.monotonic() + RECONNECT_EVERY_S
                raise
            self.reconnects += 1
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        word = sql.strip().upper()
        if word in _CONTROL:
            {"BEGIN": self.begin, "COMMIT": self.commit, "ROLLBACK": self.rollback}[word]()
            return _Cursor(self._conn.cursor(), self, insert=False)
        query = translate(sql)
        try:
            cur = self._connection().execute(query, tuple(_param(p) for p in params))
        except psycopg.Error as e:
            raise _mapped(e) from e
        return _Cursor(cur, self, insert=word.startswith("INSERT"))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        query = translate(sql)
        try:
            with self._connection().cursor() as cur:
                cur.executemany(query, [tuple(_param(p) for p in row) for row in rows])
        except psycopg.Error as e:
            raise _mapped(e) from e

    def begin(self) -> None:
        try:
            self._connection().execute("BEGIN")
        except psycopg.Error as e:
            raise _mapped(e) from e
        self._in_transaction = True

    def commit(self) -> None:
        try:
            self._conn.execute("COMMIT")
        except psycopg.Error as e:
            raise _mapped(e) from e
        finally:
            self._in_transaction = False

    def rollback(self) -> None:
        self._in_transaction = False
        if self._conn.closed or self._conn.broken:
            return  # nothing of it was committed; the server rolled it back with the connection
        try:
            self._conn.execute("ROLLBACK")
        except psycopg.Error as e:
            raise _mapped(e) from e

    def create_tables(self, script: str) -> None:
        """Nothing: PostgreSQL's schema comes whole from the migrations."""

    def has_table(self, name: str) -> bool:
        return self.execute("SELECT to_regclass(?) IS NOT NULL AS found", (name,)).fetchone()["found"]

    def columns(self, table: str) -> set[str]:
        return {r["column_name"] for r in self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ?", (table,))}

    def reopen(self) -> PostgresDatabase:
        return PostgresDatabase(self._dsn)

    def close(self) -> None:
        self._conn.close()
