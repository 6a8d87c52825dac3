"""Unacknowledged escalation by kind (issue 11, class 9): only the kinds the rules file names
climb to high by the generic escalation; technical rules climb only by their own `escalate`."""

from __future__ import annotations

import pytest

from alerts.rules import load
from alerts.system import AlarmSystem

RULES = load()
T0 = 1_000_000.0
ESC = RULES.signals.escalation


def t1(system: AlarmSystem) -> None:
    system.dose(T0 - 600)  # T1 goes to medium only within 120 min of the dose
    system.set_baseline({"SBP": 124.0, "DBP": 80.0, "MAP": 95.0})
    system.status(T0, "probe_off", True)


def t2(system: AlarmSystem) -> None:
    system.nibp(T0, False, {})
    system.nibp(T0 + 30, False, {})


def t3(system: AlarmSystem) -> None:
    system.set_baseline({"SBP": 124.0, "DBP": 80.0, "MAP": 95.0})
    system.dose(T0 - 9 * 60)  # no reading since the dose: overdue at 5 + 3 min


def t4(system: AlarmSystem) -> None:
    system.signal(T0, "feed_lost", True)


def h1(system: AlarmSystem) -> None:
    for i in range(12):
        system.numerics(T0 + i, {"HR": 134})


# rule, how it is raised, kind, its priority after 15 min unacknowledged
CASES = [
    ("T1", t1, "technical", "medium"),  # its own escalate: low -> medium
    ("T2", t2, "technical", "medium"),  # its own escalate: low -> medium after 2 failures
    ("T3", t3, "technical", "medium"),
    ("T4", t4, "technical", "high"),  # its own escalate: medium -> high after 60 s
    ("H1", h1, "physiological", "high"),  # the generic escalation
]


@pytest.mark.parametrize("rule, raise_it, kind, final", CASES, ids=[c[0] for c in CASES])
def test_only_physiological_mediums_climb_to_high_unacknowledged(rule: str, raise_it, kind: str, final: str) -> None:
    """Left unacknowledged for 15 min, a technical medium stays medium unless its own rule
    escalates it (T4 to high), and a physiological medium goes to high; the mediums all go to the
    nurse tier."""
    system = AlarmSystem(RULES)
    raise_it(system)
    for s in range(15 * 60):
        system.tick(T0 + 30 + s)
    sig = system.signals[rule]
    assert system.rules.rules[rule].kind == kind
    assert sig.priority == final and sig.state.value == "active"
    if rule != "T4":  # T4 was high before the nurse tier was due
        assert system._tier.get(rule) == "nurse"


def test_high_kinds_is_the_rules_file_s_choice() -> None:
    """A rules file that lists technical in high_kinds gets the old behaviour: T3 goes to high
    after high_after_s unacknowledged."""
    both = RULES.model_copy(update={"signals": RULES.signals.model_copy(update={
        "escalation": ESC.model_copy(update={"high_kinds": ["physiological", "technical"]})})})
    system = AlarmSystem(both)
    t3(system)
    raised = next(c.t for c in system.tick(T0) if c.rule == "T3" and c.event == "raised")
    changes = [c for s in range(int(ESC.high_after_s) + 2) for c in system.tick(T0 + 1 + s)]
    esc = [c for c in changes if c.rule == "T3" and c.priority == "high"]
    assert esc and esc[0].t - raised == ESC.high_after_s
