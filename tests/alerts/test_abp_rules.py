"""The arterial-line rules A1 and A2 on the default rules: raised after their delay on ABP
numerics, cleared by their hysteresis, and silent for a flush shorter than the delay."""

from __future__ import annotations

import pytest

from alerts.engine import AlarmEngine, Transition
from alerts.rules import load

RULES = load()
T0 = 1_000_000.0
NORMAL = {"ABPsys": 125.0, "ABPdia": 75.0, "ABPmean": 92.0}


def run(engine: AlarmEngine, values: dict[str, float], seconds: int, start: float) -> list[Transition]:
    return [t for i in range(seconds) for t in engine.numerics(start + i, values)]


@pytest.mark.parametrize(("rule", "bad"), [
    ("A1", {"ABPsys": 95.0, "ABPdia": 40.0, "ABPmean": 55.0}),
    ("A1", {"ABPsys": 85.0, "ABPdia": 50.0, "ABPmean": 62.0}),
    ("A1", {"ABPsys": -16.0, "ABPdia": -16.0, "ABPmean": -16.0}),  # a disconnected line
    ("A2", {"ABPsys": 185.0, "ABPdia": 95.0, "ABPmean": 125.0}),
])
def test_arterial_rule_raises_after_delay_and_clears(rule: str, bad: dict[str, float]) -> None:
    """Held for delay_s the condition raises the rule (medium), not a second earlier; normal
    values held for clear_for_s clear it."""
    r = RULES.rules[rule]
    engine = AlarmEngine(RULES)
    out = [t for t in run(engine, bad, int(r.delay_s) + 2, T0) if t.rule == rule]
    assert [t.event for t in out] == ["raised"] and out[0].t == T0 + r.delay_s
    assert out[0].priority == "medium"
    start = T0 + r.delay_s + 2
    out = [t for t in run(engine, NORMAL, int(r.clear_for_s) + 2, start) if t.rule == rule]
    assert [t.event for t in out] == ["cleared"] and out[0].t == start + r.clear_for_s


def test_a_flush_shorter_than_the_delay_raises_nothing() -> None:
    """A line flushed or sampled for 30 s (a low reading shorter than A1's delay) is no alarm."""
    engine = AlarmEngine(RULES)
    out = run(engine, {"ABPsys": 20.0, "ABPdia": 10.0, "ABPmean": 15.0}, 30, T0)
    out += run(engine, NORMAL, 60, T0 + 30)
    assert not [t for t in out if t.rule in ("A1", "A2")]
