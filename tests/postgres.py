"""A real PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary directory,
listening on a free port of 127.0.0.1 only, with one fresh database per test.

One server per xdist worker (initdb costs a few seconds), torn down when the worker ends.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, seconds


def _bin(name: str) -> Path:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, (f"no PostgreSQL {name} under /usr/lib/postgresql/*/bin: `make test` installs "
                   "Debian's postgresql")
    return Path(found[-1])  # the newest major version installed


def _as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root (CI, a container), the cluster is the
    ``postgres`` user's, whom Debian's package creates."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Postgres:
    """One PostgreSQL cluster: ``start``/``stop`` (a restart keeps its data and port)."""

    root: Path
    port: int
    user: str = "vitalwatch"
    password: str = "secret-of-the-tests"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def init(self) -> Postgres:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        subprocess.run(_as_owner([str(_bin("initdb")), "-D", str(self.data), "-U", self.user, "--pwfile", str(pwfile),
                        "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)
        pwfile.unlink()
        # Only TCP on 127.0.0.1 (the socket directory is the cluster's own: /run/postgresql may
        # not be writable); fsync stays on: the durability tests rely on what a commit promises.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\nmax_connections = 200\n"
                       "shared_buffers = 32MB\n")
        return self

    def start(self) -> Postgres:
        subprocess.run(_as_owner([str(_bin("pg_ctl")), "-D", str(self.data), "-l", str(self.log), "-w",
                                  "-t", str(int(seconds(30))), "start"]), check=True, capture_output=True)
        return self

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_owner([str(_bin("pg_ctl")), "-D", str(self.data), "-m", mode, "-w",
                                  "-t", str(int(seconds(30))), "stop"]), check=True, capture_output=True)

    def running(self) -> bool:
        return subprocess.run(_as_owner([str(_bin("pg_ctl")), "-D", str(self.data), "status"]),
                              check=False, capture_output=True).returncode == 0

    def create_database(self, template: str | None = None) -> str:
        """A fresh database (empty, or a copy of ``template``); returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)

    def copy_database(self, url: str) -> str:
        """A copy of the database at ``url`` (pg_dump into a fresh one) while it is in use."""
        copy = self.create_database()
        dump = subprocess.run([str(_bin("pg_dump")), "--format=custom", "--dbname", url],
                              check=True, capture_output=True)
        subprocess.run([str(_bin("pg_restore")), "--no-owner", "--dbname", copy], input=dump.stdout,
                       check=True, capture_output=True)
        return copy


def start_postgres() -> Postgres:
    root = Path(tempfile.mkdtemp(prefix="vitalwatch-pg-"))
    pg = Postgres(root, free_port()).init()
    for attempt in range(3):  # the free port may be taken by another test meanwhile
        try:
            return pg.start()
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise AssertionError(f"PostgreSQL did not start: {pg.log.read_text()}") from None
            pg.port = free_port()
            with open(pg.data / "postgresql.conf", "a") as conf:
                conf.write(f"\nport = {pg.port}\n")
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
