"""Fixtures and small clients for the security tests: a server shared by a module, fresh logins,
and websocket handshakes that report how they were refused."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.browser.conftest import browser, page  # noqa: F401 - the browser fixtures, for this folder
from tests.conftest import SSL_CONTEXT, Server, free_port, password, seconds


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a whole module, for tests that do not disturb each other (no failed
    logins: five of them would lock 127.0.0.1 out for five minutes)."""
    srv = Server(free_port(), tmp_path_factory.mktemp("shared") / "data").start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def fresh_login(server: Server, role: str) -> dict[str, str]:
    """A new login of ``user-<role>``: its Cookie and X-CSRF-Token headers."""
    r = httpx.post(f"{server.http}/api/login", timeout=seconds(10), verify=SSL_CONTEXT,
                   json={"name": f"user-{role}", "password": password(role)})
    r.raise_for_status()
    session, csrf = r.cookies["vw_session"], r.cookies["vw_csrf"]
    return {"Cookie": f"vw_session={session}; vw_csrf={csrf}", "X-CSRF-Token": csrf}


@dataclass
class Handshake:
    """How a websocket handshake ended: ``status`` 101 when accepted, else the HTTP refusal."""

    status: int
    body: str = ""
    first: str | None = None  # the first message, when accepted and one arrived


def handshake(url: str, headers: dict[str, str] | None = None, send: str | None = None) -> Handshake:
    """Open a websocket, optionally send one message, read one message, close."""
    try:
        ws = connect(url, additional_headers=headers or {}, open_timeout=seconds(10), proxy=None)
    except InvalidStatus as e:
        return Handshake(e.response.status_code, e.response.body.decode(errors="replace"))
    with ws:
        if send is not None:
            ws.send(send)
        try:
            first = ws.recv(timeout=seconds(5))
        except TimeoutError:
            first = None
        return Handshake(101, first=first if isinstance(first, str) else None)


def server_db(server: Server) -> Path:
    return server.data_dir / "vitalwatch.sqlite3"
