"""Storage behind one interface (``Database``), with two implementations chosen by URL, side by
side: SQLite (``sqlite:///…``, embedded, the default) and PostgreSQL (``postgresql://…``, the
system of record of several instances). See docs/storage.md."""

from __future__ import annotations

from pathlib import Path

from app.storage.base import Cursor, Database, DatabaseError, IntegrityError, OperationalError
from app.storage.url import BadDatabaseURL, DatabaseURL, parse, redacted, sqlite_url

__all__ = ["BadDatabaseURL", "Cursor", "Database", "DatabaseError", "DatabaseURL", "IntegrityError",
           "OperationalError", "connect", "parse", "redacted", "sqlite_url"]


def connect(url: str | Path, fsync: bool = False) -> Database:
    """The database at ``url`` (a path is a SQLite file). PostgreSQL's schema must be migrated
    already (``app/storage/migrate.py``); SQLite's tables are created by the modules."""
    if isinstance(url, Path):
        url = sqlite_url(url)
    parsed = parse(url)
    if parsed.scheme == "sqlite":
        from app.storage.sqlite import SQLiteDatabase

        assert parsed.path is not None
        return SQLiteDatabase(parsed.path, fsync=fsync)
    from app.storage.postgres import PostgresDatabase

    return PostgresDatabase(parsed.url)
