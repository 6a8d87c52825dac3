"""Feeding a session's alarm system: one validated monitor message at a time, and the clock
ticks between messages.

The live pipeline (``app/pipeline.py``) and ``vitalwatch evaluate`` (``offline/evaluate.py``) both
feed every message through ``feed`` and nothing else, so the alarm system sees the same inputs at
the same device times whether a recording is streamed through a server at any speed or evaluated
offline — also for a sparse recording (a 1-a-minute ICU trend) or a device that goes quiet.

Ticks. Timers (technical delays, the NIBP schedule, escalation, audio pauses) must progress while
a device sends nothing the alarms read. The rule, defined once here: once the latest message is
older on the device's clock than the device's quiet limit, the alarm system is ticked every
``TICK_S``, at ``latest + limit + TICK_S / 2``, ``+ TICK_S`` …, until the next message. The limit
is ``QUIET_S`` for a monitor that reports every second or so; for a source that reports its
numerics less often (an ICU trend: one record a minute) it is its own reporting interval
(``alerts/cadence.py``; before its second numerics there is none, and the limit is ``QUIET_S``):
the stretch between two regular trend records is not a silence, while a record that does not
come when it should is, and its values then go stale and raise the technical alarms (V1, T7) a
live monitor's silence raises. The tick times hang
off the device time of the latest message, never off when a server happened to look, so they
are the same live and offline: the live supervisor ticks those that its estimate of the device
clock has passed, and the next message first catches up on any due before it (``feed``). They
fall half-way between the whole seconds that readings are stamped at, so a tick and a reading
never share a time and the order of the two never depends on how late a message arrived.

Which device time counts is the pipeline's: a message's ``t`` (a waveform chunk's first sample),
and only forwards (a message stamped in the past, a second monitor's backlog, does not wind the
clock back). A heartbeat says "still connected", not a device time: it does not move the clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from alerts.cadence import Cadence
from alerts.system import AlarmSystem, Change
from monitors.protocol import Heartbeat, Mark, Nibp, Numerics, Status, Waveform

QUIET_S = 2.0  # a device quiet (no message the alarms read) for longer than this is ticked
TICK_S = 1.0  # ... once a second on the device's clock, as the live supervisor runs
# A silence is ticked every second for at most this long, then not until the message that ends
# it, which is preceded by one tick just before it (live and offline alike: the supervisor's ticks
# stop at the same point). Every timer the rules hold (technical delays, escalation, audio pause,
# the NIBP cycle) runs out well within an hour, so later ticks could only repeat reminders of an
# acknowledged alarm. Without the bound one message stamped decades ahead (a test-mode device may
# jump its clock) would cost 10^9 ticks and stall the server.
CATCH_UP_S = 3600.0

Message = Numerics | Nibp | Waveform | Status | Mark | Heartbeat


def apply(system: AlarmSystem, msg: Message) -> list[Change]:
    """Apply one validated message (its values already in canonical units) to ``system``."""
    if isinstance(msg, Numerics):
        return system.numerics(msg.t, {p.value: m.value for p, m in msg.values.items()})
    if isinstance(msg, Nibp):
        return system.nibp(msg.t, msg.status == "ok", {"SBP": msg.sys, "DBP": msg.dia, "MAP": msg.map})
    if isinstance(msg, Waveform):
        return system.waveform(msg.t, msg.wave.value, msg.rate, msg.samples)
    if isinstance(msg, Status):
        return system.status(msg.t, msg.code, msg.active)
    if isinstance(msg, Mark) and msg.what == "dose":
        return system.dose(msg.t)  # a later dose mark changes nothing (AlarmEngine.dose)
    return []


@dataclass
class Clock:
    """The device clock of one session as the alarm system's ticks follow it."""

    latest: float | None = None  # the latest device time a message has stamped
    next_tick: float = math.inf  # when the next tick falls due
    dense_until: float = math.inf  # ticks stop here until the next message (CATCH_UP_S)
    cadence: Cadence = field(default_factory=Cadence)

    @property
    def quiet_limit(self) -> float:
        """How long this source may send nothing before it is quiet (see the module docstring)."""
        return max(QUIET_S, self.cadence.interval_s)

    def heard(self, msg: Message) -> None:
        """A message has been applied: a later device time restarts the quiet count."""
        if isinstance(msg, Heartbeat):
            return
        if isinstance(msg, Numerics):
            self.cadence.add(msg.t)
        if self.latest is None or msg.t >= self.latest:  # equal: the numerics after a mark
            self.latest = msg.t
            self.next_tick = msg.t + self.quiet_limit + TICK_S / 2
            self.dense_until = self.next_tick + CATCH_UP_S

    def due(self, until: float, before: bool = False) -> list[float]:
        """The tick times that have fallen due by ``until`` (only those before it, if
        ``before``), each returned once."""
        out = []
        while self.next_tick < until or (not before and self.next_tick == until):
            if self.next_tick >= self.dense_until:
                if before:
                    # A message ends a long silence: one tick just before it, on the same grid.
                    self.next_tick += math.ceil((until - self.next_tick) / TICK_S - 1) * TICK_S
                    out.append(self.next_tick)
                    self.next_tick += TICK_S
                break
            out.append(self.next_tick)
            self.next_tick += TICK_S
        return out

    def skip(self, until: float) -> None:
        """Let the ticks due by ``until`` pass without ticking (the live feed was lost then:
        feed supervision speaks for that time, not the device's timers)."""
        if self.next_tick <= until:
            self.next_tick += (math.floor((until - self.next_tick) / TICK_S) + 1) * TICK_S


def feed(system: AlarmSystem, clock: Clock, msg: Message) -> list[Change]:
    """The ticks due before ``msg``, then ``msg`` itself: the one way a message reaches a
    session's alarm system."""
    out = tick(system, clock, msg.t, before=True) if not isinstance(msg, Heartbeat) else []
    out += apply(system, msg)
    clock.heard(msg)
    return out


def tick(system: AlarmSystem, clock: Clock, until: float, before: bool = False) -> list[Change]:
    """Tick ``system`` at every tick time due by ``until`` (the device clock now, or estimated)."""
    out: list[Change] = []
    for t in clock.due(until, before):
        out += system.tick(t)
    return out
