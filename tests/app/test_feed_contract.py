"""The live feed as a contract: a real server sends every message kind in the exported schema's
shapes, delivers to each dashboard only what it subscribed to, and refuses what it cannot take."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import yaml

from alerts.rules import DEFAULT_RULES
from tests.app.helpers import Dashboard, RawMonitor, check_feed_message, numerics, room_of
from tests.conftest import Server, free_port, seconds, wait_for

T0 = 1_800_000_000.0

# Every message kind the server sends, with the alarm events a dashboard must be able to apply.
KINDS = {"snapshot", "heartbeat", "session_started", "session_ended", "room", "numerics", "nibp",
         "waveform", "status", "alarm", "mark", "settings", "refused", "batch"}


def wave(seq: int, t: float, name: str, n: int = 25) -> dict:
    return {"type": "waveform", "seq": seq, "t": t, "wave": name, "rate": 125,
            "samples": [float(i % 10) for i in range(n)]}


def raise_h1(mon: RawMonitor, seq: int, t: float, hr: float = 134) -> int:
    """Twelve seconds of HR 134 (H1, tachycardia: medium after 10 s); returns the next seq."""
    for i in range(12):
        mon.send(numerics(seq + i, t + i, HR=hr))
    return seq + 12


def test_every_message_kind_is_valid_against_the_exported_schema(server: Server) -> None:
    """Snapshot, heartbeat, session started/ended, room, numerics, nibp, waveform, status, alarm
    raised/acknowledged/cleared, mark, settings and refused all arrive, some of them inside batch
    frames (messages published together), and every frame and message validates against
    docs/feed.schema.json; alarms carry their parameter and a plain message."""
    dash = Dashboard(server, validate=True)
    mon = RawMonitor(server, room="A")
    started = dash.wait(lambda m: m["type"] == "session_started")
    sid = started["room"]["session_id"]
    assert started["room"]["settings"]["timeline"]["phases"][0]["key"] == "dosing"
    dash.wait(lambda m: m["type"] == "room")
    seq = raise_h1(mon, 1, T0)
    raised = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "raised")
    alarm = raised["alarm"]
    assert (alarm["rule"], alarm["param"], alarm["priority"], alarm["kind"]) == (
        "H1", "HR", "medium", "physiological")
    assert alarm["message"].startswith("HR 134") and "*" not in alarm["message"]
    assert alarm["limit"] == 120 and alarm["value"] == 134 and raised["session_id"] == sid
    assert mon.send({"type": "nibp", "seq": seq, "t": T0 + 12, "status": "ok", "sys": 120,
                     "dia": 80, "map": 93})["type"] == "ack"
    mon.send(wave(seq + 1, T0 + 12.5, "PLETH"))
    mon.send({"type": "status", "seq": seq + 2, "t": T0 + 13, "code": "motion", "active": True})
    seq += 3
    nibp = dash.wait(lambda m: m["type"] == "nibp")
    assert nibp["nibp"] == {"status": "ok", "sys": 120, "dia": 80, "map": 93, "reason": "",
                            "t_device": T0 + 12}
    assert dash.wait(lambda m: m["type"] == "waveform")["wave"] == "PLETH"
    assert dash.wait(lambda m: m["type"] == "status")["status"]["code"] == "motion"
    assert server.post(f"/api/sessions/{sid}/marks", json={"what": "dose"}).status_code == 201
    assert dash.wait(lambda m: m["type"] == "mark")["mark"]["what"] == "dose"
    dosed = dash.wait(lambda m: m["type"] == "room" and m["room"]["dose_device"] is not None)
    assert dosed["room"]["dose_device"] >= T0
    r = httpx.patch(f"{server.http}/api/sessions/{sid}/rules/H1", headers=server.headers(),
                    json={"when": "HRbest > 125", "reason": "test"}, timeout=seconds(10))
    assert r.status_code == 200, r.text
    changed = dash.wait(lambda m: m["type"] == "settings" and any(
        lim["rule"] == "H1" and lim["when"] == "HRbest > 125" for lim in m["settings"]["limits"]))
    assert changed["session_id"] == sid and "session changes" in changed["settings"]["rules_source"]
    assert server.post(f"/api/alarms/{alarm['id']}/acknowledge", role="nurse").status_code == 200
    acked = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "acknowledged")
    assert acked["by"] == "user-nurse" and acked["alarm"]["acknowledged_by"] == "user-nurse"
    raise_h1(mon, seq, T0 + 20, hr=90)
    cleared = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "cleared"
                        and m["alarm"]["rule"] == "H1")
    assert cleared["alarm"]["state"] == "cleared" and cleared["alarm"]["ended_device"] is not None
    dash.wait(lambda m: m["type"] == "heartbeat")
    dash.send({"type": "subscribe", "kinds": ["numerics", "nonsense"]})
    refused = dash.wait(lambda m: m["type"] == "refused")
    assert refused["field"] == "kinds.1"
    assert server.post(f"/api/sessions/{sid}/end").status_code == 200
    ended = dash.wait(lambda m: m["type"] == "session_ended")
    assert ended == {"type": "session_ended", "room": "A", "session_id": sid}
    kinds = {m["type"] for m in [dash.snapshot, *dash.seen, *dash.batches]}
    assert kinds == KINDS, KINDS - kinds
    for msg in [dash.snapshot, *dash.seen, *dash.batches]:  # checked on arrival too; this says it was
        check_feed_message(msg)
    mon.close()
    dash.close()


def test_nurse_subscription_gets_alarms_and_numerics_of_its_rooms_only(server: Server) -> None:
    """A dashboard subscribed to alarms and numerics of room A gets a snapshot of A alone that
    echoes its subscription, then A's alarm and numerics, and no waveform and nothing of B."""
    a, b = RawMonitor(server, "mon-a", room="A"), RawMonitor(server, "mon-b", room="B")
    nurse = Dashboard(server, role="nurse", validate=True)
    snap = nurse.subscribe(rooms=["A"], kinds=["alarm", "numerics"])
    assert [r["room"] for r in snap["rooms"]] == ["A"]
    assert snap["subscription"] == {"type": "subscribe", "rooms": ["A"],
                                    "kinds": ["alarm", "numerics"], "waveforms": {}}
    nurse.seen.clear()
    for i in range(12):
        b.send(numerics(1 + 2 * i, T0 + i, HR=140))
        b.send(wave(2 + 2 * i, T0 + i + 0.5, "PLETH"))
        a.send(wave(1 + 2 * i, T0 + i + 0.5, "PLETH"))
        a.send(numerics(2 + 2 * i, T0 + i, HR=134))
    nurse.wait(lambda m: m["type"] == "alarm" and m["room"] == "A" and m["alarm"]["rule"] == "H1")
    nurse.wait(lambda m: m["type"] == "heartbeat")  # B's alarm, raised as A's, had its chance
    assert {m["type"] for m in nurse.seen} <= {"alarm", "numerics", "heartbeat"}
    assert {room_of(m) for m in nurse.seen} <= {"A", None}
    assert any(m["type"] == "numerics" for m in nurse.seen)
    for mon in (a, b):
        mon.close()
    nurse.close()


def test_a_subscription_in_the_url_holds_from_the_first_frame(server: Server) -> None:
    """A dashboard that subscribes in its websocket URL gets a first snapshot of that selection
    and never a frame outside it (no waveform reaches a nurse's phone, even before it could send
    a subscribe); a malformed one is refused by name and the dashboard gets the default."""
    mon = RawMonitor(server, "mon-url", room="U")
    for i in range(5):
        mon.send(wave(1 + i, T0 + i * 0.2, "PLETH"))
    nurse = Dashboard(server, role="nurse", validate=True,
                      subscription={"rooms": ["U"], "kinds": ["alarm", "numerics"]})
    assert nurse.snapshot["subscription"]["kinds"] == ["alarm", "numerics"]
    assert [r["room"] for r in nurse.snapshot["rooms"]] == ["U"]
    for i in range(10):
        mon.send(wave(6 + 2 * i, T0 + 1 + i * 0.2, "PLETH"))
        mon.send(numerics(7 + 2 * i, T0 + 1 + i * 0.2, HR=70))
    nurse.wait(lambda m: m["type"] == "numerics" and m["readings"]["HR"]["t_device"] == T0 + 1 + 9 * 0.2)
    assert {m["type"] for m in nurse.seen} <= {"numerics", "heartbeat"}, {m["type"] for m in nurse.seen}
    bad = Dashboard(server, validate=True, subscription={"kinds": ["waves"]})
    refused = bad.wait(lambda m: m["type"] == "refused")
    assert refused["field"] == "subscribe.kinds.0", refused
    assert "waveform" in bad.snapshot["subscription"]["kinds"]  # the default: everything
    for c in (nurse, bad, mon):
        c.close()


def test_central_subscription_gets_the_pleth_and_not_the_ecg(server: Server) -> None:
    """A dashboard subscribed to waveforms {"*": ["PLETH"]} gets every room's pleth and no ECG."""
    mon = RawMonitor(server, room="A")
    central = Dashboard(server, validate=True)
    central.subscribe(kinds=["waveform", "alarm"], waveforms={"*": ["PLETH"]})
    mon.send(wave(1, T0, "ECG_II"))
    mon.send(wave(2, T0, "PLETH"))
    mon.send(wave(3, T0 + 0.2, "ECG_II"))
    mon.send(wave(4, T0 + 0.2, "PLETH"))
    last = central.wait(lambda m: m["type"] == "waveform" and m["t_device"] == T0 + 0.2)
    assert last["wave"] == "PLETH"
    assert [m["wave"] for m in central.seen if m["type"] == "waveform"] == ["PLETH", "PLETH"]
    mon.close()
    central.close()


def test_malformed_dashboard_messages_are_refused_and_the_connection_stays(server: Server) -> None:
    """A subscribe with a bad kind, an unknown message type, a non-JSON frame and an oversized
    frame each get a refused naming the field and why, are counted, and the connection stays
    open: a valid subscribe afterwards is still answered by a snapshot."""
    dash = Dashboard(server, validate=True)
    dash.send({"type": "subscribe", "kinds": ["alarms"]})
    bad_kind = dash.wait(lambda m: m["type"] == "refused")
    assert bad_kind["field"] == "kinds.0" and "alarm" in bad_kind["reason"]
    dash.send({"type": "unsubscribe"})
    assert dash.wait(lambda m: m["type"] == "refused")["field"] == "type"
    dash.send("{not json")
    assert "not JSON" in dash.wait(lambda m: m["type"] == "refused")["reason"]
    dash.send({"type": "subscribe", "rooms": ["A" * 70_000]})
    assert "at most" in dash.wait(lambda m: m["type"] == "refused")["reason"]
    dash.send({"type": "subscribe", "rooms": "A"})
    assert dash.wait(lambda m: m["type"] == "refused")["field"] == "rooms"
    assert dash.subscribe(rooms=[])["rooms"] == []
    health = server.get("/api/health", role="admin")
    assert health["dashboard_messages_refused"] == 5
    dash.close()


def test_a_clinics_nibp_schedule_shows_in_the_snapshot_settings(tmp_path: Path) -> None:
    """A rules file given to `serve --rules` with its own NIBP schedule is what the snapshot's
    settings.nibp_schedule says (the tiles judge OVERDUE on it)."""
    rules = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    rules["schedule"]["nibp"] = [{"every_min": 3, "until_min": 30}, {"every_min": 10}]
    rules["schedule"]["overdue_grace_min"] = 2
    path = tmp_path / "clinic-rules.yaml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    srv = Server(free_port(), tmp_path / "data", args=("--rules", str(path))).start()
    try:
        mon = RawMonitor(srv, room="A")
        mon.send(numerics(1, T0, HR=80))
        dash = Dashboard(srv, validate=True)
        settings = dash.snapshot["rooms"][0]["settings"]
        assert settings["nibp_schedule"] == {
            "nibp": [{"every_min": 3, "until_min": 30}, {"every_min": 10, "until_min": None}],
            "overdue_grace_min": 2}
        assert settings["rules_source"] == str(path)
        assert wait_for(lambda: srv.get("/api/rooms")[0]["settings"] == settings)
        mon.close()
        dash.close()
    finally:
        srv.kill(signal.SIGTERM)


def test_the_end_of_an_infusion_is_part_of_the_room_and_survives_a_restart(tmp_path: Path) -> None:
    """An "infusion end" mark (the discharge window counts from it) is sent as a room change
    with infusion_end_device, is in the snapshot of every dashboard that connects later (a kiosk
    that cannot read the marks included), and is still there after the server restarts."""
    srv = Server(free_port(), tmp_path / "data").start()
    try:
        mon = RawMonitor(srv, room="I")
        mon.send(numerics(1, time.time(), HR=80))
        dash = Dashboard(srv, validate=True)
        sid = dash.snapshot["rooms"][0]["session_id"]
        assert dash.snapshot["rooms"][0]["infusion_end_device"] is None
        assert srv.post(f"/api/sessions/{sid}/marks", json={"what": "infusion end"}).status_code == 201
        changed = dash.wait(lambda m: m["type"] == "room" and m["room"]["infusion_end_device"] is not None)
        ended = changed["room"]["infusion_end_device"]
        kiosk = Dashboard(srv, role="kiosk", validate=True)
        assert kiosk.snapshot["rooms"][0]["infusion_end_device"] == ended
        for c in (mon, dash, kiosk):
            c.close()
        srv.kill(signal.SIGTERM)
        srv.start()
        assert srv.get("/api/rooms")[0]["infusion_end_device"] == ended
    finally:
        srv.kill(signal.SIGTERM)
