"""The session record through the API of a real server: check-in and the baseline protocol, the
pre-dose gate and its sign-off, structured doses (mg/kg, esketamine devices), route timelines,
and ending a session with discharge criteria unmet. On SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.app.helpers import RawMonitor, numerics
from tests.conftest import Server
from tests.postgres import on_both

T0 = 1_800_000_000.0


def cuff(seq: int, t: float, sys: float, dia: float) -> dict[str, Any]:
    return {"type": "nibp", "seq": seq, "t": t, "status": "ok", "sys": sys, "dia": dia,
            "map": round((sys + 2 * dia) / 3)}


def room(server: Server, sid: int) -> dict[str, Any]:
    return next(r for r in server.get("/api/rooms") if r["session_id"] == sid)  # type: ignore[union-attr]


def entry(server: Server, sid: int, role: str = "clinician", **body: Any) -> Any:
    return server.post(f"/api/sessions/{sid}/record", role=role, json=body)


@on_both
def test_dose_refused_while_gate_active_until_a_clinician_signs_off(server: Server) -> None:
    """With G1 raised (two pre-dose readings of 150/92), a dose (an entry, or a person's dose
    mark) is 409 naming G1; a sign-off by
    a clinician covers it (audited, the G1 alarm acknowledged in the alarm log, not cleared
    away), and the dose is then accepted and starts the dose clock."""
    mon = RawMonitor(server)
    sid = mon.welcome["session_id"]
    assert entry(server, sid, kind="check_in", t_device=T0 - 600, label="P-17", weight_kg=80,
                 drug="ketamine", route="iv").status_code == 201
    for seq in (1, 2):
        mon.send(cuff(seq, T0 + seq * 60, 150, 92))
    mon.send(numerics(3, T0 + 130, HR=72, SpO2=98))
    assert room(server, sid)["dose_gate"] == {"active": ["G1"], "signed_off": []}
    dose = {"kind": "dose", "t_device": T0 + 140, "drug": "ketamine", "route": "iv", "dose_mg": 40,
            "infusion_min": 40}
    r = entry(server, sid, **dose)
    assert r.status_code == 409 and "G1" in r.json()["detail"]["message"]
    # The free-text dose mark is no way round the gate for a person.
    r = server.post(f"/api/sessions/{sid}/marks", json={"what": "dose", "text": "ketamine 40 mg"})
    assert r.status_code == 409 and r.json()["detail"]["field"] == "what" and "G1" in r.json()["detail"]["reason"]
    assert server.get(f"/api/sessions/{sid}/rules")["dose"] is None
    # A nurse may not record at all; a sign-off without a reason names the field.
    assert entry(server, sid, role="nurse", kind="sign_off", t_device=T0 + 135, what="pre_dose_bp",
                 reason="x").status_code == 403
    r = entry(server, sid, kind="sign_off", t_device=T0 + 135, what="pre_dose_bp", reason="")
    assert r.status_code == 422 and "reason" in str(r.json()["detail"])
    r = entry(server, sid, kind="sign_off", t_device=T0 + 135, what="pre_dose_bp",
              reason="anxious at check-in; usual BP 135/85")
    assert r.status_code == 201 and r.json()["entry"]["rules"] == ["G1"] and r.json()["by"] == "user-clinician"
    assert room(server, sid)["dose_gate"]["signed_off"] == ["G1"]
    audit = server.get("/api/audit", role="admin", action="sign_off")
    assert audit[0]["user"] == "user-clinician" and '"pre_dose_bp"' in audit[0]["new"]
    r = entry(server, sid, **dose)
    assert r.status_code == 201 and r.json()["entry"]["mg_per_kg"] == 0.5
    assert server.get(f"/api/sessions/{sid}/rules")["dose"] == T0 + 140
    marks = server.get(f"/api/sessions/{sid}/marks")
    assert [(m["what"], m["text"]) for m in marks] == [
        ("dose", "ketamine 40 mg iv (0.5 mg/kg), over 40 min")]
    # The gate's alarm stays in the alarm log: acknowledged by the signer, ended by the dose.
    g1 = [a for a in server.get("/api/alarms", session_id=sid) if a["rule"] == "G1"]
    assert len(g1) == 1 and g1[0]["acknowledged_by"] == "user-clinician"
    assert "dose marked while active" in g1[0]["message"]
    events = [e["event"] for e in server.get(f"/api/sessions/{sid}/alarm-log") if e["rule"] == "G1"]
    assert "raised" in events and "acknowledged" in events
    # IV given over 40 min: the discharge window counts 60 min from the planned end.
    view = room(server, sid)
    assert view["infusion_end_device"] == T0 + 140 + 40 * 60
    assert view["settings"]["timeline"]["discharge_after_dose_min"] == 100
    assert view["dosing"]["mg_per_kg"] == 0.5


@on_both
def test_baseline_protocol_then_esketamine_devices_and_mg_per_kg(server: Server) -> None:
    """After the rest, two readings make the baseline (their mean); esketamine doses are the
    nasal devices in order, 0.4 mg/kg each for 70 kg; a wrong device, mg/kg, route or scale is a
    422 naming its field."""
    mon = RawMonitor(server)
    sid = mon.welcome["session_id"]
    mon.send(numerics(1, T0, HR=70, SpO2=97))
    r = entry(server, sid, kind="check_in", t_device=T0 - 200, label="P-2", weight_kg=70,
              drug="esketamine", route="intranasal")
    assert r.status_code == 201
    protocol = room(server, sid)["baseline_protocol"]
    assert protocol["step"] == "resting" and protocol["status"] == "missing"
    mon.send(cuff(2, T0 + 110, 132, 86))  # 310 s after the check-in: the rest is over
    assert room(server, sid)["baseline_protocol"]["step"] == "second_reading"
    mon.send(cuff(3, T0 + 170, 260, 170))  # implausible: starts over
    protocol = room(server, sid)["baseline_protocol"]
    assert protocol["status"] == "implausible" and "SBP 260" in protocol["why"]
    mon.send(cuff(4, T0 + 230, 128, 84))
    mon.send(cuff(5, T0 + 290, 124, 80))
    assert room(server, sid)["baseline_protocol"]["status"] == "captured"
    assert room(server, sid)["settings"]["baseline"]["SBP"] == 126
    device = {"kind": "dose", "drug": "esketamine", "route": "intranasal", "dose_mg": 28}
    assert entry(server, sid, **device, t_device=T0 + 300, device=2).json()["detail"]["field"] == "device"
    assert entry(server, sid, **device, t_device=T0 + 300, device=1,
                 mg_per_kg=0.5).json()["detail"]["field"] == "mg_per_kg"
    assert entry(server, sid, **{**device, "route": "iv"}, t_device=T0 + 300,
                 device=1).json()["detail"]["field"] == "route"
    r = entry(server, sid, **device, t_device=T0 + 300, device=1)
    assert r.status_code == 201 and r.json()["entry"]["mg_per_kg"] == 0.4
    assert entry(server, sid, **device, t_device=T0 + 600, device=2).status_code == 201
    assert server.get(f"/api/sessions/{sid}/rules")["dose"] == T0 + 300  # the first device's time
    dosing = room(server, sid)["dosing"]
    assert dosing == {"doses": 2, "total_mg": 56, "mg_per_kg": 0.8, "devices": [1, 2],
                      "next_device_device": T0 + 300 + 600}
    assert room(server, sid)["settings"]["timeline"]["discharge_after_dose_min"] == 120
    # Observations on the rules file's scales; bad input names the field.
    assert entry(server, sid, kind="observation", t_device=T0 + 900, scale="MOAA/S",
                 score=4).status_code == 201
    assert entry(server, sid, kind="observation", t_device=T0 + 900, scale="MOAA/S",
                 score=6).json()["detail"]["field"] == "score"
    assert entry(server, sid, kind="observation", t_device=T0 + 900, scale="RASS",
                 score=0).json()["detail"]["field"] == "scale"
    r = entry(server, sid, kind="check_in", t_device=T0, label="P-2", weight_kg=-3,
              drug="esketamine", route="intranasal")
    assert r.status_code == 422 and "weight_kg" in str(r.json()["detail"])
    assert [e["entry"]["kind"] for e in server.get(f"/api/sessions/{sid}/record")] == [
        "check_in", "dose", "dose", "observation"]


@on_both
def test_end_refused_with_unmet_criteria_unless_signed_off(server: Server) -> None:
    """Ending a checked-in session before discharge criteria are met is 409 listing them; after
    a clinician's discharge_unmet sign-off it ends. A correction replaces the check-in in the
    current record and keeps both in its history."""
    mon = RawMonitor(server)
    sid = mon.welcome["session_id"]
    mon.send(numerics(1, T0, HR=70, SpO2=97))
    first = entry(server, sid, kind="check_in", t_device=T0, label="P-3", weight_kg=60,
                  drug="ketamine", route="im").json()
    assert entry(server, sid, kind="check_in", t_device=T0, label="P-3", weight_kg=65,
                 drug="ketamine", route="im").status_code == 409
    assert entry(server, sid, kind="check_in", t_device=T0, label="P-3", weight_kg=65,
                 drug="ketamine", route="im", replaces=first["id"]).status_code == 201
    assert len(server.get(f"/api/sessions/{sid}/record")) == 1
    assert len(server.get(f"/api/sessions/{sid}/record", history=1)) == 2
    assert entry(server, sid, kind="confirmation", t_device=T0, criterion="alert_oriented",
                 met=True).status_code == 201
    r = server.post(f"/api/sessions/{sid}/end")
    assert r.status_code == 409
    unmet = {c["key"]: c["why"] for c in r.json()["detail"]["unmet"]}
    assert unmet["time"] == "no dose recorded" and "nausea_minimal" in unmet
    assert "alert_oriented" not in unmet and "spo2" not in unmet
    assert room(server, sid)["discharge"]["met"] == 3  # quiet, SpO2, alert and oriented
    assert entry(server, sid, kind="sign_off", t_device=T0 + 5, what="discharge_unmet",
                 reason="patient declined further monitoring").status_code == 201
    assert server.post(f"/api/sessions/{sid}/end").status_code == 200


@on_both
def test_an_entry_timed_where_no_clock_can_be_is_refused(server: Server) -> None:
    """A dose dated outside any device clock's range (1e300; milliseconds sent as seconds) would
    hold every post-dose rule back for ever: a 422 naming t_device, as the monitor protocol
    refuses such a time, and the dose clock does not start."""
    mon = RawMonitor(server, monitor_id="mon-time", room="Room T")
    sid = mon.welcome["session_id"]
    mon.send(numerics(1, T0, HR=72, SpO2=98))
    assert entry(server, sid, kind="check_in", t_device=T0, label="P-T", weight_kg=70,
                 drug="ketamine", route="iv").status_code == 201
    for t in (1e300, T0 * 1000, 0):
        r = entry(server, sid, kind="dose", t_device=t, drug="ketamine", route="iv", dose_mg=35)
        assert r.status_code == 422 and "t_device" in str(r.json()["detail"]), (t, r.text)
    assert server.get(f"/api/sessions/{sid}/rules")["dose"] is None
    mon.close()


@on_both
def test_an_entry_dated_ahead_of_the_session_clock_is_refused(server: Server) -> None:
    """A dose dated a month ahead of the session's clock (a mistyped date) is a 422 naming
    t_device and the rules file's bound (documentation.ahead_max_min, 60 min), and the dose
    clock does not start; one dated 59 min ahead is recorded."""
    mon = RawMonitor(server, monitor_id="mon-ahead", room="Room A")
    sid = mon.welcome["session_id"]
    mon.send(numerics(1, T0, HR=72, SpO2=98))
    assert entry(server, sid, kind="check_in", t_device=T0, label="P-A", weight_kg=70,
                 drug="ketamine", route="iv").status_code == 201
    dose = {"kind": "dose", "drug": "ketamine", "route": "iv", "dose_mg": 35}
    r = entry(server, sid, **dose, t_device=T0 + 30 * 86400)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["field"] == "t_device" and "documentation.ahead_max_min" in detail["message"], detail
    assert server.get(f"/api/sessions/{sid}/rules")["dose"] is None
    assert entry(server, sid, **dose, t_device=T0 + 59 * 60).status_code == 201
    mon.close()
