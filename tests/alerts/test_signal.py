"""Alarm signal states (IEC 60601-1-8): every legal transition, every illegal one refused, and
the timers and escalations of the alarm system."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.rules import load
from alerts.signal import TRANSITIONS, Event, IllegalTransition, Signal, State
from alerts.system import AlarmSystem

RULES = load()
T0 = 1_000_000.0


def signal_in(state: State, latching: bool = False) -> Signal:
    sig = Signal("X1", "medium", latching, raised=T0)
    sig.state = state
    return sig


@pytest.mark.parametrize("state, event", sorted(TRANSITIONS, key=str))
def test_every_legal_transition(state: State, event: Event) -> None:
    """Each row of the table moves the signal to the state it names (latching decides LATCHED)."""
    for latching in (False, True):
        sig = signal_in(state, latching)
        target = sig.apply(event, T0 + 5, "someone", pause_s=120, reminder_s=180)
        expected = TRANSITIONS[(state, event)]
        if expected == "latch?":
            expected = State.LATCHED if latching else State.CLEARED
        assert target == expected and sig.state == expected and sig.since == T0 + 5


ILLEGAL = [(s, e) for s, e in itertools.product(State, Event) if (s, e) not in TRANSITIONS]


@pytest.mark.parametrize("state, event", ILLEGAL)
def test_every_illegal_transition_is_refused(state: State, event: Event) -> None:
    """A move the table does not list is refused and leaves the signal as it was."""
    sig = signal_in(state)
    with pytest.raises(IllegalTransition):
        sig.apply(event, T0 + 1)
    assert sig.state == state


def run_hr(system: AlarmSystem, values: list[float], start: float = T0, actions=()):
    actions = dict(actions)
    out = system.dose(start - 600)  # after the dose: the pre-dose gates are off
    for i, v in enumerate(values):
        out += system.numerics(start + i, {"HR": v})
        if i in actions:
            out += system.act(start + i, "H1", actions[i], "nurse-1")
    return [(c.t - T0, c.event, c.state, c.priority, c.tier) for c in out if c.rule == "H1"]


def test_acknowledged_alarm_reminds_then_clears() -> None:
    """Acknowledging stops the sound; the alarm re-sounds after the reminder interval while its
    condition persists, and clears when the condition ends."""
    log = run_hr(AlarmSystem(RULES), [134] * 300 + [90] * 12, actions={50: "acknowledge"})
    assert log == [
        (10, "raised", "active", "medium", ""),
        (50, "acknowledged", "acknowledged", "medium", ""),
        (50 + RULES.signals.reminder_s, "reminder", "active", "medium", ""),
        (310, "cleared", "cleared", "medium", ""),
    ]


def test_unacknowledged_medium_alarm_escalates_to_nurse_then_high_and_latches() -> None:
    """An unacknowledged medium alarm goes to the nurse tier, then to high; as a high alarm it
    latches when its condition ends, until someone resets it. Audio pause runs out by itself."""
    esc = RULES.signals.escalation
    system = AlarmSystem(RULES)
    log = run_hr(system, [134] * 300 + [90] * 12, actions={20: "pause_audio"})
    assert log == [
        (10, "raised", "active", "medium", ""),
        (20, "audio_paused", "audio_paused", "medium", ""),
        (10 + esc.nurse_after_s, "escalated", "audio_paused", "medium", "nurse"),
        (20 + RULES.signals.audio_pause_s, "audio_resumed", "active", "medium", "nurse"),
        (10 + esc.high_after_s, "escalated", "active", "high", "nurse"),
        (310, "latched", "latched", "high", "nurse"),
    ]
    reset = system.act(T0 + 400, "H1", "reset", "clinician-1")
    assert [(c.event, c.state, c.priority, c.by) for c in reset] == [("reset", "cleared", "high", "clinician-1")]
    assert "H1" not in system.signals


def test_acting_on_an_alarm_that_is_not_signalled_is_refused() -> None:
    """Resetting an active (not latched) alarm is illegal; acting on no alarm is a KeyError."""
    system = AlarmSystem(RULES)
    run_hr(system, [134] * 12)
    with pytest.raises(IllegalTransition):
        system.act(T0 + 12, "H1", "reset", "x")
    with pytest.raises(KeyError):
        system.act(T0 + 12, "O3", "acknowledge", "x")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(30, 200), st.sampled_from([None, "acknowledge", "pause_audio", "reset"])),
                min_size=1, max_size=400))
def test_every_raised_alarm_ends_cleared_or_latched_or_is_still_signalled(steps) -> None:
    """Property: after any sequence of readings and actions, each raised alarm has ended cleared,
    sits latched, or is still signalled — none is lost — and replaying it gives the same log."""
    def play():
        system, log = AlarmSystem(RULES), []
        system.dose(T0 - 600)
        for i, (hr, action) in enumerate(steps):
            log += system.numerics(T0 + i, {"HR": hr})
            if action and "H1" in system.signals:
                with contextlib.suppress(IllegalTransition):
                    log += system.act(T0 + i, "H1", action, "n")
        return system, log

    system, log = play()
    assert play()[1] == log
    for rule in {c.rule for c in log}:
        last = [c for c in log if c.rule == rule][-1]
        if last.state == "cleared":
            assert rule not in system.signals
        else:
            assert system.signals[rule].state.value == last.state
