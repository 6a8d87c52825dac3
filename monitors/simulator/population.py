"""The clinical-basis §2 statistics of a simulated population, measured as the series measure them.

Cuff readings within 90 min of the dose, against the pre-dose baseline (the mean of the two
pre-dose readings, §3 "BL"): the fraction of sessions reaching SBP ≥ 180, DBP ≥ 110, and a rise
≥ 40 systolic or ≥ 25 diastolic. Used by the population test and by bench/alarm_quality.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from .device import Reading
from .session import simulate

CONDITIONS = ("SBP >= 180", "DBP >= 110", "rise >= 40/25")
WITHIN_MIN = 90.0  # §2 "a rise ≥ 40 systolic or ≥ 25 diastolic ... within 1.5 h"


def counts(route: str, seeds: Iterable[int]) -> Counter[str]:
    """How many ``random`` sessions on ``route`` (one per seed) meet each of CONDITIONS."""
    out: Counter[str] = Counter()
    for seed in seeds:
        s = simulate("random", seed, minutes=WITHIN_MIN + 10, pre_dose_minutes=10, route=route)
        ok = [r for r in s.display.nibp if r.ok]
        pre = [_pressures(r) for r in ok if r.end < s.dose][:2]
        post = [_pressures(r) for r in ok if s.dose <= r.start and r.end <= s.dose + WITHIN_MIN * 60]
        base_s = np.mean([sbp for sbp, _ in pre]) if pre else np.inf
        base_d = np.mean([dbp for _, dbp in pre]) if pre else np.inf
        out["SBP >= 180"] += any(sbp >= 180 for sbp, _ in post)
        out["DBP >= 110"] += any(dbp >= 110 for _, dbp in post)
        out["rise >= 40/25"] += any(sbp >= base_s + 40 or dbp >= base_d + 25 for sbp, dbp in post)
    return out


def _pressures(r: Reading) -> tuple[int, int]:
    """A good reading's systolic and diastolic pressures (a good reading has both)."""
    if r.sys is None or r.dia is None:
        raise ValueError(f"a good cuff reading without pressures: {r}")
    return r.sys, r.dia
