"""Artifacts: things that corrupt the measurements while the patient is unchanged.

Each artifact is an interval with a kind; device.py turns it into what a real device does:

- ``motion``: the oximeter reads a false low SpO2 and (``pr_jump``) a jumping pulse rate, the
  NIBP fails more often, the ECG and pleth traces get noisy. The oximeter may flag it with a
  ``motion`` status (``status``) or not: often the false values simply show. A motion artifact
  without a pulse-rate jump keeps the oximeter's pulse rate on the ECG's, so an artifact guard
  that waits for the two to part cannot see it. Retching movement (``false_breaths``) also makes
  the capnograph count breaths that are not.
- ``pulse jump``: the oximeter's pulse rate jumps with no motion and a true SpO2 (poor
  perfusion, a loose clip, ambient light); flagged ``motion`` or not (``status``).
- ``probe off``: SpO2 and pulse rate go to "no value" and the device reports ``probe_off``.
- ``lead off``: heart rate from the ECG goes to "no value" and the device reports ``lead_off``.
- ``cuff leak``: every NIBP attempt fails, and the device reports ``cuff_error``.
- ``ecg zero``: the ECG counts no beats (a lead picking up almost no signal) and shows HR 0
  while the heart beats and the pleth pulses: a false asystole. No status.
- ``capnogram lost``: EtCO2 and RR show "no value" (sampling line blocked or off) while the
  patient breathes. No status.
- ``flicker``: the oximeter drops SpO2 and pulse rate to "no value" for ``FLICKER_DROPOUT_S``
  every ``FLICKER_PERIOD_S`` (a probe losing contact for a moment, again and again). No status.
- ``pulse search``: no artifact of the patient but the oximeter's report of a lost pulse: the
  ``pulse_search`` status while SpO2 and pulse rate are "no value" (used with a cardiac arrest).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from . import parameters as P
from .noise import draw

KINDS = ("motion", "pulse jump", "probe off", "lead off", "cuff leak", "ecg zero", "capnogram lost",
         "flicker", "pulse search")

# The status a device sends for an artifact kind, and the ground-truth label of the kind (None:
# no label of its own, the scenario's event labels say what happened).
STATUS = {
    "probe off": ("probe_off", "SpO2 probe off"),
    "lead off": ("lead_off", "ECG lead off"),
    "cuff leak": ("cuff_error", "NIBP cuff leak or loose cuff"),
    "motion": ("motion", "motion detected"),
    "pulse jump": ("motion", "motion detected"),
    "pulse search": ("pulse_search", "searching for pulse"),
}
LABEL: dict[str, str | None] = {
    "motion": "motion", "pulse jump": "pulse jump", "probe off": "probe off", "lead off": "lead off",
    "cuff leak": "cuff failure", "ecg zero": "ECG artifact", "capnogram lost": "capnogram lost",
    "flicker": "SpO2 dropouts", "pulse search": None,
}


@dataclass(frozen=True)
class Artifact:
    """An artifact from ``start`` to ``end`` (seconds from the recording start)."""

    kind: str
    start: float
    end: float
    false_spo2: float = 0.0
    false_breaths: bool = False
    pr_jump: bool = True  # motion, pulse jump: the oximeter's pulse rate jumps
    status: bool = False  # motion, pulse jump: the oximeter flags "motion"


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
                end = start + draw(rng, P.MOTION_DURATION_S)
                false_spo2 = draw(rng, P.MOTION_FALSE_SPO2)
                out.append(Artifact("motion", start, end, false_spo2=false_spo2,
                                    pr_jump=bool(rng.random() >= P.MOTION_WITHOUT_PR_JUMP_FRACTION),
                                    status=bool(rng.random() < P.MOTION_STATUS_FRACTION)))
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
    lo, hi = P.PR_JUMPS_PER_HOUR
    for hour in range(int(np.ceil(n / 3600))):
        for _ in range(int(rng.integers(lo, hi + 1))):
            start = hour * 3600 + rng.uniform(0, 3600)
            end = start + draw(rng, P.PR_JUMP_DURATION_S)
            status = bool(rng.random() < P.PR_JUMP_STATUS_FRACTION)
            if start < n:
                out.append(Artifact("pulse jump", start, end, status=status))
    return merged(out)


def merged(artifacts: Iterable[Artifact]) -> list[Artifact]:
    """The artifacts in time order, overlapping ones of the same kind joined (except motion and
    pulse jumps, whose bursts keep their own false values): a device reports one probe-off, not
    two."""
    out: list[Artifact] = []
    for a in sorted(artifacts, key=lambda a: (a.start, a.kind)):
        same = [i for i, b in enumerate(out) if b.kind == a.kind and a.kind not in ("motion", "pulse jump")
                and b.end >= a.start]
        if same:
            b = out[same[-1]]
            out[same[-1]] = Artifact(b.kind, b.start, max(a.end, b.end), b.false_spo2, b.false_breaths,
                                     b.pr_jump, b.status)
        else:
            out.append(a)
    return out
