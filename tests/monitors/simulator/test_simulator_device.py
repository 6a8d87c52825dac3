"""The simulated devices behave as clinical-basis §4 describes: NIBP cycle, SpO2 averaging, lost signals."""

from __future__ import annotations

import itertools

import numpy as np

from monitors.simulator import simulate
from monitors.simulator.artifacts import Artifact
from monitors.simulator.device import DeviceSettings, measure_nibp, nibp_schedule, observe


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_nibp_follows_the_schedule_every_5_minutes_then_every_15():
    """Cuff readings start twice before the dose, every 5 min to 60 min, then every 15, each taking
    25–45 s."""
    s = simulate("typical-responder", 0, minutes=130)
    starts = [(r.start - s.dose) / 60 for r in s.display.nibp]
    assert starts == [-4.5, -2.0] + list(range(5, 61, 5)) + [75, 90, 105]
    assert all(25 <= r.end - r.start <= 45 and r.ok for r in s.display.nibp)


def test_nibp_readings_are_at_least_30_seconds_apart_and_within_180_seconds():
    """However requests crowd, a reading starts 30 s or more after the last one ended and lasts at most 180
    s."""
    s = simulate("random", 3, minutes=60)
    crowded = [s.dose + 60 * m + 5 for m in range(0, 50, 5)]
    readings = measure_nibp(_rng(), s.phys, [], DeviceSettings(), crowded)
    assert len(readings) > len(nibp_schedule(s.n, s.dose))
    for before, after in itertools.pairwise(readings):
        assert after.start - before.end >= 30
    assert all(r.end - r.start <= 180 for r in readings)


def test_a_failed_reading_is_retried_once_30_seconds_later():
    """After a failure the cuff retries once, 30 s after the failed attempt ended; a failed retry is not
    retried."""
    s = simulate("random", 1, minutes=90)
    always = DeviceSettings(fail_rest=1.0)
    readings = measure_nibp(_rng(), s.phys, [], always)
    assert not any(r.ok for r in readings)
    for r, nxt in itertools.pairwise(readings):
        if r.trigger != "retry":
            assert nxt.trigger == "retry" and abs(nxt.start - (r.end + 30)) < 1e-6
        else:
            assert nxt.trigger != "retry"


def test_failure_rates_at_rest_and_during_movement():
    """About 3 % of readings fail at rest and about 25 % during movement (clinical-basis §4 [D])."""
    rest, moving = [], []
    for seed in range(12):
        s = simulate("typical-responder", seed, minutes=200)
        everywhere = [Artifact("motion", 0, s.n, false_spo2=85)]
        rest += measure_nibp(_rng(seed), s.phys, [], DeviceSettings())
        moving += [r for r in measure_nibp(_rng(seed), s.phys, everywhere, DeviceSettings())
                   if r.trigger == "schedule"]
    failed_rest = np.mean([not r.ok for r in rest if r.trigger == "schedule"])
    failed_moving = np.mean([not r.ok for r in moving])
    assert 0.005 <= failed_rest <= 0.07, failed_rest
    assert 0.15 <= failed_moving <= 0.35, failed_moving


def test_no_reading_is_possible_with_a_pulse_below_40():
    """With the heart rate below 40 every cuff attempt fails."""
    s = simulate("typical-responder", 2, minutes=40)
    s.phys.hr[:] = 36.0
    readings = measure_nibp(_rng(), s.phys, [], DeviceSettings(fail_rest=0.0))
    assert readings and not any(r.ok for r in readings)
    assert {r.reason for r in readings} == {"no oscillations detected (pulse too slow or weak)"}


def test_cuff_leak_fails_readings_and_reports_cuff_error_until_a_good_reading():
    """A loose cuff fails each attempt, reports cuff_error once, and clears it with the next good reading."""
    s = simulate("typical-responder", 4, minutes=60)
    leak = Artifact("cuff leak", s.dose + 9 * 60, s.dose + 16 * 60)
    d = observe(_rng(), s.phys, [leak], DeviceSettings(fail_rest=0.0))
    in_leak = [r for r in d.nibp if leak.start <= r.start < leak.end]
    assert in_leak and not any(r.ok for r in in_leak)
    cuff = [x for x in d.statuses if x[1] == "cuff_error"]
    assert [active for _, _, active, _ in cuff] == [True, False]
    first_good_after = next(r for r in d.nibp if r.start >= leak.end and r.ok)
    assert cuff[0][0] == in_leak[0].end and cuff[1][0] == first_good_after.end


def test_spo2_follows_a_step_over_the_device_averaging_window():
    """The SpO2 shown reaches a new true value later with a 16 s averaging window than with a 4 s one, and
    within the window."""
    s = simulate("typical-responder", 5, minutes=30)
    step = int(s.dose) + 300
    s.phys.spo2[step:] = 88.0
    late = {}
    for window in (4, 16):
        spo2 = observe(_rng(), s.phys, [], DeviceSettings(spo2_averaging=window)).spo2
        late[window] = int(np.argmax(np.rint(spo2[step:]) <= 89))
    assert late[4] < late[16] <= 16


def test_lead_off_blanks_the_ecg_heart_rate_and_reports_lead_off():
    """A lead off makes HR "no value" for its duration, leaves SpO2 and pulse rate alone, and is reported."""
    s = simulate("typical-responder", 6, minutes=30)
    off = Artifact("lead off", 600.0, 660.0)
    d = observe(_rng(), s.phys, [off], DeviceSettings())
    assert np.isnan(d.hr[600:660]).all() and not np.isnan(d.hr[:600]).any()
    assert not np.isnan(d.pr[600:660]).any() and not np.isnan(d.spo2[600:660]).any()
    assert [(t, code, active) for t, code, active, _ in d.statuses] == [
        (600.0, "lead_off", True), (660.0, "lead_off", False)]


def test_motion_shows_false_spo2_and_pulse_jumps_without_a_status():
    """During motion the oximeter shows the false low value and jumping pulse rate, and reports nothing."""
    s = simulate("typical-responder", 7, minutes=30)
    burst = Artifact("motion", 900.0, 925.0, false_spo2=80.0)
    d = observe(_rng(), s.phys, [burst], DeviceSettings(spo2_averaging=4))
    assert 76 <= np.nanmin(d.spo2[900:930]) <= 84
    assert np.max(np.abs(d.pr[905:925] - d.hr[905:925])) >= 10
    assert d.statuses == []
