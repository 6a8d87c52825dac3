"""Device time against the server clock, through a real server: a live monitor's timestamps are
refused too far ahead, too far behind or going back, and no single timestamp can hold an alarm
back or bring it forward."""

from __future__ import annotations

import time

from app.ingest import BACKWARD_S, FUTURE_S, PAST_S
from tests.app.helpers import Dashboard, RawMonitor, numerics
from tests.conftest import Server, wait_for


def test_live_time_is_bounded_at_both_ends_and_counted(server: Server) -> None:
    """A live reading a day ahead, or more than 24 h behind, is refused naming ``t`` and by how
    much, and counted; a backlog hours old is taken; a reading going back more than the
    tolerance behind the previous one is refused, but one a few seconds ahead does not get the
    next, correctly timed readings refused."""
    mon = RawMonitor(server, mode="live")
    now = time.time()
    ahead = mon.send(numerics(1, now + 86_400, HR=70))
    assert ahead["type"] == "error" and ahead["seq"] == 1 and ahead["field"] == "t"
    assert "ahead of the server clock" in ahead["reason"] and ahead["retry"] is False
    behind = mon.send(numerics(2, now - PAST_S - 60, HR=70))
    assert behind["field"] == "t" and "behind the server clock" in behind["reason"]
    # An outage's backlog: three hours old, in order, is taken.
    seq = 2
    for i in range(3):
        seq += 1
        assert mon.send(numerics(seq, now - 3 * 3600 + i, HR=70)) == {"type": "ack", "seq": seq}
    seq += 1
    assert mon.send(numerics(seq, time.time(), HR=71)) == {"type": "ack", "seq": seq}
    seq += 1
    back = mon.send(numerics(seq, time.time() - BACKWARD_S - 30, HR=72))
    assert back["field"] == "t" and "before what this monitor sent last" in back["reason"]
    # Within the tolerance ahead; the readings after it, on time, are still taken.
    seq += 1
    assert mon.send(numerics(seq, time.time() + FUTURE_S - 2, HR=73))["type"] == "ack"
    for _ in range(3):
        seq += 1
        assert mon.send(numerics(seq, time.time(), HR=74)) == {"type": "ack", "seq": seq}
    counts = server.get("/api/monitors")[0]
    assert counts["refused"] == 3 and counts["refused_by"] == {"t": 3}
    rows = server.get(f"/api/sessions/{mon.welcome['session_id']}/readings", params="HR")["numerics"]
    assert sorted(r["value"] for r in rows) == [70, 70, 70, 71, 73, 74, 74, 74]


def _alarm_times(server: Server, bad_t: float) -> dict[str, float]:
    """Send one SpO2 84 reading at ``bad_t``, then a sustained SpO2 84 from 60 s ago, one reading
    a second; return when O3 (5 s delay) and O2 (15 s delay) were raised, and the first onset."""
    dash = Dashboard(server)
    mon = RawMonitor(server, mode="live")
    start = time.time() - 60
    bad = mon.send(numerics(1, bad_t, SpO2=84))
    assert bad["type"] == "error" and bad["field"] == "t", bad
    for i in range(20):
        assert mon.send(numerics(i + 2, start + i, SpO2=84))["type"] == "ack"
    raised: dict[str, float] = {}
    while len(raised) < 2:
        alarm = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "raised")
        raised[alarm["alarm"]["rule"]] = alarm["alarm"]["raised_device"] - start
    latest = wait_for(lambda: server.get("/api/rooms")[0]["latest"].get("SpO2"), what="SpO2 shown")
    assert latest["t_device"] == start + 19  # the refused reading never became "the latest value"
    return raised


def test_a_reading_a_day_ahead_does_not_hold_alarms_back(server: Server) -> None:
    """One live reading timestamped a day ahead is refused, and a sustained SpO2 84 after it
    raises O3 and O2 exactly after their delays (5 s, 15 s), not a day later."""
    assert _alarm_times(server, time.time() + 86_400) == {"O3": 5, "O2": 15}


def test_a_reading_from_1970_does_not_bring_alarms_forward(server: Server) -> None:
    """One live reading timestamped in 1970 is refused, and a sustained SpO2 84 after it raises
    O3 and O2 after their delays, not at the first reading as if it had lasted since 1970."""
    assert _alarm_times(server, 1.0) == {"O3": 5, "O2": 15}


def test_no_message_of_any_kind_winds_a_live_monitors_clock_back(server: Server) -> None:
    """After a monitor's readings, a status or a dose mark stamped an hour back is refused naming
    ``t`` — on the same connection and as the first message after a reconnect — so no single
    message can wind back the clock the supervisor ticks the room's alarms on."""
    mon = RawMonitor(server, mode="live")
    for seq in range(1, 4):
        assert mon.send(numerics(seq, time.time(), HR=70))["type"] == "ack"
    old = time.time() - 3600
    status = mon.send({"type": "status", "seq": 4, "t": old, "code": "low_battery"})
    assert status["type"] == "error" and status["field"] == "t", status
    assert "before what this monitor sent last" in status["reason"]
    mon.close()
    again = RawMonitor(server, mode="live", stream=mon.stream)
    mark = again.send({"type": "mark", "seq": 5, "t": old, "what": "dose"})
    assert mark["type"] == "error" and mark["field"] == "t", mark
    assert again.send(numerics(6, time.time(), HR=71))["type"] == "ack"
    again.close()
    session = server.get("/api/sessions")[0]
    assert session["dose"] is None
