"""The load balancer in front of several instances: HAProxy's configuration, as vitalwatch needs it.

Written from a typed model so that the cluster launched on one machine (``vitalwatch cluster``),
the tests and ``docs/deploy.md`` share one configuration instead of three hand copies.

What the configuration says, and why:

* **Readiness, not liveness, decides where traffic goes.** Each instance is checked with
  ``GET /readyz`` (app/health.py: no login, answers only ``ready``/``not ready``) every
  ``check_interval_s``; ``fall`` failed checks take it out, ``rise`` good ones put it back. An
  instance whose store or bus is lost stops receiving new connections, while the ones it holds
  go on (``on-marked-down`` is left at its default: a monitor's stream is not cut because a
  check failed once).
* **Browsers stick to an instance, monitors spread.** A cookie the balancer inserts keeps a
  browser's page loads and its ``/ws/live`` on the instance that served its first page while
  that instance is up (``option redispatch`` moves it when it is not); monitors keep no cookies
  and go to the instance with the fewest connections (``balance leastconn``), which is what
  long-lived websockets want.
* **Websockets stay open.** ``timeout tunnel`` applies once a connection is upgraded: a monitor's
  stream or a dashboard's feed is idle-timed by vitalwatch itself (``--idle-timeout``, the
  heartbeats), never by the balancer before it.
* **The client's address is passed on** (``option forwardfor``), for the server's logs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

# Debian's package puts it here; the PATH is tried first.
HAPROXY_PATHS = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")


class Backend(BaseModel):
    """One vitalwatch instance as the balancer reaches it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


class BalancerConfig(BaseModel):
    """What HAProxy is told: where it listens, the instances behind it, how they are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bind_host: str = "127.0.0.1"
    bind_port: int = Field(ge=1, le=65535)
    backends: tuple[Backend, ...] = Field(min_length=1)
    check_interval_s: float = Field(default=1.0, gt=0)
    fall: int = Field(default=2, ge=1)
    rise: int = Field(default=2, ge=1)
    connect_timeout_s: float = Field(default=2.0, gt=0)
    # Requests (a page, an API call) are short; an upgraded connection may last a whole session.
    request_timeout_s: float = Field(default=30.0, gt=0)
    tunnel_timeout_s: float = Field(default=3600.0, gt=0)
    # HAProxy asks for about two file descriptors a connection and refuses to start above the
    # process's limit: 4096 fits the usual 65536 with room; a test or a small box may ask less.
    maxconn: int = Field(default=4096, ge=16)
    stats_socket: Path | None = None

    def render(self) -> str:
        ms = lambda s: f"{round(s * 1000)}ms"  # noqa: E731 - HAProxy reads times with their unit
        lines = [
            "# Written by vitalwatch (app/balancer.py); see docs/deploy.md.",
            "global",
            f"    maxconn {self.maxconn}",
        ]
        if self.stats_socket is not None:
            lines.append(f"    stats socket {self.stats_socket} mode 600 level admin")
        lines += [
            "",
            "defaults",
            "    mode http",
            "    option forwardfor",
            "    option redispatch",
            "    retries 2",
            f"    timeout connect {ms(self.connect_timeout_s)}",
            f"    timeout client {ms(self.request_timeout_s)}",
            f"    timeout server {ms(self.request_timeout_s)}",
            f"    timeout tunnel {ms(self.tunnel_timeout_s)}",
            "",
            "frontend vitalwatch",
            f"    bind {self.bind_host}:{self.bind_port}",
            "    default_backend instances",
            "",
            "backend instances",
            "    balance leastconn",
            "    cookie vitalwatch-instance insert indirect nocache httponly",
            "    option httpchk",
            "    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost",
            "    http-check expect status 200",
            f"    default-server inter {ms(self.check_interval_s)} fall {self.fall} rise {self.rise}",
        ]
        lines += [f"    server {b.name} {b.host}:{b.port} check cookie {b.name}" for b in self.backends]
        return "\n".join(lines) + "\n"


def parse_address(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` as a pair; a ValueError that names ``what`` and says why otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{what}: {text!r} is not HOST:PORT with a port from 1 to 65535")
    return host, int(port)


def parse_instance(text: str) -> Backend:
    """``NAME=HOST:PORT`` (``--instance``) as a backend."""
    name, sep, address = text.partition("=")
    if not sep:
        raise ValueError(f"--instance: {text!r} is not NAME=HOST:PORT")
    host, port = parse_address(address, "--instance")
    try:
        return Backend(name=name, host=host, port=port)
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        raise ValueError(f"--instance: {name!r} is not a name HAProxy can use (letters, digits, "
                         f"'_', '.', '-')") from e


def haproxy_executable() -> str | None:
    """Debian's ``haproxy``, or None when it is not installed (``make test`` installs it)."""
    found = shutil.which("haproxy")
    if found:
        return found
    return next((p for p in HAPROXY_PATHS if Path(p).is_file()), None)
