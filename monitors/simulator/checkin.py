"""A patient checking in: the room of the demo's walk-through, from check-in to discharge.

The other simulated rooms play a whole scripted session, dose included; here the clinician gives
the dose, so nothing in the records says when. The patient stays at rest as before the dose (the
walk-through lasts minutes, within which a typical response has barely begun), the monitor sends
the surge scenario's pre-dose numerics and waveforms, and its cuff measures every
``cuff_every_s`` in the short cycle nurses set at check-in, so that the baseline protocol's two
readings, the pre-dose gate and the discharge checklist's blood pressure come within minutes.
The cuff reads the patient's borderline resting pressure with the device's per-reading error.

Pure and deterministic, like the rest of the simulator: the same arguments give the same records.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator

import numpy as np

from . import parameters as P
from .records import records
from .session import simulate

# A chunk of simulated monitoring; the room plays one after another, on one timeline.
CHUNK_MIN = 30.0
# The simulator's scripted parts that do not belong to a patient nobody has dosed yet: the dose
# and its marks, its cuff schedule (replaced by the check-in cycle), and the ground truth.
DROPPED = {"mark", "nibp", "truth"}


def _cuff(rng: np.random.Generator, t: float) -> dict:
    e = rng.standard_normal(3)
    sd = P.NIBP_ERROR_SD
    sys_ = round(P.CHECKIN_BP["SBP"] + sd["SBP"] * e[0])
    dia = min(round(P.CHECKIN_BP["DBP"] + sd["DBP"] * e[1]), sys_ - 10)
    mean = (P.CHECKIN_BP["SBP"] + 2 * P.CHECKIN_BP["DBP"]) / 3
    map_ = int(np.clip(round(mean + sd["MAP"] * e[2]), dia + 1, sys_ - 1))
    return {"type": "nibp", "t": round(t, 3), "status": "ok", "sys": sys_, "dia": dia, "map": map_}


def checkin(seed: int, start: float, cuff_every_s: float = P.CHECKIN_CUFF_EVERY_S,
            waveforms: bool = True) -> Iterator[dict]:
    """Records from ``start`` on, for ever (a visitor may stay for hours): numerics once a second,
    waveform chunks when ``waveforms``, a cuff reading every ``cuff_every_s`` from the first
    cycle on. Raises ValueError for a cycle under 5 s. (A real cuff needs 25-45 s a reading and
    30 s between readings; cycles below a minute are for tests, whose walk must be short.)"""
    if not cuff_every_s >= 5:
        raise ValueError(f"cuff_every_s must be at least 5, got {cuff_every_s!r}")
    rng = np.random.default_rng([seed, 146])
    cuffs = ((start + k * cuff_every_s, _cuff(rng, start + k * cuff_every_s)) for k in itertools.count(1))
    return (rec for _, rec in heapq.merge(((r["t"], r) for r in _monitor(seed, start, waveforms)),
                                          cuffs, key=lambda x: x[0]))


def _monitor(seed: int, start: float, waveforms: bool) -> Iterator[dict]:
    for k in itertools.count():
        # The dose lies past the chunk's end: every second of it is before the dose.
        session = simulate(P.CHECKIN_PATIENT_SCENARIO, seed + k, minutes=CHUNK_MIN + 1,
                           pre_dose_minutes=CHUNK_MIN + 0.5, waveforms=waveforms)
        t0 = start + k * CHUNK_MIN * 60
        for rec in records(session, t0):
            if rec["type"] in DROPPED:
                continue
            if rec["t"] >= t0 + CHUNK_MIN * 60:
                break
            yield rec
