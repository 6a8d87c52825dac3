"""Each failure scenario puts on the wire exactly the facts of the alarm contract, with its ground truth,
and the random population carries artifacts that a pulse-rate artifact guard cannot see."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from monitors.simulator import SCENARIOS, generate, simulate
from monitors.simulator.scenarios import FAILURES, MINUTES, SIGNATURE

MIN = 60.0
SEEDS = [0, 1]


def _records(scenario: str, seed: int, waveforms: bool = False) -> tuple[float, list[dict]]:
    header, records = generate(scenario, seed, start=0.0, waveforms=waveforms,
                               minutes=MINUTES.get(scenario, 90))
    return header.meta["dose_time"], list(records)


def _numerics(records: list[dict], param: str) -> np.ndarray:
    """A displayed parameter, one value a second, NaN for "no value"."""
    return np.array([np.nan if (v := r["values"][param]["value"]) is None else v
                     for r in records if r["type"] == "numerics"], dtype=float)


def _wave(records: list[dict], name: str, a: float, b: float) -> np.ndarray:
    out = []
    for r in records:
        if r["type"] == "waveform" and r["wave"] == name and a <= r["t"] < b:
            out += [np.nan if x is None else x for x in r["samples"]]
    return np.array(out, dtype=float)


def _labels(records: list[dict], name: str) -> list[dict]:
    return [r for r in records if r["type"] == "truth" and r["label"] == name]


def _beats_per_min(samples: np.ndarray, rate: float) -> float:
    """Pulses a minute in a pleth: upward crossings of three quarters of its range (above the
    dicrotic wave), at least 0.3 s apart."""
    level = np.nanpercentile(samples, 2) + 0.75 * (np.nanpercentile(samples, 98) - np.nanpercentile(samples, 2))
    up = np.flatnonzero((samples[:-1] < level) & (samples[1:] >= level))
    up = up[np.concatenate([[True], np.diff(up) > 0.3 * rate])]
    return 60.0 * (up.size - 1) / ((up[-1] - up[0]) / rate)


def test_every_failure_scenario_is_registered_with_its_signature():
    """The twelve failure scenarios are in SCENARIOS (so `simulate` and `monitor sim` can play them), each
    with its signature labels, and each signature label is in its ground truth."""
    assert set(FAILURES) == {"cardiac-arrest", "oximeter-only", "false-asystole", "desaturation-under-motion",
                             "pulse-deficit", "flicker", "capnogram-loss", "etco2-fall", "recovery-hypotension",
                             "recovery-crisis", "missing-baseline", "hypertensive-baseline"}
    assert set(SIGNATURE) == set(SCENARIOS) - {"random"}
    for scenario in FAILURES:
        s = simulate(scenario, 0, minutes=MINUTES.get(scenario, 90))
        assert SIGNATURE[scenario] <= {lab.label for lab in s.labels}, scenario


@pytest.mark.parametrize("seed", SEEDS)
def test_cardiac_arrest_blanks_the_monitor_and_flattens_the_pleth(seed):
    """Arrest at 30 min: HR, PR and SpO2 go to "no value", the pleth goes flat, breathing stops;
    `asystole` from the onset to the end; odd seeds add a `pulse_search` status, even seeds none."""
    dose, records = _records("cardiac-arrest", seed, waveforms=True)
    t0 = dose + 30 * MIN
    (arrest,) = _labels(records, "asystole")
    assert arrest["start"] == t0 and arrest["kind"] == "event"
    after = slice(int(t0) + 15, None)
    for param in ("HR", "PR", "SpO2"):
        values = _numerics(records, param)
        assert np.isnan(values[after]).all() and not np.isnan(values[:int(t0)]).any(), param
    assert (_numerics(records, "RR")[int(t0) + 60:] == 0).all()
    before, flat = _wave(records, "PLETH", t0 - 60, t0 - 10), _wave(records, "PLETH", t0 + 10, t0 + 60)
    assert np.nanstd(before) > 5 and np.nanstd(flat) < 1
    statuses = [(r["code"], r["active"]) for r in records if r["type"] == "status"]
    assert statuses == ([("pulse_search", True)] if seed % 2 else [])


def test_oximeter_only_room_sends_no_heart_rate_and_the_pulse_falls_to_35():
    """Oximeter-only room: numerics carry PR and SpO2 but never HR; the pulse falls to 35 for 3 min
    (`bradycardia`, `severe bradycardia`), shown by the pulse rate."""
    dose, records = _records("oximeter-only", 0, waveforms=True)
    numerics = [r for r in records if r["type"] == "numerics"]
    assert all(set(r["values"]) == {"PR", "SpO2"} for r in numerics)
    assert {r["wave"] for r in records if r["type"] == "waveform"} == {"PLETH"}
    pr = _numerics(records, "PR")
    t0 = int(dose + 30 * MIN)
    assert 33 <= np.median(pr[t0 + 90:t0 + 220]) <= 38
    (severe,) = _labels(records, "severe bradycardia")
    assert 150 <= severe["end"] - severe["start"] <= 240


def test_false_asystole_shows_hr_0_while_the_pleth_pulses_at_76():
    """False asystole: ECG HR 0 for 4 min while PR ~76, SpO2 ~98 and the pleth pulses ~76/min; no event
    label at all."""
    dose, records = _records("false-asystole", 0, waveforms=True)
    t0 = int(dose + 30 * MIN)
    hr, pr, spo2 = (_numerics(records, p) for p in ("HR", "PR", "SpO2"))
    assert (hr[t0 + 1:t0 + 240] == 0).all() and hr[t0 - 1] > 60 and hr[t0 + 245] > 60
    assert 70 <= np.median(pr[t0:t0 + 240]) <= 82 and np.median(spo2[t0:t0 + 240]) >= 97
    assert 70 <= _beats_per_min(_wave(records, "PLETH", t0 + 10, t0 + 70), 125) <= 82
    assert np.nanstd(_wave(records, "ECG_II", t0 + 10, t0 + 70)) < 0.05
    assert not [r for r in records if r["type"] == "truth" and r["kind"] == "event"]


@pytest.mark.parametrize("seed", SEEDS)
def test_desaturation_under_motion_shows_the_real_80_with_a_jumping_pulse(seed):
    """True SpO2 80 % for 6 min with motion throughout: the display shows ~80 (motion does not hide it),
    the pulse rate parts from the ECG rate; odd seeds flag `motion`, even seeds do not."""
    dose, records = _records("desaturation-under-motion", seed)
    t0 = int(dose + 30 * MIN)
    spo2, pr, hr = (_numerics(records, p) for p in ("SpO2", "PR", "HR"))
    held = slice(t0 + 90, t0 + 400)
    assert 76 <= np.nanmedian(spo2[held]) <= 82
    assert np.nanmax(np.abs(pr[held] - hr[held])) >= 15
    (desat,) = _labels(records, "desaturation")
    (severe,) = _labels(records, "severe desaturation")
    (motion,) = _labels(records, "motion")
    assert motion["start"] < desat["start"] and motion["end"] > desat["end"] and severe["end"] - severe["start"] >= 360
    statuses = [(r["code"], r["active"]) for r in records if r["type"] == "status" and r["code"] == "motion"]
    assert statuses == ([("motion", True), ("motion", False)] if seed % 2 else [])


def test_pulse_deficit_keeps_ecg_and_pulse_rate_apart_all_session():
    """AF with a pulse deficit: ECG HR ~110 against PR ~80 all session, and a real desaturation to 84."""
    _, records = _records("pulse-deficit", 0, waveforms=True)
    hr, pr, spo2 = (_numerics(records, p) for p in ("HR", "PR", "SpO2"))
    assert 100 <= np.nanmedian(hr) <= 120 and 72 <= np.nanmedian(pr) <= 88
    assert np.nanmean(np.abs(hr - pr) >= 15) > 0.8
    assert 82 <= np.nanmin(spo2) <= 86 and _labels(records, "severe desaturation")


def test_flicker_blanks_spo2_for_one_second_every_twelve():
    """Flicker: SpO2 and PR "no value" for exactly 1 s in every 12, no status; between the blanks the true
    88 % shows for 30 min (`desaturation`)."""
    dose, records = _records("flicker", 0)
    spo2, pr = _numerics(records, "SpO2"), _numerics(records, "PR")
    gone = np.flatnonzero(np.isnan(spo2))
    assert np.array_equal(np.isnan(pr), np.isnan(spo2)) and set(np.diff(gone)) == {12}
    t0 = int(dose + 15 * MIN)
    assert 86 <= np.nanmedian(spo2[t0 + 120:t0 + 1800]) <= 89
    (desat,) = _labels(records, "desaturation")
    assert desat["end"] - desat["start"] >= 1800
    assert not [r for r in records if r["type"] == "status"]


def test_capnogram_loss_blanks_etco2_and_rr_for_two_minutes_while_breathing_goes_on():
    """Capnogram lost: EtCO2 and RR "no value" (and CO2 samples null) for 2 min at 30 min, no status; the
    breathing itself does not change (no apnea), and the label is `capnogram lost`."""
    dose, records = _records("capnogram-loss", 0, waveforms=True)
    t0 = int(dose + 30 * MIN)
    etco2, rr = _numerics(records, "EtCO2"), _numerics(records, "RR")
    assert np.isnan(etco2[t0:t0 + 120]).all() and np.isnan(rr[t0:t0 + 120]).all()
    assert not np.isnan(etco2[t0 + 120:]).any() and not np.isnan(etco2[:t0]).any()
    assert np.isnan(_wave(records, "CO2", t0, t0 + 120)).all()
    assert [(r["start"] - dose, r["end"] - dose) for r in _labels(records, "capnogram lost")] == [(1800, 1920)]
    assert not _labels(records, "apnea") and not [r for r in records if r["type"] == "status"]


def test_etco2_falls_to_20_while_breaths_are_detected():
    """EtCO2 fall: EtCO2 ~20 for 5 min with RR still shown; labelled `EtCO2 fall`."""
    dose, records = _records("etco2-fall", 0)
    t0 = int(dose + 30 * MIN)
    etco2, rr = _numerics(records, "EtCO2"), _numerics(records, "RR")
    assert 17 <= np.median(etco2[t0 + 90:t0 + 330]) <= 23 and (rr[t0:t0 + 400] >= 8).all()
    assert _labels(records, "EtCO2 fall")


def test_recovery_hypotension_reads_84_50_on_the_15_minute_cycle():
    """Recovery hypotension: from 62 min every reading is ~84/50, taken every 15 min; `hypotension` runs to
    the end."""
    dose, records = _records("recovery-hypotension", 0)
    readings = [r for r in records if r["type"] == "nibp" and r["t"] > dose + 63 * MIN]
    assert len(readings) >= 2 and all(74 <= r["sys"] <= 94 and 40 <= r["dia"] <= 60 for r in readings)
    assert all(b["t"] - a["t"] >= 14 * MIN for a, b in itertools.pairwise(readings))
    (hypo,) = _labels(records, "hypotension")
    assert hypo["end"] == records[-1]["end"] or hypo["end"] >= readings[-1]["t"]


def test_recovery_crisis_is_one_reading_of_196_124():
    """Recovery crisis: the 75-min reading is exactly 196/124; no other reading is ≥ 160/100."""
    dose, records = _records("recovery-crisis", 0)
    readings = [r for r in records if r["type"] == "nibp" and r["status"] == "ok"]
    high = [r for r in readings if r["sys"] >= 160 or r["dia"] >= 100]
    assert [(r["sys"], r["dia"]) for r in high] == [(196, 124)]
    assert 75 <= (high[0]["t"] - dose) / MIN <= 76
    assert _labels(records, "hypertensive crisis") and _labels(records, "SBP >= 180")


def test_missing_baseline_has_no_pre_dose_reading():
    """Missing baseline: no cuff reading before the dose, the first at 5 min; `no baseline` from the dose."""
    dose, records = _records("missing-baseline", 0)
    readings = [r for r in records if r["type"] == "nibp"]
    assert readings and all(r["t"] > dose + 5 * MIN for r in readings)
    assert [r["start"] for r in _labels(records, "no baseline")] == [dose]


def test_hypertensive_baseline_is_high_before_the_dose_and_normal_after():
    """Hypertensive baseline: both pre-dose readings ~190/112, every post-dose reading < 160/100; the
    severe-hypertension labels end within minutes of the dose."""
    dose, records = _records("hypertensive-baseline", 0)
    readings = [r for r in records if r["type"] == "nibp" and r["status"] == "ok"]
    pre = [r for r in readings if r["t"] < dose]
    assert len(pre) == 2 and all(r["sys"] >= 180 and r["dia"] >= 105 for r in pre)
    assert all(r["sys"] < 160 and r["dia"] < 100 for r in readings if r["t"] > dose)
    for name in ("SBP >= 180", "DBP >= 110"):
        assert all(lab["end"] < dose + 5 * MIN for lab in _labels(records, name))


def test_random_population_has_artifacts_the_pulse_guard_cannot_see():
    """Over 60 random sessions there are motion bursts without a pulse-rate jump, pulse-rate jumps without
    motion both flagged `motion` and not, and flagged motion: the artifact model is not only §4's."""
    kinds = set()
    for seed in range(60):
        s = simulate("random", seed, minutes=90)
        for a in s.plan.artifacts:
            if a.kind in ("motion", "pulse jump"):
                kinds.add((a.kind, a.pr_jump, a.status))
        for a in s.plan.artifacts:
            if a.kind == "pulse jump":
                i, j = int(a.start) + 3, int(min(a.end, s.n))
                # The pulse rate jumps while SpO2 stays true: no false low value.
                if j - i > 6 and not any(b.kind in ("motion", "probe off") and b.start < j and b.end > i
                                         for b in s.plan.artifacts) and not s.plan.device.same_arm:
                    assert np.nanmax(np.abs(s.display.pr[i:j] - s.display.hr[i:j])) >= 5
                    assert np.nanmin(s.display.spo2[i:j]) >= s.plan.patient.baseline["SpO2"] - 3
    assert {("motion", False, False), ("motion", True, True), ("motion", True, False),
            ("pulse jump", True, True), ("pulse jump", True, False)} <= kinds
