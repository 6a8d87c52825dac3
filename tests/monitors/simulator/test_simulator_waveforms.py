"""Waveforms agree with the numerics: beats in the pleth and ECG match HR, breaths in the capnogram
match RR."""

from __future__ import annotations

import numpy as np
import pytest

from monitors.simulator import generate, simulate


def _count(x: np.ndarray, low: float, high: float) -> int:
    """Cycles in ``x``: rises through ``high``, each counted only after a fall below ``low``
    (hysteresis, so that noise on a slope is not a cycle)."""
    up = np.flatnonzero((x[:-1] < high) & (x[1:] >= high))
    down = np.flatnonzero((x[:-1] >= low) & (x[1:] < low))
    events = sorted([(i, 1) for i in up] + [(i, 0) for i in down])
    count, armed = 0, x[0] < low
    for _, rising in events:
        if rising and armed:
            count, armed = count + 1, False
        elif not rising:
            armed = True
    return count


def _cycles(x: np.ndarray) -> int:
    lo, hi = np.percentile(x, [5, 95])
    return _count(x, lo + 0.35 * (hi - lo), lo + 0.65 * (hi - lo))


def _clean_windows(session, length: float) -> list[tuple[int, int]]:
    """Windows of ``length`` seconds that no artifact, and no cuff squeezing the probe's arm, touches."""
    bad = np.zeros(session.n, dtype=bool)
    spans = [(lab.start, lab.end) for lab in session.labels if lab.kind == "artifact"]
    for a, b in spans + session.display.occlusions:
        bad[int(a):int(np.ceil(b)) + 5] = True
    out = []
    for a in range(0, session.n - int(length), int(length)):
        if not bad[a:a + int(length)].any():
            out.append((a, a + int(length)))
    return out


@pytest.mark.parametrize("scenario,seed", [("typical-responder", 1), ("hypertensive-surge", 2),
                                           ("random", 5), ("random", 9)])
def test_beats_in_pleth_and_ecg_match_the_heart_rate_within_3_percent(scenario, seed):
    """Beats counted in the ECG and in the pleth over 5-min windows are within 3 % of the mean HR shown."""
    s = simulate(scenario, seed, minutes=60, waveforms=True)
    ecg, pleth = s.waves["ECG_II"], s.waves["PLETH"]
    windows = _clean_windows(s, 300)
    assert windows
    for a, b in windows:
        hr = np.nanmean(s.display.hr[a:b])
        expected = hr * (b - a) / 60
        e = ecg.samples[a * ecg.rate:b * ecg.rate]
        r_top = np.percentile(e, 99.5)
        r_waves = _count(e, 0.3 * r_top, 0.6 * r_top)  # only R waves reach this high
        pulses = _cycles(pleth.samples[a * pleth.rate:b * pleth.rate])
        assert abs(r_waves - expected) <= 0.03 * expected, (a, r_waves, expected)
        assert abs(pulses - expected) <= 0.03 * expected, (a, pulses, expected)


@pytest.mark.parametrize("scenario,seed", [("typical-responder", 1), ("random", 5), ("random", 9)])
def test_breaths_in_capnogram_and_impedance_match_the_respiratory_rate(scenario, seed):
    """Breaths counted in the capnogram and the impedance trace over 10-min windows are within 5 % of the
    mean RR shown."""
    s = simulate(scenario, seed, minutes=60, waveforms=True)
    co2, resp = s.waves["CO2"], s.waves["RESP"]
    windows = _clean_windows(s, 600)
    assert windows
    for a, b in windows:
        rr = np.nanmean(s.display.rr[a:b])
        expected = rr * (b - a) / 60
        etco2 = np.median(s.display.etco2[a:b])
        exhaled = _count(co2.samples[a * co2.rate:b * co2.rate], 0.2 * etco2, 0.5 * etco2)
        chest = _cycles(resp.samples[a * resp.rate:b * resp.rate])
        assert abs(exhaled - expected) <= 0.05 * expected, (a, exhaled, expected)
        assert abs(chest - expected) <= 0.05 * expected, (a, chest, expected)


def test_capnogram_is_flat_while_the_airway_is_obstructed_but_the_chest_still_moves():
    """During an obstruction the capnogram has no breath while the impedance trace keeps showing efforts."""
    s = simulate("airway-obstruction", 0, waveforms=True)
    (ep,) = [lab for lab in s.labels if lab.label == "airway obstruction"]
    a, b = int(ep.start) + 5, int(ep.end)
    co2, resp = s.waves["CO2"], s.waves["RESP"]
    assert co2.samples[a * co2.rate:b * co2.rate].max() < 5
    efforts = _cycles(resp.samples[a * resp.rate:b * resp.rate])
    assert abs(efforts - np.mean(s.phys.rr[a:b]) * (b - a) / 60) <= 2


def test_waveforms_show_no_value_while_probe_or_lead_is_off():
    """Pleth samples are null exactly while the probe is off; ECG and impedance stay present."""
    header, records = generate("sensor-disconnect", 0, minutes=45, waveforms=True, start=0.0)
    dose = header.meta["dose_time"]
    for rec in records:
        if rec["type"] != "waveform":
            continue
        minute = (rec["t"] - dose) / 60
        missing = any(v is None for v in rec["samples"])
        if rec["wave"] != "PLETH" or not 24.99 <= minute <= 29.0:
            assert not missing
        elif 25.01 < minute < 28.99:
            assert all(v is None for v in rec["samples"])


def test_pleth_is_lost_while_the_cuff_inflates_on_the_same_arm():
    """With the probe on the cuff arm the pleth goes flat during each cuff measurement and SpO2 goes to no
    value."""
    seed = next(k for k in range(50) if simulate("random", k, minutes=20).plan.device.same_arm)
    s = simulate("random", seed, minutes=20, waveforms=True)
    pleth = s.waves["PLETH"]
    for (a, b) in s.display.occlusions:
        mid = pleth.samples[int((a + 5) * pleth.rate):int((b - 3) * pleth.rate)]
        assert mid.max() - mid.min() < 6  # flat: only noise left
        assert np.isnan(s.display.spo2[int(a + 12):int(b)]).all()
