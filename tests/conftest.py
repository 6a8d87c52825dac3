"""Shared fixtures: a real ``vitalwatch serve`` process on a free port, with its own data dir."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

# The PostgreSQL fixtures (``postgres``, ``postgres_url``, ``database``: tests/postgres.py).
pytest_plugins = ["tests.postgres"]

ROOT = Path(__file__).resolve().parent.parent
# Timeouts are written in this unit so a slow, shared machine can stretch them all at once.
SCALE = float(os.environ.get("VITALWATCH_TIME_SCALE", "1"))


# httpx builds an SSL context for every client it makes, loading a CA bundle (0.1-0.2 s on a
# shared machine), even for a plain-http request: the suite's plain-http requests pass this one,
# built once, as ``verify=`` (the TLS tests build their own).
SSL_CONTEXT = ssl.create_default_context()


def seconds(n: float) -> float:
    return n * SCALE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ROLES = ("clinician", "nurse", "reviewer", "admin", "kiosk")


def password(role: str) -> str:
    return f"password-of-{role}"


@dataclass
class Server:
    """A ``vitalwatch serve`` subprocess, with one user per role (``user-<role>``)."""

    port: int
    data_dir: Path
    proc: subprocess.Popen | None = None
    args: tuple[str, ...] = ()
    module: str = "app.cli"  # what ``python -m`` runs (a test's own launcher may wrap the CLI)
    database: str | None = None  # --database (None: the SQLite file in the data dir)
    _tokens: dict[str, str] = field(default_factory=dict)
    _logins: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def db(self):  # a separate connection to the server's database (SQLite's WAL allows it)
        from app.store import Store

        return Store(self.database or self.data_dir / "vitalwatch.sqlite3").db

    def _accounts(self):
        from app.accounts import Accounts

        return Accounts(self.db())

    def start(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        database = self.data_dir / "vitalwatch.sqlite3"
        if self.database is None and not database.exists():
            shutil.copyfile(_template_database(), database)
        accounts = self._accounts()
        for role in ROLES:
            if not accounts.password_record(f"user-{role}"):
                accounts.add_user(f"user-{role}", role, password(role), time.time())
        accounts.db.close()
        self._logins.clear()
        cmd = [sys.executable, "-m", self.module, "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.args]
        if self.database is not None:
            cmd += ["--database", self.database]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds(20)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.http}/api/health", timeout=1,
                             verify=SSL_CONTEXT).status_code == 401:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=seconds(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"server ignored signal {sig} for 10 s; killed") from None

    def device_token(self, monitor_id: str, rooms: tuple[str, ...] = (), site: str | None = None) -> str:
        """A device token for ``monitor_id``, for adapters started by a test (``--token``),
        bound to ``rooms``, or to any room if none are given (the tests of room binding give
        them; other tests feed whichever rooms they like), at ``site`` (None: the default site)."""
        if monitor_id not in self._tokens:
            accounts = self._accounts()
            self._tokens[monitor_id] = accounts.add_device(monitor_id, time.time(), rooms,
                                                           any_room=not rooms, site=site)
            accounts.db.close()
        return self._tokens[monitor_id]

    def headers(self, role: str = "clinician") -> dict[str, str]:
        """Headers of a logged-in ``role``: its cookies (set by hand: the jar would not send
        Secure cookies over plain http) and its CSRF token."""
        if role not in self._logins:
            r = httpx.post(f"{self.http}/api/login", timeout=seconds(10), verify=SSL_CONTEXT,
                           json={"name": f"user-{role}", "password": password(role)})
            r.raise_for_status()
            session, csrf = r.cookies["vw_session"], r.cookies["vw_csrf"]
            self._logins[role] = {"Cookie": f"vw_session={session}; vw_csrf={csrf}",
                                  "X-CSRF-Token": csrf}
        return self._logins[role]

    def get(self, path: str, role: str = "clinician", **params: object) -> object:
        r = httpx.get(f"{self.http}{path}", params=params, headers=self.headers(role),
                      timeout=seconds(10), verify=SSL_CONTEXT)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, role: str = "clinician", json: object = None) -> httpx.Response:
        return httpx.post(f"{self.http}{path}", json=json, headers=self.headers(role),
                          timeout=seconds(10), verify=SSL_CONTEXT)


_TEMPLATE: list[Path] = []


def _template_database() -> Path:
    """An empty database with one user per role, made once per run and copied into the data dir
    of every server started on none: hashing five passwords with argon2 (slow by design) costs
    0.4-2 s, for each of a few hundred servers."""
    if not _TEMPLATE:
        directory = Path(tempfile.mkdtemp(prefix="vitalwatch-template-"))
        atexit.register(shutil.rmtree, directory, True)
        template = Server(0, directory)
        accounts = template._accounts()
        for role in ROLES:
            accounts.add_user(f"user-{role}", role, password(role), time.time())
        accounts.db.close()  # the last connection: the write-ahead log is folded in and removed
        _TEMPLATE.append(directory / "vitalwatch.sqlite3")
    return _TEMPLATE[0]


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A freshly started server with an empty data dir; killed after the test. On SQLite, or on
    a fresh PostgreSQL database for a test marked ``tests.postgres.on_both`` (run on each)."""
    kind = getattr(request, "param", "sqlite")
    database = str(request.getfixturevalue("postgres_url")) if kind == "postgresql" else None
    srv = Server(free_port(), tmp_path / "data", database=database).start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def wait_for(predicate, timeout: float = 10.0, every: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after timeout."""
    deadline = time.monotonic() + seconds(timeout)
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
