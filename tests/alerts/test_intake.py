"""The one feeding path of the alarm system (alerts/intake.py): which clock ticks are due between
messages, for a monitor reporting every second and for a sparse trend."""

from __future__ import annotations

from alerts.intake import CATCH_UP_S, QUIET_S, TICK_S, Clock, feed
from alerts.rules import load
from alerts.system import AlarmSystem
from monitors.protocol import Heartbeat, Numerics, Status

T0 = 1_800_000_000.0


def numerics(t: float) -> Numerics:
    return Numerics.model_validate({"type": "numerics", "seq": 1, "t": t,
                                    "values": {"HR": {"value": 72, "unit": "/min"}}})


def test_ticks_fall_on_a_grid_from_the_latest_message_and_are_given_once() -> None:
    """After a message at t, ticks fall due at t + 2.5 s, t + 3.5 s … whoever asks and however
    often; a heartbeat does not move them; the next message restarts them."""
    clock = Clock()
    clock.heard(numerics(T0 - 1))
    clock.heard(numerics(T0))  # a monitor reporting every second
    assert clock.due(T0 + QUIET_S) == []
    assert clock.due(T0 + 4.0) == [T0 + 2.5, T0 + 3.5]
    assert clock.due(T0 + 4.0) == []  # each tick once
    clock.heard(Heartbeat(type="heartbeat", seq=2, t=T0 + 4.2))
    assert clock.due(T0 + 5.0, before=True) == [T0 + 4.5]
    clock.heard(Status(type="status", seq=3, t=T0 + 5.0, code="probe_off"))
    assert clock.due(T0 + 7.4) == [] and clock.due(T0 + 7.5) == [T0 + 7.5]
    clock.skip(T0 + 20.7)  # a lost feed: these ticks pass unticked
    assert clock.due(T0 + 21.5) == [T0 + 21.5]


def test_a_sparse_source_is_quiet_only_when_a_record_is_missed() -> None:
    """A source whose numerics come once a minute gets no ticks between its records (once its
    interval is known), and ticks from a minute and a half-second after a record that is not
    followed; one monitor reading a second apart brings the limit back to 2 s."""
    clock = Clock()
    for minute in range(6):
        clock.heard(numerics(T0 + 60 * minute))
    last = T0 + 300
    assert clock.quiet_limit == 60.0
    assert clock.due(last + 60, before=True) == []
    assert clock.due(last + 62) == [last + 60.5, last + 61.5]
    clock.heard(numerics(last + 120))
    clock.heard(numerics(last + 121))
    assert clock.quiet_limit == QUIET_S and clock.next_tick == last + 121 + QUIET_S + TICK_S / 2
    # Statuses alone never make a source look sparse.
    clock.heard(Status(type="status", seq=3, t=last + 200, code="probe_off"))
    assert clock.quiet_limit == QUIET_S


def test_feed_ticks_before_the_message_then_applies_it() -> None:
    """``feed`` gives the changes of the ticks due before a message, then of the message: a
    probe-off status followed by a reading 20 s later raises T1 at the tick that found its
    10 s delay past, before the reading."""
    system, clock = AlarmSystem(load()), Clock()
    for s in range(5):
        feed(system, clock, numerics(T0 + s))
    feed(system, clock, Status(type="status", seq=9, t=T0 + 5, code="probe_off"))
    changes = feed(system, clock, numerics(T0 + 25))
    t1 = [c for c in changes if c.rule == "T1" and c.event == "raised"]
    assert [c.t for c in t1] == [T0 + 15.5]


def test_a_long_silence_is_ticked_for_an_hour_then_once_before_the_message_that_ends_it() -> None:
    """A silence gets a tick a second for CATCH_UP_S, then none until the next message, which
    first gets one tick just before it: the same ticks whether the live supervisor asks every
    second or one message ends the silence at once; a message stamped 60 years ahead costs at
    most an hour of ticks (it once cost one per second of the jump and stalled the server)."""
    polled, at_once = Clock(), Clock()
    for clock in (polled, at_once):
        clock.heard(numerics(T0 - 1))
        clock.heard(numerics(T0))
    end = T0 + 2 * CATCH_UP_S + 0.2
    ticks = []
    t = T0
    while t < end - 1:  # the supervisor, once a second
        t += 1.0
        ticks += polled.due(t)
    ticks += polled.due(end, before=True)
    assert ticks == at_once.due(end, before=True)
    first = T0 + QUIET_S + TICK_S / 2
    assert ticks[:-1] == [first + k * TICK_S for k in range(int(CATCH_UP_S / TICK_S))]
    assert end - TICK_S <= ticks[-1] < end
    far = Clock()
    far.heard(numerics(T0))
    jump = far.due(T0 + 60 * 365 * 86400.0, before=True)
    assert len(jump) == CATCH_UP_S / TICK_S + 1
