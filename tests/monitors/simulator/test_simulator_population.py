"""Over many random IV-infusion patients the simulator reproduces the published blood-pressure course.

Published ranges (shared/docs/clinical-basis.md §2, IV ketamine 0.5 mg/kg over 40 min, series of
684, 741 and 2,342 infusions): BP peaks at 30–40 min; mean peak rise +3/+3 to +16/+11 mmHg;
severe hypertension in about 1 % of sessions and in 12.5 % of patients at least once over a
course; back to baseline about 1.5 h after the infusion (§4: 60–90 min after it ends, i.e.
100–130 min after the dose).

Severe hypertension and large rises (§2: IV SBP ≥ 180 in about 1 % of sessions; esketamine SBP ≥ 180
in 3 %, DBP ≥ 110 in 4 %, a rise ≥ 40/25 in 8–19 %) are counted on cuff readings within 90 min of the
dose (monitors/simulator/population.py) over STATS_SESSIONS seeded sessions per route. The
tolerances are stated with each test: the published figure ± half of it for a point figure (a
binomial 95 % interval at 1,000 sessions is about ±0.6 points at 1 % and ±1.1 at 3 %), the
published range itself for a range.

Peak rise and time of peak are measured as the series measure them: cuff readings against the
pre-dose baseline (mean of the two pre-dose readings, §3), averaged over patients at each
scheduled reading. The return to baseline is timed on the true SBP, because cuff readings every
15 min are too coarse to time it.
"""

from __future__ import annotations

import numpy as np
import pytest

from monitors.simulator import population, simulate

PATIENTS = 200
STATS_SESSIONS = 1000
MINUTES_AFTER_DOSE = 150
SLOTS = list(range(5, 61, 5)) + list(range(75, MINUTES_AFTER_DOSE, 15))


def _cohort(route: str, patients: int = PATIENTS) -> dict:
    rise = {"SBP": np.full((patients, len(SLOTS)), np.nan), "DBP": np.full((patients, len(SLOTS)), np.nan)}
    true_rise = []
    for seed in range(patients):
        s = simulate("random", seed, minutes=10 + MINUTES_AFTER_DOSE, pre_dose_minutes=10, route=route)
        ok = [r for r in s.display.nibp if r.ok]
        pre = [r for r in ok if r.end < s.dose][:2]
        baseline = {"SBP": np.mean([r.sys for r in pre]), "DBP": np.mean([r.dia for r in pre])}
        for r in ok:
            minute = (r.end - s.dose) / 60
            for k, slot in enumerate(SLOTS):
                if slot <= minute < slot + 5 and np.isnan(rise["SBP"][seed, k]):
                    rise["SBP"][seed, k] = r.sys - baseline["SBP"]
                    rise["DBP"][seed, k] = r.dia - baseline["DBP"]
        true_rise.append(s.phys.sbp[int(s.dose):] - s.plan.patient.baseline["SBP"])
    return {
        "cuff": {v: np.nanmean(a, axis=0) for v, a in rise.items()},
        "true": np.mean(true_rise, axis=0),
    }


@pytest.fixture(scope="module")
def iv() -> dict:
    return _cohort("iv")


def test_mean_peak_rise_is_in_the_published_range(iv):
    """Mean peak cuff rise is within +3/+3 to +16/+11 mmHg (clinical-basis §2, IV series of 684, 741 and
    2,342 infusions)."""
    assert 3 <= iv["cuff"]["SBP"].max() <= 16
    assert 3 <= iv["cuff"]["DBP"].max() <= 11


def test_blood_pressure_peaks_at_30_to_40_minutes(iv):
    """The mean cuff SBP peaks at the 30–40 min readings (clinical-basis §2: "BP peaks at 30–40 min")."""
    assert 30 <= SLOTS[int(np.argmax(iv["cuff"]["SBP"]))] <= 40


@pytest.fixture(scope="module")
def severe() -> dict:
    return {route: {k: v / STATS_SESSIONS for k, v in population.counts(route, range(STATS_SESSIONS)).items()}
            for route in ("iv", "esketamine")}


def test_iv_sessions_reaching_sbp_180_are_about_1_percent(severe):
    """A cuff SBP ≥ 180 within 90 min of an IV dose in 0.5–2 % of sessions (§2 "severe hypertension in
    about 1 % of sessions"; tolerance ±half, and the 2 % ceiling keeps it well below the 6–7 % of the
    uncalibrated model)."""
    assert 0.005 <= severe["iv"]["SBP >= 180"] <= 0.02


def test_esketamine_severe_hypertension_is_at_the_published_rates(severe):
    """Esketamine: cuff SBP ≥ 180 in 1.5–4.5 % (§2 3 %), DBP ≥ 110 in 2–6 % (§2 4 %), a rise ≥ 40
    systolic or ≥ 25 diastolic in 8–19 % (§2, the published range)."""
    e = severe["esketamine"]
    assert 0.015 <= e["SBP >= 180"] <= 0.045
    assert 0.02 <= e["DBP >= 110"] <= 0.06
    assert 0.08 <= e["rise >= 40/25"] <= 0.19


def test_blood_pressure_returns_to_baseline_100_to_130_minutes_after_the_dose(iv):
    """The mean true SBP rise falls below 10 % of its peak 100–130 min after the dose (clinical-basis §2
    "about 1.5 h after the infusion", §4 "60–90 min after the infusion ends")."""
    curve = iv["true"]
    peak = int(np.argmax(curve))
    back = peak + int(np.argmax(curve[peak:] < 0.1 * curve[peak]))
    assert 100 <= back / 60 <= 130


def test_esketamine_peaks_at_40_minutes_and_is_back_by_90():
    """Esketamine's mean SBP rise peaks at about 40 min and is within 10 % of baseline rise by ~90 min
    (clinical-basis §2, §4)."""
    curve = _cohort("esketamine", patients=100)["true"]
    peak = int(np.argmax(curve))
    back = peak + int(np.argmax(curve[peak:] < 0.1 * curve[peak]))
    assert 35 <= peak / 60 <= 45
    assert 80 <= back / 60 <= 100
