"""The esketamine REMS Patient Monitoring Form's fields, each computed from the session's data
and saying where it came from (clinical basis section 1).

Pure: cuff rows, the dose time, the rules and the baseline in, fields out; no clock, no I/O.
Missing data stays missing: a field with no reading to show has ``value: None`` and a ``source``
that says what was looked for, never a value filled in from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

from alerts.rules import RuleSet

# The parameters whose alarms are breathing events on the form (oxygenation, ventilation,
# capnography). Alarm parameters are the wire protocol's names, not clinical limits.
BREATHING_PARAMS = frozenset({"SpO2", "RR", "EtCO2"})


class Cuff(BaseModel):
    t: float
    sys: float | None
    dia: float | None
    map: float | None
    minutes_from_dose: float | None = None


class BloodPressure(BaseModel):
    """One BP field of the form: the reading chosen, or None with what was looked for."""

    value: Cuff | None
    source: str


class Judgement(BaseModel):
    """Whether the vitals were in an acceptable range: None when there is nothing to judge."""

    acceptable: bool | None
    source: str
    held: list[str] = []  # the rules whose condition the reading meets, with value and limit


class Minutes(BaseModel):
    value: float | None
    source: str


class Event(BaseModel):
    kind: Literal["observation", "breathing"]
    t: float
    text: str
    source: str


class RemsForm(BaseModel):
    pre_dose_bp: BloodPressure
    bp_40_min: BloodPressure
    end_bp: BloodPressure
    pre_dose_acceptable: Judgement
    end_acceptable: Judgement
    total_minutes: Minutes
    events: list[Event]


def _valid(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] == "ok" and r["sys"] is not None and r["dia"] is not None]


def _cuff(row: dict[str, Any], dose_t: float | None) -> Cuff:
    return Cuff(t=row["t"], sys=row["sys"], dia=row["dia"], map=row["map"],
                minutes_from_dose=None if dose_t is None else round((row["t"] - dose_t) / 60, 1))


def pre_dose(rows: Sequence[dict[str, Any]], dose_t: float | None) -> BloodPressure:
    if dose_t is None:
        return BloodPressure(value=None, source="no dose recorded: no reading can be called pre-dose")
    before = [r for r in _valid(rows) if r["t"] <= dose_t]
    if not before:
        return BloodPressure(value=None, source="no valid cuff reading before the dose")
    return BloodPressure(value=_cuff(before[-1], dose_t), source="the last valid cuff reading before the dose")


def around(rows: Sequence[dict[str, Any]], dose_t: float | None, rules: RuleSet) -> BloodPressure:
    required = rules.schedule.required_reading
    if required is None:
        return BloodPressure(value=None, source="the rules file's schedule sets no required reading")
    window = f"{required.at_min:g} ± {required.window_min:g} min after the dose (the rules' schedule)"
    if dose_t is None:
        return BloodPressure(value=None, source=f"no dose recorded: no reading can be {window}")
    at = dose_t + required.at_min * 60
    inside = [r for r in _valid(rows) if abs(r["t"] - at) <= required.window_min * 60]
    if not inside:
        return BloodPressure(value=None, source=f"no valid cuff reading {window}")
    best = min(inside, key=lambda r: (abs(r["t"] - at), r["t"]))
    return BloodPressure(value=_cuff(best, dose_t), source=f"the valid cuff reading nearest {window}")


def at_end(rows: Sequence[dict[str, Any]], dose_t: float | None, ended: bool) -> BloodPressure:
    valid = _valid(rows)
    if dose_t is not None:
        valid = [r for r in valid if r["t"] > dose_t]
    if not valid:
        return BloodPressure(value=None, source="no valid cuff reading after the dose")
    source = ("the last valid cuff reading before the session ended" if ended
              else "the last valid cuff reading so far (the session has not ended)")
    return BloodPressure(value=_cuff(valid[-1], dose_t), source=source)


def judge(bp: BloodPressure, rules: RuleSet, phase: Literal["pre_dose", "post_dose"],
          baseline: dict[str, float | None] | None) -> Judgement:
    """Acceptable when no enabled cuff rule of the phase holds on the reading (pre-dose: the gates,
    G1/G2 by default; at the end: the post-dose cuff rules, relative ones against the baseline
    capped as the alarm engine caps it)."""
    if bp.value is None:
        return Judgement(acceptable=None, source=f"not judged: {bp.source}")
    values = {"SBP": bp.value.sys, "DBP": bp.value.dia, "MAP": bp.value.map}
    capped = None
    if baseline is not None:
        caps = rules.baseline.caps
        capped = {p: (min(v, caps[p]) if v is not None and p in caps else v) for p, v in baseline.items()}
    phases = {"pre_dose"} if phase == "pre_dose" else {"any", "post_dose"}
    checked, held = [], []
    for rule in rules.active():
        if not rule.on_cuff or rule.phase not in phases or rule.when is None:
            continue
        checked.append(rule.id)
        holds, term = rule.when.evaluate(values, capped)
        if holds:
            held.append(f"{rule.id} {rule.title}: {term.describe(values.get(term.param), capped) if term else ''}")
    names = ", ".join(checked) or "none"
    return Judgement(acceptable=not held, held=held,
                     source=f"the reading against the rules file's cuff rules ({names})")


def monitored(first: float | None, last: float | None) -> Minutes:
    if first is None or last is None:
        return Minutes(value=None, source="no readings stored")
    return Minutes(value=round((last - first) / 60, 1),
                   source="from the first to the last reading stored, on the session's clock")


def events(observations: Sequence[dict[str, Any]], alarms: Sequence[dict[str, Any]]) -> list[Event]:
    """Sedation, dissociation and other scored observations as recorded, and every alarm on a
    breathing parameter (SpO2, RR, EtCO2), in time order."""
    out = [Event(kind="observation", t=o["t_device"], text=f"{o['scale']} {o['score']:g}"
                 + (f" ({o['note']})" if o.get("note") else ""), source=f"observation by {o['by']}")
           for o in observations]
    out += [Event(kind="breathing", t=a["onset"], text=f"{a['rule']} {a['title']}: {a['message']}",
                  source=f"{a['priority']} alarm")
            for a in alarms if a.get("param") in BREATHING_PARAMS and a.get("kind") == "physiological"]
    return sorted(out, key=lambda e: e.t)


def form(rows: Sequence[dict[str, Any]], dose_t: float | None, ended: bool, rules: RuleSet,
         baseline: dict[str, float | None] | None, first: float | None, last: float | None,
         observations: Sequence[dict[str, Any]], alarms: Sequence[dict[str, Any]]) -> RemsForm:
    pre, mid, end = pre_dose(rows, dose_t), around(rows, dose_t, rules), at_end(rows, dose_t, ended)
    return RemsForm(pre_dose_bp=pre, bp_40_min=mid, end_bp=end,
                    pre_dose_acceptable=judge(pre, rules, "pre_dose", None),
                    end_acceptable=judge(end, rules, "post_dose", baseline),
                    total_minutes=monitored(first, last), events=events(observations, alarms))
