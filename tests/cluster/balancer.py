"""Debian's HAProxy in front of real instances, configured by ``app.balancer`` as a deployment
would be, in a temporary directory, on a free port."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.balancer import Backend, BalancerConfig, haproxy_executable
from tests.conftest import Server, free_port, seconds

# Checked every 0.2 s, out after 2 failures: a lost instance is out within about half a second.
CHECK_S = 0.2


@dataclass
class Balancer:
    """``haproxy`` in the foreground (``-db``), its configuration and log in ``directory``."""

    directory: Path
    servers: dict[str, Server]
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def config(self) -> BalancerConfig:
        return BalancerConfig(bind_port=self.port, check_interval_s=CHECK_S, maxconn=256,
                              backends=tuple(Backend(name=n, port=s.port) for n, s in self.servers.items()))

    def start(self) -> Balancer:
        exe = haproxy_executable()
        assert exe, "haproxy is missing: `make test` installs Debian's (apt-get install haproxy)"
        self.port = self.port or free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        cfg = self.directory / "haproxy.cfg"
        cfg.write_text(self.config().render(), encoding="utf-8")
        log = self.directory / "haproxy.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([exe, "-db", "-f", str(cfg)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds(10)
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{self.http}/livez", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"haproxy did not serve: {log.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=seconds(10))

    def instance_of(self, response: httpx.Response) -> str:
        """Which instance served ``response``: the cookie the balancer set for the browser."""
        return response.cookies["vitalwatch-instance"]
