"""The bus between instances, end to end: two real ``vitalwatch serve`` on a real Redis, a monitor
streaming into one, dashboards on the other (docs/cluster.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from app.remote import INSTANCE_SILENCE_S
from tests.app.helpers import Dashboard, RawMonitor, numerics
from tests.cluster.conftest import Redis
from tests.conftest import SSL_CONTEXT, Server, seconds, wait_for


def remote(msg: dict[str, Any], room: str, kind: str) -> bool:
    name = msg.get("room")
    return msg["type"] == kind and (name["room"] if isinstance(name, dict) else name) == room


def n1(event: str):
    return lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "N1" and m["event"] == event


def saw(dash: Dashboard, predicate, timeout: float = 10) -> dict[str, Any]:
    """The first message ``predicate`` takes that the dashboard got since ``mark``ed, whether
    it came before the wait began or comes within ``timeout``."""
    for msg in dash.seen[getattr(dash, "mark", 0):]:
        if predicate(msg):
            return msg
    return dash.wait(predicate, timeout)


def mark(*dashes: Dashboard) -> None:
    for dash in dashes:
        dash.mark = len(dash.seen)  # type: ignore[attr-defined]


def ready(server: Server) -> int:
    return httpx.get(f"{server.http}/readyz", timeout=seconds(5), verify=SSL_CONTEXT).status_code


@contextmanager
def streaming(server: Server, monitor_id: str, room: str, **values: float) -> Iterator[RawMonitor]:
    """A monitor sending ``values`` twice a second (its device clock = the wall clock)."""
    mon = RawMonitor(server, monitor_id, room=room)
    stop = threading.Event()

    def run() -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            try:
                mon.send(numerics(seq, time.time(), **values))
            except ConnectionClosed:
                return  # its server was stopped by the test
            stop.wait(0.5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield mon
    finally:
        stop.set()
        thread.join(seconds(5))
        mon.close()


def test_a_dashboard_on_b_sees_a_room_streaming_into_a(cluster: tuple[Server, Server]) -> None:
    """A dashboard on B gets the session, numerics and a raised alarm of a room whose monitor
    streams into A, as valid feed messages with ids that are none of B's own (negative); a
    dashboard connecting to B later finds the room as it stands in its snapshot; B's API refuses
    to act on the remote alarm by that id, and B's store holds nothing of the room."""
    a, b = cluster
    dash = Dashboard(b, validate=True)
    mon = RawMonitor(a, "mon-a", room="Room A")
    started = dash.wait(lambda m: remote(m, "Room A", "session_started"))
    sid = started["room"]["session_id"]
    assert sid < 0
    t0 = time.time()
    for i in range(12):  # H1 (HR > 120 for 10 s of the device's clock)
        mon.send(numerics(i + 1, t0 + i, HR=134, SpO2=97))
    seen = dash.wait(lambda m: remote(m, "Room A", "numerics") and m["readings"]["HR"]["value"] == 134)
    assert seen["session_id"] == sid
    raised = dash.wait(lambda m: remote(m, "Room A", "alarm") and m["alarm"]["rule"] == "H1")
    assert raised["event"] == "raised" and raised["session_id"] == sid and raised["alarm"]["id"] < 0

    late = Dashboard(b, validate=True)
    room = next(r for r in late.snapshot["rooms"] if r["room"] == "Room A")
    assert room["session_id"] == sid and room["live"]
    assert room["latest"]["HR"]["value"] == 134 and room["latest"]["SpO2"]["value"] == 97
    assert [al["rule"] for al in room["alarms"]] == ["H1"]

    refused = b.post(f"/api/alarms/{raised['alarm']['id']}/acknowledge", json={})
    assert refused.status_code == 422, refused.text
    assert b.get("/api/sessions") == [] and b.get("/api/alarms") == []
    mon.close()
    late.close()
    dash.close()


def test_redis_lost_degrades_both_instances_and_both_recover(
        cluster: tuple[Server, Server], redis: Redis) -> None:
    """Redis killed: each instance raises N1 "Cluster degraded" in its own room's dashboards,
    B shows A's room not live, /readyz answers 503 on both while each goes on serving its own
    room; Redis back: N1 clears on both, /readyz is 200, and A's numerics reach B again."""
    a, b = cluster
    with streaming(a, "mon-a", "Room A", HR=70), streaming(b, "mon-b", "Room B", HR=71):
        dash_a, dash_b = Dashboard(a, validate=True), Dashboard(b, validate=True)
        dash_b.wait(lambda m: remote(m, "Room A", "numerics"))
        dash_a.wait(lambda m: remote(m, "Room B", "numerics"))
        assert ready(a) == ready(b) == 200

        mark(dash_a, dash_b)
        redis.kill()
        lost = time.monotonic()
        # At once: A's room not live on B; after N1's delay, the alarm on both.
        for dash in (dash_a, dash_b):
            raised = saw(dash, n1("raised"))
            assert raised["alarm"]["kind"] == "technical" and raised["alarm"]["priority"] == "medium"
        assert time.monotonic() - lost < seconds(5)
        saw(dash_b, lambda m: remote(m, "Room A", "room") and not m["room"]["live"])
        wait_for(lambda: ready(a) == ready(b) == 503, 5, what="/readyz 503 on both")
        mark(dash_b)
        dash_b.wait(lambda m: remote(m, "Room B", "numerics"))  # its own room, as ever

        mark(dash_a, dash_b)
        redis.start()
        for dash in (dash_a, dash_b):
            saw(dash, n1("cleared"), timeout=15)
        wait_for(lambda: ready(a) == ready(b) == 200, 5, what="/readyz 200 on both")
        back = saw(dash_b, lambda m: remote(m, "Room A", "session_started") and m["room"]["live"])
        saw(dash_b, lambda m: remote(m, "Room A", "numerics")
            and m["session_id"] == back["room"]["session_id"])
        # Logged like any alarm: raised, then ended, in A's alarm log.
        wait_for(lambda: [al["state"] for al in a.get("/api/alarms") if al["rule"] == "N1"] == ["cleared"],
                 5, what="N1 cleared in A's alarm log")
        dash_a.close()
        dash_b.close()


def test_rooms_of_an_instance_that_stops_go_not_live_elsewhere(cluster: tuple[Server, Server]) -> None:
    """A killed while its monitor streams: within INSTANCE_SILENCE_S B's dashboards get A's room
    as not live, and a dashboard connecting to B after that finds it not live in its snapshot,
    never its last values as current."""
    a, b = cluster
    with streaming(a, "mon-a", "Room A", HR=72):
        dash = Dashboard(b, validate=True)
        dash.wait(lambda m: remote(m, "Room A", "numerics"))
        mark(dash)
        a.kill()
        killed = time.monotonic()
        gone = saw(dash, lambda m: remote(m, "Room A", "room") and not m["room"]["live"])
        assert time.monotonic() - killed < seconds(INSTANCE_SILENCE_S + 2)
        assert gone["room"]["silent"] == ["mon-a"] and not gone["room"]["monitors"][0]["live"]
        late = Dashboard(b, validate=True)
        assert [(r["room"], r["live"]) for r in late.snapshot["rooms"]] == [("Room A", False)]
        late.close()
        dash.close()


def test_a_redis_that_hangs_is_found_by_its_silence(cluster: tuple[Server, Server], redis: Redis) -> None:
    """Redis frozen (its sockets open, nothing answered, no error from any socket): both
    instances find the bus lost from their publishes timing out and their own snapshots not
    coming back, raise N1 and say not ready; Redis thawed, both clear N1 and are ready again."""
    a, b = cluster
    with streaming(a, "mon-a", "Room A", HR=73), streaming(b, "mon-b", "Room B", HR=74):
        dash_a, dash_b = Dashboard(a, validate=True), Dashboard(b, validate=True)
        dash_b.wait(lambda m: remote(m, "Room A", "numerics"))
        mark(dash_a, dash_b)
        redis.freeze()
        for dash in (dash_a, dash_b):
            saw(dash, n1("raised"), timeout=15)
        wait_for(lambda: ready(a) == ready(b) == 503, 5, what="/readyz 503 on both")
        mark(dash_a, dash_b)
        redis.freeze(False)
        for dash in (dash_a, dash_b):
            saw(dash, n1("cleared"), timeout=20)
        wait_for(lambda: ready(a) == ready(b) == 200, 5, what="/readyz 200 on both")
        dash_a.close()
        dash_b.close()
