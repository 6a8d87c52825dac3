"""The live path against a real server: ingest → storage → alarm → dashboards."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

from tests.app.helpers import Dashboard, RawMonitor, numerics
from tests.conftest import ROOT, Server, free_port, seconds, wait_for

T0 = 1_800_000_000.0


def test_reading_reaches_dashboard_and_raises_alarm(server: Server) -> None:
    """A high HR held for H1's delay is stored, shown on a dashboard and raised as an alarm."""
    dash = Dashboard(server)
    mon = RawMonitor(server)
    for i in range(12):
        assert mon.send(numerics(i + 1, T0 + i, HR=134, SpO2=97)) == {"type": "ack", "seq": i + 1}
    shown = dash.wait(lambda m: m["type"] == "numerics")
    assert shown["readings"] == {"HR": {"value": 134, "t_device": T0}, "SpO2": {"value": 97, "t_device": T0}}
    assert shown["room"] == "Room 1"
    alarm = dash.wait(lambda m: m["type"] == "alarm")
    assert alarm["event"] == "raised" and alarm["alarm"]["rule"] == "H1"
    assert alarm["alarm"]["message"] == "HR 134 > 120" and alarm["alarm"]["raised_device"] == T0 + 10
    assert alarm["alarm"]["priority"] == "medium" and alarm["alarm"]["param"] == "HR"
    active = server.get("/api/alarms", active="true")
    assert [a["rule"] for a in active] == ["H1"]
    rooms = server.get("/api/rooms")
    assert rooms[0]["latest"]["HR"]["value"] == 134 and rooms[0]["alarms"][0]["rule"] == "H1"
    readings = server.get(f"/api/sessions/{mon.welcome['session_id']}/readings", params="HR")
    assert [r["value"] for r in readings["numerics"]] == [134] * 12


def test_new_dashboard_gets_a_snapshot(server: Server) -> None:
    """A dashboard that connects later sees the latest values, last NIBP and active alarms."""
    mon = RawMonitor(server, room="Room 7")
    mon.send(numerics(1, T0, HR=80, SpO2=None))
    mon.send({"type": "nibp", "seq": 2, "t": T0 + 1, "status": "ok", "sys": 210, "dia": 100, "map": 137})
    room = Dashboard(server).snapshot["rooms"][0]
    assert room["room"] == "Room 7" and room["live"] is True and room["mode"] == "test"
    assert room["latest"]["HR"]["value"] == 80 and room["latest"]["SpO2"]["value"] is None
    assert room["nibp"]["sys"] == 210
    assert {a["rule"] for a in room["alarms"]} == {"B1", "B3", "B4"}


def test_resent_messages_are_stored_once(server: Server) -> None:
    """A monitor that reconnects with the same stream and resends is acknowledged, not stored twice."""
    mon = RawMonitor(server, stream="s-1")
    for seq in (1, 2, 3):
        mon.send(numerics(seq, T0 + seq, HR=70))
    mon.close()
    again = RawMonitor(server, stream="s-1")
    assert again.welcome["last_seq"] == 3
    for seq in (2, 3, 4):
        assert again.send(numerics(seq, T0 + seq, HR=70)) == {"type": "ack", "seq": seq}
    rows = server.get(f"/api/sessions/{again.welcome['session_id']}/readings")["numerics"]
    assert [r["t"] for r in rows] == [T0 + 1, T0 + 2, T0 + 3, T0 + 4]
    assert server.get("/api/monitors")[0]["duplicates"] == 2


def test_uplink_survives_sigkill_and_restart_without_loss_or_duplicates(tmp_path: Path) -> None:
    """SIGKILL the server mid-stream and restart it: everything acknowledged is there, once."""
    srv = Server(free_port(), tmp_path / "d").start()
    n_minutes = 2  # 120 numerics + NIBP readings, streamed at 40x
    monitor = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "monitor", "sim", "--server", srv.ws, "--room", "R",
         "--monitor-id", "sim-r", "--token", srv.device_token("sim-r"),
         "--minutes", str(n_minutes), "--speed", "40", "--mode", "test", "--seed", "3",
         "--profile", "normal"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: srv.get("/api/monitors") and srv.get("/api/monitors")[0]["accepted"] > 40,
                 what="the monitor to send 40 messages")
        srv.kill()
        time.sleep(0.5)
        srv.start()
        assert monitor.wait(timeout=60) == 0, monitor.stderr.read().decode()
        session = srv.get("/api/sessions")[0]["id"]
        rows = srv.get(f"/api/sessions/{session}/readings", params="HR")["numerics"]
        times = [r["t"] for r in rows]
        assert len(times) == n_minutes * 60 and len(set(times)) == len(times)
        assert all(b - a == 1.0 for a, b in itertools.pairwise(times))
    finally:
        monitor.kill()
        monitor.wait()
        monitor.stderr.close()
        srv.kill()


def test_monitor_that_goes_silent_is_not_live_and_raises_feed_lost(server: Server) -> None:
    """A monitor that stops sending is shown not live within seconds and raises T4 after 10 s."""
    mon = RawMonitor(server, room="Room 2")
    mon.send(numerics(1, T0, HR=70))
    dash = Dashboard(server)
    started = time.monotonic()
    mon.close()
    offline = dash.wait(lambda m: m["type"] == "room" and m["room"]["live"] is False)
    assert offline["room"]["room"] == "Room 2"
    alarm = dash.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "T4", timeout=20)
    assert alarm["alarm"]["kind"] == "technical" and alarm["alarm"]["priority"] == "medium"
    assert 8 < time.monotonic() - started < 10 + seconds(6)
    back = RawMonitor(server, room="Room 2")
    back.send(numerics(1, T0 + 30, HR=70))
    cleared = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "cleared")
    assert cleared["alarm"]["rule"] == "T4"


def test_session_ends_and_next_stream_starts_a_new_one(server: Server) -> None:
    """A session ended through the API is closed; the room's next readings start a new session."""
    mon = RawMonitor(server, room="Room 3")
    mon.send(numerics(1, T0, HR=70))
    first = mon.welcome["session_id"]
    assert server.post(f"/api/sessions/{first}/end").json()["ended"] is not None
    assert server.post(f"/api/sessions/{first}/end").status_code == 409
    mon.send(numerics(2, T0 + 1, HR=71))
    sessions = server.get("/api/sessions")
    assert len(sessions) == 2 and sessions[1]["ended"] is None and sessions[1]["room"] == "Room 3"
    started = server.post("/api/sessions", json={"room": "Room 9"})
    assert started.status_code == 201 and started.json()["room"] == "Room 9"


def test_bad_rules_file_stops_start_up(tmp_path: Path) -> None:
    """`vitalwatch serve --rules` with a bad file exits non-zero naming the file and line."""
    bad = tmp_path / "clinic-rules.yaml"
    bad.write_text("version: 1\nrules:\n  H1:\n    title: x\n    kind: physiological\n"
                   "    priority: medium\n    when: HR >> 120\n")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--rules", str(bad), "--data-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, check=False, text=True, timeout=30)
    assert result.returncode == 2
    assert f"{bad}: line 7: rule H1: when: 'HR >> 120' is not a comparison" in result.stderr


def test_replay_that_ends_raises_no_feed_lost(feed_loss_server: Server) -> None:
    """A replay-mode monitor that closes with "end of stream" leaves its session open for review
    without raising T4, while a live monitor that goes away does raise it (T4 after FEED_LOST_S
    here; the test above pins the default 10 s)."""
    server = feed_loss_server
    replay = RawMonitor(server, monitor_id="rep-1", room="Room R", mode="replay")
    replay.send(numerics(1, T0, HR=70))
    live = RawMonitor(server, monitor_id="live-1", room="Room L", mode="live")
    live.send(numerics(1, T0, HR=70))
    replay.ws.close(1000, "end of stream")
    live.close()
    alarms = wait_for(lambda: server.get("/api/alarms", active="true"), timeout=20, what="T4")
    time.sleep(1)
    rooms = {a["session_id"] for a in server.get("/api/alarms", active="true") if a["rule"] == "T4"}
    assert rooms == {live.welcome["session_id"]}, alarms
    assert replay.welcome["session_id"] in {s["id"] for s in server.get("/api/sessions", active="true")}
