"""Discharge readiness (alerts/discharge.py), judged purely from data and time, criterion by
criterion, with the default rules file's thresholds and route timelines."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts import baseline, discharge, rules
from alerts.baseline import CuffReading
from alerts.discharge import AlarmSpan, Inputs

RULES = rules.load()
DOSE = 10_000.0
NOW = DOSE + 130 * 60  # past every route's minimum time
BASE = {"SBP": 125.0, "DBP": 80.0, "SpO2": 97.0}
GOOD = Inputs(dose_t=DOSE, infusion_end_t=None, baseline=BASE,
              cuffs=[CuffReading(NOW - 300, 130, 82)], spo2=(NOW - 1, 97),
              alarms=[], confirmations={"alert_oriented": (True, ""), "nausea_minimal": (True, "")})


def judge(x: Inputs, now: float = NOW, route: str | None = "intranasal") -> discharge.Readiness:
    return discharge.readiness(RULES.discharge, RULES.timeline.for_route(route), x, now)


def status(x: Inputs, key: str, now: float = NOW, route: str | None = "intranasal") -> str:
    return next(c.status for c in judge(x, now, route).criteria if c.key == key)


def test_all_criteria_met_is_ready_six_of_six() -> None:
    """Every criterion met: ready, 6 of 6."""
    r = judge(GOOD)
    assert r.ready and r.met == 6 == len(r.criteria)


@pytest.mark.parametrize("change, key, expected", [
    ({"cuffs": [CuffReading(NOW - 300, 152, 90)]}, "bp", "unmet"),  # +21.6 %
    ({"cuffs": [CuffReading(NOW - 300, 149, 95)]}, "bp", "met"),  # within 20 %
    ({"cuffs": [CuffReading(DOSE + 60, 170, 100), CuffReading(NOW - 600, 155, 95),
                CuffReading(NOW - 60, 152, 92)]}, "bp", "met"),  # falling and stable
    ({"cuffs": [CuffReading(DOSE + 60, 150, 100), CuffReading(NOW - 600, 155, 95),
                CuffReading(NOW - 60, 158, 92)]}, "bp", "unmet"),  # stable but rising
    ({"cuffs": [CuffReading(NOW - 16 * 60, 125, 80)]}, "bp", "unknown"),  # too old
    ({"baseline": None}, "bp", "unknown"),
    ({"spo2": (NOW - 1, 91)}, "spo2", "unmet"),
    ({"spo2": (NOW - 1, 91), "baseline": {**BASE, "SpO2": 91}}, "spo2", "met"),  # at baseline
    ({"spo2": (NOW - 61, 97)}, "spo2", "unknown"),
    ({"spo2": (NOW - 1, None)}, "spo2", "unknown"),
    ({"alarms": [AlarmSpan("B3", "medium", NOW - 1200, NOW - 600)]}, "quiet", "unmet"),
    ({"alarms": [AlarmSpan("B3", "medium", NOW - 1800, NOW - 16 * 60)]}, "quiet", "met"),
    ({"alarms": [AlarmSpan("O1", "low", NOW - 100, None)]}, "quiet", "met"),  # low: no matter
    ({"alarms": [AlarmSpan("D1", "medium", NOW - 100, None)]}, "quiet", "met"),  # not the patient
    ({"alarms": [AlarmSpan("T4", "medium", NOW - 100, NOW - 50)]}, "quiet", "unmet"),  # no data
    ({"alarms": [AlarmSpan("G2", "medium", DOSE - 60, DOSE - 1, waiting=True)]}, "quiet", "unmet"),
    ({"confirmations": {"alert_oriented": (False, "drowsy")}}, "alert_oriented", "unmet"),
    ({"confirmations": {}}, "nausea_minimal", "unknown"),
    ({"dose_t": None}, "time", "unmet"),
])
def test_each_criterion(change: dict, key: str, expected: str) -> None:
    """Each criterion is met, unmet or unknown by the clinical basis's thresholds."""
    assert status(replace(GOOD, **change), key) == expected


def test_quiet_ignores_names_rules_that_exist() -> None:
    """A rules file whose discharge.quiet_ignores lists a rule it does not define is refused,
    naming the field and the rule: a typo would otherwise let that rule count silently."""
    text = (rules.DEFAULT_RULES.read_text()
            .replace("quiet_ignores: [D1, D2, D3, N1, N2]", "quiet_ignores: [D1, D9]"))
    with pytest.raises(rules.RulesError, match=r"discharge.quiet_ignores: no rule 'D9'"):
        rules.loads(text)


@pytest.mark.parametrize("route, infusion_end, minutes, expected", [
    ("intranasal", None, 119, "unmet"), ("intranasal", None, 120, "met"),
    ("iv", DOSE + 40 * 60, 99, "unmet"), ("iv", DOSE + 40 * 60, 100, "met"),
    ("iv", DOSE + 55 * 60, 110, "unmet"),  # 60 min after a later infusion end
    ("iv", None, 100, "met"),  # no end known: 40-min infusion assumed
    ("im", None, 119, "unmet"), ("im", None, 120, "met"),
])
def test_minimum_time_per_route(route: str, infusion_end: float | None, minutes: float,
                                expected: str) -> None:
    """Esketamine 120 min after the dose, IV 60 min after the infusion's end, IM by default."""
    x = replace(GOOD, infusion_end_t=infusion_end, spo2=(DOSE + minutes * 60, 97),
                cuffs=[CuffReading(DOSE + minutes * 60 - 60, 125, 80)])
    assert status(x, "time", DOSE + minutes * 60, route) == expected


def test_never_ready_while_a_medium_or_high_alarm_is_active() -> None:
    """An active high alarm blocks readiness and is named, whatever else is met."""
    r = judge(replace(GOOD, alarms=[AlarmSpan("O3", "high", NOW - 5, None)]))
    assert not r.ready and r.blocked_by == ["O3"]


@pytest.mark.parametrize("route, phases", [
    ("iv", [(0, "dosing"), (31, "peak"), (50, "recovery"), (100, "discharge")]),
    ("intranasal", [(0, "dosing"), (44, "peak"), (119, "recovery"), (120, "discharge")]),
    ("im", [(46, "recovery"), (121, "discharge")]),
])
def test_phases_per_route(route: str, phases: list[tuple[float, str]]) -> None:
    """The route's timeline gives the phase from the dose: IV's discharge 100 min after the
    dose when no infusion end is known, esketamine's at 120."""
    tl = RULES.timeline.for_route(route)
    assert tl.phase_at(None, None, DOSE) == "pre-dose"
    assert [tl.phase_at(DOSE, None, DOSE + m * 60) for m, _ in phases] == [k for _, k in phases]


def test_baseline_protocol_steps_and_implausible_readings() -> None:
    """Resting for 5 min after check-in, then two plausible readings in a row: an implausible
    one (SBP 40) is not counted and starts the readings over."""
    policy = RULES.baseline
    cuffs = [CuffReading(100, 150, 90)]  # during the rest: not counted
    assert baseline.protocol(policy, 0, cuffs, 299).step == "resting"
    assert baseline.protocol(policy, 0, cuffs, 301).step == "first_reading"
    cuffs += [CuffReading(320, 130, 85), CuffReading(380, 40, 30)]
    p = baseline.protocol(policy, 0, cuffs, 390)
    assert p.step == "first_reading" and "SBP 40" in p.implausible
    cuffs += [CuffReading(400, 128, 84), CuffReading(460, 124, 80)]
    p = baseline.protocol(policy, 0, cuffs, 470)
    assert p.step == "captured" and p.mean()["SBP"] == 126 and p.mean()["DBP"] == 82
