"""A room's running session is fed only by the monitors it lists: the first to start it, and those
a clinician adds (audited); any other device is refused precisely, and the refusal is counted."""

from __future__ import annotations

import json

import httpx

from tests.app.helpers import RawMonitor, numerics, refused_hello
from tests.conftest import Server, seconds

T0 = 1_800_000_000.0


def hello_refused(server: Server, monitor_id: str, room: str) -> tuple[dict, int | None, str]:
    """Say hello as ``monitor_id`` into ``room``; returns (the error, close code, close reason)."""
    return refused_hello(server, server.device_token(monitor_id), monitor_id, room)


def test_second_device_is_refused_from_a_running_session(server: Server) -> None:
    """A second device saying hello into a room whose session another monitor feeds gets an error
    naming `room`, the session and its monitor, a close 1008, and a count under `room`; nothing
    of it reaches the session."""
    first = RawMonitor(server, monitor_id="bed-1", room="Room 1")
    first.send(numerics(1, T0, HR=61))
    error, code, reason = hello_refused(server, "intruder", "Room 1")
    assert error["type"] == "error" and error["field"] == "room" and error["seq"] == 0
    assert "Room 1" in error["reason"] and "bed-1" in error["reason"]
    assert f"({first.welcome['session_id']})" in error["reason"]
    assert code == 1008 and "room" in reason
    intruder = next(m for m in server.get("/api/monitors") if m["monitor_id"] == "intruder")
    assert intruder["refused_by"] == {"room": 1} and intruder["session_id"] is None
    room = next(r for r in server.get("/api/rooms") if r["room"] == "Room 1")
    assert [m["monitor_id"] for m in room["monitors"]] == ["bed-1"]
    assert room["monitors"][0]["monitor_id"] == "bed-1" and room["latest"]["HR"]["value"] == 61
    first.close()


def test_a_clinician_adds_a_monitor_and_it_may_feed(server: Server) -> None:
    """After a clinician lists a second monitor in the session (audited, old → new), it may feed
    the session; taken off again (audited), it is refused again and no longer expected."""
    first = RawMonitor(server, monitor_id="bed-2", room="Room 2")
    sid = first.welcome["session_id"]
    added = server.post(f"/api/sessions/{sid}/monitors", json={"monitor_id": "cap-2"})
    assert added.status_code == 200 and added.json()["monitors"] == ["bed-2", "cap-2"]
    assert server.post(f"/api/sessions/{sid}/monitors", json={"monitor_id": "cap-2"}).status_code == 409
    nurse = server.post(f"/api/sessions/{sid}/monitors", role="nurse", json={"monitor_id": "x"})
    assert nurse.status_code == 403
    second = RawMonitor(server, monitor_id="cap-2", room="Room 2")
    assert second.welcome["session_id"] == sid
    assert second.send(numerics(1, T0, EtCO2=38)) == {"type": "ack", "seq": 1}
    second.close()
    audit = server.get("/api/audit", role="admin", action="session_monitor_added")
    assert audit[0]["user"] == "user-clinician" and audit[0]["target"] == f"session {sid}"
    assert json.loads(audit[0]["old"]) == {"monitors": ["bed-2"]}
    assert json.loads(audit[0]["new"]) == {"monitors": ["bed-2", "cap-2"]}

    removed = httpx.delete(f"{server.http}/api/sessions/{sid}/monitors/cap-2",
                           headers=server.headers(), timeout=seconds(10))
    assert removed.status_code == 200 and removed.json()["monitors"] == ["bed-2"]
    room = next(r for r in server.get("/api/rooms") if r["room"] == "Room 2")
    assert [m["monitor_id"] for m in room["monitors"]] == ["bed-2"]
    audit = server.get("/api/audit", role="admin", action="session_monitor_removed")
    assert json.loads(audit[0]["new"]) == {"monitors": ["bed-2"]}
    error, code, _ = hello_refused(server, "cap-2", "Room 2")
    assert error["field"] == "room" and code == 1008
    first.close()


def test_session_started_without_a_monitor_takes_the_first(server: Server) -> None:
    """A session started through the API lists the first monitor that says hello into its room;
    a session that has ended no longer holds the room."""
    sid = server.post("/api/sessions", json={"room": "Room 3"}).json()["id"]
    first = RawMonitor(server, monitor_id="bed-3", room="Room 3")
    assert first.welcome["session_id"] == sid
    error, _, _ = hello_refused(server, "other-3", "Room 3")
    assert error["field"] == "room"
    first.close()
    assert server.post(f"/api/sessions/{sid}/end").status_code == 200
    other = RawMonitor(server, monitor_id="other-3", room="Room 3")
    assert other.welcome["session_id"] != sid
    other.close()


def test_session_monitors_survive_a_restart(server: Server) -> None:
    """The monitors a session lists are stored: after a restart a stranger is still refused and
    the added monitor still admitted."""
    first = RawMonitor(server, monitor_id="bed-4", room="Room 4")
    sid = first.welcome["session_id"]
    server.post(f"/api/sessions/{sid}/monitors", json={"monitor_id": "cap-4"})
    first.close()
    server.kill()
    server.start()
    error, _, _ = hello_refused(server, "stranger-4", "Room 4")
    assert error["field"] == "room" and "bed-4, cap-4" in error["reason"]
    second = RawMonitor(server, monitor_id="cap-4", room="Room 4")
    assert second.welcome["session_id"] == sid
    second.close()
