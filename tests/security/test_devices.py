"""Device tokens: only a known, unrevoked token opens /ws/ingest, and a token speaks only for its
own monitor id."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.app.helpers import RawMonitor, numerics
from tests.conftest import ROOT, Server, seconds
from tests.security.conftest import fresh_login, handshake, server_db

T0 = 1_800_000_000.0


def hello(monitor_id: str, room: str) -> str:
    return json.dumps({"type": "hello", "seq": 0, "protocol": 1, "monitor_id": monitor_id,
                       "stream": uuid.uuid4().hex, "room": room, "mode": "test"})


def ingest(server: Server, token: str | None, send: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return handshake(f"{server.ws}/ws/ingest", headers, send=send)


def cli(server: Server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args, "--data-dir", str(server.data_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=seconds(30), check=False)


def test_missing_and_unknown_tokens_are_refused_with_a_reason(shared: Server) -> None:
    """No token, a made-up token, a login's session token or a malformed header are refused at the
    handshake with HTTP 401 and a body that says why."""
    hs = ingest(shared, None)
    assert hs.status == 401 and "no device token" in hs.body
    hs = ingest(shared, "vwd_" + "A" * 43)
    assert hs.status == 401 and hs.body == "unknown device token"
    session_token = fresh_login(shared, "clinician")["Cookie"].split(";")[0].split("=", 1)[1]
    hs = ingest(shared, session_token)
    assert hs.status == 401 and hs.body == "unknown device token"
    hs = handshake(f"{shared.ws}/ws/ingest", {"Authorization": f"Basic {shared.device_token('mon-basic')}"})
    assert hs.status == 401


def test_a_device_token_is_not_a_login(shared: Server) -> None:
    """A device token opens no API route or page and no dashboard stream."""
    token = shared.device_token("mon-not-a-login")
    for path in ("/api/rooms", "/api/sessions", "/api/me"):
        r = httpx.get(f"{shared.http}{path}", headers={"Authorization": f"Bearer {token}"},
                      timeout=seconds(10))
        assert r.status_code == 401, path
    hs = handshake(f"{shared.ws}/ws/live", {"Authorization": f"Bearer {token}",
                                              "Cookie": f"vw_session={token}"})
    assert hs.status == 401


def test_revoked_token_is_refused_with_a_reason(shared: Server) -> None:
    """A token that worked is refused once `vitalwatch device revoke` has run (no restart), with
    the reason; adding the device again issues a new token and the old one stays dead."""
    token = shared.device_token("mon-revoke")
    assert ingest(shared, token, send=hello("mon-revoke", "Room R")).status == 101
    done = cli(shared, "device", "revoke", "mon-revoke")
    assert done.returncode == 0, done.stderr
    hs = ingest(shared, token, send=hello("mon-revoke", "Room R"))
    assert hs.status == 401 and "revoked" in hs.body and "mon-revoke" in hs.body
    again = cli(shared, "device", "add", "mon-revoke", "--room", "Room R")
    assert again.returncode == 0, again.stderr
    new_token = again.stdout.strip()
    assert new_token.startswith("vwd_") and new_token != token
    assert ingest(shared, token).status == 401
    assert ingest(shared, new_token, send=hello("mon-revoke", "Room R")).status == 101


def test_tokens_are_stored_only_as_digests(shared: Server) -> None:
    """Neither device tokens nor session tokens appear in the database file."""
    token = shared.device_token("mon-digest")
    session = fresh_login(shared, "nurse")["Cookie"].split(";")[0].split("=", 1)[1]
    raw = b"".join(p.read_bytes() for p in shared.data_dir.glob("vitalwatch.sqlite3*"))
    assert token.encode() not in raw and session.encode() not in raw


def test_token_of_monitor_a_cannot_speak_for_monitor_b(shared: Server) -> None:
    """A valid token for monitor A saying hello as monitor B gets an error naming monitor_id and
    the connection closed with 1008; nothing is stored for B and no session starts in its room."""
    token_a = shared.device_token("mon-a")
    shared.device_token("mon-b")  # B exists: it is the id that matters, not whether B is known
    ws = connect(f"{shared.ws}/ws/ingest", additional_headers={"Authorization": f"Bearer {token_a}"},
                 proxy=None)
    with ws:
        ws.send(hello("mon-b", "Room B-impersonated"))
        error = json.loads(ws.recv(timeout=seconds(5)))
        assert error["type"] == "error" and error["field"] == "monitor_id"
        assert "mon-a" in error["reason"] and "mon-b" in error["reason"]
        try:
            ws.send(json.dumps(numerics(1, T0, HR=60)))
            ws.recv(timeout=seconds(5))
            raise AssertionError("the connection stayed open after a refused hello")
        except ConnectionClosed:
            pass
    assert ws.close_code == 1008 and "monitor_id" in (ws.close_reason or "")
    db = sqlite3.connect(server_db(shared))
    try:
        assert db.execute("SELECT count(*) FROM streams WHERE monitor_id='mon-b'").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM sessions WHERE room='Room B-impersonated'").fetchone()[0] == 0
    finally:
        db.close()
    monitors = [m["monitor_id"] for m in shared.get("/api/monitors")]  # type: ignore[union-attr]
    assert "mon-b" not in monitors
    # The same token, as its own monitor, works.
    mon = RawMonitor(shared, monitor_id="mon-a", room="Room A")
    assert mon.send(numerics(1, T0, HR=60)) == {"type": "ack", "seq": 1}
    mon.close()
