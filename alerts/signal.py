"""Alarm signals: what is shown and sounded for an alarm condition, and what people do about it.

Theory of operation. The engine (``engine.py``) decides whether a rule's *condition* holds. This
module keeps the *signal* apart from it, as IEC 60601-1-8 and IEEE 11073 SDC do: once a
condition is raised, its signal goes through the states below, driven by the condition ending,
by people (acknowledge, pause audio, reset a latch) and by time (a pause runs out, a reminder
falls due, an unacknowledged alarm escalates). Rule 1: every change of signal state is a row of
``TRANSITIONS``; nothing else may set ``state``. A pair missing from the table is an illegal
transition and is refused with ``IllegalTransition``.

    ACTIVE ─pause_audio─▶ AUDIO_PAUSED ─pause_expired─▶ ACTIVE
    ACTIVE / AUDIO_PAUSED ─acknowledge─▶ ACKNOWLEDGED ─reminder─▶ ACTIVE (sounds again)
    ACTIVE / AUDIO_PAUSED ─condition_end─▶ LATCHED (latching rules) or CLEARED
    ACKNOWLEDGED ─condition_end─▶ CLEARED
    LATCHED ─reset or acknowledge─▶ CLEARED;  LATCHED ─condition_return─▶ ACTIVE
    any but CLEARED ─escalate─▶ ACTIVE (at the higher priority, sounding again)

Sound: ACTIVE sounds; AUDIO_PAUSED, ACKNOWLEDGED and CLEARED do not; LATCHED keeps sounding
until reset, because nobody has yet seen that the condition happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class State(str, Enum):
    ACTIVE = "active"
    AUDIO_PAUSED = "audio_paused"
    ACKNOWLEDGED = "acknowledged"
    LATCHED = "latched"
    CLEARED = "cleared"


class Event(str, Enum):
    ACKNOWLEDGE = "acknowledge"
    PAUSE_AUDIO = "pause_audio"
    PAUSE_EXPIRED = "pause_expired"
    REMINDER = "reminder"
    CONDITION_END = "condition_end"
    RESET = "reset"
    ESCALATE = "escalate"
    CONDITION_RETURN = "condition_return"


# (state, event) → next state. "LATCH?" means LATCHED for a latching alarm, CLEARED otherwise.
_LATCH = "latch?"
TRANSITIONS: dict[tuple[State, Event], State | str] = {
    (State.ACTIVE, Event.ACKNOWLEDGE): State.ACKNOWLEDGED,
    (State.ACTIVE, Event.PAUSE_AUDIO): State.AUDIO_PAUSED,
    (State.ACTIVE, Event.CONDITION_END): _LATCH,
    (State.ACTIVE, Event.ESCALATE): State.ACTIVE,
    (State.AUDIO_PAUSED, Event.PAUSE_EXPIRED): State.ACTIVE,
    (State.AUDIO_PAUSED, Event.ACKNOWLEDGE): State.ACKNOWLEDGED,
    (State.AUDIO_PAUSED, Event.PAUSE_AUDIO): State.AUDIO_PAUSED,  # pausing again restarts the pause
    (State.AUDIO_PAUSED, Event.CONDITION_END): _LATCH,
    (State.AUDIO_PAUSED, Event.ESCALATE): State.ACTIVE,
    (State.ACKNOWLEDGED, Event.REMINDER): State.ACTIVE,
    (State.ACKNOWLEDGED, Event.CONDITION_END): State.CLEARED,
    (State.ACKNOWLEDGED, Event.ESCALATE): State.ACTIVE,
    (State.LATCHED, Event.RESET): State.CLEARED,
    (State.LATCHED, Event.ACKNOWLEDGE): State.CLEARED,
    (State.LATCHED, Event.PAUSE_AUDIO): State.LATCHED,
    (State.LATCHED, Event.CONDITION_RETURN): State.ACTIVE,
}

SOUNDING = {State.ACTIVE, State.LATCHED}


class IllegalTransition(ValueError):
    pass


@dataclass
class Signal:
    """The signal of one raised alarm. Times are seconds on the caller's clock."""

    rule: str
    priority: str
    latching: bool
    raised: float
    state: State = State.ACTIVE
    since: float = 0.0  # when the current state began
    acknowledged_by: str | None = None
    pause_until: float | None = None
    reminder_at: float | None = None
    condition_ended: float | None = None
    history: list[tuple[float, str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.since = self.raised

    @property
    def sounding(self) -> bool:
        return self.state in SOUNDING

    def apply(self, event: Event, t: float, by: str = "", *, pause_s: float = 0.0,
              reminder_s: float | None = None, priority: str | None = None) -> State:
        """Move the signal by ``event`` at time ``t``; raises IllegalTransition if the table has
        no such move. ``pause_s``/``reminder_s`` arm the timers the new state needs."""
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise IllegalTransition(f"{self.rule}: cannot {event.value} an alarm that is {self.state.value}")
        if target == _LATCH:
            target = State.LATCHED if self.latching else State.CLEARED
        assert isinstance(target, State)
        if event == Event.ESCALATE and priority:
            self.priority = priority
        if event == Event.CONDITION_END:
            self.condition_ended = t
        if event == Event.ACKNOWLEDGE:
            self.acknowledged_by = by or None
        self.pause_until = t + pause_s if target == State.AUDIO_PAUSED else None
        self.reminder_at = t + reminder_s if target == State.ACKNOWLEDGED and reminder_s else None
        self.state, self.since = target, t
        self.history.append((t, event.value, target.value, by))
        return target

    def due(self, t: float) -> Event | None:
        """The timer event that has fallen due at ``t``, if any."""
        if self.state == State.AUDIO_PAUSED and self.pause_until is not None and t >= self.pause_until:
            return Event.PAUSE_EXPIRED
        if self.state == State.ACKNOWLEDGED and self.reminder_at is not None and t >= self.reminder_at:
            return Event.REMINDER
        return None
