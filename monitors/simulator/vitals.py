"""The patient's true physiology, one value a second, plus every heartbeat and breath.

Theory of operation. Each vital is built as

    baseline + drug change (drug.py) + slow drift + scripted episodes

on a 1-second grid covering the whole recording (index i is second i from its start). Episodes
are the scenarios' physiological events (a vasovagal faint, vomiting, an obstructed airway, a
treatment); an episode either adds to a vital (``by``) or pulls it toward a value (``to``).

Heartbeats and breaths are then placed by integrating the instantaneous rates, so the waveforms
and the device's rate numerics (device.py) are built from the very same beats and breaths: the
pleth and ECG beat exactly as fast as HR says, the capnogram breathes exactly as fast as RR says.
Breathing *effort* and *airflow* are kept apart: an obstructed airway still makes the chest move
(the impedance trace goes on) while the capnograph sees nothing.

These arrays are the ground truth that truth.py labels; nothing here is a measured value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import parameters as P
from .drug import Response, changes
from .noise import smooth_noise, smoothstep
from .patient import Patient, mean_arterial

# Seconds of history generated before the recording starts, so that the first second already
# has enough beats and breaths behind it for the device's rate averaging.
LEAD_IN_S = 40


@dataclass(frozen=True)
class Episode:
    """A scripted change of the physiology: it grows over ``rise`` seconds from ``start``
    (seconds from the recording start), stays for ``hold`` and fades over ``fall``.

    ``by`` adds to a vital; ``to`` pulls a vital toward a value (a vasovagal HR of 42 is
    reached whatever the HR was). Vitals: SBP, DBP, HR, RR, SpO2, EtCO2.
    """

    start: float
    rise: float
    hold: float
    fall: float
    by: dict[str, float] = field(default_factory=dict)
    to: dict[str, float] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.start + self.rise + self.hold + self.fall

    def envelope(self, t: np.ndarray) -> np.ndarray:
        up = smoothstep((t - self.start) / max(self.rise, 1e-9))
        down = smoothstep((t - self.start - self.rise - self.hold) / max(self.fall, 1e-9))
        return up * (1.0 - down)


@dataclass
class Physiology:
    """True vitals at 1 Hz (arrays of length ``n``) and event times in seconds from the start.

    ``hr`` is the heart rate without beat-to-beat variation (what the labels use); ``hr_inst``
    adds respiratory sinus arrhythmia and short-term variability and is what places the beats.
    ``pulses`` are the beats that reach the finger (all of them, unless a pulse deficit drops
    some); ``no_output`` are the intervals without any cardiac output (arrest), where ``hr`` is 0
    and there are no beats. ``rr`` is the rate of breathing effort; ``breaths`` are the efforts
    that moved air.
    """

    n: int
    dose: float
    sbp: np.ndarray
    dbp: np.ndarray
    map: np.ndarray
    hr: np.ndarray
    hr_inst: np.ndarray
    rr: np.ndarray
    spo2: np.ndarray
    etco2: np.ndarray
    beats: np.ndarray
    efforts: np.ndarray
    breaths: np.ndarray
    breath_etco2: np.ndarray
    airway_closed: list[tuple[float, float]]
    pulses: np.ndarray = field(default_factory=lambda: np.empty(0))
    no_output: list[tuple[float, float]] = field(default_factory=list)

    def minutes(self, t: np.ndarray | float) -> np.ndarray | float:
        """Minutes from the dose of a time in seconds from the start."""
        return (t - self.dose) / 60.0


def events_from_rate(rng: np.random.Generator, rate_per_min: np.ndarray, jitter_cv: float) -> np.ndarray:
    """Times (s from the start, some negative) of events occurring at ``rate_per_min`` (1 Hz).

    The phase is the integral of the rate; an event falls where it crosses a whole number.
    Each event then moves by a small random amount (``jitter_cv`` of its interval), never
    enough to swap two events.
    """
    n = rate_per_min.size
    rate = np.concatenate([np.full(LEAD_IN_S, rate_per_min[0]), rate_per_min])
    # A small floor keeps the phase strictly increasing through a stop, as np.interp needs.
    rate = np.maximum(rate, 1e-3) / 60.0
    t = np.arange(-LEAD_IN_S, n + 1, dtype=float)
    phase = rng.uniform() + np.concatenate([[0.0], np.cumsum(rate)])
    k = np.arange(np.ceil(phase[0]), np.floor(phase[-1]) + 1)
    times = np.interp(k, phase, t)
    if jitter_cv > 0 and times.size > 2:
        interval = np.diff(times, prepend=times[0] - (times[1] - times[0]))
        shift = rng.normal(0.0, jitter_cv / np.sqrt(2.0), times.size) * interval
        times = times + np.clip(shift, -0.3 * interval, 0.3 * interval)
    return times


def breathing_phase(efforts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Fraction (0–1) of the current breath cycle at each time ``t``."""
    idx = np.interp(t, efforts, np.arange(efforts.size, dtype=float))
    return idx - np.floor(idx)


def _inside(times: np.ndarray, intervals: Sequence[tuple[float, float]]) -> np.ndarray:
    out = np.zeros(times.size, dtype=bool)
    for a, b in intervals:
        out |= (times >= a) & (times < b)
    return out


def simulate(rng: np.random.Generator, n: int, dose: float, patient: Patient, response: Response,
             episodes: Sequence[Episode] = (),
             airway_closed: Sequence[tuple[float, float]] = (),
             no_output: Sequence[tuple[float, float]] = (),
             beat_jitter_cv: float = P.BEAT_JITTER_CV, perfused: float = 1.0) -> Physiology:
    """The true physiology of ``n`` seconds with the dose ``dose`` seconds after the start.

    ``no_output``: intervals of cardiac arrest (no beats, HR 0). ``beat_jitter_cv``: beat
    timing scatter (large in atrial fibrillation). ``perfused``: the fraction of beats that make
    a pulse at the finger (below 1: a pulse deficit)."""
    t = np.arange(n, dtype=float)
    minutes = (t - dose) / 60.0
    drug = changes(response, minutes)
    base = patient.baseline
    v = {
        "SBP": base["SBP"] + drug["SBP"] + smooth_noise(rng, n, P.DRIFT_TAU_S, P.DRIFT_SD["SBP"]),
        "DBP": base["DBP"] + drug["DBP"] + smooth_noise(rng, n, P.DRIFT_TAU_S, P.DRIFT_SD["DBP"]),
        "HR": base["HR"] + drug["HR"] + smooth_noise(rng, n, P.DRIFT_TAU_S, P.DRIFT_SD["HR"]),
        "RR": base["RR"] + drug["RR"] + smooth_noise(rng, n, P.RR_NOISE_TAU_S, P.RR_NOISE_SD),
        "SpO2": np.full(n, base["SpO2"]),
        "EtCO2": base["EtCO2"] + smooth_noise(rng, n, P.ETCO2_NOISE_TAU_S, P.ETCO2_NOISE_SD),
    }
    for ep in episodes:
        env = ep.envelope(t)
        for vital, amount in ep.by.items():
            v[vital] = v[vital] + amount * env
    for ep in episodes:
        env = ep.envelope(t)
        for vital, target in ep.to.items():
            v[vital] = v[vital] + (target - v[vital]) * env
    # Bounds that only keep a scripted episode stacked on drift inside physical sense.
    v["SpO2"] = np.clip(v["SpO2"], 50.0, 100.0)
    v["RR"] = np.maximum(v["RR"], 0.0)
    v["HR"] = np.maximum(v["HR"], 20.0)
    # Diastolic pressure cannot reach systolic; keep a minimal pulse pressure.
    v["DBP"] = np.minimum(v["DBP"], v["SBP"] - 15.0)

    efforts = events_from_rate(rng, v["RR"], P.BREATH_INTERVAL_CV)
    rsa = P.RSA_AMPLITUDE * np.sin(2 * np.pi * breathing_phase(efforts, t))
    hr_inst = np.maximum(v["HR"] + rsa + smooth_noise(rng, n, P.HR_NOISE_TAU_S, P.HR_NOISE_SD), 20.0)
    beats = events_from_rate(rng, hr_inst, beat_jitter_cv)
    # Drawn only for a pulse deficit, so that every other session keeps its random numbers.
    reach = rng.random(beats.size) < perfused if perfused < 1 else np.ones(beats.size, dtype=bool)
    stopped = _inside(beats, no_output)
    beats, reach = beats[~stopped], reach[~stopped]
    pulses = beats[reach]
    for a, b in no_output:
        v["HR"][max(int(np.floor(a)), 0):max(int(np.ceil(b)), 0)] = 0.0

    open_ = np.ones(efforts.size, dtype=bool)
    for a, b in airway_closed:
        open_ &= ~((efforts >= a) & (efforts < b))
    breaths = efforts[open_]
    at = np.clip(np.round(breaths).astype(np.int64), 0, n - 1)
    breath_etco2 = v["EtCO2"][at] + rng.normal(0.0, P.ETCO2_BREATH_SD, breaths.size)

    return Physiology(
        n=n, dose=dose, sbp=v["SBP"], dbp=v["DBP"], map=mean_arterial(v["SBP"], v["DBP"]),
        hr=v["HR"], hr_inst=hr_inst, rr=v["RR"], spo2=v["SpO2"], etco2=v["EtCO2"],
        beats=beats, efforts=efforts, breaths=breaths, breath_etco2=breath_etco2,
        airway_closed=list(airway_closed), pulses=pulses, no_output=list(no_output),
    )
