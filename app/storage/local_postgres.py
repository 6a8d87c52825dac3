"""A PostgreSQL server of vitalwatch's own, for trying a cluster on one machine (``vitalwatch
cluster``) and for the tests: Debian's binaries, a cluster in a directory given to it, listening
on 127.0.0.1 only. A production cluster uses a PostgreSQL run as its operators run databases
(docs/deploy.md); this one is started and stopped with the parts that use it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class PostgresMissing(RuntimeError):
    """PostgreSQL cannot be run here (not installed, or its directory out of its user's reach)."""


def binary(name: str) -> Path:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise PostgresMissing(f"no PostgreSQL {name} under /usr/lib/postgresql/*/bin: `make test` and "
                              "`make cluster` install Debian's (apt-get install postgresql)")
    return Path(found[-1])  # the newest major version installed


def as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root (CI, a container), the cluster is the
    ``postgres`` user's, whom Debian's package creates."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class LocalPostgres:
    """One PostgreSQL cluster in ``root``: ``init`` once, then ``start``/``stop`` (a restart keeps
    its data and port)."""

    root: Path
    port: int
    password: str
    user: str = "vitalwatch"
    timeout_s: float = 30.0  # for pg_ctl's start and stop

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def init(self, sync: bool = True) -> LocalPostgres:
        """A new cluster; ``sync=False`` skips initdb's own flush to disk (the tests' throwaway
        clusters), never the server's fsync."""
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            for parent in self.root.resolve().parents:
                if not os.stat(parent).st_mode & 0o001:
                    raise PostgresMissing(f"PostgreSQL runs as the postgres user, who cannot enter {parent}: "
                                          f"put its directory ({self.root}) where every user can reach it")
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        try:
            subprocess.run(as_owner([str(binary("initdb")), "-D", str(self.data), "-U", self.user,
                                     "--pwfile", str(pwfile), "-A", "scram-sha-256", "-E", "UTF8",
                                     *([] if sync else ["--no-sync"])]), check=True, capture_output=True, text=True)
        finally:
            pwfile.unlink()
        # Only TCP on 127.0.0.1 (the socket directory is the cluster's own: /run/postgresql may
        # not be writable); fsync stays on: the ingest's acknowledgements rely on what a commit
        # promises.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\nmax_connections = 200\n"
                       "shared_buffers = 32MB\n")
        return self

    def move_to(self, port: int) -> None:
        """Listen on ``port`` from the next start (the one chosen was taken meanwhile)."""
        self.port = port
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {port}\n")

    def _ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(as_owner([str(binary("pg_ctl")), "-D", str(self.data), *args]),
                              check=False, capture_output=True, text=True)

    def start(self) -> LocalPostgres:
        done = self._ctl("-l", str(self.log), "-w", "-t", str(int(self.timeout_s)), "start")
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
        return self

    def stop(self, mode: str = "fast") -> None:
        done = self._ctl("-m", mode, "-w", "-t", str(int(self.timeout_s)), "stop")
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)

    def running(self) -> bool:
        return self._ctl("status").returncode == 0

    def pid(self) -> int | None:
        """The postmaster's process id while it runs (the first line of postmaster.pid)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def add_database(self, name: str, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``); returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)
