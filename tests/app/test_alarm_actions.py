"""People acting on alarms through the API, and alarms surviving a killed server."""

from __future__ import annotations

from pathlib import Path

from tests.app.helpers import Dashboard, RawMonitor, numerics
from tests.conftest import Server, free_port
from tests.postgres import on_both

T0 = 1_800_000_000.0


def raise_h1(mon: RawMonitor, start_seq: int = 1) -> int:
    seq = start_seq
    for i in range(12):
        mon.send(numerics(seq, T0 + i, HR=134))
        seq += 1
    return seq


@on_both
def test_acknowledge_and_pause_audio_by_role(server: Server) -> None:
    """A nurse pauses the audio and acknowledges; each is broadcast with who did it, logged and
    audited; a reviewer may not; acting on an alarm in a state that does not allow it is 409."""
    mon = RawMonitor(server)
    raise_h1(mon)
    alarm = server.get("/api/alarms", active="true")[0]
    dash = Dashboard(server)
    assert server.post(f"/api/alarms/{alarm['id']}/acknowledge", role="reviewer").status_code == 403
    paused = server.post(f"/api/alarms/{alarm['id']}/pause-audio", role="nurse")
    assert paused.status_code == 200 and paused.json()["state"] == "audio_paused"
    acked = server.post(f"/api/alarms/{alarm['id']}/acknowledge", role="nurse").json()
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "user-nurse"
    seen = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "acknowledged")
    assert seen["by"] == "user-nurse"
    assert server.post(f"/api/alarms/{alarm['id']}/reset", role="nurse").status_code == 409
    log = server.get(f"/api/sessions/{alarm['session_id']}/alarm-log")
    assert [e["event"] for e in log] == ["raised", "audio_paused", "acknowledged"]
    assert [e["by"] for e in log] == ["", "user-nurse", "user-nurse"]
    audit = {e["action"] for e in server.get("/api/audit", role="admin")}
    assert {"alarm_pause_audio", "alarm_acknowledge"} <= audit
    assert server.post("/api/alarms/99999/acknowledge", role="nurse").status_code == 404


def test_alarms_and_their_log_survive_sigkill(tmp_path: Path) -> None:
    """After SIGKILL and restart, the signalled alarms are back in their state and clear by their
    own rule when the condition ends; the log holds every change once."""
    srv = Server(free_port(), tmp_path / "d").start()
    try:
        mon = RawMonitor(srv, stream="s")
        seq = raise_h1(mon)
        alarm = srv.get("/api/alarms", active="true")[0]
        srv.post(f"/api/alarms/{alarm['id']}/acknowledge", role="nurse")
        srv.kill()
        srv.start()
        back = srv.get("/api/alarms", active="true")
        assert [(a["rule"], a["state"]) for a in back] == [("H1", "acknowledged")]
        dash = Dashboard(srv, validate=True)  # restored alarms reach the feed in its shapes
        shown = [a for room in dash.snapshot["rooms"] for a in room["alarms"] if a["rule"] == "H1"]
        assert [(a["state"], a["param"], a["message"]) for a in shown] == [
            ("acknowledged", "HR", "HR 134 > 120")]
        dash.close()
        mon = RawMonitor(srv, stream="s")
        for i in range(12):
            mon.send(numerics(seq + i, T0 + 20 + i, HR=90))
        log = srv.get(f"/api/sessions/{alarm['session_id']}/alarm-log")
        h1 = [e["event"] for e in log if e["rule"] == "H1"]
        assert h1 == ["raised", "acknowledged", "cleared"]
        assert srv.get("/api/alarms", active="true") == [] or all(
            a["rule"] == "T4" for a in srv.get("/api/alarms", active="true"))
    finally:
        srv.kill()
