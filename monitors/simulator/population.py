"""The clinical-basis §2 statistics of a simulated population, measured as the series measure them.

Cuff readings within 90 min of the dose, against the pre-dose baseline (the mean of the two
pre-dose readings, §3 "BL"): the fraction of sessions reaching SBP ≥ 180, DBP ≥ 110, and a rise
≥ 40 systolic or ≥ 25 diastolic. Used by the population test and by bench/alarm_quality.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from .session import simulate

CONDITIONS = ("SBP >= 180", "DBP >= 110", "rise >= 40/25")
WITHIN_MIN = 90.0  # §2 "a rise ≥ 40 systolic or ≥ 25 diastolic ... within 1.5 h"


def counts(route: str, seeds: Iterable[int]) -> Counter:
    """How many ``random`` sessions on ``route`` (one per seed) meet each of CONDITIONS."""
    out: Counter[str] = Counter()
    for seed in seeds:
        s = simulate("random", seed, minutes=WITHIN_MIN + 10, pre_dose_minutes=10, route=route)
        ok = [r for r in s.display.nibp if r.ok]
        pre = [r for r in ok if r.end < s.dose][:2]
        post = [r for r in ok if s.dose <= r.start and r.end <= s.dose + WITHIN_MIN * 60]
        base_s = np.mean([r.sys for r in pre]) if pre else np.inf
        base_d = np.mean([r.dia for r in pre]) if pre else np.inf
        out["SBP >= 180"] += any(r.sys >= 180 for r in post)
        out["DBP >= 110"] += any(r.dia >= 110 for r in post)
        out["rise >= 40/25"] += any(r.sys >= base_s + 40 or r.dia >= base_d + 25 for r in post)
    return out
