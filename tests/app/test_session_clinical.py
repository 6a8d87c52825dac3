"""The clinical side of a session through the API: the dose mark, the baseline, a session's own
limits — each audited."""

from __future__ import annotations

from tests.app.helpers import Dashboard, RawMonitor, numerics
from tests.conftest import Server

T0 = 1_800_000_000.0


def test_dose_mark_captures_baseline_and_starts_post_dose_rules(server: Server) -> None:
    """Marking the dose captures the baseline from the readings before it, and is broadcast,
    stored and audited."""
    mon = RawMonitor(server)
    seq = 0
    for sbp, dbp in ((130, 84), (126, 80)):
        seq += 1
        mon.send({"type": "nibp", "seq": seq, "t": T0 + seq * 60, "status": "ok", "sys": sbp, "dia": dbp, "map": 96})
    for i in range(30):
        seq += 1
        mon.send(numerics(seq, T0 + 200 + i, HR=70, SpO2=98))
    sid = mon.welcome["session_id"]
    dash = Dashboard(server)
    r = server.post(f"/api/sessions/{sid}/marks", json={"what": "dose", "text": "ketamine IV"})
    assert r.status_code == 201 and r.json()["by"] == "user-clinician"
    assert dash.wait(lambda m: m["type"] == "mark")["mark"]["what"] == "dose"
    rules = server.get(f"/api/sessions/{sid}/rules")
    assert rules["dose"] is not None
    assert rules["baseline"]["SBP"] == 128 and rules["baseline"]["HR"] == 70
    assert [m["what"] for m in server.get(f"/api/sessions/{sid}/marks")] == ["dose"]
    audit = server.get("/api/audit", role="admin", action="mark_added")
    assert audit[0]["user"] == "user-clinician"
    # A nurse may not mark the dose.
    assert server.post(f"/api/sessions/{sid}/marks", role="nurse", json={"what": "dose"}).status_code == 403


def test_session_limit_change_applies_to_that_session_and_is_audited(server: Server) -> None:
    """A clinician lowers O2's limit for one session: SpO2 89 no longer alarms there; the change
    is audited with old and new values and the reason; an invalid change is refused."""
    mon = RawMonitor(server)
    sid = mon.welcome["session_id"]
    r = server.post(f"/api/sessions/{sid}/rules/O2", json={})  # PATCH below; POST is not allowed
    assert r.status_code == 405
    import httpx

    def patch(body, role="clinician"):
        return httpx.patch(f"{server.http}/api/sessions/{sid}/rules/O2", json=body,
                           headers=server.headers(role), timeout=10)

    assert patch({"when": "SpO2 < 88", "reason": "COPD, baseline 90"}).json()["when"] == "SpO2 < 88"
    assert patch({"when": "SpO2 <<< 88", "reason": "x"}).status_code == 422
    assert patch({"when": "SpO2 < 80", "reason": "x"}, role="nurse").status_code == 403
    for i in range(40):
        mon.send(numerics(i + 1, T0 + i, SpO2=89))
    assert "O2" not in {a["rule"] for a in server.get("/api/alarms", active="true")}
    entry = server.get("/api/audit", role="admin", action="limits_changed")[0]
    assert '"SpO2 < 90"' in entry["old"] and "COPD" in entry["new"]
    other = RawMonitor(server, monitor_id="mon-2", room="Room 2")
    for i in range(40):
        other.send(numerics(i + 1, T0 + i, SpO2=89))
    assert "O2" in {a["rule"] for a in server.get("/api/alarms", active="true")}
