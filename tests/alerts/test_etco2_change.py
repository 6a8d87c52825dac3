"""C1 watches "a change >= 10 mmHg from BL" both ways (issue 11, class 6's C1 part): an EtCO2
fall alarms as a rise does."""

from __future__ import annotations

import pytest

from alerts.engine import AlarmEngine, Transition
from alerts.rules import load

RULES = load()
T0 = 1_000_000.0
BL = {"SBP": 125.0, "DBP": 80.0, "MAP": 95.0, "HR": 72.0, "SpO2": 98.0, "RR": 14.0, "EtCO2": 38.0}


def breathe(engine: AlarmEngine, etco2: list[float], start: float = 0) -> list[Transition]:
    return [tr for i, v in enumerate(etco2)
            for tr in engine.numerics(T0 + start + i, {"EtCO2": v, "RR": 14}) if tr.rule == "C1"]


def dosed(baseline: dict | None = BL) -> AlarmEngine:
    engine = AlarmEngine(RULES)
    if baseline is not None:
        engine.set_baseline(baseline)
    engine.dose(T0 - 60)
    return engine


# EtCO2 held for 35 s with RR 14 detected, baseline EtCO2 (None: no capnograph at baseline), C1?
CASES = [
    (20, 38.0, True),  # a fall of 18: the table's "change >= 10 mmHg"
    (28, 38.0, True),  # a fall of exactly 10
    (29, 38.0, False),
    (48, 38.0, True),  # a rise of 10
    (55, 38.0, True),  # >= 50, absolute
    (20, None, False),  # no baseline EtCO2: only the absolute limit applies
    (55, None, True),
]


@pytest.mark.parametrize("etco2, base, raised", CASES)
def test_c1_alarms_on_a_change_of_10_from_baseline_either_way(etco2: float, base, raised: bool) -> None:
    """C1 (medium, 30 s) raises on EtCO2 >= 50 or a change of 10 mmHg or more from the
    baseline, up or down, while breathing is detected; within 10 of the baseline it does not."""
    engine = dosed({**BL, "EtCO2": base})
    out = breathe(engine, [etco2] * 35)
    assert [(tr.event, tr.priority) for tr in out] == ([("raised", "medium")] if raised else [])
    if raised:
        assert out[0].t - out[0].onset == RULES.rules["C1"].delay_s


def test_a_fall_clears_with_hysteresis() -> None:
    """An EtCO2 fall alarm ends once EtCO2 has been above BL - 7 for 30 s, not at BL - 9."""
    engine = dosed()
    assert [tr.event for tr in breathe(engine, [20] * 35)] == ["raised"]
    assert breathe(engine, [29] * 60, start=35) == []  # back within 10, not yet within 7
    cleared = breathe(engine, [36] * 35, start=95)
    assert [tr.event for tr in cleared] == ["cleared"] and cleared[0].t == T0 + 95 + 30
    assert "EtCO2 20 <= 28 (BL-10)" in breathe(dosed(), [20] * 35)[0].message
