"""A real Redis (Debian's ``redis-server``) on a free port, and two real ``vitalwatch serve``
instances on it, each with its own data dir (its own store) and ``--bus``."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.app.helpers import rules_with
from tests.conftest import Server, free_port, seconds

# N1's delay in the instances' rules (default 5 s): the test of a lost bus waits for it.
N1_S = 1.0


@dataclass
class Redis:
    """``redis-server`` in a temporary directory, without persistence: what the bus is."""

    port: int
    directory: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is missing: `make test` installs Debian's (apt-get install redis-server)"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds(10)
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.directory / "redis.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def freeze(self, frozen: bool = True) -> None:
        """Stop (SIGSTOP) or resume (SIGCONT) Redis: its sockets stay open, nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen one too
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=seconds(10))


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    r = Redis(free_port(), tmp_path / "redis").start()
    try:
        yield r
    finally:
        r.kill()


def instance(tmp_path: Path, name: str, bus: str) -> Server:
    rules = rules_with(tmp_path / f"rules-{name}.yaml", N1=N1_S)
    return Server(free_port(), tmp_path / name,
                  args=("--bus", bus, "--instance-id", name, "--rules", str(rules)))


@pytest.fixture
def cluster(tmp_path: Path, redis: Redis) -> Iterator[tuple[Server, Server]]:
    """Instances A and B on one bus, started; stopped after the test."""
    a, b = instance(tmp_path, "A", redis.url), instance(tmp_path, "B", redis.url)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.kill(signal.SIGTERM)
        b.kill(signal.SIGTERM)
