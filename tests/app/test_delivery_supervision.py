"""Delivery supervision in process: D3 follows the devices a nurse has, in that nurse's rooms."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from alerts.delivery.config import load as load_channels
from alerts.delivery.wire import Sender, State, StatusReport
from alerts.rules import load
from app.ack_link import AckLinks
from app.delivery import DeliveryService
from app.hub import Hub
from app.pipeline import Pipeline
from app.roster import Roster
from app.store import Store
from tests.conftest import seconds


class Heartbeats:
    """The two questions app/push.py answers, over a plain table of last heartbeats."""

    def __init__(self, heartbeat_s: float) -> None:
        self.heartbeat_s = heartbeat_s
        self.last: dict[tuple[str, str], float] = {}

    def senders_for(self, user: str) -> list[Sender]:
        return []

    def lapsed(self, now: float) -> list[tuple[str, str]]:
        return [key for key, t in self.last.items() if now - t > self.heartbeat_s]


def test_a_lapsed_nurse_device_raises_d3_in_that_nurses_rooms_only(tmp_path: Path) -> None:
    """A device of the nurse covering Room 1 goes quiet: D3 is raised in Room 1's session, not
    in Room 2's, and clears when the device is heard again."""
    store = Store(tmp_path / "vitalwatch.sqlite3")
    rules = load(None)
    pipeline = Pipeline(store, Hub(), rules, time.time())
    now = time.time()
    one = pipeline.start_session("Room 1", "test", now)
    two = pipeline.start_session("Room 2", "test", now)
    Roster(store.db).add_shift("day", now - 60, now + 3600, "clara",
                               {"Room 1": ("ann", None), "Room 2": ("dan", None)}, by="t", now=now)
    devices = Heartbeats(rules.delivery.device_heartbeat_s)
    devices.last = {("ann", "phone"): now - 2 * rules.delivery.device_heartbeat_s,
                    ("dan", "phone"): now}
    service = DeliveryService(pipeline, load_channels(None), tmp_path, "http://x",
                              AckLinks(store.db, b"k" * 32), devices=devices)

    def d3(session_id: int) -> list[str]:
        return [a["state"] for a in pipeline.alarm_log.alarms(session_id) if a["rule"] == "D3"]

    async def run() -> None:
        await service.start()
        try:
            await _until(lambda: d3(one.id) == ["active"])
            assert d3(two.id) == []
            devices.last[("ann", "phone")] = time.time()
            await _until(lambda: d3(one.id) == ["cleared"])
        finally:
            await service.close()

    asyncio.run(run())
    store.close()


async def _until(predicate, timeout: float = 5) -> None:
    deadline = time.monotonic() + seconds(timeout)
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_status_reports_move_a_delivery_forward_only(tmp_path: Path) -> None:
    """A channel's later news moves a delivery on (delivered, seen) with its time and who; a
    late report of an earlier state changes nothing; a failure report is final and counted."""
    store = Store(tmp_path / "vitalwatch.sqlite3")
    pipeline = Pipeline(store, Hub(), load(None), time.time())
    service = DeliveryService(pipeline, load_channels(None), tmp_path, "http://x",
                              AckLinks(store.db, b"k" * 32))
    did = service.log.add(alarm_id=1, log_id=1, session_id=1, event="raised", step="primary",
                          recipient="ann", channel="push", destination="push ann #1", t=100.0)
    service.report(StatusReport(delivery_id=did, state=State.seen, t_server=105.0, by="ann"))
    service.report(StatusReport(delivery_id=did, state=State.delivered, t_server=106.0))
    row = service.log.get(did)
    assert row is not None and (row["state"], row["seen"], row["delivered"], row["by"]) == (
        "seen", 105.0, None, "ann")
    service.report(StatusReport(delivery_id=did, state=State.failed, t_server=107.0, detail="gone"))
    service.report(StatusReport(delivery_id=did, state=State.acknowledged, t_server=108.0))
    row = service.log.get(did)
    assert row is not None and (row["state"], row["failed"], row["detail"]) == ("failed", 107.0, "gone")
    assert service.counts["failed"] == 1 and service.status()["channels_down"] == ["push ann #1"]
    store.close()


def test_the_worker_stops_when_closed_just_as_it_is_woken(tmp_path: Path) -> None:
    """Closing the service the moment its worker is woken (an alarm change arriving as the
    server stops) stops the worker: the cancellation is never taken for the wake-up, which
    would leave the worker looping and the server's shutdown waiting for it for ever."""
    store = Store(tmp_path / "vitalwatch.sqlite3")
    pipeline = Pipeline(store, Hub(), load(None), time.time())

    async def run(steps: int) -> None:
        service = DeliveryService(pipeline, load_channels(None), tmp_path, "http://x",
                                  AckLinks(store.db, b"k" * 32))
        await service.start()
        await asyncio.sleep(0.01)  # the worker waiting for its next wake-up
        assert service._wake is not None
        service._wake.set()
        for _ in range(steps):  # each loop step a point in the wake-up the close may land on
            await asyncio.sleep(0)
        closing = asyncio.create_task(service.close())
        done, _ = await asyncio.wait({closing}, timeout=seconds(5))
        assert closing in done, f"the worker went on after close ({steps} steps after the wake-up)"

    for steps in range(4):
        asyncio.run(run(steps))
    store.close()
