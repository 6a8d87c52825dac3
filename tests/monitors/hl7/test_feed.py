"""A device's feed: device times kept when plausible, a cuff reading delivered minutes late sent
at the feed's latest time (the server takes a monitor's messages in time order), a wrong device
clock replaced by receive times, and silence reported as device_lost until the next message."""

from __future__ import annotations

import asyncio
import contextlib

from monitors.adapter import Identity
from monitors.hl7.listener import Feed

NOW = 1_800_000_000.0


def make(silent_s: float = 30.0) -> Feed:
    return Feed(Identity("hl7-bed", "Room 1", "test", serial="0123456789ABCDEF"), silent_s)


def taken(feed: Feed) -> list[dict]:
    out = []
    while not feed.queue.empty():
        out.append(feed.queue.get_nowait())
    return out


def test_device_times_and_a_late_cuff_reading() -> None:
    """Numerics keep their device time; a cuff reading measured 3 min before them and delivered
    after them goes at their time and is counted late; one without a time gets the receive time."""
    feed = make()
    feed.put([{"type": "numerics", "t": NOW - 10, "values": {}}], received=NOW)
    feed.put([{"type": "nibp", "t": NOW - 190, "status": "ok", "sys": 120}], received=NOW + 1)
    feed.put([{"type": "numerics", "t": None, "values": {}}], received=NOW + 2)
    assert [m["t"] for m in taken(feed)] == [NOW - 10, NOW - 10, NOW + 2]
    assert feed.counts["late"] == 1


def test_a_cuff_reading_alone_keeps_its_time() -> None:
    """A cuff that reports minutes after measuring, with nothing newer sent, keeps its time."""
    feed = make()
    feed.put([{"type": "nibp", "t": NOW - 300, "status": "ok", "sys": 120}], received=NOW)
    assert taken(feed)[0]["t"] == NOW - 300 and feed.counts["late"] == 0


def test_wrong_device_clock_uses_receive_time() -> None:
    """A device clock an hour behind, or a minute ahead, is not believed: receive times instead."""
    feed = make()
    feed.put([{"type": "numerics", "t": NOW - 3600, "values": {}}], received=NOW)
    feed.put([{"type": "numerics", "t": NOW + 61, "values": {}}], received=NOW + 1)
    assert [m["t"] for m in taken(feed)] == [NOW, NOW + 1] and feed.counts["clock_off"] == 2


def test_silence_is_device_lost_until_the_next_message() -> None:
    """After silent_s without a message the feed yields device_lost (active, repeated), and the
    next message ends it before the reading itself."""
    async def run() -> list[dict]:
        feed = make(silent_s=0.3)
        out: list[dict] = []

        async def consume() -> None:
            async for msg in feed:
                out.append(msg)

        task = asyncio.create_task(consume())
        await asyncio.sleep(1.6)
        feed.put([{"type": "numerics", "t": None, "values": {"HR": {"value": 60, "unit": "/min"}}}],
                 received=NOW)
        await asyncio.sleep(0.2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return out

    out = asyncio.run(run())
    kinds = [(m["type"], m.get("active")) for m in out]
    assert kinds[0] == ("status", True) and kinds.count(("status", True)) >= 2
    assert kinds[-2:] == [("status", False), ("numerics", None)]
    assert "0123456789ABCDEF" in out[0]["text"]


def test_a_reading_timed_before_a_status_goes_at_the_status_time() -> None:
    """A device_lost status counts as the feed's latest time: a reading the device timed before
    it (its backlog after a silence) is sent at the status's time, not refused as going back."""
    feed = make()
    status = feed._status(True)
    feed.put([{"type": "numerics", "t": status["t"] - 60, "values": {}}], received=status["t"] + 1)
    assert taken(feed)[0]["t"] == status["t"] and feed.counts["late"] == 1
