"""The bedside devices: what an oximeter, an ECG, a capnograph and an NIBP cuff report.

The devices see the true physiology (vitals.py) through their own behaviour (clinical-basis §4):

- ECG heart rate: 60 / the mean of the last 4 beat intervals, "no value" while a lead is off.
- Oximeter: SpO2 averaged over the device's 4–16 s window, shown as an integer; pulse rate over
  the last 8 pulses. Motion shows false values. A lost pulse (cuff inflating on the probe's arm)
  keeps the last value for a few seconds, then shows "no value"; a probe off shows "no value" at
  once; either way a value comes back only a few seconds after the pulse does.
- Capnograph: RR from the last 4 breaths it saw, falling as the time since the last breath grows
  and 0 after the apnea timeout; EtCO2 the peak of the last breath.
- NIBP: the §4 schedule (two readings before the dose, every 5 min to 60 min, then every 15),
  each reading 25–45 s, at least 30 s apart, failures at rest, more during movement, none
  possible below a pulse of 40, one automatic retry 30 s after a failure.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import parameters as P
from .artifacts import STATUS, Artifact, overlaps
from .noise import draw, smooth_noise
from .vitals import Physiology


@dataclass(frozen=True)
class DeviceSettings:
    """How the devices are set up for a session: the oximeter's averaging window (s), whether
    the probe is on the cuff's arm, the cuff's failure rates at rest and during movement, whether
    the cuff takes the pre-dose readings, and readings whose values are scripted exactly
    (``exact_readings``: (from, to, sys, dia): a good reading whose value is taken in [from, to)
    shows these values)."""

    spo2_averaging: int = 8
    same_arm: bool = False
    fail_rest: float = P.NIBP_FAIL_REST
    fail_motion: float = P.NIBP_FAIL_MOTION
    predose_nibp: bool = True
    exact_readings: tuple[tuple[float, float, int, int], ...] = ()


@dataclass(frozen=True)
class Reading:
    """One cuff measurement from ``start`` to ``end`` (s from the start); values in mmHg."""

    start: float
    end: float
    ok: bool
    sys: int | None = None
    dia: int | None = None
    map: int | None = None
    reason: str = ""
    trigger: str = "schedule"  # "schedule", "retry" or "manual"


@dataclass
class Display:
    """What the devices show, one value a second (NaN = "no value"), and their events."""

    hr: np.ndarray
    pr: np.ndarray
    spo2: np.ndarray
    rr: np.ndarray
    etco2: np.ndarray
    nibp: list[Reading]
    statuses: list[tuple[float, str, bool, str]]  # (t, code, active, text)
    breaths: np.ndarray  # every breath the capnograph counted, false ones included
    breath_etco2: np.ndarray
    occlusions: list[tuple[float, float]] = field(default_factory=list)  # pleth lost to the cuff


def nibp_schedule(n: int, dose: float, predose: bool = True) -> list[float]:
    """Automatic cuff start times (s from the start) within ``n`` seconds (without the pre-dose
    readings unless ``predose``)."""
    times = [dose + 60 * m for m in P.NIBP_PREDOSE_MIN] if predose else []
    m = P.NIBP_EARLY_INTERVAL_MIN
    while m <= P.NIBP_EARLY_UNTIL_MIN:
        times.append(dose + 60 * m)
        m += P.NIBP_EARLY_INTERVAL_MIN
    m = P.NIBP_EARLY_UNTIL_MIN + P.NIBP_LATE_INTERVAL_MIN
    while dose + 60 * m < n:
        times.append(dose + 60 * m)
        m += P.NIBP_LATE_INTERVAL_MIN
    return [t for t in times if 0 <= t < n]


def measure_nibp(rng: np.random.Generator, phys: Physiology, artifacts: Sequence[Artifact],
                 settings: DeviceSettings, manual: Sequence[float] = ()) -> list[Reading]:
    """Every cuff measurement of the session, in time order: the schedule's, retries, and
    readings started by hand at the ``manual`` times."""
    n = phys.n
    queue = [(t, i, "schedule") for i, t in enumerate(nibp_schedule(n, phys.dose, settings.predose_nibp))]
    queue += [(t, len(queue) + i, "manual") for i, t in enumerate(manual)]
    heapq.heapify(queue)
    order = len(queue)
    readings: list[Reading] = []
    free_at = -np.inf
    while queue:
        requested, _, trigger = heapq.heappop(queue)
        start = max(requested, free_at + P.NIBP_MIN_GAP_S)
        # The same draws in the same order whatever happens, so one reading's fate does not
        # shift the random numbers of the next.
        ok_duration = draw(rng, P.NIBP_DURATION_S)
        failed_duration = draw(rng, P.NIBP_FAILED_DURATION_S)
        u = rng.random()
        error = rng.normal(0.0, 1.0, 3)
        window = phys.hr[int(start):int(start + ok_duration) + 1]
        if window.size == 0:
            continue
        reason = ""
        if overlaps(artifacts, "cuff leak", start, start + ok_duration):
            reason = "cuff leak or loose cuff"
        elif window.min() < P.NIBP_MIN_HR:
            reason = "no oscillations detected (pulse too slow or weak)"
        elif overlaps(artifacts, "motion", start, start + ok_duration) and u < settings.fail_motion:
            reason = "excessive motion"
        elif u < settings.fail_rest:
            reason = "weak or erratic oscillations"
        end = start + (failed_duration if reason else ok_duration)
        if end >= n:
            break  # still measuring when the recording ends
        if reason:
            readings.append(Reading(start, end, False, reason=reason, trigger=trigger))
            if trigger != "retry":
                order += 1
                heapq.heappush(queue, (end + P.NIBP_RETRY_AFTER_S, order, "retry"))
        else:
            # Oscillometry finds the systolic and diastolic pressures late in the deflation.
            i = min(int(start + 0.8 * ok_duration), n - 1)
            sd = P.NIBP_ERROR_SD
            sys_ = round(phys.sbp[i] + sd["SBP"] * error[0])
            dia = round(phys.dbp[i] + sd["DBP"] * error[1])
            dia = min(dia, sys_ - 10)
            for a, b, fixed_sys, fixed_dia in settings.exact_readings:
                if a <= i < b:
                    sys_, dia = fixed_sys, fixed_dia
            map_ = int(np.clip(round(phys.map[i] + sd["MAP"] * error[2]), dia + 1, sys_ - 1))
            if any(a <= i < b for a, b, _, _ in settings.exact_readings):
                map_ = round(dia + (sys_ - dia) / 3)
            readings.append(Reading(start, end, True, sys_, dia, map_, trigger=trigger))
        free_at = end
    return readings


def _intervals(events: np.ndarray, n: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For each second: the mean of the last ``count`` intervals between events at or before
    it (NaN before there are any), and the seconds since the last event."""
    t = np.arange(n, dtype=float)
    last = np.searchsorted(events, t, side="right") - 1
    last_c = np.maximum(last, 0)
    first = np.maximum(last_c - count, 0)
    mean = np.where(last_c > first, (events[last_c] - events[first]) / np.maximum(last_c - first, 1), np.nan)
    since = np.where(last >= 0, t - events[last_c], np.inf)
    return mean, since


def _lose(values: np.ndarray, lost: Sequence[tuple[float, float]], hold: float, acquire: float) -> np.ndarray:
    """``values`` with each lost-signal interval applied: the value before it is held for
    ``hold`` seconds, then "no value" until ``acquire`` seconds after the signal returns."""
    out = values.copy()
    n = out.size
    for a, b in lost:
        i, j = max(int(np.ceil(a)), 0), min(int(np.ceil(b + acquire)), n)
        if i >= n or j <= i:
            continue
        h = min(int(np.ceil(a + hold)), j)
        out[i:h] = out[i - 1] if i > 0 else np.nan
        out[h:j] = np.nan
    return out


def _moving_average(x: np.ndarray, window: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _false_breaths(rng: np.random.Generator, artifacts: Sequence[Artifact]) -> tuple[np.ndarray, np.ndarray]:
    """Breaths a capnograph counts during retching: irregular, close together, with little CO2."""
    times, co2 = [], []
    for a in artifacts:
        if a.kind == "motion" and a.false_breaths:
            steps = draw(rng, P.RETCHING_BREATH_S, int((a.end - a.start) / P.RETCHING_BREATH_S.low) + 1)
            t = a.start + np.cumsum(steps)
            t = t[t < a.end]
            times.append(t)
            co2.append(draw(rng, P.RETCHING_CO2, t.size))
    if not times:
        return np.empty(0), np.empty(0)
    return np.concatenate(times), np.concatenate(co2)


def observe(rng: np.random.Generator, phys: Physiology, artifacts: Sequence[Artifact],
            settings: DeviceSettings, manual_nibp: Sequence[float] = ()) -> Display:
    """Everything the devices report over the session."""
    n = phys.n
    nibp = measure_nibp(rng, phys, artifacts, settings, manual_nibp)
    occlusions = []
    if settings.same_arm:
        lo, hi = P.CUFF_OCCLUSION_S
        occlusions = [(r.start + lo, min(r.start + hi, r.end)) for r in nibp]
    probe_off = [(a.start, a.end) for a in artifacts if a.kind == "probe off"]
    lead_off = [(a.start, a.end) for a in artifacts if a.kind == "lead off"]
    jumping = np.zeros(n, dtype=bool)
    for a in artifacts:
        if a.kind in ("motion", "pulse jump") and a.pr_jump:
            jumping[max(int(a.start), 0):max(int(np.ceil(a.end)), 0)] = True

    hr_mean, hr_since = _intervals(phys.beats, n, P.HR_AVERAGE_BEATS)
    hr = 60.0 / hr_mean
    # Without beats (arrest) the ECG monitor stops showing a rate soon after the last one.
    hr = np.where(hr_since > P.ECG_NO_BEAT_S, np.nan, hr)
    for a in artifacts:
        if a.kind == "ecg zero":
            hr[max(int(np.ceil(a.start)), 0):max(int(np.ceil(a.end)), 0)] = 0.0
    hr = _lose(hr, lead_off, hold=0.0, acquire=P.ECG_ACQUIRE_S)

    pulses = phys.pulses if phys.pulses.size or not phys.beats.size else phys.beats
    pr = 60.0 / _intervals(pulses, n, P.PR_AVERAGE_BEATS)[0]
    # Motion makes the pulse rate jump by up to ±30, a new false value every few seconds.
    hold = P.MOTION_PR_HOLD_S
    jumps = np.repeat(rng.uniform(-P.MOTION_PR_JUMP, P.MOTION_PR_JUMP, n // hold + 1), hold)[:n]
    pr = np.where(jumping, np.maximum(pr + jumps, 30.0), pr)

    raw = phys.spo2.copy()
    for a in artifacts:
        if a.kind == "motion":
            i, j = max(int(a.start), 0), min(int(np.ceil(a.end)), n)
            # Motion reads falsely low, never higher than the truth: a real desaturation under
            # motion still shows as one.
            false = a.false_spo2 + rng.normal(0.0, P.MOTION_SPO2_SCATTER, max(j - i, 0))
            raw[i:j] = np.minimum(false, raw[i:j])
    window = settings.spo2_averaging
    spo2 = _moving_average(raw, window) + smooth_noise(rng, n, float(window), P.SPO2_NOISE_SD)
    spo2 = np.clip(spo2, 0.0, 100.0)
    spo2 = _lose(spo2, occlusions, P.SPO2_HOLD_S, P.SPO2_ACQUIRE_S)
    spo2 = _lose(spo2, probe_off, 0.0, P.SPO2_ACQUIRE_S)
    pr = _lose(pr, occlusions, P.SPO2_HOLD_S, P.SPO2_ACQUIRE_S)
    pr = _lose(pr, probe_off, 0.0, P.SPO2_ACQUIRE_S)
    # No pulse at the finger (arrest): the oximeter holds its last values a few seconds, then
    # shows "no value" while it searches.
    spo2 = _lose(spo2, phys.no_output, P.SPO2_HOLD_S, P.SPO2_ACQUIRE_S)
    pr = _lose(pr, phys.no_output, P.SPO2_HOLD_S, P.SPO2_ACQUIRE_S)
    for a in artifacts:
        if a.kind == "flicker":
            t = np.arange(max(int(np.ceil(a.start)), 0), min(int(np.ceil(a.end)), n))
            gone = t[(t - t[:1]) % P.FLICKER_PERIOD_S >= P.FLICKER_PERIOD_S - P.FLICKER_DROPOUT_S] if t.size else t
            spo2[gone] = np.nan
            pr[gone] = np.nan

    fb_t, fb_co2 = _false_breaths(rng, artifacts)
    breaths = np.concatenate([phys.breaths, fb_t])
    breath_co2 = np.concatenate([phys.breath_etco2, fb_co2])
    order = np.argsort(breaths, kind="stable")
    breaths, breath_co2 = breaths[order], breath_co2[order]
    mean, since = _intervals(breaths, n, P.RR_AVERAGE_BREATHS)
    # Between breaths the rate shown falls as the wait grows, as a capnograph's does.
    rr = 60.0 / np.fmax(mean, since)
    last = np.maximum(np.searchsorted(breaths, np.arange(n), side="right") - 1, 0)
    etco2 = breath_co2[last]
    apnea = since > P.APNEA_TIMEOUT_S
    rr = np.where(apnea, 0.0, rr)
    etco2 = np.where(apnea, 0.0, etco2)
    for a in artifacts:
        if a.kind == "capnogram lost":
            i, j = max(int(np.ceil(a.start)), 0), max(int(np.ceil(a.end)), 0)
            rr[i:j] = np.nan
            etco2[i:j] = np.nan

    return Display(hr=hr, pr=pr, spo2=spo2, rr=rr, etco2=etco2, nibp=nibp,
                   statuses=_statuses(artifacts, nibp, n), breaths=breaths,
                   breath_etco2=breath_co2, occlusions=occlusions)


def _statuses(artifacts: Sequence[Artifact], nibp: Sequence[Reading],
              n: int) -> list[tuple[float, str, bool, str]]:
    """The device status messages: probe and lead off, pulse search and flagged motion as they
    start and end (overlapping ones of a code as one); a cuff leak when a reading fails because of
    it, until the next good reading."""
    out: list[tuple[float, str, bool, str]] = []
    spans: dict[str, list[tuple[float, float]]] = {}
    for a in artifacts:
        flagged = a.kind in ("probe off", "lead off", "pulse search") or (
            a.kind in ("motion", "pulse jump") and a.status)
        if flagged and a.start < n:
            spans.setdefault(STATUS[a.kind][0], []).append((a.start, a.end))
    texts = dict(STATUS.values())
    for code, intervals in spans.items():
        joined: list[list[float]] = []
        for start, end in sorted(intervals):
            if joined and start <= joined[-1][1]:
                joined[-1][1] = max(joined[-1][1], end)
            else:
                joined.append([start, end])
        for start, end in joined:
            out.append((start, code, True, texts[code]))
            if end < n:
                out.append((end, code, False, texts[code]))
    code, text = STATUS["cuff leak"]
    active = False
    for r in nibp:
        if not r.ok and r.reason == "cuff leak or loose cuff" and not active:
            out.append((r.end, code, True, text))
            active = True
        elif r.ok and active:
            out.append((r.end, code, False, text))
            active = False
    return sorted(out, key=lambda s: (s[0], s[1], s[2]))
