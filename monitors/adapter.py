"""The adapter interface: every monitor source — simulated, serial, HL7, replay — is the same
two things: an ``Identity`` (who is speaking, from which room) and an async iterator of wire
messages without ``seq`` (the uplink numbers them). A source that loses its device yields a
``status`` message saying so and keeps going; it ends only when its data truly ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class Identity:
    monitor_id: str
    room: str
    mode: str = "live"  # live | demo | replay | test
    vendor: str = ""
    model: str = ""
    serial: str = ""


class Source(Protocol):
    identity: Identity

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...


def retime(record: dict[str, Any], shift: float) -> dict[str, Any]:
    """A copy of ``record`` with its timestamps moved by ``shift`` seconds."""
    out = dict(record)
    for key in ("t", "start", "end"):
        if isinstance(out.get(key), (int, float)):
            out[key] = out[key] + shift
    return out


class Paced:
    """Plays time-ordered records (a simulation or a recording) in real or accelerated time.

    Timestamps are moved so the first record happens now, and advance ``speed`` times faster
    than the wall clock: device time is simulated time, so alarm delays keep their meaning at any
    speed. Records that are not wire messages (ground truth, exported alarms) are skipped.
    """

    WIRE: ClassVar[set[str]] = {"numerics", "nibp", "waveform", "status", "mark", "heartbeat"}

    def __init__(self, identity: Identity, records: Iterable[dict[str, Any]], speed: float = 1.0,
                 clock: Callable[[], float] = time.time, skip_s: float = 0.0,
                 history: bool = False) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.identity, self.records, self.speed, self.clock = identity, records, speed, clock
        self.skip_s = skip_s  # start this far into the records (a replay from MM:SS)
        # With ``history``, the skipped part's readings but its waveforms are sent first, at
        # once, at their own (past) times: a session joined at minute 30 then has its pre-dose
        # baseline, its cuff readings and its trend, as a monitor that had been there would.
        self.history = history

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        wall0 = self.clock()
        t0: float | None = None
        first: float | None = None
        kept: list[dict[str, Any]] = []
        for rec in self.records:
            if rec.get("type") not in self.WIRE:
                continue
            if first is None:
                first = rec["t"]
            if rec["t"] < first + self.skip_s:
                # Readings before the starting point are skipped, but not the clinical marks: a
                # session joined at minute 35 still had its dose at minute 10.
                if rec["type"] == "mark" or (self.history and rec["type"] != "waveform"):
                    kept.append(rec)
                continue
            if t0 is None:
                t0 = rec["t"]
                for earlier in kept:
                    yield retime(earlier, wall0 - t0)
            due = wall0 + (rec["t"] - t0) / self.speed
            delay = due - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            yield retime(rec, wall0 - t0)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for an adapter's run loop to stop on cleanly (its
    uplink then closes with end-of-stream). Where the loop cannot take signal handlers (not the
    main thread, another platform), the event is only set by whoever else holds it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop
