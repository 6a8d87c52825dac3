"""The alarm engine on the default rules: each rule raises after its delay and clears by its
hysteresis, with time passed in as an argument."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.engine import AlarmEngine, Transition
from alerts.rules import load

RULES = load()
T0 = 1_000_000.0

# rule, parameter, a value that meets `when`, a value that meets `clear`, priority
CONTINUOUS = [
    ("H1", "HR", 134, 100, "medium"),
    ("H2", "HR", 155, 100, "high"),
    ("H3", "HR", 45, 70, "medium"),
    ("O1", "SpO2", 92, 97, "low"),
    ("O2", "SpO2", 88, 97, "medium"),
    ("O3", "SpO2", 84, 97, "high"),
    ("R1", "RR", 6, 14, "medium"),
    ("C1", "EtCO2", 55, 38, "medium"),
]


def run(engine: AlarmEngine, param: str, values: list[float | None], start: float = T0) -> list[Transition]:
    out = []
    for i, v in enumerate(values):
        out += engine.numerics(start + i, {param: v})
    return out


def only(rule: str, transitions: list[Transition]) -> list[Transition]:
    return [t for t in transitions if t.rule == rule]


@pytest.mark.parametrize("rule, param, bad, good, priority", CONTINUOUS)
def test_continuous_rule_raises_after_its_delay_and_clears_after_hysteresis(
    rule: str, param: str, bad: float, good: float, priority: str
) -> None:
    """A continuous rule raises when its condition has held for delay_s, not a second earlier,
    names value and limit, and clears once the clear condition has held for clear_for_s."""
    r = RULES.rules[rule]
    engine = AlarmEngine(RULES)
    n_bad = int(r.delay_s) + 3
    out = only(rule, run(engine, param, [bad] * n_bad))
    assert [t.event for t in out] == ["raised"]
    assert out[0].t == T0 + r.delay_s and out[0].onset == T0 and out[0].priority == priority
    assert f"{bad:g}" in out[0].message and out[0].message.startswith({"low": "* ", "medium": "** ", "high": "*** "}[priority])
    out = only(rule, run(engine, param, [good] * (int(r.clear_for_s) + 2), start=T0 + n_bad))
    assert [t.event for t in out] == ["cleared"]
    assert out[0].t == T0 + n_bad + r.clear_for_s


@pytest.mark.parametrize("rule, param, bad, good, priority", CONTINUOUS)
def test_a_dip_shorter_than_the_delay_raises_nothing(rule, param, bad, good, priority) -> None:
    """A condition that stops before its delay has run out raises no alarm (persistence)."""
    delay = int(RULES.rules[rule].delay_s)
    if delay == 0:
        pytest.fail("every continuous default rule has a delay")
    engine = AlarmEngine(RULES)
    assert only(rule, run(engine, param, [bad] * delay + [good] + [bad] * delay)) == []


def test_missing_value_restarts_a_pending_condition_but_keeps_an_active_alarm() -> None:
    """'No value' is not evidence: a pending condition starts over, an active alarm stays."""
    engine = AlarmEngine(RULES)
    assert only("O2", run(engine, "SpO2", [88] * 10 + [None] + [88] * 10)) == []
    assert [t.event for t in only("O2", run(engine, "SpO2", [88] * 6, start=T0 + 21))] == ["raised"]
    assert only("O2", run(engine, "SpO2", [None] * 60, start=T0 + 40)) == []


def nibp(engine: AlarmEngine, readings: list[tuple[float, float, float]], ok: bool = True) -> list[Transition]:
    out = []
    for t, sbp, dbp in readings:
        out += engine.nibp(T0 + t, ok, {"SBP": sbp, "DBP": dbp, "MAP": (sbp + 2 * dbp) / 3})
    return out


@pytest.mark.parametrize(
    "rule, readings, events",
    [
        ("B1", [(0, 165, 85), (300, 150, 90)], ["raised", "cleared"]),
        ("B1", [(0, 158, 85)], []),
        ("B3", [(0, 185, 95), (60, 165, 100), (120, 165, 100)], ["raised", "cleared"]),
        ("B3", [(0, 185, 95), (60, 165, 100), (120, 175, 100)], ["raised"]),
        ("B4", [(0, 190, 100), (60, 190, 100)], []),  # confirmation needs 2 min between readings
        ("B4", [(0, 190, 100), (60, 190, 100), (130, 190, 100)], ["raised"]),
        ("B4", [(0, 205, 100)], ["raised"]),  # SBP >= 200: one reading is enough
        ("B4", [(0, 205, 100), (300, 170, 100), (600, 170, 100)], ["raised", "cleared"]),
        ("B5", [(0, 85, 55), (120, 86, 55), (240, 100, 70)], ["raised", "cleared"]),
        ("B5", [(0, 85, 55), (120, 100, 70)], []),
        ("B6", [(0, 75, 45), (120, 95, 60)], ["raised", "cleared"]),
    ],
)
def test_cuff_rule(rule: str, readings: list, events: list[str]) -> None:
    """Cuff rules count readings: confirmation, the single-reading exception and clearing."""
    engine = AlarmEngine(RULES)
    assert [t.event for t in only(rule, nibp(engine, readings))] == events


def test_failed_cuff_reading_is_a_technical_alarm_until_a_valid_one() -> None:
    """T2: a failed NIBP measurement raises a technical alarm that a valid reading clears."""
    engine = AlarmEngine(RULES)
    raised = only("T2", engine.nibp(T0, False, {"SBP": None, "DBP": None, "MAP": None}))
    assert [(t.event, t.kind) for t in raised] == [("raised", "technical")]
    cleared = only("T2", nibp(engine, [(60, 120, 80)]))
    assert [t.event for t in cleared] == ["cleared"]


def test_probe_off_raises_after_delay_and_escalates() -> None:
    """T1: probe off for 10 s raises a low technical alarm, medium after 60 s, clear on return."""
    engine = AlarmEngine(RULES)
    assert engine.status(T0, "probe_off", True) == []
    assert engine.tick(T0 + 9) == []
    raised = engine.tick(T0 + 10)
    assert [(t.rule, t.event, t.priority) for t in raised] == [("T1", "raised", "low")]
    esc = engine.tick(T0 + 60)
    assert [(t.rule, t.event, t.priority) for t in esc] == [("T1", "escalated", "medium")]
    assert esc[0].message.startswith("** ")
    assert [t.event for t in engine.status(T0 + 70, "probe_off", False)] == ["cleared"]


def test_feed_lost_is_medium_then_high() -> None:
    """T4: a feed silent since t raises medium 10 s later and high after 60 s."""
    engine = AlarmEngine(RULES, only={"T4"})
    assert engine.signal(T0, "feed_lost", True) == []
    assert [t.priority for t in engine.tick(T0 + 10)] == ["medium"]
    assert [t.priority for t in engine.tick(T0 + 60)] == ["high"]
    assert [t.event for t in engine.signal(T0 + 61, "feed_lost", False)] == ["cleared"]


def test_restored_alarm_clears_by_its_rule() -> None:
    """An alarm restored after a restart is active at once and clears by its own clear rule."""
    engine = AlarmEngine(RULES)
    engine.restore("O3", onset=T0 - 100, priority="high", message="*** SpO2 84 <= 85")
    assert [a.rule for a in engine.active()] == ["O3"]
    out = only("O3", run(engine, "SpO2", [97] * 11))
    assert [t.event for t in out] == ["cleared"] and out[0].onset == T0 - 100


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(60, 100)), min_size=1, max_size=120))
def test_no_alarm_unless_its_condition_held_for_its_delay(spo2: list[int | None]) -> None:
    """Property: every raised SpO2 alarm's condition held on every reading for its delay."""
    engine = AlarmEngine(RULES)
    for tr in run(engine, "SpO2", spo2):
        if tr.event != "raised":
            continue
        rule = RULES.rules[tr.rule]
        window = spo2[int(tr.onset - T0): int(tr.t - T0) + 1]
        assert tr.t - tr.onset >= rule.delay_s
        assert all(v is not None and rule.when.evaluate({"SpO2": v})[0] for v in window)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(20, 200)), min_size=1, max_size=100))
def test_evaluation_is_deterministic(hr: list[int | None]) -> None:
    """Property: the same readings at the same times give the same transitions."""
    assert run(AlarmEngine(RULES), "HR", hr) == run(AlarmEngine(RULES), "HR", hr)
