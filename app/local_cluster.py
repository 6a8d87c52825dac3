"""``vitalwatch cluster``: a whole cluster on one machine, for trying it (``make cluster``).

PostgreSQL (the shared store), Redis (the bus), ``--instances`` vitalwatch servers on both,
Debian's HAProxy in front of them (configured by ``app.balancer``, as ``docs/deploy.md`` deploys
it) and ``--rooms`` simulated monitors streaming through the balancer. Every part is a real
process with its own log under ``<data dir>/logs``; the command prints each one's address and
process id, so that a visitor can kill an instance (``kill -9 PID``) and watch its sessions go on
on another: its monitors reconnect through the balancer and the instance they reach takes the
session's lease over, its alarms restored from the store. Ctrl-C stops everything.

The clinician and the monitors' device tokens are registered once, in PostgreSQL; the database
URL (with its generated password) reaches the instances in their environment, not on their
command lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.accounts import Accounts
from app.balancer import Backend, BalancerConfig, haproxy_executable
from app.storage import migrate
from app.storage.local_postgres import LocalPostgres, PostgresMissing
from app.store import Store

CLINICIAN = "clinician"
# The scenarios the simulated rooms play, in turn (monitors/simulator).
SCENARIOS = ("typical-responder", "hypertensive-surge", "airway-obstruction")
READY_TIMEOUT_S = 30.0


class ClusterError(RuntimeError):
    """A part could not be started; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def monitor_id(room: str) -> str:
    return f"cluster-{room.replace(' ', '-').lower()}"


@dataclass
class Part:
    """One process of the cluster: its name, command, address and log."""

    name: str
    cmd: list[str]
    log: Path
    url: str = ""
    env: dict[str, str] = field(default_factory=dict)  # added to the launcher's environment
    proc: subprocess.Popen | None = None

    def launch(self, cwd: Path) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, **self.env},
                                         start_new_session=True)  # Ctrl-C reaches the launcher alone

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def exit_code(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def stop(self, timeout_s: float = 10.0) -> None:
        if not self.running():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class PostgresPart(Part):
    """PostgreSQL, which pg_ctl starts in the background: its postmaster's pid from its data."""

    server: LocalPostgres | None = None

    def launch(self, cwd: Path) -> None:
        assert self.server is not None
        try:
            self.server.init().start()
        except PostgresMissing as e:
            raise ClusterError(str(e)) from None
        except subprocess.CalledProcessError as e:
            raise ClusterError(f"PostgreSQL did not start ({(e.stderr or '').strip()}); its log: {self.log}") from None

    def running(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # the postgres user's process, seen by another user: it runs
            return True
        return True

    def pid(self) -> int | None:
        return self.server.pid() if self.server is not None else None

    def exit_code(self) -> int | None:
        return None  # not our child: pg_ctl started it

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.server is not None and self.server.running():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.server.stop()


@dataclass
class LocalCluster:
    """The parts, in the order they start; stopped in the reverse order."""

    data_dir: Path
    port: int
    instances: int = 3
    rooms: int = 3
    host: str = "127.0.0.1"
    check_interval_s: float = 1.0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    parts: list[Part] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _logs(self) -> Path:
        return self.data_dir / "logs"

    def _postgres(self) -> PostgresPart:
        server = LocalPostgres(self.data_dir / "postgres", free_port(), password=secrets.token_urlsafe(16))
        return PostgresPart("postgresql", [], server.log, f"postgresql://127.0.0.1:{server.port}",
                            server=server)

    def _redis(self) -> Part:
        exe = shutil.which("redis-server")
        if not exe:
            raise ClusterError("redis-server is missing: `make cluster` installs Debian's (apt-get install redis-server)")
        port, directory = free_port(), self.data_dir / "redis"
        directory.mkdir(parents=True, exist_ok=True)
        # No persistence: the bus keeps nothing a restart could lose (docs/cluster.md).
        return Part("redis", [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                              "--dir", str(directory)], self._logs() / "redis.log", f"redis://127.0.0.1:{port}/0")

    def _instance(self, name: str, bus: str, database: str) -> Part:
        port = free_port()
        return Part(f"instance {name}", [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
                                         "--port", str(port), "--data-dir", str(self.data_dir / name),
                                         "--bus", bus, "--instance-id", name],
                    self._logs() / f"instance-{name}.log", f"http://127.0.0.1:{port}",
                    env={"VITALWATCH_DATABASE": database})

    def _balancer(self, instances: list[Part]) -> Part:
        exe = haproxy_executable()
        if not exe:
            raise ClusterError("haproxy is missing: `make cluster` installs Debian's (apt-get install haproxy)")
        backends = tuple(Backend(name=p.name.split()[-1], port=int(p.url.rsplit(":", 1)[1])) for p in instances)
        config = BalancerConfig(bind_host=self.host, bind_port=self.port, backends=backends,
                                check_interval_s=self.check_interval_s, maxconn=1024)
        path = self.data_dir / "haproxy.cfg"
        path.write_text(config.render(), encoding="utf-8")
        return Part("haproxy", [exe, "-db", "-f", str(path)], self._logs() / "haproxy.log", self.url)

    def _monitor(self, room: str, scenario: str, token: str) -> Part:
        ws = self.url.replace("http", "ws", 1)
        return Part(f"monitor {room}", [sys.executable, "-m", "app.cli", "monitor", "sim", "--server", ws,
                                        "--room", room, "--scenario", scenario, "--mode", "demo",
                                        "--monitor-id", monitor_id(room), "--token", token],
                    self._logs() / f"{monitor_id(room)}.log")

    def _register(self, database: str, room_names: list[str]) -> dict[str, str]:
        """The schema, the clinician and the monitors' device tokens, once, in the shared store."""
        logging.getLogger("alembic").setLevel(logging.WARNING)  # its steps are not the visitor's news
        migrate.upgrade(database)
        store = Store(database)
        try:
            accounts = Accounts(store.db)
            now = time.time()
            accounts.add_user(CLINICIAN, "clinician", self.password, now)
            return {room: accounts.add_device(monitor_id(room), now, (room,)) for room in room_names}
        finally:
            store.close()

    def start(self, cwd: Path) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ClusterError(f"{self.data_dir} holds an earlier run (its password and tokens are not kept): "
                               "remove it, or give another --data-dir")
        names = [chr(ord("a") + i) for i in range(self.instances)]
        room_names = [f"Room {i + 1}" for i in range(self.rooms)]
        postgres = self._postgres()
        self._launch(postgres, cwd)
        assert postgres.server is not None
        database = postgres.server.add_database("vitalwatch")
        tokens = self._register(database, room_names)
        redis = self._redis()
        self._launch(redis, cwd)
        instances = [self._instance(name, redis.url, database) for name in names]
        for part in instances:
            self._launch(part, cwd)
        for part in instances:
            self._wait_ready(part, f"{part.url}/readyz")
        lb = self._balancer(instances)
        self._launch(lb, cwd)
        self._wait_ready(lb, f"{lb.url}/readyz")
        for i, room in enumerate(room_names):
            self._launch(self._monitor(room, SCENARIOS[i % len(SCENARIOS)], tokens[room]), cwd)

    def _launch(self, part: Part, cwd: Path) -> None:
        part.launch(cwd)
        self.parts.append(part)

    def _wait_ready(self, part: Part, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not part.running():
                raise ClusterError(f"{part.name} exited; its log: {part.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise ClusterError(f"{part.name} was not ready within {READY_TIMEOUT_S:g} s; its log: {part.log}")

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.stop()
        self.parts.clear()

    def describe(self) -> Iterator[str]:
        yield f"vitalwatch cluster: open {self.url} and log in as {CLINICIAN!r} with password {self.password}"
        for part in self.parts:
            pid = part.pid() or "-"
            yield f"  {part.name:<18} pid {pid:<8} {part.url or '-':<28} log {part.log}"
        yield "Kill an instance (kill -9 PID) to see its monitors move to another; Ctrl-C stops everything."


def run_cluster(data_dir: Path, port: int, instances: int, rooms: int, host: str = "127.0.0.1") -> int:
    cluster = LocalCluster(data_dir, port, instances, rooms, host)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    try:
        cluster.start(Path(__file__).resolve().parent.parent)
        for line in cluster.describe():
            print(line, flush=True)
        reported: set[str] = set()
        while not stopping:
            for part in cluster.parts:
                if not part.running() and part.name not in reported:
                    reported.add(part.name)
                    code = part.exit_code()
                    print(f"vitalwatch cluster: {part.name} stopped (exit {code}); its log: {part.log}", flush=True)
            time.sleep(0.5)
    except ClusterError as e:
        print(f"vitalwatch cluster: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0
