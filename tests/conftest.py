"""Shared fixtures: a real ``vitalwatch serve`` process on a free port, with its own data dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Timeouts are written in this unit so a slow, shared machine can stretch them all at once.
SCALE = float(os.environ.get("VITALWATCH_TIME_SCALE", "1"))


def seconds(n: float) -> float:
    return n * SCALE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    data_dir: Path
    proc: subprocess.Popen | None = None
    args: tuple[str, ...] = ()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def start(self) -> Server:
        cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.args]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds(20)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.http}/api/health", timeout=1).status_code == 200:
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

    def device_token(self, monitor_id: str) -> str:
        """A device token for ``monitor_id``, for adapters started by a test (``--token``)."""
        return ""

    def get(self, path: str, **params: object) -> object:
        r = httpx.get(f"{self.http}{path}", params=params, timeout=seconds(10))
        r.raise_for_status()
        return r.json()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A freshly started server with an empty data dir; killed after the test."""
    srv = Server(free_port(), tmp_path / "data").start()
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
