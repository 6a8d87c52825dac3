"""The escalation chain (alerts/delivery/chain.py): which step is due when, table by table."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.delivery.chain import Chain, Move, Phase
from alerts.delivery.wire import Step
from alerts.rules import load

P, B, C, E = Step.primary, Step.backup, Step.clinician, Step.everyone
STEPS = {"high": {"primary": 0, "backup": 30, "clinician": 60, "everyone": 90},
         "medium": {"primary": 0, "backup": 120, "clinician": 240, "everyone": 360},
         "low": {"primary": 0}}

# Each scenario: the priority raised at t=0, then a script of
#   ("due", t, [steps])       due(t) is exactly these; each is then told (someone reachable)
#   ("empty", t, step)        the step was told at t and had nobody in it
#   ("fail", t, step)         every delivery of the step failed at t
#   (Move, t, priority|None)  an alarm change
#   ("next", None, t|None)    when the next step falls due
#   ("nobody", None, bool)    whether the alarm has reached nobody
SCENARIOS: dict[str, tuple[str, list[tuple[Any, Any, Any]]]] = {
    "high: each step at its delay": ("high", [
        ("due", 0, [P]), ("due", 29.9, []), ("next", None, 30), ("due", 30, [B]),
        ("due", 60, [C]), ("due", 90, [E]), ("next", None, None), ("nobody", None, False)]),
    "a late look tells every overdue step at once, in chain order": ("high", [
        ("due", 75, [P, B, C])]),
    "low: the primary only": ("low", [("due", 0, [P]), ("due", 1e6, []), ("next", None, None)]),
    "escalation re-times the steps not yet told from the raise": ("medium", [
        ("due", 0, [P]), ("due", 50, []), (Move.ESCALATE, 50, "high"), ("due", 50, [B]),
        ("due", 59, []), ("due", 60, [C])]),
    "an escalation of the same priority changes no time": ("medium", [
        ("due", 0, [P]), (Move.ESCALATE, 50, None), ("due", 119, []), ("due", 120, [B])]),
    "acknowledged: no more steps": ("high", [
        ("due", 0, [P]), (Move.ACKNOWLEDGE, 10, None), ("due", 1000, []), ("next", None, None),
        ("nobody", None, False)]),
    "a reminder starts the chain over from the primary": ("high", [
        ("due", 0, [P]), ("due", 30, [B]), (Move.ACKNOWLEDGE, 40, None), (Move.REMINDER, 100, None),
        ("due", 100, [P]), ("due", 129, []), ("due", 130, [B])]),
    "an escalation of an acknowledged alarm starts it over": ("medium", [
        ("due", 0, [P]), (Move.ACKNOWLEDGE, 10, None), (Move.ESCALATE, 20, "high"),
        ("due", 20, [P]), ("due", 50, [B])]),
    "a step with nobody makes the next due at once": ("high", [
        ("empty", 0, P), ("due", 0, [B]), ("due", 59, []), ("due", 60, [C])]),
    "a step whose deliveries all failed makes the next due at once": ("medium", [
        ("due", 0, [P]), ("fail", 12, P), ("due", 12, [B]), ("fail", 15, B), ("due", 15, [C])]),
    "the hurry skips steps the priority leaves out": ("low", [
        ("empty", 0, P), ("due", 0, []), ("nobody", None, True)]),
    "every step failed or empty: reached nobody": ("high", [
        ("empty", 0, P), ("empty", 0, B), ("due", 0, [C]), ("fail", 1, C), ("nobody", None, False), ("due", 1, [E]),
        ("fail", 2, E), ("nobody", None, True)]),
    "one step reached: not nobody": ("high", [
        ("due", 0, [P]), ("fail", 1, P), ("due", 1, [B]), ("due", 60, [C]), ("due", 90, [E]),
        ("nobody", None, False)]),
    "cleared is final: a reminder or a late failure changes nothing": ("high", [
        ("due", 0, [P]), (Move.CLEAR, 5, None), (Move.REMINDER, 6, None), ("fail", 7, P),
        ("due", 100, []), ("nobody", None, False)]),
    "a failure after the acknowledgement hurries nothing": ("high", [
        ("due", 0, [P]), (Move.ACKNOWLEDGE, 3, None), ("fail", 4, P), (Move.REMINDER, 10, None),
        ("due", 10, [P]), ("due", 39, [])]),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_chain(name: str) -> None:
    """Each scenario's steps fall due exactly when its script says."""
    priority, script = SCENARIOS[name]
    chain = Chain(priority, 0.0, STEPS)
    for op, t, arg in script:
        if isinstance(op, Move):
            chain.apply(op, t, arg)
        elif op == "due":
            assert chain.due(t) == arg, (name, op, t)
            for step in arg:
                chain.told(step, t, reachable=True)
        elif op == "empty":
            chain.told(arg, t, reachable=False)
        elif op == "fail":
            chain.failed(arg, t)
        elif op == "next":
            assert chain.next_at() == arg, (name, op)
        elif op == "nobody":
            assert chain.reached_nobody is arg, (name, op)


def test_phases() -> None:
    """Acknowledged then cleared ends the chain; nothing reopens a cleared one."""
    chain = Chain("high", 0.0, STEPS)
    assert chain.apply(Move.ACKNOWLEDGE, 1) is Phase.ACKNOWLEDGED
    assert chain.apply(Move.CLEAR, 2) is Phase.CLEARED
    assert chain.apply(Move.ESCALATE, 3, "high") is Phase.CLEARED
    assert chain.apply(Move.REMINDER, 4) is Phase.CLEARED


def test_default_rules_drive_the_chain() -> None:
    """The rules file's delivery steps are the table a chain runs on."""
    chain = Chain("high", 100.0, load(None).delivery.steps)
    assert chain.due(100) == [P]
    assert chain.next_at() == 100 + load(None).delivery.steps["high"]["primary"]
