"""The session record's live side: what each entry must satisfy before it is recorded, and what
the record says about the session now (its check-in, the pre-dose gate, its doses).

The pipeline calls ``check`` before it records an entry and ``documented`` to read the record
back; neither touches the store or the clock. Refusals name the field and why (``Refusal``): a
422 for an entry that is wrong in itself, a 409 for one the session's state refuses (a dose while
a pre-dose gate is active and nobody signed off), a 403 for a sign-off by a role that may not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alerts.rules import RuleSet
from app import feed as wire
from app.record import CheckIn, Confirmation, Dose, Entry, Observation, SignOff, Stored

# A given mg/kg may differ from the one worked out from the weight by rounding, no more.
MG_PER_KG_TOLERANCE = 0.005


class Refusal(ValueError):
    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.status, self.field, self.reason = status, field, reason


@dataclass
class Documented:
    """The record as it stands, as the live side needs it."""

    check_in: CheckIn | None = None
    doses: list[Dose] = field(default_factory=list)
    signed_gates: set[str] = field(default_factory=set)  # gate rules a pre-dose sign-off covers
    discharge_signed: bool = False
    confirmations: dict[str, tuple[bool, str]] = field(default_factory=dict)

    @property
    def planned_infusion_end(self) -> float | None:
        first = self.doses[0] if self.doses else None
        if first is None or first.route != "iv" or first.infusion_min is None:
            return None
        return first.t_device + first.infusion_min * 60


def documented(entries: Iterable[Stored]) -> Documented:
    """What the current record (``Record.current``, in the order recorded) says."""
    doc = Documented()
    for stored in entries:
        e = stored.entry
        if isinstance(e, CheckIn):
            doc.check_in = e
        elif isinstance(e, Dose):
            doc.doses.append(e)
        elif isinstance(e, SignOff) and e.what == "pre_dose_bp":
            doc.signed_gates |= set(e.rules)
        elif isinstance(e, SignOff) and e.what == "discharge_unmet":
            doc.discharge_signed = True
        elif isinstance(e, Confirmation):
            doc.confirmations[e.criterion] = (e.met, e.note)
    doc.doses.sort(key=lambda d: d.t_device)
    return doc


def check(entry: Entry, doc: Documented, rules: RuleSet, role: str, dosed: bool,
          gates_active: set[str], titles: Mapping[str, str], clock: float | None) -> Entry:
    """The entry as it is recorded (a dose with its mg/kg, a sign-off with the gates it covers),
    or a ``Refusal``. ``dosed``: the alarm system's dose clock has started; ``gates_active``:
    the pre-dose gate rules whose condition is active now; ``clock``: now on the session's
    clock, None before its monitor has sent a time (a device clock may be set to any time: only
    the protocol's bounds on an entry's time then apply)."""
    policy = rules.documentation
    if clock is not None and entry.t_device > clock + policy.ahead_max_min * 60:
        raise Refusal(422, "t_device", f"{(entry.t_device - clock) / 60:.0f} min ahead of the session's "
                                       f"clock (at most {policy.ahead_max_min:g} min, the rules file's "
                                       "documentation.ahead_max_min)")
    if isinstance(entry, CheckIn):
        if doc.check_in is not None and entry.replaces is None:
            raise Refusal(409, "replaces", "the session is checked in already: a correction names "
                                           "the check-in entry it replaces")
        return entry
    if isinstance(entry, SignOff):
        if role not in policy.sign_off_roles:
            raise Refusal(403, "what", f"role {role!r} may not sign off "
                                       f"(roles that may: {', '.join(policy.sign_off_roles)})")
        if entry.what == "pre_dose_bp":
            if dosed:
                raise Refusal(409, "what", "the dose is given: the pre-dose gate is over")
            if not gates_active:
                raise Refusal(409, "what", "no pre-dose gate is active: there is nothing to sign off")
            return entry.model_copy(update={"rules": sorted(gates_active)})
        return entry
    if isinstance(entry, Observation):
        scale = policy.scales.get(entry.scale)
        if scale is None:
            raise Refusal(422, "scale", f"unknown scale {entry.scale!r} "
                                        f"(the rules file's: {', '.join(policy.scales)})")
        if why := scale.refusal(entry.score):
            raise Refusal(422, "score", why)
        return entry
    if isinstance(entry, Confirmation):
        known = [c.key for c in rules.discharge.confirmed]
        if entry.criterion not in known:
            raise Refusal(422, "criterion", f"unknown criterion {entry.criterion!r} "
                                            f"(confirmed by a person: {', '.join(known)})")
        return entry
    if isinstance(entry, Dose):
        return _dose(entry, doc, rules, dosed, gates_active, titles)
    return entry  # Concomitant, Intervention: their model is all they must satisfy


def _dose(entry: Dose, doc: Documented, rules: RuleSet, dosed: bool, gates_active: set[str],
          titles: Mapping[str, str]) -> Dose:
    check_in = doc.check_in
    if check_in is None:
        raise Refusal(409, "kind", "check the patient in first (the weight gives mg/kg)")
    if entry.drug != check_in.drug:
        raise Refusal(422, "drug", f"the check-in says {check_in.drug}, not {entry.drug}")
    if entry.route != check_in.route:
        raise Refusal(422, "route", f"the check-in says {check_in.route}, not {entry.route}")
    policy = rules.documentation
    if entry.drug == "esketamine":
        if entry.route != "intranasal":
            raise Refusal(422, "route", "esketamine is given intranasally")
        given = [d.device for d in doc.doses if d.device is not None]
        if entry.replaces is None:
            expected = len(given) + 1
            if entry.device is None:
                raise Refusal(422, "device", f"an esketamine dose names its nasal device ({expected} next)")
            if expected > policy.esketamine_devices:
                raise Refusal(422, "device", f"all {policy.esketamine_devices} devices are given")
            if entry.device != expected:
                raise Refusal(422, "device", f"device {expected} comes next, not {entry.device}")
            if doc.doses and entry.t_device < doc.doses[-1].t_device:
                raise Refusal(422, "t_device", f"device {entry.device} comes after device {expected - 1}")
    elif entry.device is not None:
        raise Refusal(422, "device", "nasal devices are esketamine's")
    if entry.infusion_min is not None and entry.route != "iv":
        raise Refusal(422, "infusion_min", "only an IV dose is infused over minutes")
    mg_per_kg = round(entry.dose_mg / check_in.weight_kg, 3)
    if entry.mg_per_kg is not None and abs(entry.mg_per_kg - mg_per_kg) > max(
            MG_PER_KG_TOLERANCE, mg_per_kg * 0.01):
        raise Refusal(422, "mg_per_kg", f"{entry.dose_mg:g} mg for {check_in.weight_kg:g} kg is "
                                        f"{mg_per_kg:g} mg/kg, not {entry.mg_per_kg:g}")
    if not dosed:
        gate(doc, gates_active, titles, "kind")
    return entry.model_copy(update={"mg_per_kg": mg_per_kg})


def gate(doc: Documented, gates_active: set[str], titles: Mapping[str, str], field: str) -> None:
    """Refuse a dose (a record entry, or a person's dose mark: ``field`` names what is refused)
    while a pre-dose gate is active that no sign-off covers."""
    if uncovered := sorted(gates_active - doc.signed_gates):
        named = "; ".join(f"{r} ({titles.get(r, r)})" for r in uncovered)
        raise Refusal(409, field, f"dose refused: pre-dose gate active: {named}; a clinician "
                                  "signs off the pre-dose blood pressure first "
                                  "(sign_off, what: pre_dose_bp, with the reason)")


def dosing(doc: Documented, rules: RuleSet) -> wire.Dosing | None:
    if not doc.doses:
        return None
    total = sum(d.dose_mg for d in doc.doses)
    weight = doc.check_in.weight_kg if doc.check_in is not None else None
    devices = [d.device for d in doc.doses if d.device is not None]
    policy = rules.documentation
    due = None
    if devices and len(devices) < policy.esketamine_devices:
        due = doc.doses[0].t_device + len(devices) * policy.esketamine_device_every_min * 60
    return wire.Dosing(doses=len(doc.doses), total_mg=round(total, 3),
                       mg_per_kg=round(total / weight, 3) if weight else None,
                       devices=devices, next_device_device=due)


def dose_text(dose: Dose) -> str:
    """The dose mark's text: what the trend and the marks list show."""
    text = f"{dose.drug} {dose.dose_mg:g} mg {dose.route}"
    if dose.mg_per_kg is not None:
        text += f" ({dose.mg_per_kg:g} mg/kg)"
    if dose.device is not None:
        text += f", device {dose.device}"
    if dose.infusion_min is not None:
        text += f", over {dose.infusion_min:g} min"
    return text
