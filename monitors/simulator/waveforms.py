"""Waveforms drawn from the same beats and breaths as the numerics.

- ECG lead II, 250 Hz, mV: P-QRS-T complexes centred on each beat; the T wave moves with the
  beat interval (Bazett). Baseline wander with breathing; noise bursts with motion; no samples
  while a lead is off; almost no signal while the ECG reads a false 0 (``ecg zero``); a flat
  line without beats (arrest).
- Pleth, 125 Hz, arbitrary units 0–100: one pulse per beat that reaches the finger, arriving a
  pulse-transit time after the R wave, with a dicrotic notch; amplitude swings a little with
  breathing; flat while the cuff occludes the arm and without cardiac output; noisy with
  motion; no samples while the probe is off.
- Impedance respiration, 25 Hz, arbitrary units: chest movement of every breathing *effort*,
  so it goes on through an obstructed airway; measured through the ECG leads (gone with them).
- Capnogram, 25 Hz, mmHg: for every breath the capnograph counted, an expiratory upstroke to a
  slightly rising plateau at that breath's EtCO2 and a drop at inspiration; flat without breaths;
  no samples while the capnogram is lost.

Samples are rounded (ECG to 1 µV, the rest to 0.1) as devices send them. The numbers in this
module shape the traces (widths and heights of waves, in seconds and display units); they are
drawing constants, not clinical parameters, which all live in parameters.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import parameters as P
from .artifacts import Artifact
from .device import Display
from .noise import smooth_noise, smoothstep
from .vitals import Physiology, breathing_phase

RATES = {"PLETH": 125, "ECG_II": 250, "RESP": 25, "CO2": 25}


@dataclass
class Wave:
    """One waveform over the whole session: ``samples[j]`` is at ``j / rate`` s from the start;
    where ``valid`` is False the device sends "no value"."""

    rate: int
    samples: np.ndarray
    valid: np.ndarray


def _gauss(x: np.ndarray, width: float) -> np.ndarray:
    return np.exp(-0.5 * (x / width) ** 2)


def _intervals_mask(t: np.ndarray, intervals: Sequence[tuple[float, float]]) -> np.ndarray:
    out = np.zeros(t.size, dtype=bool)
    for a, b in intervals:
        out[np.searchsorted(t, a):np.searchsorted(t, b)] = True
    return out


def _motion(rng: np.random.Generator, t: np.ndarray, rate: int, artifacts: Sequence[Artifact],
            amplitude: float) -> np.ndarray:
    """Movement noise: slow swings plus jerks, only inside motion artifacts."""
    out = np.zeros(t.size)
    for a in artifacts:
        if a.kind != "motion":
            continue
        i, j = np.searchsorted(t, a.start), np.searchsorted(t, a.end)
        if j <= i:
            continue
        m = int(j - i)
        slow = smooth_noise(rng, m, rate * 0.7, amplitude)
        jerks = rng.normal(0.0, amplitude * 0.3, m)
        out[i:j] = slow + jerks
    return out


def _ecg(rng: np.random.Generator, phys: Physiology, artifacts: Sequence[Artifact]) -> Wave:
    rate = RATES["ECG_II"]
    t = np.arange(phys.n * rate) / rate
    beats = phys.beats
    k = np.clip(np.searchsorted(beats, t, side="right") - 1, 0, beats.size - 2)
    # Capped so that the T wave of the last beat before an arrest stays where it belongs.
    rr = np.minimum(beats[k + 1] - beats[k], 2.0)
    gain = rng.uniform(0.8, 1.4)
    # Each sample carries the complex of the beat before it and the one after it (whose P wave
    # has already begun); the complexes of farther beats are negligible.
    ecg = np.zeros(t.size)
    for dt in (t - beats[k], t - beats[k + 1]):
        ecg += (0.12 * _gauss(dt + 0.16, 0.025) - 0.12 * _gauss(dt + 0.03, 0.01)
                + 1.1 * _gauss(dt, 0.011) - 0.25 * _gauss(dt - 0.03, 0.012)
                + 0.3 * _gauss(dt - 0.28 * np.sqrt(rr), 0.055))
    gains = np.full(t.size, gain)
    gains[_intervals_mask(t, [(a.start, a.end) for a in artifacts if a.kind == "ecg zero"])] *= 0.03
    ecg = gains * ecg + 0.05 * np.sin(2 * np.pi * breathing_phase(phys.efforts, t))
    ecg += rng.normal(0.0, 0.01, t.size) + _motion(rng, t, rate, artifacts, 0.3)
    lead_off = _intervals_mask(t, [(a.start, a.end) for a in artifacts if a.kind == "lead off"])
    return Wave(rate, np.round(ecg, 3), ~lead_off)


def _pleth(rng: np.random.Generator, phys: Physiology, display: Display,
           artifacts: Sequence[Artifact]) -> Wave:
    rate = RATES["PLETH"]
    t = np.arange(phys.n * rate) / rate
    pulses = (phys.pulses if phys.pulses.size else phys.beats) + P.PULSE_TRANSIT_S
    k = np.clip(np.searchsorted(pulses, t, side="right") - 1, 0, pulses.size - 2)
    phase = (t - pulses[k]) / (pulses[k + 1] - pulses[k])
    # A steep upstroke, a slower fall, and the dicrotic wave after the notch.
    systolic = np.where(phase < 0.2, _gauss(phase - 0.2, 0.07), _gauss(phase - 0.2, 0.14))
    shape = systolic + 0.35 * _gauss(phase - 0.5, 0.08)
    breathing = 1.0 + 0.05 * np.sin(2 * np.pi * breathing_phase(phys.efforts, t))
    amplitude = rng.uniform(25, 40) * breathing
    # The cuff squeezes the pulse away over a few seconds and lets it back as it deflates.
    for a, b in display.occlusions:
        i, j = np.searchsorted(t, a), np.searchsorted(t, b + 3.0)
        w = t[i:j]
        amplitude[i:j] *= 1.0 - smoothstep((w - a) / 3.0) * (1.0 - smoothstep((w - b) / 3.0))
    amplitude[_intervals_mask(t, phys.no_output)] = 0.0
    pleth = 35.0 + amplitude * shape + rng.normal(0.0, 0.3, t.size) + _motion(rng, t, rate, artifacts, 20.0)
    probe_off = _intervals_mask(t, [(a.start, a.end) for a in artifacts if a.kind == "probe off"])
    return Wave(rate, np.round(np.clip(pleth, 0.0, 100.0), 1), ~probe_off)


def _resp(rng: np.random.Generator, phys: Physiology, artifacts: Sequence[Artifact]) -> Wave:
    rate = RATES["RESP"]
    t = np.arange(phys.n * rate) / rate
    # Efforts mark the start of expiration, the top of the chest's movement.
    volume = 0.5 * (1.0 + np.cos(2 * np.pi * breathing_phase(phys.efforts, t)))
    obstructed = _intervals_mask(t, phys.airway_closed)
    # Against a closed airway the chest and abdomen move against each other: a smaller trace.
    amplitude = rng.uniform(20, 35) * np.where(obstructed, 0.6, 1.0)
    resp = 40.0 + amplitude * volume + rng.normal(0.0, 0.4, t.size) + _motion(rng, t, rate, artifacts, 15.0)
    lead_off = _intervals_mask(t, [(a.start, a.end) for a in artifacts if a.kind == "lead off"])
    return Wave(rate, np.round(np.clip(resp, 1.0, 100.0), 1), ~lead_off)


def _co2(rng: np.random.Generator, phys: Physiology, display: Display,
         artifacts: Sequence[Artifact]) -> Wave:
    rate = RATES["CO2"]
    t = np.arange(phys.n * rate) / rate
    breaths, level = display.breaths, np.maximum(display.breath_etco2, 0.0)
    k = np.clip(np.searchsorted(breaths, t, side="right") - 1, 0, breaths.size - 1)
    nxt = np.concatenate([breaths[1:], [breaths[-1] + 4.0]])
    expiration = np.clip(0.5 * (nxt - breaths), 0.5, 3.0)[k]
    dt = t - breaths[k]
    up = smoothstep(dt / 0.25)
    down = 1.0 - smoothstep((dt - expiration) / 0.2)
    plateau = 0.92 + 0.08 * np.clip(dt / expiration, 0.0, 1.0)
    co2 = level[k] * up * down * plateau + rng.normal(0.0, 0.2, t.size)
    lost = _intervals_mask(t, [(a.start, a.end) for a in artifacts if a.kind == "capnogram lost"])
    return Wave(rate, np.round(np.clip(co2, 0.0, 150.0), 1), ~lost)


def render(rng: np.random.Generator, phys: Physiology, display: Display,
           artifacts: Sequence[Artifact], names: Sequence[str] = tuple(RATES)) -> dict[str, Wave]:
    """The waveforms of the session that the room's devices send (``names``: all four unless
    said otherwise), keyed by their protocol name. All four are drawn, in the same order, so
    which are sent changes none of them."""
    waves = {
        "PLETH": _pleth(rng, phys, display, artifacts),
        "ECG_II": _ecg(rng, phys, artifacts),
        "RESP": _resp(rng, phys, artifacts),
        "CO2": _co2(rng, phys, display, artifacts),
    }
    return {name: wave for name, wave in waves.items() if name in names}
