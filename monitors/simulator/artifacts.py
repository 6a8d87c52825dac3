"""Artifacts: things that corrupt the measurements while the patient is unchanged.

Each artifact is an interval with a kind; device.py turns it into what a real device does:

- ``motion``: the oximeter reads a false low SpO2 and a jumping pulse rate, the NIBP fails more
  often, the ECG and pleth traces get noisy. Devices do not flag it: the false values simply show.
  Retching movement (``false_breaths``) also makes the capnograph count breaths that are not.
- ``probe off``: SpO2 and pulse rate go to "no value" and the device reports ``probe_off``.
- ``lead off``: heart rate from the ECG goes to "no value" and the device reports ``lead_off``.
- ``cuff leak``: every NIBP attempt fails, and the device reports ``cuff_error``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from . import parameters as P
from .noise import draw

KINDS = ("motion", "probe off", "lead off", "cuff leak")

# The status a device sends for an artifact kind, and the ground-truth label of the kind.
STATUS = {
    "probe off": ("probe_off", "SpO2 probe off"),
    "lead off": ("lead_off", "ECG lead off"),
    "cuff leak": ("cuff_error", "NIBP cuff leak or loose cuff"),
}
LABEL = {"motion": "motion", "probe off": "probe off", "lead off": "lead off", "cuff leak": "cuff failure"}


@dataclass(frozen=True)
class Artifact:
    """An artifact from ``start`` to ``end`` (seconds from the recording start)."""

    kind: str
    start: float
    end: float
    false_spo2: float = 0.0
    false_breaths: bool = False


def mask(artifacts: Iterable[Artifact], kind: str, n: int) -> np.ndarray:
    """True at each second (of ``n``) during an artifact of ``kind``."""
    out = np.zeros(n, dtype=bool)
    for a in artifacts:
        if a.kind == kind:
            out[max(int(np.floor(a.start)), 0):max(int(np.ceil(a.end)), 0)] = True
    return out


def overlaps(artifacts: Iterable[Artifact], kind: str, start: float, end: float) -> bool:
    """Whether an artifact of ``kind`` covers part of [start, end)."""
    return any(a.kind == kind and a.start < end and a.end > start for a in artifacts)


def draw_random(rng: np.random.Generator, n: int, dose: float) -> list[Artifact]:
    """Artifacts of an ordinary session at the §4 rates (motion, probe off) and [D] rates."""
    out: list[Artifact] = []
    lo, hi = P.MOTION_PER_HOUR
    for hour in range(int(np.ceil(n / 3600))):
        for _ in range(int(rng.integers(lo, hi + 1))):
            start = hour * 3600 + rng.uniform(0, 3600)
            if start < n:
                out.append(Artifact("motion", start, start + draw(rng, P.MOTION_DURATION_S),
                                    false_spo2=draw(rng, P.MOTION_FALSE_SPO2)))
    lo, hi = P.PROBE_OFF_PER_SESSION
    for _ in range(int(rng.integers(lo, hi + 1))):
        start = rng.uniform(0, n)
        out.append(Artifact("probe off", start, start + 60 * draw(rng, P.PROBE_OFF_DURATION_MIN)))
    if rng.random() < P.LEAD_OFF_FRACTION:
        start = rng.uniform(0, n)
        out.append(Artifact("lead off", start, start + draw(rng, P.LEAD_OFF_DURATION_S)))
    if rng.random() < P.CUFF_LEAK_FRACTION:
        start = rng.uniform(min(dose, n - 1), n)
        out.append(Artifact("cuff leak", start, start + draw(rng, P.CUFF_LEAK_DURATION_S)))
    return merged(out)


def merged(artifacts: Iterable[Artifact]) -> list[Artifact]:
    """The artifacts in time order, overlapping ones of the same kind joined (except motion,
    whose bursts keep their own false values): a device reports one probe-off, not two."""
    out: list[Artifact] = []
    for a in sorted(artifacts, key=lambda a: (a.start, a.kind)):
        same = [i for i, b in enumerate(out) if b.kind == a.kind and a.kind != "motion" and b.end >= a.start]
        if same:
            b = out[same[-1]]
            out[same[-1]] = Artifact(b.kind, b.start, max(a.end, b.end), b.false_spo2, b.false_breaths)
        else:
            out.append(a)
    return out
