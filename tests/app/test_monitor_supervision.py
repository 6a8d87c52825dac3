"""Each monitor of a session is supervised on its own (its own lost feed, its own link state), and
only a monitor's current connection can mark it disconnected."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from tests.app.helpers import FEED_LOST_S, Dashboard, RawMonitor, numerics
from tests.conftest import Server, seconds, wait_for

T0 = 1_800_000_000.0


@pytest.fixture
def server(feed_loss_server: Server) -> Server:
    """This module's servers lose a feed (T4) after FEED_LOST_S (tests/app/conftest.py)."""
    return feed_loss_server


class Streamer:
    """Sends one numerics message a second on a monitor, from a thread, until stopped."""

    def __init__(self, mon: RawMonitor, first_seq: int = 1) -> None:
        self.mon, self.seq, self.acks = mon, first_seq, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            reply = self.mon.send(numerics(self.seq, time.time(), HR=70))
            assert reply == {"type": "ack", "seq": self.seq}, reply
            self.seq, self.acks = self.seq + 1, self.acks + 1
            self.stop.wait(0.5)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=seconds(5))
        self.mon.close()


def room_of(server: Server, name: str) -> dict:
    return next(r for r in server.get("/api/rooms") if r["room"] == name)  # type: ignore[union-attr]


def test_a_second_monitor_does_not_hide_a_dead_one(server: Server) -> None:
    """Two monitors in one room, one killed: T4 is raised for the dead one, naming it, after the
    rule's delay counted from its last message, while the other keeps streaming; the room is
    partial and names the silent monitor; the live one keeps its own link state."""
    ecg = RawMonitor(server, monitor_id="mon-ecg", room="Room D")
    session_id = ecg.welcome["session_id"]
    assert server.post(f"/api/sessions/{session_id}/monitors",
                       json={"monitor_id": "mon-spo2"}).status_code == 200
    spo2 = RawMonitor(server, monitor_id="mon-spo2", room="Room D")
    assert spo2.welcome["session_id"] == session_id
    streaming = Streamer(ecg)
    try:
        dash = Dashboard(server)
        spo2.send(numerics(1, time.time(), SpO2=98))
        last_heard = time.monotonic()
        assert room_of(server, "Room D")["live"] is True
        spo2.close()
        alarm = dash.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "T4", timeout=25)
        took = time.monotonic() - last_heard
        # The rule's delay, counted from the last message.
        assert FEED_LOST_S <= took < FEED_LOST_S + seconds(3), took
        assert alarm["alarm"]["monitor_id"] == "mon-spo2" and "mon-spo2" in alarm["alarm"]["message"]
        room = room_of(server, "Room D")
        assert room["live"] is False and room["partial"] is True and room["silent"] == ["mon-spo2"]
        links = {m["monitor_id"]: m["live"] for m in room["monitors"]}
        assert links == {"mon-ecg": True, "mon-spo2": False}
        # Only the dead monitor lost its feed: the streaming one raised nothing.
        t4 = [a for a in room["alarms"] if a["rule"] == "T4"]
        assert [a["monitor_id"] for a in t4] == ["mon-spo2"]
        before = streaming.acks
        wait_for(lambda: streaming.acks >= before + 2, what="the other monitor to keep streaming")
        db = sqlite3.connect(server.data_dir / "vitalwatch.sqlite3")
        try:
            logged = db.execute("SELECT DISTINCT monitor_id FROM alarm_log WHERE rule='T4'").fetchall()
        finally:
            db.close()
        assert logged == [("mon-spo2",)]
    finally:
        streaming.close()


def test_a_silent_monitor_comes_back_and_its_own_alarm_clears(server: Server) -> None:
    """When the silent monitor of a two-monitor room comes back, its T4 clears and the room is
    live again; the other monitor's feed was never lost."""
    a = RawMonitor(server, monitor_id="mon-a1", room="Room E")
    session_id = a.welcome["session_id"]
    server.post(f"/api/sessions/{session_id}/monitors", json={"monitor_id": "mon-b1"})
    streaming = Streamer(a)
    try:
        dash = Dashboard(server)
        # mon-b1 is listed but never came: its feed is lost like a monitor that died.
        raised = dash.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "T4", timeout=25)
        assert raised["alarm"]["monitor_id"] == "mon-b1"
        b = RawMonitor(server, monitor_id="mon-b1", room="Room E")
        b.send(numerics(1, time.time(), SpO2=97))
        cleared = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "cleared", timeout=10)
        assert cleared["alarm"]["monitor_id"] == "mon-b1"
        wait_for(lambda: room_of(server, "Room E")["live"], what="the room to be live again")
        b.close()
    finally:
        streaming.close()


def test_stale_connection_close_does_not_mark_a_live_monitor_offline(server: Server) -> None:
    """Connection A, then B for the same monitor (the reconnect), then A closes: the monitor
    stays connected and the room live while B streams, past the silence threshold."""
    a = RawMonitor(server, monitor_id="mon-re", room="Room R")
    a.send(numerics(1, T0, HR=70))
    b = RawMonitor(server, monitor_id="mon-re", room="Room R", stream=a.stream)
    assert b.welcome["last_seq"] == 1
    streaming = Streamer(b, first_seq=2)
    try:
        dash = Dashboard(server)
        a.close()
        deadline = time.monotonic() + 5  # beyond SILENCE_S (3 s)
        while time.monotonic() < deadline:
            room = room_of(server, "Room R")
            assert room["live"] is True and room["monitors"][0]["connected"] is True, room
            time.sleep(0.2)
        assert not [m for m in dash.seen if m["type"] == "room" and m["room"]["live"] is False]
        monitor = next(m for m in server.get("/api/monitors") if m["monitor_id"] == "mon-re")
        assert monitor["connected"] is True
    finally:
        streaming.close()
    # The current connection's own close still counts.
    wait_for(lambda: room_of(server, "Room R")["monitors"][0]["connected"] is False,
             what="the monitor to be disconnected once B closes")


def test_monitor_ids_on_alarms_survive_a_restart(server: Server) -> None:
    """After a restart a lost feed is still the same monitor's: the restored T4 clears when that
    monitor comes back, and no second T4 is raised for it."""
    mon = RawMonitor(server, monitor_id="mon-st", room="Room S")
    mon.send(numerics(1, T0, HR=70))
    mon.close()
    wait_for(lambda: any(a["rule"] == "T4" for a in room_of(server, "Room S")["alarms"]),
             timeout=25, what="T4")
    server.kill()
    server.start()
    dash = Dashboard(server)
    back = RawMonitor(server, monitor_id="mon-st", room="Room S")
    back.send(numerics(2, T0 + 60, HR=70))
    cleared = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "cleared", timeout=10)
    assert cleared["alarm"]["monitor_id"] == "mon-st"
    rows = [a for a in server.get("/api/alarms") if a["rule"] == "T4"]  # type: ignore[union-attr]
    assert len(rows) == 1 and rows[0]["state"] == "cleared"
    back.close()
