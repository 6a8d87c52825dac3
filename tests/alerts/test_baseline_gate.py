"""Baseline and the pre-dose gate (issue 11, class 8): a dose without a cuff baseline is said
(T9), a "do not dose" gate raised at the dose is not ended unseen, and a hypertensive baseline
does not make every normal reading a "fall from baseline"."""

from __future__ import annotations

import pytest

from alerts.engine import AlarmEngine, Transition
from alerts.rules import load
from alerts.system import AlarmSystem

RULES = load()
T0 = 1_000_000.0


def cuff(engine: AlarmEngine | AlarmSystem, t: float, sbp: float, dbp: float) -> list:
    return engine.nibp(T0 + t, True, {"SBP": sbp, "DBP": dbp, "MAP": round((sbp + 2 * dbp) / 3)})


def numerics(engine: AlarmEngine | AlarmSystem, start: float, seconds: int, **values: float) -> list:
    return [c for i in range(seconds) for c in engine.numerics(T0 + start + i, values)]


# name, pre-dose cuff readings (t, SBP, DBP), an explicit baseline (or None: captured at the
# dose), whether T9 is raised at the dose
NO_BASELINE = [
    ("no pre-dose cuff reading", [], None, True),
    ("two pre-dose cuff readings", [(-400, 122, 78), (-100, 124, 80)], None, False),
    ("one pre-dose cuff reading is a baseline", [(-100, 124, 80)], None, False),
    ("a baseline set by hand without a cuff pressure", [], {"HR": 72.0, "SpO2": 98.0}, True),
    ("only a failed pre-dose cuff reading", [(-100, None, None)], None, True),
]


@pytest.mark.parametrize("name, cuffs, baseline, raised", NO_BASELINE, ids=[c[0] for c in NO_BASELINE])
def test_a_dose_without_a_cuff_baseline_raises_t9(name: str, cuffs: list, baseline, raised: bool) -> None:
    """Marking the dose with no pre-dose cuff pressure in the baseline raises the low technical
    T9 "no baseline" at the dose; with one, nothing."""
    engine = AlarmEngine(RULES)
    numerics(engine, -300, 300, HR=72, SpO2=98)
    for t, sbp, dbp in cuffs:
        if sbp is None:
            engine.nibp(T0 + t, False, {"SBP": None, "DBP": None, "MAP": None})
        else:
            cuff(engine, t, sbp, dbp)
    if baseline is not None:
        engine.set_baseline(baseline)
    t9 = [tr for tr in engine.dose(T0) if tr.rule == "T9"]
    assert [(tr.event, tr.priority, tr.kind, tr.t) for tr in t9] == (
        [("raised", "low", "technical", T0)] if raised else [])


def test_t9_says_what_is_off_and_ends_when_a_baseline_is_set() -> None:
    """T9 names the relative limits as off, stays while there is no baseline, and ends on the
    first input after a baseline with a cuff pressure is set."""
    engine = AlarmEngine(RULES)
    raised = [tr for tr in engine.dose(T0) if tr.rule == "T9"]
    assert raised[0].message == "No pre-dose baseline: relative blood pressure limits are off"
    assert [tr for tr in numerics(engine, 1, 600, HR=72) if tr.rule == "T9"] == []
    engine.set_baseline({"SBP": 124.0, "DBP": 80.0, "MAP": 95.0})
    assert [tr.event for tr in engine.tick(T0 + 601) if tr.rule == "T9"] == ["cleared"]


# Without a baseline the relative terms are off and the absolute ones still watch: reading, the
# B-rules raised on it
WITHOUT_BASELINE = [
    ((85, 55), {"B5"}),  # would be B6 too with a baseline of 125 (85 < 87.5): relative term off
    ((78, 50), {"B5", "B6"}),  # SBP < 80: B6's absolute term
    ((166, 85), {"B1"}),  # would be B2 with a baseline of 125 (+41): B2 is wholly relative, off
]


@pytest.mark.parametrize("reading, rules", WITHOUT_BASELINE)
def test_without_a_baseline_only_the_absolute_limits_watch(reading: tuple, rules: set) -> None:
    """Dosed with no baseline, B2 (all relative) is off and B6 watches only SBP < 80."""
    engine = AlarmEngine(RULES)
    engine.dose(T0 - 60)
    out = cuff(engine, 0, *reading) + cuff(engine, 60, *reading)
    assert {tr.rule for tr in out if tr.event == "raised" and tr.rule.startswith("B")} == rules


def g2(system: AlarmSystem) -> None:
    cuff(system, -300, 186, 112)
    cuff(system, -120, 185, 111)


def g2v(system: AlarmSystem) -> None:
    numerics(system, -100, 40, HR=130)


def g1(system: AlarmSystem) -> None:
    cuff(system, -300, 150, 95)
    cuff(system, -120, 148, 94)


# gate, how it is raised, acknowledged before the dose?, the gate's log rows from the dose on
GATES = [
    ("G2", g2, False, [("latched", "latched")]),
    ("G2", g2, True, [("cleared", "cleared")]),
    ("G2V", g2v, False, [("latched", "latched")]),
    ("G1", g1, False, [("latched", "latched")]),
]


@pytest.mark.parametrize("rule, raise_it, acked, rows", GATES)
def test_a_gate_raised_at_the_dose_is_not_ended_unseen(rule: str, raise_it, acked: bool, rows: list) -> None:
    """A pre-dose gate still raised when the dose is marked is logged as "dose marked while
    active" and, unacknowledged, keeps signalling (latched) until a person acknowledges it."""
    system = AlarmSystem(RULES)
    raise_it(system)
    assert system.signals[rule].state.value == "active"
    if acked:
        system.act(T0 - 10, rule, "acknowledge", "dr.a")
    changes = [c for c in system.dose(T0) if c.rule == rule]
    assert [(c.event, c.state) for c in changes] == rows
    assert changes[0].message.endswith("(dose marked while active)")
    if not acked:
        numerics(system, 1, 600, HR=72, SpO2=98)  # ten minutes on: still signalled, still sounding
        assert system.signals[rule].state.value == "latched" and system.signals[rule].sounding
        assert [c.event for c in system.act(T0 + 601, rule, "acknowledge", "dr.a")] == ["reset"]
        assert rule not in system.signals


def hypertensive() -> AlarmEngine:
    engine = AlarmEngine(RULES)
    cuff(engine, -400, 190, 112)
    cuff(engine, -100, 190, 112)
    engine.dose(T0)
    return engine


def test_a_hypertensive_baseline_does_not_fire_b6_on_normal_readings() -> None:
    """After a pre-dose 190/112, two hours of normal readings (125/80 every 5 min) raise no B6
    (190 x 0.7 = 133 would have raised a latching high alarm on every one of them)."""
    engine = hypertensive()
    out: list[Transition] = []
    for k in range(1, 25):
        out += cuff(engine, k * 300, 125, 80)
    assert [tr for tr in out if tr.rule == "B6"] == []
    assert engine.baseline["SBP"] == 190  # the baseline stays as measured


# reading after a 190/112 baseline, rule, raised?
CAPPED = [
    ((113, 70), "B6", False),
    ((110, 70), "B6", True),  # < 0.7 x 160 (the cap): a fall of more than 40 % from 190
    ((199, 100), "B2", False),
    ((200, 100), "B2", True),  # >= 160 + 40: the rise is judged from the capped value (earlier)
]


@pytest.mark.parametrize("reading, rule, raised", CAPPED)
def test_relative_cuff_limits_use_the_capped_baseline(reading: tuple, rule: str, raised: bool) -> None:
    """Relative cuff limits take the baseline capped at baseline.caps (160/100), and name the
    limit they used."""
    out = [tr for tr in cuff(hypertensive(), 300, *reading) if tr.rule == rule]
    assert [tr.event for tr in out] == (["raised"] if raised else [])
    if raised:
        assert out[0].limit == {"B6": 112, "B2": 200}[rule]
