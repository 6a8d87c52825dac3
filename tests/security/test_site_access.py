"""Users see the sites they are granted, and the server holds them to it: the live feed never
sends another site's room (its snapshot included, whatever the subscription asks), and the
history API, alarm actions, session records and replay answer another site's session as if it
did not exist."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.app.helpers import Dashboard, RawMonitor, numerics, room_of
from tests.conftest import SSL_CONTEXT, Server, seconds, wait_for

T0 = 1_800_000_000.0
PASSWORD = "a site password"


def add_user(server: Server, name: str, role: str, sites: tuple[str, ...]) -> None:
    """A user granted ``sites``, logged in: ``server.get(..., role=name)`` and
    ``Dashboard(server, role=name)`` act as them."""
    accounts = server._accounts()
    try:
        accounts.add_user(name, role, PASSWORD, time.time(), granted=sites)
    finally:
        accounts.db.close()
    r = httpx.post(f"{server.http}/api/login", json={"name": name, "password": PASSWORD},
                   timeout=seconds(10), verify=SSL_CONTEXT)
    r.raise_for_status()
    session, csrf = r.cookies["vw_session"], r.cookies["vw_csrf"]
    server._logins[name] = {"Cookie": f"vw_session={session}; vw_csrf={csrf}", "X-CSRF-Token": csrf}


def monitor(server: Server, monitor_id: str, room: str, site: str | None) -> RawMonitor:
    server.device_token(monitor_id, site=site)
    return RawMonitor(server, monitor_id=monitor_id, room=room)


def raise_h1(mon: RawMonitor) -> None:
    """HR 134 held past H1's delay: a high-rate alarm in that monitor's room."""
    for i in range(12):
        mon.send(numerics(i + 1, T0 + i, HR=134))


@pytest.fixture
def three_sites(server: Server) -> dict[str, Any]:
    """Rooms N-1 (site north), S-1 (site south) and C-1 (the default site), each fed and with an
    H1 alarm; users nurse-north (north), nurse-both (north and south), and user-nurse (no grant)."""
    mons = {"N-1": monitor(server, "mon-n", "N-1", "north"),
            "S-1": monitor(server, "mon-s", "S-1", "south"),
            "C-1": monitor(server, "mon-c", "C-1", None)}
    for mon in mons.values():
        raise_h1(mon)
    add_user(server, "nurse-north", "nurse", ("north",))
    add_user(server, "nurse-both", "clinician", ("north", "south"))
    sids = {room: m.welcome["session_id"] for room, m in mons.items()}
    return {"monitors": mons, "sessions": sids}


def test_the_live_feed_never_sends_another_sites_rooms(server: Server, three_sites: dict[str, Any]) -> None:
    """A nurse granted north gets a snapshot of N-1 only; readings of S-1 and C-1 sent before one
    of N-1 never reach that socket, while N-1's do; a subscribe naming S-1 gets an empty snapshot
    and nothing of S-1 after it. A user granted north and south sees both rooms, not C-1's."""
    north = Dashboard(server, role="nurse-north", validate=True)
    assert [r["room"] for r in north.snapshot["rooms"]] == ["N-1"]
    assert north.snapshot["rooms"][0]["site"] == "north"
    both = Dashboard(server, role="nurse-both")
    assert sorted((r["room"], r["site"]) for r in both.snapshot["rooms"]) == [("N-1", "north"), ("S-1", "south")]
    mons = three_sites["monitors"]
    mons["S-1"].send(numerics(13, T0 + 12, HR=90))
    mons["C-1"].send(numerics(13, T0 + 12, HR=91))
    mons["N-1"].send(numerics(13, T0 + 12, HR=92))
    north.wait(lambda m: m["type"] == "numerics" and m["room"] == "N-1" and m["readings"]["HR"]["value"] == 92)
    assert {room_of(m) for m in north.seen} <= {"N-1", None}, "another site's message reached the socket"
    snapshot = north.subscribe(rooms=["S-1"])
    assert snapshot["rooms"] == []
    mons["S-1"].send(numerics(14, T0 + 13, HR=93))
    mons["N-1"].send(numerics(14, T0 + 13, HR=94))
    time.sleep(seconds(1.5))  # heartbeats come; S-1's reading must not
    north.wait(lambda m: m["type"] == "heartbeat")
    assert all(room_of(m) != "S-1" for m in north.seen)
    both.wait(lambda m: m["type"] == "numerics" and m["room"] == "S-1" and m["readings"]["HR"]["value"] == 93)
    assert all(room_of(m) != "C-1" for m in both.seen)
    nurse = Dashboard(server, role="nurse")  # no grant: the default site only
    assert [r["room"] for r in nurse.snapshot["rooms"]] == ["C-1"]


def test_history_api_and_alarm_actions_keep_to_the_users_sites(server: Server, three_sites: dict[str, Any]) -> None:
    """For a nurse granted north: /api/sessions, /api/rooms and /api/alarms list north's only;
    another site's session, its readings, waveforms, alarm log, record and replay page are a
    404 as for a missing session, and acknowledging its alarm is a 404 that changes nothing;
    the nurse's own site's alarm is acknowledged. Every grant is audited and listed."""
    sids = three_sites["sessions"]
    assert [s["id"] for s in server.get("/api/sessions", role="nurse-both")] == sorted([sids["N-1"], sids["S-1"]])
    rows = server.get("/api/sessions", role="nurse-both")
    assert {s["site"] for s in rows} == {"north", "south"}
    rooms = server.get("/api/rooms", role="nurse-north")
    assert [r["room"] for r in rooms] == ["N-1"]
    alarms = server.get("/api/alarms", role="nurse-north", active="true")
    assert {a["session_id"] for a in alarms} == {sids["N-1"]}
    south = sids["S-1"]
    headers = server.headers("nurse-north")
    for path in (f"/api/sessions/{south}", f"/api/sessions/{south}/readings",
                 f"/api/sessions/{south}/waveforms?wave=PLETH&start=0&end=1e10",
                 f"/api/sessions/{south}/alarm-log", f"/api/sessions/{south}/record",
                 f"/api/sessions/{south}/report.json", f"/replay/{south}", f"/room/{south}"):
        r = httpx.get(f"{server.http}{path}", headers=headers, timeout=seconds(10))
        assert r.status_code == 404, (path, r.status_code)
    south_alarm = next(a for a in server.get("/api/alarms", role="nurse-both", active="true")
                       if a["session_id"] == south)
    r = server.post(f"/api/alarms/{south_alarm['id']}/acknowledge", role="nurse-north")
    assert r.status_code == 404
    still = next(a for a in server.get("/api/alarms", role="nurse-both", active="true") if a["id"] == south_alarm["id"])
    assert still["state"] == south_alarm["state"] != "acknowledged"
    own = server.post(f"/api/alarms/{alarms[0]['id']}/acknowledge", role="nurse-north")
    assert own.status_code == 200 and own.json()["state"] == "acknowledged"
    users = {u["name"]: u["sites"] for u in server.get("/api/users", role="admin")}
    assert users["nurse-both"] == ["north", "south"] and users["user-nurse"] == []
    r = httpx.put(f"{server.http}/api/users/nurse-north/sites", json={"sites": ["south"]},
                  headers=server.headers("admin"), timeout=seconds(10))
    assert r.status_code == 200 and r.json()["sites"] == ["south"]
    assert [r["room"] for r in server.get("/api/rooms", role="nurse-north")] == ["S-1"]
    changed = server.get("/api/audit", role="admin", action="user_sites_changed")
    assert [json.loads(e["new"]) for e in changed] == [{"sites": ["south"]}]


def test_a_changed_grant_ends_the_open_live_feed(server: Server, three_sites: dict[str, Any]) -> None:
    """When an admin changes a user's sites, that user's open live feed is closed (4401) at its
    next login check, so the page reconnects and gets the new sites' snapshot only."""
    with connect(f"{server.ws}/ws/live",
                 additional_headers={"Cookie": server.headers("nurse-north")["Cookie"]}) as ws:
        json.loads(ws.recv(timeout=seconds(10)))
        r = httpx.put(f"{server.http}/api/users/nurse-north/sites", json={"sites": ["south"]},
                      headers=server.headers("admin"), timeout=seconds(10))
        assert r.status_code == 200

        def closed() -> int | None:
            try:
                ws.recv(timeout=seconds(1))
            except TimeoutError:
                return None
            except ConnectionClosed:
                return ws.close_code or -1
            return None

        assert wait_for(closed, timeout=15, what="the feed closed after the grant changed") == 4401
