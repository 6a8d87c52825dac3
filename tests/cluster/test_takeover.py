"""Two instances on one PostgreSQL store and one Redis bus (Debian's, started by the tests): a
session's alarm system runs on one instance at a time (app/lease.py); when that instance is
killed, the other takes the session over with its alarms, and loses no acknowledged reading;
an instance that was stalled and wakes up is fenced off."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.lease import TTL_S
from tests.app.helpers import FEED_LOST_S, Dashboard, RawMonitor, numerics, rules_with
from tests.cluster.conftest import N1_S, Redis
from tests.conftest import Server, free_port, seconds, wait_for


@pytest.fixture
def pair(tmp_path: Path, redis: Redis, postgres_url: str) -> Iterator[tuple[Server, Server]]:
    """Instances A and B on one PostgreSQL database and one bus; H1 (tachycardia) after 1 s and a
    lost feed (T4) after FEED_LOST_S, so that the tests wait seconds, not minutes."""
    rules = rules_with(tmp_path / "rules.yaml", H1=1, T4=FEED_LOST_S, N1=N1_S)
    a, b = (Server(free_port(), tmp_path / name, database=postgres_url,
                   args=("--bus", redis.url, "--instance-id", name, "--rules", str(rules))) for name in "AB")
    b._tokens = a._tokens  # one store: a device registered once is known to both
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        for srv in (a, b):
            if srv.proc is not None and srv.proc.poll() is None:
                srv.proc.send_signal(signal.SIGCONT)
            srv.kill(signal.SIGTERM)


def alarms_of(srv: Server, sid: int) -> dict[str, dict]:
    session = srv.get(f"/api/sessions/{sid}")
    return {a["rule"]: a for a in session["alarms"]}  # type: ignore[index]


def stored_seqs(srv: Server, sid: int) -> list[float]:
    """The device times of the session's stored HR readings, one per acknowledged message."""
    rows = srv.get(f"/api/sessions/{sid}/readings", params=["HR"])["numerics"]  # type: ignore[index]
    return sorted(r["t"] for r in rows)


def own_sessions(srv: Server) -> set[int]:
    """The sessions ``srv`` itself runs: those in its own rooms' snapshot (not the bus's)."""
    return {r["session_id"] for r in srv.get("/api/rooms") if r["session_id"] > 0}  # type: ignore[union-attr]


def stream_until_acked(mon: RawMonitor, first: int, last: int, t0: float, hr: float) -> list[int]:
    acked = []
    for seq in range(first, last + 1):
        answer = mon.send(numerics(seq, t0 + seq, HR=hr, SpO2=98))
        assert answer == {"type": "ack", "seq": seq}, answer
        acked.append(seq)
    return acked


def stall_and_move(a: Server, b: Server, room: str) -> tuple[RawMonitor, RawMonitor, int, list[int], float]:
    """A monitor streams seqs 1-3 into A; A is stopped (SIGSTOP) and the monitor, keeping its
    connection to A open, streams 4-8 into B, which takes the session over; A is woken and has
    found the session lost. Returns both connections, the session, the acknowledged seqs and
    the device time of seq 0."""
    t0 = time.time() - 60
    mon = RawMonitor(a, room=room)
    sid = mon.welcome["session_id"]
    acked = stream_until_acked(mon, 1, 3, t0, hr=80)
    assert a.proc is not None
    a.proc.send_signal(signal.SIGSTOP)
    try:
        moved = RawMonitor(b, room=room, stream=mon.stream)
        assert moved.welcome["session_id"] == sid
        acked += stream_until_acked(moved, 4, 8, t0, hr=80)
    finally:
        a.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: sid not in own_sessions(a), timeout=10, what="A no longer running the session")
    return mon, moved, sid, acked, t0


def test_a_killed_instance_s_session_goes_on_on_the_other_with_its_alarm_and_every_acknowledged_reading(
        pair: tuple[Server, Server]) -> None:
    """A monitor streams a tachycardia into A until H1 is signalled; A is killed (SIGKILL); the
    monitor reconnects to B with the same stream: B takes the session over (its lease), resumes the
    stream after the last acknowledged seq, still signals H1 (restored from the store, not raised
    again), logs the handover, and at the end every acknowledged reading is stored exactly once."""
    a, b = pair
    t0 = time.time() - 60
    mon = RawMonitor(a, room="Room 1")
    sid = mon.welcome["session_id"]
    acked = stream_until_acked(mon, 1, 5, t0, hr=140)
    wait_for(lambda: "H1" in alarms_of(a, sid), what="H1 on A")
    h1 = alarms_of(a, sid)["H1"]
    a.kill()
    killed = time.monotonic()
    mon.close()
    mon = RawMonitor(b, room="Room 1", stream=mon.stream)
    took = time.monotonic() - killed
    assert mon.welcome["session_id"] == sid and mon.welcome["last_seq"] == acked[-1]
    acked += stream_until_acked(mon, 6, 10, t0, hr=140)
    assert sid in own_sessions(b)
    on_b = alarms_of(b, sid)
    assert on_b["H1"]["id"] == h1["id"] and on_b["H1"]["state"] == h1["state"]
    events = [e["event"] for e in b.get(f"/api/sessions/{sid}/alarm-log")]  # type: ignore[union-attr]
    assert events.count("raised") == 1 and "handover" in events
    assert stored_seqs(b, sid) == [t0 + s for s in acked]
    assert took < seconds(10)
    mon.close()


def test_a_session_left_by_its_instance_and_its_monitor_is_taken_over_when_its_lease_expires(
        pair: tuple[Server, Server]) -> None:
    """A and the session's monitor are both gone: within the lease's TTL_S (plus a renewal) B
    runs the session, and its alarm system says what happened: the monitor's feed is lost (T4)."""
    a, b = pair
    mon = RawMonitor(a, room="Room 2")
    sid = mon.welcome["session_id"]
    stream_until_acked(mon, 1, 3, time.time() - 10, hr=80)
    a.kill()
    mon.close()
    gone = time.monotonic()
    wait_for(lambda: sid in own_sessions(b), timeout=TTL_S + 5, what="B running the session")
    assert time.monotonic() - gone < seconds(TTL_S + 5)
    wait_for(lambda: "T4" in alarms_of(b, sid), timeout=FEED_LOST_S + 5, what="T4 raised on B")


def test_an_instance_stalled_while_its_session_moved_is_fenced_when_it_wakes(pair: tuple[Server, Server]) -> None:
    """A is stopped (SIGSTOP) mid-session; the monitor gives up on it and reconnects to B, which
    takes the session over. When A wakes up it stops running the session (its renewal finds the
    lease lost) and writes nothing more for it; B goes on storing every reading once."""
    a, b = pair
    mon, moved, sid, acked, t0 = stall_and_move(a, b, "Room 3")
    assert "no longer run here" in a.log.read_text()
    acked += stream_until_acked(moved, 9, 10, t0, hr=80)
    assert stored_seqs(b, sid) == [t0 + s for s in acked]
    moved.close()
    mon.ws.close_socket()


def test_a_stalled_instance_s_old_connection_cannot_take_the_session_back(pair: tuple[Server, Server]) -> None:
    """A monitor's connection to a stalled instance A stays open while the monitor moves to B; when
    A wakes up and has found the session lost, a reading still coming on that old connection is
    refused and ends it: A does not take the session back from B (only a monitor's hello may), nor
    store the reading a second time, nor wind the stream's stored seq back (which would make B
    record the readings after it as given up)."""
    a, b = pair
    mon, moved, sid, acked, t0 = stall_and_move(a, b, "Room 4")
    answer = mon.send(numerics(4, t0 + 4, HR=80))  # seq 4 is the next one A knows of
    assert answer["type"] == "error" and answer["retry"], answer
    assert sid in own_sessions(b) and sid not in own_sessions(a)
    acked += stream_until_acked(moved, 9, 10, t0, hr=80)
    moved.close()
    again = RawMonitor(b, room="Room 4", stream=mon.stream)
    assert again.welcome["last_seq"] == 10
    assert stored_seqs(b, sid) == [t0 + s for s in acked]
    again.close()
    mon.ws.close_socket()


def test_a_dashboard_on_the_instance_taking_a_room_over_shows_it_once_as_its_own(
        pair: tuple[Server, Server]) -> None:
    """A dashboard on B sees A's room through the bus (an aliased, negative session id); when B
    takes the session over, the dashboard is told the remote room ended and gets the room as
    B's own (the store's id), and B's room list has it once."""
    a, b = pair
    dash = Dashboard(b)
    mon = RawMonitor(a, room="Room 4")
    sid = mon.welcome["session_id"]
    stream_until_acked(mon, 1, 2, time.time() - 10, hr=80)
    remote = dash.wait(lambda m: m["type"] == "session_started" and m["room"]["room"] == "Room 4")
    alias = remote["room"]["session_id"]
    assert alias < 0
    a.kill()
    mon.close()
    mon = RawMonitor(b, room="Room 4", stream=mon.stream)
    # Its own room first, then the other's stale one ended (both before the monitor's next message).
    dash.wait(lambda m: m["type"] == "session_ended" and m["session_id"] == alias)
    assert any(m["type"] == "session_started" and m["room"]["session_id"] == sid for m in dash.seen)
    rooms = [r for r in b.get("/api/rooms") if r["room"] == "Room 4"]  # type: ignore[union-attr]
    assert [r["session_id"] for r in rooms] == [sid]
    dash.close()
    mon.close()
