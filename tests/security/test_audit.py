"""The audit trail: who did what, when, and what it changed, for every action the threat model
lists; append-only in the database itself; exported as CSV by admins alone."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time

import httpx
import pytest

from app.accounts import ROLES
from app.audit import FIELDS
from tests.app.helpers import RawMonitor
from tests.conftest import SSL_CONTEXT, Server, seconds
from tests.security.conftest import fresh_login, server_db

T0 = 1_800_000_000.0


def entries(server: Server, **params: str) -> list[dict]:
    return server.get("/api/audit", role="admin", **params)  # type: ignore[return-value]


def one(server: Server, action: str, target: str | None = None) -> dict:
    found = [e for e in entries(server, action=action) if target is None or e["target"] == target]
    assert len(found) == 1, f"{action} {target}: {found}"
    return found[0]


def loads(value: str | None) -> object:
    return None if value is None else json.loads(value)


def test_logins_sessions_users_and_devices_are_audited(shared: Server) -> None:
    """Login, logout, session start and end, user added and disabled, device added and revoked
    each leave one entry with the user, the time, the action, its target and old → new."""
    t0 = time.time()
    clinician = fresh_login(shared, "clinician")
    login = next(e for e in entries(shared, action="login") if e["user"] == "user-clinician")
    assert login["source"] == "127.0.0.1" and t0 - 1 <= login["t"] <= time.time() + 1

    r = httpx.post(f"{shared.http}/api/sessions", json={"room": "Room Audit", "mode": "test"},
                   headers=clinician, timeout=seconds(10))
    sid = r.json()["id"]
    assert httpx.post(f"{shared.http}/api/sessions/{sid}/end", headers=clinician,
                      timeout=seconds(10)).status_code == 200
    started, ended = one(shared, "session_started", f"session {sid}"), one(shared, "session_ended", f"session {sid}")
    assert started["user"] == ended["user"] == "user-clinician"
    assert loads(started["new"]) == {"room": "Room Audit", "mode": "test"}
    assert started["t"] <= ended["t"]

    assert shared.post("/api/users", role="admin", json={"name": "audited-nurse", "role": "nurse",
                                                         "password": "a-long-password"}).status_code == 201
    assert shared.post("/api/users/audited-nurse/disable", role="admin").status_code == 200
    assert shared.post("/api/devices", role="admin", json={"name": "audited-mon"}).status_code == 422
    assert shared.post("/api/devices", role="admin",
                       json={"name": "audited-mon", "rooms": ["Room Audit"]}).status_code == 201
    assert shared.post("/api/devices/audited-mon/revoke", role="admin").status_code == 200
    added = one(shared, "user_added", "audited-nurse")
    assert added["user"] == "user-admin" and loads(added["new"]) == {"role": "nurse"}
    disabled = one(shared, "user_disabled", "audited-nurse")
    assert loads(disabled["old"]) == {"disabled": False} and loads(disabled["new"]) == {"disabled": True}
    device_added = one(shared, "device_added", "audited-mon")
    assert device_added["user"] == "user-admin"
    assert loads(device_added["new"]) == {"rooms": ["Room Audit"], "any_room": False, "site": "clinic"}
    assert one(shared, "device_revoked", "audited-mon")["user"] == "user-admin"

    assert httpx.post(f"{shared.http}/api/logout", headers=clinician, timeout=seconds(10)).status_code == 200
    assert [e["user"] for e in entries(shared, action="logout")] == ["user-clinician"]
    # No secret ever reaches the trail: not the new user's password, not the device's token.
    everything = json.dumps(entries(shared))
    assert "a-long-password" not in everything and "vwd_" not in everything


def test_cli_user_and_device_changes_are_audited(shared: Server) -> None:
    """`vitalwatch user add` and `device add` record who ran them (cli:<account>)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    run = [sys.executable, "-m", "app.cli"]
    done = subprocess.run([*run, "user", "add", "cli-reviewer", "--role", "reviewer", "--data-dir",
                           str(shared.data_dir)], input="a-cli-password\n", cwd=ROOT, text=True,
                          capture_output=True, timeout=seconds(30), check=False)
    assert done.returncode == 0, done.stderr
    entry = one(shared, "user_added", "cli-reviewer")
    assert entry["user"].startswith("cli:") and loads(entry["new"]) == {"role": "reviewer"}
    assert "a-cli-password" not in json.dumps(entries(shared))


def test_alarm_actions_limit_changes_and_marks_are_audited(shared: Server) -> None:
    """A nurse's acknowledgement and a clinician's audio pause are each recorded with the user,
    the alarm, its state before and after, its rule and its session; so are a limit change (old →
    new and the reason) and a marked event."""
    mon = RawMonitor(shared, monitor_id="mon-ack", room="Room Ack")
    mon.send({"type": "nibp", "seq": 1, "t": T0, "status": "ok", "sys": 210, "dia": 100, "map": 137})
    alarms = [a for a in shared.get("/api/alarms", active="true")  # type: ignore[union-attr]
              if a["session_id"] == mon.welcome["session_id"]]
    assert len(alarms) >= 2
    first, second = alarms[0], alarms[1]
    r = shared.post(f"/api/alarms/{first['id']}/acknowledge", role="nurse")
    assert r.status_code == 200, r.text
    r = shared.post(f"/api/alarms/{second['id']}/pause-audio", role="clinician")
    assert r.status_code == 200, r.text
    ack = one(shared, "alarm_acknowledge", f"alarm {first['id']}")
    assert ack["user"] == "user-nurse"
    old, new = loads(ack["old"]), loads(ack["new"])
    assert old["state"] != new["state"]
    assert new["rule"] == first["rule"] and new["session"] == mon.welcome["session_id"]
    pause = one(shared, "alarm_pause_audio", f"alarm {second['id']}")
    assert pause["user"] == "user-clinician" and loads(pause["new"])["rule"] == second["rule"]

    sid = mon.welcome["session_id"]
    r = httpx.patch(f"{shared.http}/api/sessions/{sid}/rules/H1", headers=shared.headers("clinician"),
                    json={"delay_s": 20, "reason": "audit test"}, timeout=seconds(10))
    assert r.status_code == 200, r.text
    change = one(shared, "limits_changed", f"session {sid} rule H1")
    assert change["user"] == "user-clinician"
    assert loads(change["old"]) == {"delay_s": 10} and loads(change["new"]) == {"delay_s": 20, "reason": "audit test"}
    assert shared.post(f"/api/sessions/{sid}/marks", json={"what": "dose"}).status_code == 201
    assert loads(one(shared, "mark_added", f"session {sid}")["new"])["what"] == "dose"
    mon.close()


def test_the_trail_refuses_update_and_delete(shared: Server) -> None:
    """Even with the database file open directly, UPDATE and DELETE on the audit table abort."""
    fresh_login(shared, "reviewer")  # at least one entry
    db = sqlite3.connect(server_db(shared), timeout=10)
    try:
        before = db.execute("SELECT * FROM audit ORDER BY id").fetchall()
        assert before
        for sql in ("UPDATE audit SET user='someone-else'", "UPDATE audit SET action='nothing' WHERE id=1",
                    "DELETE FROM audit", "DELETE FROM audit WHERE id=1"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(sql)
            db.rollback()
        after = db.execute("SELECT * FROM audit ORDER BY id").fetchall()
        assert after[: len(before)] == before
    finally:
        db.close()


def test_only_admins_export_the_trail_as_csv(shared: Server) -> None:
    """GET /api/audit.csv gives an admin the whole trail as a CSV attachment (and records the
    export); every other role gets 403, and so does GET /api/audit."""
    r = httpx.get(f"{shared.http}/api/audit.csv", headers=shared.headers("admin"), timeout=seconds(10))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert tuple(rows[0]) == FIELDS and len(rows) > 2
    assert {"login"} <= {row[3] for row in rows[1:]}
    assert any(e["user"] == "user-admin" for e in entries(shared, action="audit_exported"))
    for role in ROLES:
        if role == "admin":
            continue
        for path in ("/api/audit.csv", "/api/audit"):
            r = httpx.get(f"{shared.http}{path}", headers=shared.headers(role), timeout=seconds(10),
                          verify=SSL_CONTEXT)
            assert r.status_code == 403, f"{role} {path}"


def test_csv_export_cannot_carry_a_spreadsheet_formula(shared: Server) -> None:
    """A login attempt named like a formula is audited verbatim, but exported with a leading
    apostrophe so a spreadsheet shows it as text instead of running it."""
    name = '=HYPERLINK("http://evil.example","x")'
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.7.1"), timeout=seconds(10)) as c:
        assert c.post(f"{shared.http}/api/login", json={"name": name, "password": "x"}).status_code == 401
    assert any(e["user"] == name for e in entries(shared, action="login_failed"))
    r = httpx.get(f"{shared.http}/api/audit.csv", headers=shared.headers("admin"), timeout=seconds(10))
    users = [row[2] for row in csv.reader(io.StringIO(r.text))]
    assert "'" + name in users and name not in users
