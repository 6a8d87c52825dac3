"""The named scenarios of clinical-basis §4, and ``random``.

A scenario is a function that returns a Plan: who the patient is, how they respond to the drug,
which episodes and artifacts happen when, how the devices are set up, and the ground-truth
labels and clinical marks of its scripted events. The seed changes only the noise of a named
scenario (and, for ``airway-obstruction``, which of its two forms happens); in ``random`` it
changes everything.

Times inside a plan are seconds from the recording start; ``dose`` is the dose time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import parameters as P
from .artifacts import Artifact, draw_random
from .device import DeviceSettings
from .drug import ROUTES, Response, draw_response, scripted_response
from .noise import Streams, draw
from .patient import Patient, draw_patient, fixed_patient
from .truth import Label
from .vitals import Episode

Mark = tuple[float, str, str]  # (s from the start, what, text)


@dataclass
class Plan:
    """Everything that will happen in a session. ``manual_nibp``: times at which a nurse starts
    a cuff reading by hand (on top of the device's own schedule)."""

    patient: Patient
    response: Response
    device: DeviceSettings = field(default_factory=DeviceSettings)
    episodes: list[Episode] = field(default_factory=list)
    airway_closed: list[tuple[float, float]] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    manual_nibp: list[float] = field(default_factory=list)
    notes: dict = field(default_factory=dict)


# --- Scripted events, shared by the named scenarios and ``random`` ---------------------------


def vasovagal(plan: Plan, t0: float) -> None:
    """§4 scenario 3: HR → 42 and SBP → 78 over 45 s, recovered within 3 min lying down."""
    fall = P.VASOVAGAL_FALL_S
    ep = Episode(t0, fall, P.VASOVAGAL_NADIR_S, P.VASOVAGAL_RECOVERY_S, to=dict(P.VASOVAGAL_TO))
    plan.episodes.append(ep)
    plan.labels.append(Label("vasovagal", "event", t0, ep.end))
    plan.marks += [(t0 - 20.0, "note", "IV cannulation"), (t0 + fall, "intervention", "laid flat, legs raised")]
    # The nurse sees the heart rate fall and starts a cuff reading by hand.
    plan.manual_nibp.append(t0 + P.VASOVAGAL_MANUAL_NIBP_S)


def airway(plan: Plan, t0: float, form: str) -> None:
    """§4 scenario 4. ``form`` "obstruction": no airflow (capnogram lost) while the chest still
    moves; "oversedation": breathing slows to RR 4 and EtCO2 rises. Either way SpO2 starts
    falling 60 s later, 97 → 84 over 90 s, HR rises by 15, and a jaw thrust restores breathing;
    SpO2 is back within 60 s of it."""
    jaw_thrust = t0 + P.AIRWAY_JAW_THRUST_S
    falls = t0 + P.AIRWAY_SPO2_DELAY_S
    hold = jaw_thrust + P.AIRWAY_CIRCULATION_S - (falls + P.AIRWAY_SPO2_FALL_S)
    plan.episodes += [
        Episode(falls, P.AIRWAY_SPO2_FALL_S, hold, P.AIRWAY_SPO2_RECOVERY_S, to={"SpO2": P.AIRWAY_SPO2_TO}),
        Episode(falls, P.AIRWAY_SPO2_FALL_S, hold, 60.0, by={"HR": P.AIRWAY_HR_RISE}),
    ]
    plan.marks.append((jaw_thrust, "intervention", "jaw thrust"))
    if form == "obstruction":
        plan.airway_closed.append((t0, jaw_thrust))
        plan.labels.append(Label("airway obstruction", "event", t0, jaw_thrust))
    else:
        # Breathing slows over 20 s; CO2 builds up over the 150 s until the jaw thrust.
        plan.episodes += [Episode(t0, 20.0, jaw_thrust - t0 - 20.0, 5.0, to={"RR": P.AIRWAY_RR_TO}),
                          Episode(t0, 150.0, jaw_thrust - t0 - 150.0, 60.0, to={"EtCO2": P.AIRWAY_ETCO2_TO})]
        plan.labels.append(Label("oversedation", "event", t0, jaw_thrust))


def vomiting(plan: Plan, t0: float, rng: np.random.Generator) -> None:
    """§4 scenario 6: real HR +15 and SBP +15 for 2 min; movement artifacts (false SpO2 in the
    80s, pulse-rate jumps, false breaths) until the patient settles; then the nurse re-measures
    the blood pressure by hand."""
    real, moving = P.VOMITING_S, P.VOMITING_MOVING_S
    plan.episodes.append(Episode(t0, 15.0, real - 30.0, 15.0, by=dict(P.VOMITING_CHANGE)))
    plan.artifacts.append(Artifact("motion", t0, t0 + moving, false_spo2=draw(rng, P.VOMITING_FALSE_SPO2),
                                   false_breaths=True))
    plan.labels.append(Label("vomiting", "event", t0, t0 + real))
    plan.marks.append((t0 + real, "note", "patient vomited"))
    plan.manual_nibp.append(t0 + moving + P.VOMITING_MANUAL_NIBP_S)


# --- The scenarios ----------------------------------------------------------------------------

Builder = Callable[[Streams, int, float, int, "str | None"], Plan]


def _patient(spec: tuple[int, bool, dict[str, float]]) -> Patient:
    age, hypertensive, baseline = spec
    return fixed_patient(age, hypertensive, **baseline)


def typical_responder(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """§4 scenario 1: +12/+8 and HR +4 peaking at 38 min, back to baseline by 100 min; no
    artifacts and no cuff failures, so that at most a low alarm can fire."""
    route = route or "iv"
    if route == "iv":
        response = scripted_response(route, peak=P.TYPICAL_PEAK_MIN, half_life=P.TYPICAL_HALF_LIFE_MIN,
                                     **P.TYPICAL_RISE)
    else:
        response = scripted_response(route, **P.TYPICAL_RISE)
    return Plan(_patient(P.TYPICAL_PATIENT), response, device=DeviceSettings(fail_rest=0.0))


def hypertensive_surge(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """§4 scenario 2: 58 years old, BL 146/92, rises +45/+25 and crosses 180/110 at ~30 min;
    the nurse repeats the reading by hand (B3) and the next scheduled one confirms it (B4).
    IV: an antihypertensive at 36 min brings SBP below 160 by 70 min. Esketamine: untreated,
    a prolonged rise keeps SBP ≥ 160 until ~150 min."""
    route = route or "iv"
    if route == "iv":
        response = scripted_response(route, peak=P.SURGE_PEAK_MIN, half_life=P.SURGE_HALF_LIFE_MIN,
                                     **P.SURGE_RISE)
    else:
        response = scripted_response(route, half_life=P.SURGE_ESKETAMINE_HALF_LIFE_MIN, **P.SURGE_RISE)
    plan = Plan(_patient(P.SURGE_PATIENT), response, manual_nibp=[dose + 60 * P.SURGE_REPEAT_MIN])
    if route == "iv":
        t = dose + 60 * P.SURGE_TREATMENT_MIN
        # The treatment lasts the rest of the session.
        plan.episodes.append(Episode(t, 60 * P.SURGE_TREATMENT_ONSET_MIN, float(n), 0.0,
                                     by=dict(P.SURGE_TREATMENT)))
        plan.marks.append((t, "treatment", "antihypertensive given"))
    plan.notes["variant"] = "treated" if route == "iv" else "prolonged, untreated"
    return plan


def vasovagal_scenario(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """§4 scenario 3, at cannulation 9 min before the dose (or 30 s into a shorter lead-in)."""
    plan = Plan(_patient(P.VASOVAGAL_PATIENT), scripted_response(route or "iv", **P.VASOVAGAL_RISE))
    vasovagal(plan, max(dose - 60 * P.VASOVAGAL_BEFORE_DOSE_MIN, 30.0))
    return plan


def airway_obstruction(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """§4 scenario 4 at 32 min, when sedation is deepest; even seeds: obstruction (capnogram
    lost), odd seeds: oversedation (RR 4)."""
    plan = Plan(_patient(P.AIRWAY_PATIENT), scripted_response(route or "iv", **P.AIRWAY_RISE))
    form = "obstruction" if seed % 2 == 0 else "oversedation"
    airway(plan, dose + 60 * P.AIRWAY_AT_MIN, form)
    plan.notes["variant"] = form
    return plan


def sensor_disconnect(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """§4 scenario 5: the SpO2 probe pulled off at 25 min for 4 min; nothing physiological."""
    plan = Plan(_patient(P.SENSOR_PATIENT), scripted_response(route or "iv", **P.SENSOR_RISE))
    off, on = P.SENSOR_PROBE_OFF_MIN
    plan.artifacts.append(Artifact("probe off", dose + 60 * off, dose + 60 * on))
    return plan


def vomiting_movement(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """§4 scenario 6: vomiting starting 10–30 s before a scheduled cuff reading at 40–55 min;
    movement fails that reading and its automatic retry, a reading by hand then succeeds."""
    # Retching moves the arm too much for any oscillometric reading.
    plan = Plan(_patient(P.VOMITING_PATIENT), scripted_response(route or "iv", **P.VOMITING_RISE),
                device=DeviceSettings(fail_motion=1.0))
    r = rng["scenario"]
    minute = float(r.choice(P.VOMITING_READING_MIN))
    vomiting(plan, dose + 60 * minute - draw(r, P.VOMITING_BEFORE_READING_S), r)
    return plan


def random_session(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """A patient, response and session drawn from the §4 distributions: artifacts at the §4
    rates, vomiting in 14 % (§2), and rarely [D] an airway event or a vasovagal faint."""
    route = route or "iv"
    patient = draw_patient(rng["patient"])
    r = rng["scenario"]
    device = DeviceSettings(spo2_averaging=int(r.choice(P.SPO2_AVERAGING_S)),
                            same_arm=bool(r.random() < P.SAME_ARM_FRACTION))
    plan = Plan(patient, draw_response(rng["drug"], patient, route), device=device,
                artifacts=draw_random(rng["artifacts"], n, dose))
    events = []
    if r.random() < P.VOMITING_FRACTION:
        vomiting(plan, dose + 60 * r.uniform(*P.VOMITING_WINDOW_MIN), r)
        events.append("vomiting")
    if r.random() < P.AIRWAY_EVENT_FRACTION:
        form = "obstruction" if r.random() < 0.5 else "oversedation"
        airway(plan, dose + 60 * r.uniform(*P.AIRWAY_EVENT_WINDOW_MIN), form)
        events.append(form)
    if r.random() < P.VASOVAGAL_FRACTION:
        vasovagal(plan, max(dose - 60 * P.VASOVAGAL_BEFORE_DOSE_MIN, 30.0))
        events.append("vasovagal")
    plan.notes["events"] = events
    return plan


SCENARIO_BUILDERS: dict[str, Builder] = {
    "typical-responder": typical_responder,
    "hypertensive-surge": hypertensive_surge,
    "vasovagal": vasovagal_scenario,
    "airway-obstruction": airway_obstruction,
    "sensor-disconnect": sensor_disconnect,
    "vomiting-movement": vomiting_movement,
    "random": random_session,
}
SCENARIOS = tuple(SCENARIO_BUILDERS)


def build(scenario: str, rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """The plan of ``scenario`` for a recording of ``n`` seconds with the dose at ``dose``."""
    if scenario not in SCENARIO_BUILDERS:
        raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    if route is not None and route not in ROUTES:
        raise ValueError(f"unknown route {route!r} (known: {', '.join(ROUTES)})")
    return SCENARIO_BUILDERS[scenario](rng, n, dose, seed, route)
