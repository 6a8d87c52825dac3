"""The drug: how big the effect is for one patient, and its time course for each route.

One effect curve per session (0 before onset, 1 at the peak) scales the change of every vital
(clinical-basis §4 "one effect curve scales every vital"). Esketamine adds the pre-dose anxiety
rise and, in sedated patients, a lower breathing rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import parameters as P
from .noise import draw, smoothstep
from .patient import Patient

ROUTES = ("iv", "im", "sublingual", "esketamine")


@dataclass(frozen=True)
class Response:
    """One patient's response to one dose. ``change`` is the peak change of SBP, DBP, HR and RR;
    times are minutes from the dose."""

    route: str
    change: dict[str, float]
    onset: float
    peak: float
    half_life: float
    sedated: bool = False
    sedation_rr: float = 0.0

    def meta(self) -> dict:
        return {
            "peak_change": {k: round(float(v), 1) for k, v in self.change.items()},
            "peak_min": round(float(self.peak), 1), "half_life_min": round(float(self.half_life), 1),
            "sedated": self.sedated,
        }


def effect(response: Response, minutes: np.ndarray) -> np.ndarray:
    """The effect curve at ``minutes`` from the dose: an S-shaped rise from onset to the peak,
    then exponential decay with the response's half-life."""
    rise = smoothstep((minutes - response.onset) / (response.peak - response.onset))
    decay = np.exp2(-np.maximum(minutes - response.peak, 0.0) / response.half_life)
    return np.where(minutes < response.peak, rise, decay)


def sedation(minutes: np.ndarray) -> np.ndarray:
    """Depth of sedation, 0–1, in a sedated patient (§2: onset 15, peak 30–45, gone by 60–90)."""
    onset, peak, gone = P.SEDATION_COURSE
    return np.where(minutes < peak, smoothstep((minutes - onset) / (peak - onset)),
                    1.0 - smoothstep((minutes - peak) / (gone - peak)))


def changes(response: Response, minutes: np.ndarray) -> dict[str, np.ndarray]:
    """The drug's change of each vital (SBP, DBP, HR, RR) at ``minutes`` from the dose."""
    e = effect(response, minutes)
    out = {vital: amount * e for vital, amount in response.change.items()}
    if response.route == "esketamine":
        # The anxiety of the dosing visit is there before the first spray and fades after it.
        anxious = np.where(minutes < 0, 1.0, np.exp2(-np.maximum(minutes, 0) / P.ANXIETY_HALF_LIFE))
        for vital, amount in P.ANXIETY.items():
            out[vital] = out[vital] + amount * anxious
    if response.sedated:
        out["RR"] = out["RR"] + response.sedation_rr * sedation(minutes)
    return out


def _normal(d: P.Normal | P.Uniform) -> P.Normal:
    """The blood-pressure and heart-rate rises are drawn as normals (§4)."""
    if not isinstance(d, P.Normal):
        raise TypeError(f"expected a normal distribution, not {d!r}")
    return d


def draw_response(rng: np.random.Generator, patient: Patient, route: str) -> Response:
    """A response drawn from the §4 distributions for ``patient`` and ``route``."""
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r} (known: {', '.join(ROUTES)})")
    table = P.PEAK_CHANGE["esketamine" if route == "esketamine" else "iv"]
    z_sbp, z_dbp_own, z_hr = rng.normal(size=3)
    rho = P.RISE_CORRELATION
    z_dbp = rho * z_sbp + np.sqrt(1 - rho * rho) * z_dbp_own
    sbp_d, dbp_d, hr_d = (_normal(table[k]) for k in ("SBP", "DBP", "HR"))
    sbp_mean = sbp_d.mean
    if route == "esketamine" and patient.age >= P.ESKETAMINE_OLD_AGE:
        sbp_mean = P.ESKETAMINE_OLD_SBP_MEAN
    sbp = sbp_mean + sbp_d.sd * z_sbp
    if route != "esketamine" and (patient.age >= P.IV_RISK_AGE or patient.hypertensive):
        sbp *= P.IV_RISK_MULTIPLIER
    size = P.ROUTE_SIZE[route]
    change = {
        "SBP": size * sbp,
        "DBP": size * (dbp_d.mean + dbp_d.sd * z_dbp),
        "HR": size * (hr_d.mean + hr_d.sd * z_hr),
        "RR": size * draw(rng, table["RR"]),
    }
    course = P.COURSE[route]
    peak = draw(rng, course.peak)
    half_life = draw(rng, course.half_life)
    if course.prolonged_fraction and rng.random() < course.prolonged_fraction:
        half_life = course.prolonged_half_life
    sedated = bool(rng.random() < P.SEDATION_FRACTION)
    sedation_rr = draw(rng, P.SEDATION_RR) if route == "esketamine" else 0.0
    return Response(route=route, change=change, onset=course.onset,
                    peak=max(peak, course.onset + 5.0), half_life=half_life,
                    sedated=sedated, sedation_rr=sedation_rr)


def scripted_response(route: str, half_life: float | None = None, peak: float | None = None,
                      **change: float) -> Response:
    """A response with a fixed size, for the named scenarios; the route's §4 course, except
    where ``peak`` or ``half_life`` are given."""
    course = P.COURSE[route]
    full = {"SBP": 0.0, "DBP": 0.0, "HR": 0.0, "RR": 0.0} | change
    return Response(route=route, change=full, onset=course.onset,
                    peak=peak if peak is not None else _middle(course.peak),
                    half_life=half_life if half_life is not None else _middle(course.half_life))


def _middle(dist: P.Normal | P.Uniform | float) -> float:
    if isinstance(dist, P.Normal):
        return dist.mean
    if isinstance(dist, P.Uniform):
        return (dist.low + dist.high) / 2
    return float(dist)


def dose_marks(route: str) -> list[tuple[float, str, str]]:
    """The clinical marks of a dose as (minutes from the dose, what, text)."""
    if route == "iv":
        return [(0.0, "dose", "ketamine 0.5 mg/kg IV over 40 min"),
                (P.IV_INFUSION_MIN, "infusion end", "ketamine infusion ended")]
    if route == "esketamine":
        n = len(P.ESKETAMINE_DEVICES_MIN)
        return [(m, "dose", f"esketamine nasal spray, device {i + 1} of {n}")
                for i, m in enumerate(P.ESKETAMINE_DEVICES_MIN)]
    if route == "im":
        return [(0.0, "dose", "ketamine intramuscular injection")]
    return [(0.0, "dose", "ketamine sublingual")]
