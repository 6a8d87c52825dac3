"""The escalation chain of one signalled alarm: which step is told when.

Theory of operation. An alarm that is raised opens a ``Chain``. Its steps (``wire.CHAIN``:
primary nurse, backup, supervising clinician, everyone on duty) each fall due at a delay from
the rules file's ``delivery.steps[priority]``, counted from ``since``: the raise, or the last
reminder that re-sounded the alarm unacknowledged. A step the priority's table leaves out is
never told at that priority. Nothing here reads a clock or sends anything: the caller asks
``due(t)`` which steps are due at ``t``, tells them, and reports back what came of it
(``told``, ``failed``). Rule 1: every change of a chain's phase is a row of ``TRANSITIONS``, and
every change of a step's state a row of ``STEP_MOVES``; a pair missing from a table is ignored
(a late failure of a step after the alarm was acknowledged changes nothing).

    OPEN ─acknowledge─▶ ACKNOWLEDGED ─reminder / escalate─▶ OPEN (told again from the start)
    OPEN / ACKNOWLEDGED ─clear─▶ CLEARED (final)
    OPEN ─escalate─▶ OPEN (steps not yet told re-timed from the higher priority's table)

    step: PENDING ─told─▶ TOLD ─every delivery failed─▶ FAILED
          PENDING ─nobody to tell─▶ EMPTY
          a FAILED or EMPTY step makes the next step of the table due at once

A chain has ``reached_nobody`` once no step is left to fall due and every step told was FAILED
or EMPTY: the alarm has reached no one, which the caller raises as a technical alarm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from alerts.delivery.wire import CHAIN, Step

StepTable = Mapping[Any, Mapping[Any, float]]  # priority -> step -> delay (rules.DeliveryPolicy.steps)


class Phase(str, Enum):
    OPEN = "open"  # unacknowledged: steps fall due
    ACKNOWLEDGED = "acknowledged"  # someone acted: no more steps until it re-sounds
    CLEARED = "cleared"  # over: final


class Move(str, Enum):
    ACKNOWLEDGE = "acknowledge"
    REMINDER = "reminder"
    ESCALATE = "escalate"
    CLEAR = "clear"


TRANSITIONS: dict[tuple[Phase, Move], Phase] = {
    (Phase.OPEN, Move.ACKNOWLEDGE): Phase.ACKNOWLEDGED,
    (Phase.OPEN, Move.ESCALATE): Phase.OPEN,
    (Phase.OPEN, Move.REMINDER): Phase.OPEN,
    (Phase.OPEN, Move.CLEAR): Phase.CLEARED,
    (Phase.ACKNOWLEDGED, Move.REMINDER): Phase.OPEN,
    (Phase.ACKNOWLEDGED, Move.ESCALATE): Phase.OPEN,
    (Phase.ACKNOWLEDGED, Move.ACKNOWLEDGE): Phase.ACKNOWLEDGED,
    (Phase.ACKNOWLEDGED, Move.CLEAR): Phase.CLEARED,
}


class StepState(str, Enum):
    PENDING = "pending"
    TOLD = "told"  # deliveries made, at least one not (yet) failed
    FAILED = "failed"  # every delivery of the step failed
    EMPTY = "empty"  # nobody in the step, or nobody with a destination


STEP_MOVES: dict[tuple[StepState, str], StepState] = {
    (StepState.PENDING, "told"): StepState.TOLD,
    (StepState.PENDING, "nobody"): StepState.EMPTY,
    (StepState.TOLD, "failed"): StepState.FAILED,
}

# Steps that make the next one due at once: there is nobody in them who will hear the alarm.
HURRY = {StepState.FAILED, StepState.EMPTY}


def _fresh() -> dict[Step, StepState]:
    return dict.fromkeys(CHAIN, StepState.PENDING)


@dataclass
class Chain:
    """The chain of one alarm. Times are seconds on the caller's clock."""

    priority: str
    since: float  # the steps' delays count from here: the raise, or the last re-sounding
    table: StepTable
    phase: Phase = Phase.OPEN
    steps: dict[Step, StepState] = field(default_factory=_fresh)
    hurried: dict[Step, float] = field(default_factory=dict)  # made due at once, at this time

    # Inputs --------------------------------------------------------------------------------

    def apply(self, move: Move, t: float, priority: str | None = None) -> Phase:
        """Move the chain by an alarm change at ``t``. ``priority``: an escalation's new one.
        Returns the phase after; a move the table has no row for changes nothing."""
        target = TRANSITIONS.get((self.phase, move))
        if target is None:
            return self.phase
        if priority is not None:
            # The steps not yet told take the new priority's table (still counted from
            # ``since``); those told keep having been told.
            self.priority = priority
        if move is Move.REMINDER or (move is Move.ESCALATE and self.phase is Phase.ACKNOWLEDGED):
            # Sounding again unacknowledged: the chain starts over from now.
            self.since, self.steps, self.hurried = t, _fresh(), {}
        self.phase = target
        return target

    def told(self, step: Step, t: float, reachable: bool) -> StepState:
        """The caller told ``step`` at ``t``; ``reachable``: it had at least one recipient with a
        destination. A step with nobody makes the next step due at once."""
        return self._move(step, "told" if reachable else "nobody", t)

    def failed(self, step: Step, t: float) -> StepState:
        """Every delivery of ``step`` has failed (at ``t``): the next step is due at once."""
        return self._move(step, "failed", t)

    # Outputs -------------------------------------------------------------------------------

    def at(self, step: Step) -> float | None:
        """When ``step`` falls due, if it is still to be told (None: never, or already told)."""
        if self.phase is not Phase.OPEN or self.steps[step] is not StepState.PENDING:
            return None
        delays = self.table.get(self.priority, {})
        when = self.since + delays[step.value] if step.value in delays else None
        hurry = self.hurried.get(step)
        if hurry is not None:
            when = hurry if when is None else min(when, hurry)
        return when

    def due(self, t: float) -> list[Step]:
        """The steps due at ``t`` and not yet told, in chain order."""
        return [s for s in CHAIN if (when := self.at(s)) is not None and when <= t]

    def next_at(self) -> float | None:
        """When the next step falls due (None: none will)."""
        times = [w for s in CHAIN if (w := self.at(s)) is not None]
        return min(times) if times else None

    def told_steps(self) -> list[Step]:
        return [s for s in CHAIN if self.steps[s] is not StepState.PENDING]

    @property
    def reached_nobody(self) -> bool:
        """No step left to fall due, and every step told had nobody or failed."""
        if self.phase is not Phase.OPEN or self.next_at() is not None:
            return False
        return all(self.steps[s] in HURRY for s in self.told_steps())

    # ---------------------------------------------------------------------------------------

    def _move(self, step: Step, what: str, t: float) -> StepState:
        target = STEP_MOVES.get((self.steps[step], what))
        if target is None:
            return self.steps[step]
        self.steps[step] = target
        if target in HURRY and self.phase is Phase.OPEN:
            later = [s for s in CHAIN[CHAIN.index(step) + 1:]
                     if s.value in self.table.get(self.priority, {})]
            if later:
                self.hurried[later[0]] = min(self.hurried.get(later[0], t), t)
        return target
