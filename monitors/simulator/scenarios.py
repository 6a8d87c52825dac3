"""The named scenarios of clinical-basis §4, the failure scenarios, and ``random``.

A scenario is a function that returns a Plan: who the patient is, how they respond to the drug,
which episodes and artifacts happen when, how the devices are set up, and the ground-truth
labels and clinical marks of its scripted events. The seed changes only the noise of a named
scenario (and, for ``airway-obstruction``, which of its two forms happens); in ``random`` it
changes everything. The failure scenarios are typical IV sessions with one failure class scripted
into them (a blank monitor in an arrest, an oximeter-only room, a false asystole, ...): the cases
the alarms are held to; SIGNATURE names the labels each one is about.

Times inside a plan are seconds from the recording start; ``dose`` is the dose time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    a cuff reading by hand (on top of the device's own schedule). ``no_output``: intervals of
    cardiac arrest; ``perfused`` and ``beat_jitter_cv``: a pulse deficit and irregular beats.
    ``params`` and ``waves``: the numerics and waveforms the room's devices send (an
    oximeter-only room sends no ECG heart rate, no capnography)."""

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
    no_output: list[tuple[float, float]] = field(default_factory=list)
    perfused: float = 1.0
    beat_jitter_cv: float = P.BEAT_JITTER_CV
    params: tuple[str, ...] = ("HR", "PR", "SpO2", "RR", "EtCO2")
    waves: tuple[str, ...] = ("PLETH", "ECG_II", "RESP", "CO2")


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


def _patient(spec: tuple[int, bool, Mapping[str, float]]) -> Patient:
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


# --- The failure scenarios -------------------------------------------------------------------


def _typical(route: str | None, spec=P.TYPICAL_PATIENT, **rise: float) -> Plan:
    """A typical IV session without cuff failures at rest, for a failure to be scripted into."""
    response = scripted_response(route or "iv", **(dict(P.TYPICAL_RISE) | rise))
    return Plan(_patient(spec), response, device=DeviceSettings(fail_rest=0.0))


def _at(dose: float, n: int, minutes: float = P.FAILURE_AT_MIN) -> float:
    """The failure's start: ``minutes`` after the dose, or, in a recording too short for that,
    60 % of the way through it (at the dose at the earliest)."""
    t = dose + 60 * minutes
    return t if t < n - 60 else max(dose, n * 0.6)


def cardiac_arrest(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """No cardiac output from 30 min to the end: no beats (ECG HR and pulse rate "no value"),
    a flat pleth, SpO2 "no value", breathing stops 20 s later. Odd seeds: the oximeter reports
    ``pulse_search``; even seeds: no status at all."""
    plan = _typical(route)
    t0 = _at(dose, n)
    plan.no_output.append((t0, float(n)))
    plan.episodes.append(Episode(t0, P.ARREST_BREATHING_STOPS_S, float(n), 0.0, to={"RR": 0.0}))
    plan.labels.append(Label("asystole", "event", t0, float(n)))
    variant = "pulse search" if seed % 2 else "no status"
    if seed % 2:
        plan.artifacts.append(Artifact("pulse search", t0 + P.SPO2_HOLD_S, float(n)))
    plan.notes["variant"] = variant
    return plan


def oximeter_only(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """A room with a pulse oximeter (pulse rate and SpO2, no ECG, no capnograph) and a cuff;
    the pulse falls to 35 over a minute at 30 min, stays 3 min, and recovers over a minute."""
    plan = _typical(route)
    plan.params, plan.waves = P.OXIMETER_ONLY_PARAMS, ("PLETH",)
    fall = P.OXIMETER_ONLY_FALL_S
    plan.episodes.append(Episode(_at(dose, n), fall, P.OXIMETER_ONLY_HOLD_S, fall,
                                 to={"HR": P.OXIMETER_ONLY_HR_TO}))
    return plan


def false_asystole(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """The ECG reads HR 0 for 4 min at 30 min while the heart beats at ~76: pulse rate 76,
    SpO2 98, the pleth pulsing. No true event: a high alarm here is a false one."""
    plan = _typical(route, P.FALSE_ASYSTOLE_PATIENT, HR=0.0)
    t0 = _at(dose, n)
    plan.artifacts.append(Artifact("ecg zero", t0, t0 + P.FALSE_ASYSTOLE_S))
    return plan


def desaturation_under_motion(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """True SpO2 falls to 80 % at 30 min and stays 6 min while the patient moves throughout
    (from a minute before to a minute after): the pulse rate jumps, the cuff fails more often.
    Odd seeds: the oximeter flags ``motion``; even seeds: it does not."""
    plan = _typical(route)
    t0 = _at(dose, n)
    fall, margin = P.MOTION_DESAT_FALL_S, P.MOTION_DESAT_MARGIN_S
    ep = Episode(t0, fall, P.MOTION_DESAT_HOLD_S, fall, to={"SpO2": P.MOTION_DESAT_TO})
    plan.episodes += [ep, Episode(t0, fall, P.MOTION_DESAT_HOLD_S, fall, by={"HR": 10.0})]
    plan.artifacts.append(Artifact("motion", t0 - margin, ep.end + margin,
                                   false_spo2=draw(rng["scenario"], P.MOTION_DESAT_FALSE_SPO2),
                                   status=bool(seed % 2)))
    plan.notes["variant"] = "motion flagged" if seed % 2 else "motion not flagged"
    return plan


def pulse_deficit(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """Atrial fibrillation with a pulse deficit all session: ECG HR ~110, pulse rate ~80 (a
    quarter of the beats make no pulse at the finger); a real desaturation to 84 % at 40 min."""
    plan = _typical(route, P.PULSE_DEFICIT_PATIENT, HR=0.0)
    plan.perfused, plan.beat_jitter_cv = P.PULSE_DEFICIT_PERFUSED, P.AF_BEAT_JITTER_CV
    fall, hold, back = P.PULSE_DEFICIT_DESAT_S
    plan.episodes.append(Episode(_at(dose, n, P.PULSE_DEFICIT_DESAT_AT_MIN), fall, hold, back,
                                 to={"SpO2": P.PULSE_DEFICIT_DESAT_TO}))
    return plan


def flicker(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """True SpO2 88 % for 30 min from 15 min; all session the oximeter blanks SpO2 and pulse
    rate for 1 s every 12 s (no status)."""
    plan = _typical(route)
    fall = P.FLICKER_FALL_S
    plan.episodes.append(Episode(_at(dose, n, P.FLICKER_AT_MIN), fall, P.FLICKER_HOLD_S, fall,
                                 to={"SpO2": P.FLICKER_TO}))
    plan.artifacts.append(Artifact("flicker", 0.0, float(n)))
    return plan


def capnogram_loss(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """The capnogram is lost for 2 min at 30 min (EtCO2 and RR "no value", no status) while
    the patient breathes normally."""
    plan = _typical(route)
    t0 = _at(dose, n)
    plan.artifacts.append(Artifact("capnogram lost", t0, t0 + P.CAPNOGRAM_LOSS_S))
    return plan


def etco2_fall(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """EtCO2 falls to 20 mmHg at 30 min for 5 min (hyperventilation, or a cannula half out)
    while breaths are still detected."""
    plan = _typical(route)
    fall, hold, back = P.ETCO2_FALL_S
    plan.episodes.append(Episode(_at(dose, n), fall, hold, back, to={"EtCO2": P.ETCO2_FALL_TO}))
    return plan


def recovery_hypotension(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """From 62 min (recovery, cuff every 15 min) the pressure falls over 2 min to 84/50 and
    stays there. Run it for 120 min to see two recovery readings."""
    plan = _typical(route)
    plan.episodes.append(Episode(_at(dose, n, P.RECOVERY_HYPOTENSION_AT_MIN), P.RECOVERY_HYPOTENSION_FALL_S,
                                 float(n), 0.0, to=dict(P.RECOVERY_HYPOTENSION_TO)))
    return plan


def recovery_crisis(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """A pressure spike in recovery that one reading catches: the 75-min reading shows 196/124;
    the spike is over 4 min later, so no further reading is high."""
    plan = _typical(route)
    reading = _at(dose, n, P.RECOVERY_CRISIS_READING_MIN)
    rise, hold, fall = P.RECOVERY_CRISIS_S
    sys_, dia = P.RECOVERY_CRISIS_READING
    plan.episodes.append(Episode(reading - rise - 30.0, rise, hold, fall,
                                 to={"SBP": float(sys_), "DBP": float(dia)}))
    plan.device = DeviceSettings(fail_rest=0.0, exact_readings=((reading, reading + 60.0, sys_, dia),))
    return plan


def missing_baseline(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """The cuff is not started before the dose: no pre-dose reading, so no blood-pressure
    baseline; the first reading is the 5-min one."""
    plan = _typical(route)
    plan.device = DeviceSettings(fail_rest=0.0, predose_nibp=False)
    plan.labels.append(Label("no baseline", "event", dose, dose + P.NO_BASELINE_LABEL_S))
    return plan


def hypertensive_baseline(rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """Both pre-dose readings ~190/112; an antihypertensive a minute before the dose brings the
    pressure to ~132/82 over 4 min, and every later reading is normal."""
    plan = _typical(route, P.HYPERTENSIVE_BASELINE_PATIENT)
    t = dose + 60 * P.HYPERTENSIVE_BASELINE_TREATMENT_MIN
    plan.episodes.append(Episode(t, P.HYPERTENSIVE_BASELINE_FALL_S, float(n), 0.0,
                                 to=dict(P.HYPERTENSIVE_BASELINE_TREATED_TO)))
    plan.marks.append((t, "treatment", "antihypertensive given before the dose"))
    return plan


SCENARIO_BUILDERS: dict[str, Builder] = {
    "typical-responder": typical_responder,
    "hypertensive-surge": hypertensive_surge,
    "vasovagal": vasovagal_scenario,
    "airway-obstruction": airway_obstruction,
    "sensor-disconnect": sensor_disconnect,
    "vomiting-movement": vomiting_movement,
    "cardiac-arrest": cardiac_arrest,
    "oximeter-only": oximeter_only,
    "false-asystole": false_asystole,
    "desaturation-under-motion": desaturation_under_motion,
    "pulse-deficit": pulse_deficit,
    "flicker": flicker,
    "capnogram-loss": capnogram_loss,
    "etco2-fall": etco2_fall,
    "recovery-hypotension": recovery_hypotension,
    "recovery-crisis": recovery_crisis,
    "missing-baseline": missing_baseline,
    "hypertensive-baseline": hypertensive_baseline,
    "random": random_session,
}
SCENARIOS = tuple(SCENARIO_BUILDERS)
FAILURES = SCENARIOS[SCENARIOS.index("cardiac-arrest"):SCENARIOS.index("random")]

# The ground-truth labels each fixed scenario is about: what its alarms must catch (at the
# priority the clinical table gives them). An empty set: nothing true happens, and what matters
# is that nothing alarms high (``false-asystole``) or physiological (``sensor-disconnect``).
SIGNATURE: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    "typical-responder": (),
    "hypertensive-surge": ("SBP >= 180", "DBP >= 110"),
    "vasovagal": ("vasovagal", "bradycardia"),
    "airway-obstruction": ("airway obstruction", "oversedation", "desaturation"),
    "sensor-disconnect": ("probe off",),
    "vomiting-movement": (),
    "cardiac-arrest": ("asystole",),
    "oximeter-only": ("bradycardia", "severe bradycardia"),
    "false-asystole": (),
    "desaturation-under-motion": ("desaturation", "severe desaturation"),
    "pulse-deficit": ("desaturation", "severe desaturation"),
    "flicker": ("desaturation",),
    "capnogram-loss": ("capnogram lost",),
    "etco2-fall": ("EtCO2 fall",),
    "recovery-hypotension": ("hypotension",),
    "recovery-crisis": ("SBP >= 180", "hypertensive crisis"),
    "missing-baseline": ("no baseline",),
    "hypertensive-baseline": ("SBP >= 180", "DBP >= 110"),
}.items()}
# Minutes a scenario needs to show its failure (the recovery ones need two recovery readings).
MINUTES: dict[str, float] = {"recovery-hypotension": 120, "recovery-crisis": 120}


def build(scenario: str, rng: Streams, n: int, dose: float, seed: int, route: str | None) -> Plan:
    """The plan of ``scenario`` for a recording of ``n`` seconds with the dose at ``dose``."""
    if scenario not in SCENARIO_BUILDERS:
        raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    if route is not None and route not in ROUTES:
        raise ValueError(f"unknown route {route!r} (known: {', '.join(ROUTES)})")
    return SCENARIO_BUILDERS[scenario](rng, n, dose, seed, route)
