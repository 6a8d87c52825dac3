"""The roster's REST API against a real server: who may read and change it, a 422 naming the
field for every kind of bad shift, an audit entry for every change, and a nurse's own rooms."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import SSL_CONTEXT, Server, free_port, seconds
from tests.postgres import TEMPLATE

H = 3600.0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module (the tests use shifts of rooms of their own), on each store."""
    database = (request.getfixturevalue("postgres").create_database(TEMPLATE)
                if request.param == "postgresql" else None)
    s = Server(free_port(), tmp_path_factory.mktemp("roster") / "data", database=database).start()
    try:
        yield s
    finally:
        s.kill(signal.SIGTERM)


def call(srv: Server, method: str, path: str, role: str = "clinician", body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{srv.http}/api/roster{path}", json=body, headers=srv.headers(role),
                         timeout=seconds(10), verify=SSL_CONTEXT)


def shift(rooms: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    now = time.time()
    return {"name": "Day", "starts": now - 60, "ends": now + 8 * H, "clinician": "user-clinician",
            "rooms": [{"room": "Room A", "nurse": "user-nurse", "backup": "user-clinician"}]
            if rooms is None else rooms, **fields}


def audit(srv: Server, action: str) -> list[dict[str, Any]]:
    return srv.get("/api/audit", role="admin", action=action)  # type: ignore[return-value]


def test_nurses_read_the_roster_clinicians_and_admins_change_it(srv: Server) -> None:
    """A nurse lists shifts but every change is a 403 for them (and for a reviewer); a
    clinician and an admin each create a shift, which the current list then shows."""
    r = call(srv, "POST", "/shifts", "clinician", shift(name="By clinician"))
    assert r.status_code == 201, r.text
    made = r.json()
    assert call(srv, "POST", "/shifts", "admin", shift(name="By admin", rooms=[])).status_code == 201
    current = call(srv, "GET", "/shifts?current=true", "nurse")
    assert current.status_code == 200
    assert {"By clinician", "By admin"} <= {s["name"] for s in current.json()}
    for role in ("nurse", "reviewer"):
        attempts = [call(srv, "POST", "/shifts", role, shift()),
                    call(srv, "PATCH", f"/shifts/{made['id']}", role, {"clinician": "user-clinician"}),
                    call(srv, "POST", f"/shifts/{made['id']}/end", role),
                    call(srv, "DELETE", f"/shifts/{made['id']}", role)]
        assert [a.status_code for a in attempts] == [403] * 4, [a.text for a in attempts]
    assert call(srv, "GET", "/shifts", "reviewer").status_code == 403
    assert call(srv, "GET", f"/shifts/{made['id']}", "nurse").json()["rooms"] == {
        "Room A": {"nurse": "user-nurse", "backup": "user-clinician"}}


BAD = [
    ("unknown user", {"rooms": [{"room": "R", "nurse": "nobody"}]}, ["rooms", 0, "nurse"], "no user 'nobody'"),
    ("reviewer as nurse", {"rooms": [{"room": "R", "nurse": "user-reviewer"}]}, ["rooms", 0, "nurse"],
     "has role reviewer; the nurse slot needs a clinician or nurse"),
    ("admin as backup", {"rooms": [{"room": "R", "nurse": "user-nurse", "backup": "user-admin"}]},
     ["rooms", 0, "backup"], "has role admin; the backup slot"),
    ("nurse as clinician", {"clinician": "user-nurse"}, ["clinician"], "the clinician slot needs a clinician"),
    ("own backup", {"rooms": [{"room": "R", "nurse": "user-nurse", "backup": "user-nurse"}]},
     ["rooms", 0, "backup"], "cannot be their own backup"),
    ("room twice", {"rooms": [{"room": "R", "nurse": "user-nurse"}, {"room": "R", "nurse": "user-clinician"}]},
     ["rooms", 1, "room"], "listed twice"),
    ("ends before starts", {"ends": time.time() - 120}, ["ends"], "end after it starts"),
    ("ended already", {"starts": time.time() - 3 * H, "ends": time.time() - 2 * H}, ["ends"], "ended already"),
    ("no nurse", {"rooms": [{"room": "R", "nurse": ""}]}, ["rooms", 0, "nurse"], "at least 1 character"),
    ("not a time", {"starts": "soon"}, ["starts"], "valid number"),
]


@pytest.mark.parametrize(("bad", "loc", "reason"), [pytest.param(b, loc, r, id=i) for i, b, loc, r in BAD])
def test_every_bad_shift_is_a_422_naming_its_field(srv: Server, bad: dict[str, Any], loc: list[Any],
                                                   reason: str) -> None:
    """A shift with an unknown user, a user whose role cannot take the slot, a nurse as their own
    backup, a room listed twice, reversed or past times, or a missing or malformed value is
    refused with a 422 whose detail names the field and says why; nothing is stored."""
    before = len(call(srv, "GET", "/shifts").json())
    r = call(srv, "POST", "/shifts", "clinician", shift(**bad))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(d["loc"] == ["body", *loc] and reason in d["msg"] for d in detail), detail
    assert len(call(srv, "GET", "/shifts").json()) == before


def test_edits_are_checked_like_new_shifts(srv: Server) -> None:
    """Changing a shift's rooms or clinician is checked like creating one: every fault is named
    at once, and the shift stays as it was."""
    made = call(srv, "POST", "/shifts", "clinician", shift(name="Edit check")).json()
    r = call(srv, "PATCH", f"/shifts/{made['id']}", "clinician", {
        "clinician": "user-kiosk", "rooms": [{"room": "Room A", "nurse": "user-nurse", "backup": "user-nurse"}]})
    assert r.status_code == 422
    assert {tuple(d["loc"]) for d in r.json()["detail"]} == {("body", "clinician"), ("body", "rooms", 0, "backup")}
    assert call(srv, "GET", f"/shifts/{made['id']}").json() == made
    empty = call(srv, "PATCH", f"/shifts/{made['id']}", "clinician", {})
    assert empty.status_code == 422 and "nothing to change" in empty.json()["detail"][0]["msg"]
    assert call(srv, "PATCH", "/shifts/999999", "clinician", {"name": "x"}).status_code == 404


def test_every_change_is_audited_with_who_old_and_new(srv: Server) -> None:
    """Creating, editing, ending early and deleting a shift each write an audit entry naming the
    user, the shift and the shift before and after the change."""
    made = call(srv, "POST", "/shifts", "clinician", shift(name="Audited")).json()
    target = f"shift {made['id']}"
    added = next(e for e in audit(srv, "shift_added") if e["target"] == target)
    assert added["user"] == "user-clinician" and json.loads(added["new"])["name"] == "Audited"

    r = call(srv, "PATCH", f"/shifts/{made['id']}", "admin",
             {"rooms": [{"room": "Room A", "nurse": "user-clinician", "backup": "user-nurse"}]})
    assert r.status_code == 200, r.text
    changed = next(e for e in audit(srv, "shift_changed") if e["target"] == target)
    assert changed["user"] == "user-admin"
    assert json.loads(changed["old"])["rooms"]["Room A"]["nurse"] == "user-nurse"
    assert json.loads(changed["new"])["rooms"]["Room A"]["nurse"] == "user-clinician"

    assert call(srv, "DELETE", f"/shifts/{made['id']}").status_code == 409  # it has started
    ended = call(srv, "POST", f"/shifts/{made['id']}/end")
    assert ended.status_code == 200 and ended.json()["ends"] <= time.time()
    entry = next(e for e in audit(srv, "shift_ended") if e["target"] == target)
    assert json.loads(entry["old"])["ends"] > json.loads(entry["new"])["ends"]
    assert call(srv, "PATCH", f"/shifts/{made['id']}", "clinician", {"name": "Later"}).status_code == 409
    assert made["id"] not in {s["id"] for s in call(srv, "GET", "/shifts?current=true").json()}

    later = call(srv, "POST", "/shifts", "clinician",
                 shift(name="Tomorrow", starts=time.time() + 20 * H, ends=time.time() + 30 * H)).json()
    assert call(srv, "POST", f"/shifts/{later['id']}/end").status_code == 409  # not started
    assert call(srv, "DELETE", f"/shifts/{later['id']}").status_code == 200
    deleted = next(e for e in audit(srv, "shift_deleted") if e["target"] == f"shift {later['id']}")
    assert deleted["user"] == "user-clinician" and json.loads(deleted["old"])["name"] == "Tomorrow"
    assert call(srv, "GET", f"/shifts/{later['id']}").status_code == 404


def test_a_nurse_is_told_their_rooms_now(srv: Server) -> None:
    """/api/roster/mine gives a user the rooms they cover now as nurse or backup, with the shifts
    that give them; people lists only users able to take each slot, by name and role."""
    call(srv, "POST", "/shifts", "clinician", shift(name="Mine", rooms=[
        {"room": "Room M1", "nurse": "user-nurse"},
        {"room": "Room M2", "nurse": "user-clinician", "backup": "user-nurse"}]))
    mine = call(srv, "GET", "/mine", "nurse").json()
    assert {"Room M1", "Room M2"} <= set(mine["rooms"])
    assert any(s["name"] == "Mine" and s["rooms"] == ["Room M1", "Room M2"] for s in mine["shifts"])
    assert call(srv, "GET", "/mine", "reviewer").json()["rooms"] == []
    people = call(srv, "GET", "/people", "admin").json()
    assert {p["name"] for p in people["nurse"]} == {"user-nurse", "user-clinician"}
    assert people["clinician"] == [{"name": "user-clinician", "role": "clinician"}]
    assert call(srv, "GET", "/people", "nurse").status_code == 403
