"""Each named scenario's signature event happens when clinical-basis §4 says, and its labels match the
signal."""

from __future__ import annotations

import operator

import numpy as np
import pytest

from monitors.simulator import SCENARIOS, generate, simulate
from monitors.simulator.drug import changes
from monitors.simulator.parameters import TRUTH_CONDITIONS, TRUTH_MERGE_GAP_S

SEEDS = range(6)
MIN = 60.0


def _minute(session, t: float) -> float:
    return (t - session.dose) / MIN


def _labels(session, name: str) -> list:
    return [lab for lab in session.labels if lab.label == name]


def _records(scenario: str, seed: int, **kwargs) -> tuple[float, list[dict]]:
    header, records = generate(scenario, seed, start=0.0, **kwargs)
    return header.meta["dose_time"], list(records)


def _numerics(records: list[dict], param: str) -> np.ndarray:
    """One displayed parameter over the session, NaN for "no value"."""
    return np.array([np.nan if (v := r["values"][param]["value"]) is None else v
                     for r in records if r["type"] == "numerics"], dtype=float)


# --- Labels against the signal, for every scenario -------------------------------------------

_OPS = {">=": operator.ge, ">": operator.gt, "<": operator.lt, "<=": operator.le}


def _limit(limit, baseline) -> float:
    if not isinstance(limit, str):
        return limit
    ref, op, amount = limit.split()
    return baseline[ref[3:]] + (float(amount) if op == "+" else -float(amount))


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("seed", [0, 1])
def test_threshold_labels_cover_exactly_the_seconds_the_condition_holds(scenario, seed):
    """Each threshold label holds where its §3 condition holds on the true signal, and nowhere else."""
    s = simulate(scenario, seed)
    series = {"SBP": s.phys.sbp, "DBP": s.phys.dbp, "MAP": s.phys.map, "HR": s.phys.hr,
              "RR": s.phys.rr, "SpO2": s.phys.spo2, "EtCO2": s.phys.etco2}
    for name, conditions in TRUTH_CONDITIONS.items():
        holds = np.zeros(s.n, dtype=bool)
        for vital, op, limit in conditions:
            holds |= _OPS[op](series[vital], _limit(limit, s.plan.patient.baseline))
        if name == "hypertensive crisis":  # or SBP > 180 for 2 min or more
            above = s.phys.sbp > 180
            for i in np.flatnonzero(above):
                run = above[max(i - 119, 0):i + 1]
                if run.size == 120 and run.all():
                    holds[i - 119:i + 1] = True
        labelled = np.zeros(s.n, dtype=bool)
        for lab in _labels(s, name):
            labelled[int(lab.start):int(lab.end)] = True
            # Inside a label the condition lapses only for gaps shorter than the merge gap.
            assert holds[int(lab.start)] and holds[int(lab.end) - 1]
            assert (~holds[int(lab.start):int(lab.end)]).sum() < TRUTH_MERGE_GAP_S * len(_labels(s, name))
        assert not (holds & ~labelled).any(), name


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_apnea_labels_are_the_gaps_between_breaths(scenario):
    """An apnea label spans exactly a gap of more than 15 s between breaths that moved air."""
    s = simulate(scenario, 0)
    gaps = {(round(a, 3), round(b, 3)) for a, b in zip(s.phys.breaths[:-1], s.phys.breaths[1:]) if b - a > 15}
    gaps = {(a, b) for a, b in gaps if b >= 0 and a < s.n}
    if s.n - s.phys.breaths[-1] > 15:  # breathing that stops for good (an arrest)
        gaps.add((round(s.phys.breaths[-1], 3), float(s.n)))
    labelled = {(round(lab.start, 3), round(lab.end, 3)) for lab in _labels(s, "apnea")}
    assert {(max(a, 0.0), min(b, s.n)) for a, b in gaps} == labelled


# --- 1. typical responder ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_typical_responder_peaks_at_38_minutes_and_is_back_by_100(seed):
    """Typical responder: +12/+8 and HR +4 at ~38 min, back to baseline by 100 min, nothing above a low
    alarm."""
    s = simulate("typical-responder", seed, minutes=120)
    base = s.plan.patient.baseline
    m = (np.arange(s.n) - s.dose) / MIN
    near_peak = (m >= 33) & (m <= 43)
    # The tolerances are the slow drift's (SD 2 mmHg and 2/min, clinical-basis §4 noise [D]).
    assert 8 <= (s.phys.sbp[near_peak] - base["SBP"]).mean() <= 16
    assert 4 <= (s.phys.dbp[near_peak] - base["DBP"]).mean() <= 12
    assert 0 <= (s.phys.hr[near_peak] - base["HR"]).mean() <= 8
    # Back to baseline by 100 min: the drug's part is all but gone; what is left is the slow
    # drift, well inside one cuff reading's error (SD 5).
    assert changes(s.plan.response, np.array([100.0]))["SBP"][0] < 1.5
    assert abs((s.phys.sbp[(m >= 100) & (m < 105)] - base["SBP"]).mean()) < 6
    assert not [lab for lab in s.labels if lab.kind == "event"]
    assert all(r.ok and r.sys < 160 and r.dia < 100 for r in s.display.nibp)  # not even B1
    d = s.display
    assert np.nanmin(d.spo2) >= 93 and np.nanmin(d.hr) >= 50 and np.nanmax(d.hr) <= 120
    assert np.nanmin(d.rr) >= 8 and np.nanmax(d.rr) <= 30 and np.nanmax(d.etco2) < 50


# --- 2. hypertensive surge --------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_hypertensive_surge_crosses_180_at_30_minutes_and_falls_below_160_by_70(seed):
    """Hypertensive surge: 146/92 crosses 180/110 at ~30 min, confirmed by a reading ≥ 2 min later, < 160
    from 70 min."""
    s = simulate("hypertensive-surge", seed)
    assert s.plan.patient.baseline["SBP"] == 146 and s.plan.patient.age == 58
    (sbp180,) = _labels(s, "SBP >= 180")
    assert 26 <= _minute(s, sbp180.start) <= 32
    assert 23 <= _minute(s, _labels(s, "DBP >= 110")[0].start) <= 32
    # The first cuff reading to show it (B3) scatters with the per-reading error (SD 5).
    high = [r for r in s.display.nibp if r.ok and (r.sys >= 180 or r.dia >= 110)]
    assert 20 <= _minute(s, high[0].end) <= 36
    assert any(r.end - high[0].end >= 2 * MIN and _minute(s, r.end) <= 42 and r.sys > 180
               for r in high[1:])  # B4 confirmation
    m = (np.arange(s.n) - s.dose) / MIN
    assert (s.phys.sbp[m >= 70] < 160).all()
    assert all(r.sys < 160 for r in s.display.nibp if r.ok and _minute(s, r.end) >= 70)
    assert any(what == "treatment" for _, what, _ in s.marks)


@pytest.mark.parametrize("seed", SEEDS)
def test_hypertensive_surge_on_esketamine_stays_raised_until_150_minutes(seed):
    """Esketamine variant: crosses 180 at ~30 min and SBP stays ≥ 160 until about 150 min."""
    s = simulate("hypertensive-surge", seed, minutes=200, route="esketamine")
    assert 26 <= _minute(s, _labels(s, "SBP >= 180")[0].start) <= 34
    m = (np.arange(s.n) - s.dose) / MIN
    assert s.phys.sbp[(m >= 120) & (m < 130)].mean() >= 160
    assert s.phys.sbp[(m >= 180) & (m < 190)].mean() < 160


# --- 3. vasovagal -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_vasovagal_drops_hr_to_42_and_sbp_to_78_over_45_seconds(seed):
    """Vasovagal at cannulation: HR 80 → 42 and SBP → 78 over 45 s, recovered within 3 min."""
    s = simulate("vasovagal", seed)
    (ep,) = _labels(s, "vasovagal")
    t0 = int(ep.start)
    assert ep.start < s.dose
    assert 40 <= s.phys.hr[t0 + 45:t0 + 75].mean() <= 44
    assert 76 <= s.phys.sbp[t0 + 45:t0 + 75].mean() <= 80
    assert s.phys.hr[t0 + 20] > 50  # a fall over 45 s, not a step
    assert abs(s.phys.hr[t0 + 45 + 180] - s.plan.patient.baseline["HR"]) < 6
    (brady,) = _labels(s, "bradycardia")
    (hypo,) = _labels(s, "hypotension")
    assert ep.start <= brady.start < brady.end <= ep.end and ep.start <= hypo.start < hypo.end <= ep.end
    assert np.nanmin(s.display.hr[t0:t0 + 90]) < 50  # the monitor shows it
    # The nurse's reading shows the low pressure, unless it is one of the 3 % that fail.
    manual = [r for r in s.display.nibp if r.trigger == "manual"]
    assert manual and (manual[0].sys < 90 if manual[0].ok else manual[0].reason)


# --- 4. airway obstruction / oversedation ------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_airway_event_desaturates_60_seconds_after_breathing_changes(seed):
    """Airway: capnogram lost or RR 4, SpO2 97 → 84 over 90 s from 60 s later, HR +15, back within 60 s of a
    jaw thrust."""
    s = simulate("airway-obstruction", seed)
    base = s.plan.patient.baseline
    form = s.plan.notes["variant"]
    (ep,) = _labels(s, "airway obstruction" if form == "obstruction" else "oversedation")
    t0, jaw = int(ep.start), int(ep.end)
    assert _minute(s, t0) == 32
    d = s.display
    if form == "obstruction":
        assert not ((s.phys.breaths > t0) & (s.phys.breaths < jaw)).any()
        assert (d.rr[t0 + 25:jaw] == 0).all() and (d.etco2[t0 + 25:jaw] == 0).all()
        (apnea,) = [a for a in _labels(s, "apnea") if a.start < jaw and a.end > t0]
        assert apnea.start <= t0 + 1 and apnea.end >= jaw
    else:
        assert (np.rint(d.rr[t0 + 60:jaw]) <= 5).all()
        assert _labels(s, "bradypnea")
    assert s.phys.spo2[t0 + 60] >= base["SpO2"] - 0.5
    assert 83.5 <= s.phys.spo2[t0 + 150] <= 85
    assert np.nanmin(d.spo2[t0:jaw + 20]) <= 86
    (desat,) = _labels(s, "desaturation")
    assert t0 + 60 <= desat.start <= t0 + 150
    assert s.phys.hr[t0 + 150] - base["HR"] >= 12
    assert s.phys.spo2[jaw + 60] >= base["SpO2"] - 1 and desat.end <= jaw + 60
    assert any(what == "intervention" and t == jaw for t, what, _ in s.marks)


def test_airway_scenario_has_both_forms():
    """Even seeds obstruct the airway, odd seeds oversedate."""
    assert simulate("airway-obstruction", 0, minutes=20).plan.notes["variant"] == "obstruction"
    assert simulate("airway-obstruction", 1, minutes=20).plan.notes["variant"] == "oversedation"


# --- 5. sensor disconnect ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_sensor_disconnect_shows_no_value_for_four_minutes_and_only_a_technical_status(seed):
    """Sensor disconnect: probe off at 25 min, SpO2 and pulse "no value" for 4 min, nothing physiological."""
    dose, records = _records("sensor-disconnect", seed)
    statuses = [r for r in records if r["type"] == "status"]
    assert [(r["code"], r["active"], (r["t"] - dose) / MIN) for r in statuses] == [
        ("probe_off", True, 25.0), ("probe_off", False, 29.0)]
    spo2, pr, hr = (_numerics(records, p) for p in ("SpO2", "PR", "HR"))
    gone = np.flatnonzero(np.isnan(spo2))
    assert (gone[0] - dose) / MIN == 25.0 and 29.0 <= (gone[-1] - dose) / MIN <= 29.2
    assert np.array_equal(np.isnan(pr), np.isnan(spo2)) and not np.isnan(hr).any()
    truth = [r for r in records if r["type"] == "truth"]
    assert [(r["label"], r["kind"]) for r in truth if r["kind"] == "event"] == []
    probe_off = [((r["start"] - dose) / MIN, (r["end"] - dose) / MIN)
                 for r in truth if r["label"] == "probe off"]
    assert probe_off == [(25.0, 29.0)]
    assert np.nanmin(spo2) >= 93  # no physiological alarm on the way off or back


# --- 6. vomiting / movement ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_vomiting_raises_hr_and_sbp_and_corrupts_the_measurements(seed):
    """Vomiting at 35–60 min: real HR and SBP +15 for 2 min, false SpO2 in the 80s, PR spikes, false RR, two
    failed NIBP then a good one."""
    s = simulate("vomiting-movement", seed)
    (ep,) = _labels(s, "vomiting")
    assert 35 <= _minute(s, ep.start) <= 60 and ep.end - ep.start == 120
    t0 = int(ep.start)
    base = s.plan.patient.baseline
    hr_rise = s.phys.hr[t0 + 30:t0 + 90].mean() - s.phys.hr[t0 - 90:t0 - 30].mean()
    sbp_rise = s.phys.sbp[t0 + 30:t0 + 90].mean() - s.phys.sbp[t0 - 90:t0 - 30].mean()
    assert 12 <= hr_rise <= 18 and 12 <= sbp_rise <= 18
    (motion,) = [a for a in _labels(s, "motion") if a.start == ep.start]
    moving = slice(int(motion.start) + 10, int(motion.end))
    d = s.display
    assert 80 <= np.nanmedian(d.spo2[moving]) < 90
    assert np.nanmax(np.abs(d.pr[moving] - d.hr[moving])) >= 15
    assert np.nanmax(d.rr[moving]) > 25 and np.nanmax(d.rr[moving]) > base["RR"] + 10
    # False values only where the motion label is: the true SpO2 never left baseline.
    assert not _labels(s, "desaturation")
    near = [r for r in s.display.nibp if motion.start - 60 <= r.start <= motion.end + 120]
    assert [r.ok for r in near[:3]] == [False, False, True]
    assert [r.reason for r in near[:2]] == ["excessive motion"] * 2
    assert near[1].trigger == "retry"
