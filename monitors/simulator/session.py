"""One simulated session as arrays: the plan, the physiology, what the devices showed, the truth.

This is the layer below ``generate()``: tests and benches that want the true physiology (which
no record carries) use it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import device, truth, vitals
from .drug import dose_marks
from .noise import streams
from .scenarios import SCENARIOS, Mark, Plan, build
from .waveforms import Wave, render


@dataclass
class Session:
    """A simulated session; every time is in seconds from the recording start."""

    scenario: str
    seed: int
    n: int
    dose: float
    plan: Plan
    phys: vitals.Physiology
    display: device.Display
    waves: dict[str, Wave] | None
    labels: list[truth.Label]
    marks: list[Mark]

    @property
    def route(self) -> str:
        return self.plan.response.route


def simulate(scenario: str, seed: int, *, minutes: float = 90, pre_dose_minutes: float = 10,
             waveforms: bool = False, route: str | None = None) -> Session:
    """Simulate ``minutes`` of ``scenario`` with the dose ``pre_dose_minutes`` after the start.

    Raises ValueError for an unknown scenario or route, a negative or non-integer seed, or a
    dose outside the recording.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not minutes > 0:
        raise ValueError(f"minutes must be positive, got {minutes!r}")
    if not 0 <= pre_dose_minutes < minutes:
        raise ValueError(f"pre_dose_minutes must be in [0, minutes), got {pre_dose_minutes!r}")
    n = round(minutes * 60)
    dose = float(pre_dose_minutes) * 60.0
    rng = streams(scenario, seed)
    plan = build(scenario, rng, n, dose, seed, route)
    phys = vitals.simulate(rng["physiology"], n, dose, plan.patient, plan.response,
                           plan.episodes, plan.airway_closed, plan.no_output,
                           beat_jitter_cv=plan.beat_jitter_cv, perfused=plan.perfused)
    display = device.observe(rng["device"], phys, plan.artifacts, plan.device, plan.manual_nibp)
    waves = render(rng["waveforms"], phys, display, plan.artifacts, plan.waves) if waveforms else None
    labels = truth.label(phys, plan.artifacts, display.nibp, plan.labels, plan.patient.baseline)
    marks = [(dose + 60 * m, what, text) for m, what, text in dose_marks(plan.response.route)]
    marks = sorted(m for m in marks + plan.marks if 0 <= m[0] < n)
    return Session(scenario, seed, n, dose, plan, phys, display, waves, labels, marks)
