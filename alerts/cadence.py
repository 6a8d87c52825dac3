"""How often a source reports its numerics: what separates a sparse source from a silent one.

A bedside monitor sends numerics every second; an ICU trend (MIMIC's numerics records) one record
a minute. Between two regular trend records nothing is missing, and a value shown on one record
stands until the next, as it does on the trend's own screen. The interval is the shortest of the
source's last ``CADENCE_N`` intervals between numerics, so one short interval among them — any
monitor reporting every second — keeps it short, and only a source that has reported sparsely
every time counts as sparse; it is capped at ``MAX_INTERVAL_S``, the sparsest source known.
Only numerics count: a monitor whose readings stop and that sends the odd status is not sparse,
it is silent. Two users: ``intake.Clock`` (when a source is quiet, so its alarms are ticked) and
the engine (how long a pending condition may go without a reading before it starts over).
"""

from __future__ import annotations

from collections import deque

CADENCE_N = 5
MAX_INTERVAL_S = 60.0


class Cadence:
    def __init__(self) -> None:
        self.latest: float | None = None
        self.intervals: deque[float] = deque(maxlen=CADENCE_N)

    def add(self, t: float) -> None:
        """A numerics message at device time ``t`` (an earlier stamp changes nothing)."""
        if self.latest is not None and t > self.latest:
            self.intervals.append(t - self.latest)
        self.latest = t if self.latest is None else max(self.latest, t)

    @property
    def interval_s(self) -> float:
        """The source's reporting interval, 0 before it has reported twice."""
        return min(min(self.intervals), MAX_INTERVAL_S) if self.intervals else 0.0
