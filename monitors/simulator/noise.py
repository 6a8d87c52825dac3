"""Seeded randomness: one independent stream per part of the model, and smooth noise.

Each part (patient, drug, physiology, device, artifacts, waveforms) draws from its own stream,
so switching waveforms on, or changing how many numbers the device layer draws, leaves the
patient and the physiology of a given seed exactly as they were. There is no global generator.
"""

from __future__ import annotations

import zlib

import numpy as np

from .parameters import Normal, Uniform

STREAMS = ("patient", "drug", "physiology", "device", "artifacts", "waveforms", "scenario")
Streams = dict[str, np.random.Generator]


def streams(scenario: str, seed: int) -> Streams:
    """One generator per name in STREAMS, fixed by (scenario, seed) alone.

    The scenario name goes in through crc32, not ``hash()``, which Python salts per process.
    """
    root = np.random.SeedSequence([seed, zlib.crc32(scenario.encode())])
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, root.spawn(len(STREAMS)))}


def draw(rng: np.random.Generator, dist: Normal | Uniform | float, size: int | None = None):
    """One value (or ``size`` values) from a parameter-table distribution."""
    if isinstance(dist, Normal):
        x = rng.normal(dist.mean, dist.sd, size)
        return np.clip(x, dist.low, dist.high) if size is not None else float(np.clip(x, dist.low, dist.high))
    if isinstance(dist, Uniform):
        x = rng.uniform(dist.low, dist.high, size)
        return x if size is not None else float(x)
    return np.full(size, float(dist)) if size is not None else float(dist)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, an S between with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def smooth_noise(rng: np.random.Generator, n: int, tau: float, sd: float) -> np.ndarray:
    """``n`` samples (1 per second) of slowly wandering noise with standard deviation ~``sd``.

    Independent values at knots ``tau`` seconds apart, joined by smoothstep curves: cheap,
    vectorised and free of the start-up transient of a recursive filter.
    """
    if sd == 0 or n == 0:
        return np.zeros(n)
    knots = int(np.ceil(n / tau)) + 2
    values = rng.normal(0.0, sd, knots)
    # The knots start at a random phase so that knot times do not line up across series.
    pos = np.arange(n) / tau + rng.uniform(0.0, 1.0)
    i = pos.astype(np.int64)
    w = smoothstep(pos - i)
    return values[i] * (1.0 - w) + values[i + 1] * w

