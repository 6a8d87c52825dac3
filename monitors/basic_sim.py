"""A basic simulated patient: steady vitals with noise, an NIBP cycle, and a few named profiles
(normal, tachycardia, bp-surge, low-spo2). It yields wire messages without seq, in time order.
The physiological simulator (``monitors.simulator``) models ketamine sessions in depth; this one
is small enough to reason about in tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

PROFILES = ("normal", "tachycardia", "bp-surge", "low-spo2")
NIBP_EVERY_S = 300
PLETH_RATE = 125.0
CHUNK_S = 0.2


def records(profile: str = "normal", seed: int = 0, start: float = 0.0, minutes: float = 90,
            waveforms: bool = False, nibp_every_s: float = NIBP_EVERY_S,
            ramp_s: float = 600.0) -> Iterator[dict[str, Any]]:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    rng = np.random.default_rng(seed)
    hr0, sbp0, dbp0, spo20, rr0 = 72.0, 122.0, 78.0, 97.5, 14.0
    next_nibp = 30.0
    phase = 0.0
    for s in range(int(minutes * 60)):
        t = start + s
        ramp = min(1.0, s / ramp_s)  # a profile develops over its first ramp_s seconds
        hr = hr0 + (62 * ramp if profile == "tachycardia" else 0) + rng.normal(0, 2)
        spo2 = spo20 - (14 * ramp if profile == "low-spo2" else 0) + rng.normal(0, 0.5)
        surge = 75 * ramp if profile == "bp-surge" else 0
        if waveforms:
            for k in range(int(1 / CHUNK_S)):
                t_chunk = t + k * CHUNK_S
                n = int(PLETH_RATE * CHUNK_S)
                ts = np.arange(n) / PLETH_RATE
                beat = phase + 2 * math.pi * hr / 60 * ts
                samples = 50 + 40 * np.sin(beat) ** 3
                phase = float(beat[-1] + 2 * math.pi * hr / 60 / PLETH_RATE)
                yield {"type": "waveform", "t": round(t_chunk, 3), "wave": "PLETH",
                       "rate": PLETH_RATE, "samples": [round(float(x), 1) for x in samples]}
        yield {
            "type": "numerics", "t": float(t),
            "values": {
                "HR": {"value": round(float(hr)), "unit": "/min"},
                "PR": {"value": round(float(hr + rng.normal(0, 1))), "unit": "/min"},
                "SpO2": {"value": float(min(100, round(spo2))), "unit": "%"},
                "RR": {"value": round(float(rr0 + rng.normal(0, 1))), "unit": "/min"},
            },
        }
        if s >= next_nibp:
            sbp = sbp0 + surge + rng.normal(0, 5)
            dbp = dbp0 + surge * 0.5 + rng.normal(0, 4)
            yield {"type": "nibp", "t": float(t), "status": "ok", "sys": round(float(sbp)),
                   "dia": round(float(dbp)), "map": round(float((sbp + 2 * dbp) / 3))}
            next_nibp = s + nibp_every_s
