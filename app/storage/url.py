"""The ``--database`` URL: ``sqlite:///path/to/file.sqlite3`` (the default, in the data dir) or
``postgresql://user:password@host:port/database``. A bad one is an error naming what is wrong,
and no message ever shows its password."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("sqlite", "postgresql", "postgres")


class BadDatabaseURL(ValueError):
    pass


@dataclass(frozen=True)
class DatabaseURL:
    scheme: str  # "sqlite" or "postgresql"
    url: str  # as given (with its password: pass it only to the driver)
    path: Path | None = None  # SQLite's file

    def __str__(self) -> str:
        return redacted(self.url)


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable database URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def parse(url: str) -> DatabaseURL:
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise BadDatabaseURL(f"--database: not a URL ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BadDatabaseURL(f"--database {redacted(url)}: unknown scheme {parts.scheme!r}; expected "
                             "sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:port/database")
    if scheme == "sqlite":
        # sqlite:///relative/file and sqlite:////absolute/file, as SQLAlchemy writes them.
        if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
            raise BadDatabaseURL(f"--database {url}: a SQLite URL is sqlite:///path/to/file.sqlite3")
        return DatabaseURL("sqlite", url, Path(parts.path[1:]))
    if not parts.hostname:
        raise BadDatabaseURL(f"--database {redacted(url)}: no host")
    if not parts.path.strip("/"):
        raise BadDatabaseURL(f"--database {redacted(url)}: no database name")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise BadDatabaseURL(f"--database {redacted(url)}: the port is not a number") from None
    return DatabaseURL("postgresql", url if scheme == "postgresql" else "postgresql" + url[len(scheme):])


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
