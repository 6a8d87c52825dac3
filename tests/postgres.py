"""A real PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary directory,
listening on a free port of 127.0.0.1 only, with one fresh database per test.

One server per xdist worker (initdb costs a few seconds), torn down when the worker ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.storage.local_postgres import LocalPostgres, binary
from tests.conftest import free_port, seconds


class Postgres(LocalPostgres):
    """This worker's PostgreSQL server, with what the tests do to it besides."""

    def create_database(self, template: str | None = None) -> str:
        """A fresh database (empty, or a copy of ``template``); returns its URL."""
        return self.add_database(f"t_{uuid.uuid4().hex[:12]}", template)

    def copy_database(self, url: str) -> str:
        """A copy of the database at ``url`` (pg_dump into a fresh one) while it is in use."""
        copy = self.create_database()
        dump = subprocess.run([str(binary("pg_dump")), "--format=custom", "--dbname", url],
                              check=True, capture_output=True)
        subprocess.run([str(binary("pg_restore")), "--no-owner", "--dbname", copy], input=dump.stdout,
                       check=True, capture_output=True)
        return copy


def start_postgres() -> Postgres:
    root = Path(tempfile.mkdtemp(prefix="vitalwatch-pg-"))
    pg = Postgres(root, free_port(), password="secret-of-the-tests", timeout_s=seconds(30)).init(sync=False)
    for attempt in range(3):  # the free port may be taken by another test meanwhile
        try:
            return pg.start()
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise AssertionError(f"PostgreSQL did not start: {pg.log.read_text()}") from None
            pg.move_to(free_port())
            time.sleep(0.2)
    raise AssertionError("unreachable")


def discard(pg: Postgres) -> None:
    with contextlib.suppress(subprocess.CalledProcessError):
        if pg.running():
            pg.stop("immediate")
    shutil.rmtree(pg.root, ignore_errors=True)


TEMPLATE = "vitalwatch_template"


def _make_template(pg: Postgres) -> None:
    """A database migrated to the head revision, with the suite's users (their rows copied
    from the SQLite template: hashing their passwords again would cost seconds), that every
    test's database is a copy of (CREATE DATABASE ... TEMPLATE: milliseconds)."""
    import psycopg

    from app import storage
    from app.storage import migrate
    from tests.conftest import _template_database

    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    migrate.upgrade(pg.url(TEMPLATE))
    source = storage.connect(_template_database())
    target = storage.connect(pg.url(TEMPLATE))
    try:
        for row in source.execute("SELECT name, role, password, demo, disabled, created FROM users"):
            target.execute("INSERT INTO users VALUES (?,?,?,?,?,?)", tuple(row.values()))
    finally:
        source.close()
        target.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """This worker's PostgreSQL server (started on first use, stopped at the end)."""
    pg = start_postgres()
    try:
        _make_template(pg)
        yield pg
    finally:
        discard(pg)


@pytest.fixture
def postgres_url(postgres: Postgres) -> str:
    """A fresh database of this worker's server, at the head revision, with the suite's users."""
    return postgres.create_database(TEMPLATE)


# A test taking the ``server`` fixture, run once on SQLite and once on PostgreSQL.
on_both = pytest.mark.parametrize("server", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    """Each test that takes it runs on both implementations: None (the default SQLite file in
    the data dir) or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


if __name__ == "__main__":  # a cluster to try things by hand: prints its URL, stops on Enter
    pg = start_postgres()
    print(pg.create_database(), flush=True)
    with contextlib.suppress(KeyboardInterrupt, EOFError):
        input()
    discard(pg)
    os._exit(0)
