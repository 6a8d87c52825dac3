"""The baseline protocol of a checked-in session: rest, then two cuff readings whose mean is the
baseline (clinical basis sections 1 and 3; the rules file's ``baseline`` section).

Pure: it takes the check-in's time, the cuff readings and now, and says which step the protocol
is in. The pipeline captures the baseline when the step becomes ``captured`` (the mean of exactly
the readings named here), unless the dose came first (then the engine's capture at the dose holds).

    resting ──rest_min after the check-in──▶ first reading ──a plausible reading──▶ second reading
                                                  ▲                                     │
                                                  └── an implausible reading starts over ┤
                                                                                         ▼
                                                                                     captured
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from alerts.rules import BaselinePolicy

Step = Literal["resting", "first_reading", "second_reading", "captured"]
STEP_ORDER: tuple[Step, ...] = ("resting", "first_reading", "second_reading", "captured")


@dataclass(frozen=True)
class CuffReading:
    t: float
    sys: float | None
    dia: float | None
    map: float | None = None


@dataclass(frozen=True)
class Protocol:
    """Where the protocol is. ``readings``: the plausible readings it counts so far (all of them
    once captured); ``implausible``: why the latest reading was not counted, "" if it was;
    ``rest_ends``: when the rest is over (seconds, the session's clock)."""

    step: Step
    rest_ends: float
    readings: list[CuffReading] = field(default_factory=list)
    implausible: str = ""

    def mean(self) -> dict[str, float | None]:
        """The mean of each cuff pressure over the counted readings."""
        out: dict[str, float | None] = {}
        for param, attr in (("SBP", "sys"), ("DBP", "dia"), ("MAP", "map")):
            xs = [x for r in self.readings if (x := getattr(r, attr)) is not None]
            out[param] = round(sum(xs) / len(xs), 1) if xs else None
        return out


def implausible(policy: BaselinePolicy, reading: CuffReading) -> str:
    """"" if ``reading`` may be a resting reference, else why not (naming the pressure)."""
    for param, attr in (("SBP", "sys"), ("DBP", "dia"), ("MAP", "map")):
        value = getattr(reading, attr)
        if param in policy.plausible and value is not None:
            low, high = policy.plausible[param]
            if not low <= value <= high:
                return f"{param} {value:g} is outside the plausible {low:g}-{high:g}"
    if reading.sys is None or reading.dia is None:
        return "a reading without systolic and diastolic pressures"
    return ""


def protocol(policy: BaselinePolicy, checked_in: float, cuffs: Sequence[CuffReading],
             now: float) -> Protocol:
    """The protocol's step at ``now`` for a session checked in at ``checked_in``, from its valid
    cuff readings (any order). Readings before the rest is over do not count; the first
    ``nibp_readings`` plausible readings in a row after it are the baseline."""
    rest_ends = checked_in + policy.rest_min * 60
    if now < rest_ends:
        return Protocol("resting", rest_ends)
    counted: list[CuffReading] = []
    why = ""
    for reading in sorted((c for c in cuffs if rest_ends <= c.t <= now), key=lambda c: c.t):
        why = implausible(policy, reading)
        if why:
            counted = []  # the readings of a baseline follow one another: start over
            continue
        counted.append(reading)
        if len(counted) == policy.nibp_readings:
            return Protocol("captured", rest_ends, counted)
    step: Step = "first_reading" if not counted else "second_reading"
    return Protocol(step, rest_ends, counted, why)
