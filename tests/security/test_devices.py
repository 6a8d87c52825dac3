"""Device tokens: only a known, unrevoked token opens /ws/ingest, and a token speaks only for its
own monitor id."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.app.helpers import RawMonitor, numerics, refused_hello
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


# Devices are bound to rooms ------------------------------------------------------------------


def audit_of(server: Server, action: str) -> list[dict]:
    return server.get("/api/audit", role="admin", action=action)  # type: ignore[return-value]


def test_device_add_needs_its_rooms_or_a_knowing_any_room(shared: Server) -> None:
    """`vitalwatch device add` without `--room` or `--any-room` is refused; with rooms it prints
    a token, `device list` shows them and the audit trail records them."""
    bare = cli(shared, "device", "add", "mon-bare")
    assert bare.returncode == 2 and "--room" in bare.stderr and "--any-room" in bare.stderr
    both = cli(shared, "device", "add", "mon-bare", "--room", "Room 1", "--any-room")
    assert both.returncode == 2
    done = cli(shared, "device", "add", "mon-two", "--room", "Room 1", "--room", "Room 2")
    assert done.returncode == 0 and done.stdout.strip().startswith("vwd_"), done.stderr
    anywhere = cli(shared, "device", "add", "mon-anywhere", "--any-room")
    assert anywhere.returncode == 0, anywhere.stderr
    listed = cli(shared, "device", "list").stdout
    assert "mon-two\tactive\tRoom 1, Room 2" in listed and "mon-anywhere\tactive\tany room" in listed
    added = {e["target"]: json.loads(e["new"]) for e in audit_of(shared, "device_added")}
    assert added["mon-two"] == {"rooms": ["Room 1", "Room 2"], "any_room": False, "site": "clinic"}
    assert added["mon-anywhere"] == {"rooms": [], "any_room": True, "site": "clinic"}


def test_hello_into_a_room_the_token_is_not_bound_to_is_refused(shared: Server) -> None:
    """A token bound to Room Bound saying hello into Room Z gets an error naming `room` and the rooms
    it may feed, a close 1008 and a count under `room`; no session starts in Room Z; the same
    token into Room Bound is welcome."""
    token = shared.device_token("mon-bound", rooms=("Room Bound",))
    error, code, reason = refused_hello(shared, token, "mon-bound", "Room Z")
    assert error["type"] == "error" and error["field"] == "room" and error["seq"] == 0
    assert "'Room Bound'" in error["reason"] and "'Room Z'" in error["reason"]
    assert code == 1008 and reason.startswith("refused hello: room")
    monitor = next(m for m in shared.get("/api/monitors") if m["monitor_id"] == "mon-bound")
    assert monitor["refused_by"] == {"room": 1}
    db = sqlite3.connect(server_db(shared))
    try:
        assert db.execute("SELECT count(*) FROM sessions WHERE room='Room Z'").fetchone()[0] == 0
    finally:
        db.close()
    assert json.loads(ingest(shared, token, send=hello("mon-bound", "Room Bound")).first)["type"] == "welcome"


def test_an_admin_changes_the_rooms_of_a_device(shared: Server) -> None:
    """`PUT /api/devices/{name}/rooms` (admins only) changes where a device may feed from its next
    hello, audited with old → new; an empty binding is a 422 that says what to give; the CLI's
    `device rooms` does the same, also audited."""
    token = shared.device_token("mon-moved", rooms=("Room M1",))
    url = f"{shared.http}/api/devices/mon-moved/rooms"
    r = httpx.put(url, json={"rooms": ["Room M2"]}, headers=shared.headers("clinician"),
                  timeout=seconds(10))
    assert r.status_code == 403
    r = httpx.put(url, json={"rooms": []}, headers=shared.headers("admin"), timeout=seconds(10))
    assert r.status_code == 422 and "--any-room" in r.json()["detail"]
    r = httpx.put(url, json={"rooms": ["Room M2"]}, headers=shared.headers("admin"), timeout=seconds(10))
    assert r.status_code == 200 and r.json() == {"name": "mon-moved", "rooms": ["Room M2"], "any_room": False}
    change = audit_of(shared, "device_rooms_changed")[0]
    assert change["user"] == "user-admin" and change["target"] == "mon-moved"
    assert json.loads(change["old"]) == {"rooms": ["Room M1"], "any_room": False}
    assert json.loads(change["new"]) == {"rooms": ["Room M2"], "any_room": False}
    error, code, _ = refused_hello(shared, token, "mon-moved", "Room M1")
    assert error["field"] == "room" and code == 1008
    assert json.loads(ingest(shared, token, send=hello("mon-moved", "Room M2")).first)["type"] == "welcome"
    missing = httpx.put(f"{shared.http}/api/devices/no-such-device/rooms", json={"rooms": ["R"]},
                        headers=shared.headers("admin"), timeout=seconds(10))
    assert missing.status_code == 404
    done = cli(shared, "device", "rooms", "mon-moved", "--room", "Room M3")
    assert done.returncode == 0 and "Room M3 (was Room M2)" in done.stdout, done.stderr
    change = audit_of(shared, "device_rooms_changed")[0]
    assert change["user"].startswith("cli:") and json.loads(change["new"])["rooms"] == ["Room M3"]
    assert json.loads(ingest(shared, token, send=hello("mon-moved", "Room M3")).first)["type"] == "welcome"


def test_demo_tokens_feed_their_demo_rooms_only(tmp_path) -> None:
    """The demo's device tokens are each bound to their own demo room."""
    from app.accounts import Accounts
    from app.demo import ROOMS, demo_tokens, monitor_id
    from app.store import Store

    store = Store(tmp_path / "vitalwatch.sqlite3")
    try:
        accounts = Accounts(store.db)
        tokens = demo_tokens(accounts, 0.0)
        for room, *_ in ROOMS:
            assert accounts.device(tokens[room], demo_mode=True)[0] == monitor_id(room)
            assert accounts.may_feed(monitor_id(room), room) == ""
            assert "may feed only" in accounts.may_feed(monitor_id(room), "Room 99")
    finally:
        store.close()


def test_devices_from_before_room_binding_keep_the_rooms_they_fed(tmp_path) -> None:
    """A database from before devices were bound to rooms binds each device to the rooms it has
    fed, and a device that never fed one to no room (refused until an admin binds it)."""
    from app.accounts import Accounts
    from app.store import Store

    path = tmp_path / "vitalwatch.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE devices (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,
            created REAL NOT NULL, revoked REAL, demo INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE sessions (id INTEGER PRIMARY KEY, room TEXT NOT NULL, mode TEXT NOT NULL,
            started REAL NOT NULL, ended REAL, label TEXT NOT NULL DEFAULT '', dose REAL, baseline TEXT);
        CREATE TABLE streams (monitor_id TEXT NOT NULL, stream TEXT NOT NULL,
            session_id INTEGER NOT NULL, last_seq INTEGER NOT NULL, vendor TEXT, model TEXT,
            serial TEXT, mode TEXT, PRIMARY KEY (monitor_id, stream));
        INSERT INTO devices VALUES ('old-bed', 'h1', 0, NULL, 0), ('old-spare', 'h2', 0, NULL, 0);
        INSERT INTO sessions(id, room, mode, started, ended) VALUES (1, 'Room 5', 'live', 0, 1),
            (2, 'Room 6', 'live', 2, NULL);
        INSERT INTO streams VALUES ('old-bed', 's1', 1, 10, '', '', '', 'live'),
            ('old-bed', 's2', 2, 10, '', '', '', 'live');
    """)
    db.close()
    store = Store(path)
    try:
        accounts = Accounts(store.db)
        assert accounts.device_binding("old-bed") is not None
        assert accounts.device_binding("old-bed").rooms == ("Room 5", "Room 6")  # type: ignore[union-attr]
        assert accounts.may_feed("old-bed", "Room 6") == ""
        assert "bound to no room" in accounts.may_feed("old-spare", "Room 5")
        # The open session lists the monitor that fed it.
        assert [r["monitor_id"] for r in store.session_monitors(2)] == ["old-bed"]
    finally:
        store.close()


def test_a_token_issued_by_one_store_is_registered_again_on_another_only_whole(tmp_path) -> None:
    """An instance with its own store registers the token another issued (so one monitor can
    connect to either): it then opens that store's door for the same monitor id; a token that is
    not one of ours (wrong prefix, too short) is refused before anything is stored."""
    from app.accounts import AccountError, Accounts
    from app.store import Store

    first, second = (Accounts(Store(tmp_path / f"{n}.sqlite3").db) for n in ("a", "b"))
    token = first.add_device("mon-1", T0, ("Room 1",))
    assert second.add_device("mon-1", T0, ("Room 1",), token=token) == token
    assert second.device(token, demo_mode=False) == ("mon-1", "")
    for bad in ("abc", "vwd_short", "xyz_" + "a" * 40):
        with pytest.raises(AccountError, match="starts with 'vwd_'"):
            second.add_device(f"mon-{len(bad)}", T0, ("Room 1",), token=bad)
    assert [d["name"] for d in second.devices()] == ["mon-1"]
