"""Ground truth: when a real physiological event, or an artifact, was present.

Event labels come from the true physiology (vitals.py), never from what a device displayed, so
an alarm engine can be scored against them: a false SpO2 of 82 during motion is labelled
``motion``, not ``desaturation``. Threshold labels use the limits of the clinical-basis §3 rules
(parameters.TRUTH_CONDITIONS); scenarios add labels for their scripted episodes
("vasovagal", "airway obstruction", ...). Artifact labels come from the artifacts themselves and
from the cuff: every failed NIBP measurement is a ``cuff failure`` over its measuring time.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import parameters as P
from .artifacts import LABEL, Artifact
from .device import Reading
from .vitals import Physiology

_COMPARE = {">=": operator.ge, ">": operator.gt, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Label:
    """``label`` held from ``start`` to ``end`` (s from the recording start)."""

    label: str
    kind: str  # "event" or "artifact"
    start: float
    end: float


def intervals(flag: np.ndarray, merge_gap: float = 0.0) -> list[tuple[float, float]]:
    """The [start, end) runs of True in a 1 Hz boolean series, runs closer than ``merge_gap``
    seconds joined."""
    edges = np.diff(np.concatenate([[0], flag.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out: list[tuple[float, float]] = []
    for a, b in zip(starts.tolist(), ends.tolist()):
        if out and a - out[-1][1] < merge_gap:
            out[-1] = (out[-1][0], float(b))
        else:
            out.append((float(a), float(b)))
    return out


def _join(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _limit(limit: float | str, baseline: dict[str, float]) -> float:
    """A condition's limit: a number, or ``BL.X + k`` / ``BL.X - k`` on the true resting value."""
    if isinstance(limit, (int, float)):
        return float(limit)
    ref, op, amount = limit.split()
    value = baseline[ref.removeprefix("BL.")]
    return value + float(amount) if op == "+" else value - float(amount)


def condition(name: str, phys: Physiology, baseline: dict[str, float]) -> np.ndarray:
    """Where the §3 condition of threshold label ``name`` holds on the true physiology (1 Hz)."""
    series = {"SBP": phys.sbp, "DBP": phys.dbp, "MAP": phys.map, "HR": phys.hr,
              "RR": phys.rr, "SpO2": phys.spo2, "EtCO2": phys.etco2}
    flag = np.zeros(phys.n, dtype=bool)
    for vital, op, limit in P.TRUTH_CONDITIONS[name]:
        flag |= _COMPARE[op](series[vital], _limit(limit, baseline))
    if name == "hypertensive crisis":
        # "Confirmed SBP > 180": a rise above 180 that lasts as long as B4's confirmation.
        for a, b in intervals(phys.sbp > 180):
            if b - a >= P.HYPERTENSIVE_CRISIS_CONFIRM_S:
                flag[int(a):int(b)] = True
    return flag


def label(phys: Physiology, artifacts: Sequence[Artifact], nibp: Sequence[Reading],
          scripted: Sequence[Label] = (), baseline: dict[str, float] | None = None) -> list[Label]:
    """Every ground-truth interval of the session, clipped to it, ordered by end then start.
    ``baseline``: the patient's true resting values, for the baseline-relative conditions."""
    n = phys.n
    baseline = baseline or {"EtCO2": float(np.median(phys.etco2))}
    out: list[Label] = []
    for name in P.TRUTH_CONDITIONS:
        flag = condition(name, phys, baseline)
        out += [Label(name, "event", a, b) for a, b in intervals(flag, P.TRUTH_MERGE_GAP_S)]

    # Apnea: from the last breath before a gap longer than the R2 limit to the next breath.
    b = phys.breaths
    gaps = np.flatnonzero(np.diff(b) > P.APNEA_GAP_S)
    out += [Label("apnea", "event", float(b[i]), float(b[i + 1])) for i in gaps]
    if b.size and n - b[-1] > P.APNEA_GAP_S:
        out.append(Label("apnea", "event", float(b[-1]), float(n)))

    spans: dict[str, list[tuple[float, float]]] = {}
    for a in artifacts:
        label = LABEL[a.kind]
        if label is not None:
            spans.setdefault(label, []).append((a.start, a.end))
    for r in nibp:
        if not r.ok:
            spans.setdefault("cuff failure", []).append((r.start, r.end))
    for name, s in spans.items():
        out += [Label(name, "artifact", a, b) for a, b in _join(s)]

    out += list(scripted)
    clipped = [Label(x.label, x.kind, max(x.start, 0.0), min(x.end, float(n)))
               for x in out if x.start < n and x.end > 0]
    return sorted(clipped, key=lambda x: (x.end, x.start, x.label))
