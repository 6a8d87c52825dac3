"""The patient: age, hypertension and resting vital signs, drawn from clinical-basis §4."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import parameters as P
from .noise import draw

VITALS = ("SBP", "DBP", "HR", "RR", "SpO2", "EtCO2")


def mean_arterial(sbp, dbp):
    """MAP from systolic and diastolic pressure, the usual one-third rule."""
    return dbp + (sbp - dbp) / 3.0


@dataclass(frozen=True)
class Patient:
    """A patient at rest before the dose. ``baseline`` holds the true resting value of each of
    VITALS (what the device readings scatter around), not a measured one."""

    age: int
    hypertensive: bool
    baseline: dict[str, float]

    def meta(self) -> dict:
        base = {k: round(float(v), 1) for k, v in self.baseline.items()}
        base["MAP"] = round(float(mean_arterial(self.baseline["SBP"], self.baseline["DBP"])), 1)
        return {"age": self.age, "hypertensive": self.hypertensive, "baseline": base}


def draw_patient(rng: np.random.Generator) -> Patient:
    """A patient who is dosed: drawn from the §4 population (age and the SBP–DBP correlation
    are [D]), then, if the resting BP is above the §3 G1 limits, kept with probability
    DOSED_ABOVE_GATE and drawn again otherwise (parameters.py says why)."""
    while True:
        patient = _draw_resting(rng)
        gate = P.DOSING_GATE
        above = patient.baseline["SBP"] > gate["SBP"] or patient.baseline["DBP"] > gate["DBP"]
        if not above or rng.random() < P.DOSED_ABOVE_GATE:
            return patient


def _draw_resting(rng: np.random.Generator) -> Patient:
    age = round(draw(rng, P.AGE))
    hypertensive = bool(rng.random() < P.HYPERTENSIVE_FRACTION)
    sbp_d, dbp_d = P.BASELINE["SBP"], P.BASELINE["DBP"]
    z_sbp, z_other = rng.normal(size=2)
    sbp = float(np.clip(sbp_d.mean + sbp_d.sd * z_sbp
                        + (P.HYPERTENSIVE_SBP_OFFSET if hypertensive else 0.0),
                        sbp_d.low, sbp_d.high))
    rho = P.SBP_DBP_CORRELATION
    dbp = dbp_d.mean + dbp_d.sd * (rho * z_sbp + np.sqrt(1 - rho * rho) * z_other)
    dbp = float(np.clip(dbp, dbp_d.low, min(dbp_d.high, sbp - P.MIN_PULSE_PRESSURE)))
    baseline = {"SBP": sbp, "DBP": dbp}
    for vital in ("HR", "RR", "SpO2", "EtCO2"):
        baseline[vital] = draw(rng, P.BASELINE[vital])
    return Patient(age=age, hypertensive=hypertensive, baseline=baseline)


def fixed_patient(age: int, hypertensive: bool, **baseline: float) -> Patient:
    """A scripted patient, for the named scenarios; every one of VITALS must be given."""
    missing = set(VITALS) - set(baseline)
    if missing:
        raise ValueError(f"baseline lacks {sorted(missing)}")
    return Patient(age=age, hypertensive=hypertensive, baseline={k: float(baseline[k]) for k in VITALS})
