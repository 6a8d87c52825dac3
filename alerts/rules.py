"""The rules file: the clinic's alarm rules, reviewed by its medical director.

The defaults (``default-rules.yaml`` beside this module) follow the rule table of the clinical
basis, each rule keeping its id. A rules file that cannot be used is refused as a whole, with
every problem named by file, line and rule: a half-loaded rule set would silently leave a patient
condition unwatched.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from alerts import expression
from alerts.derived import SIGNALS as DERIVED_SIGNALS
from alerts.derived import DerivedPolicy
from alerts.expression import NIBP_PARAMS, Expression

DEFAULT_RULES = Path(__file__).with_name("default-rules.yaml")

Priority = Literal["low", "medium", "high"]
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3}
PREFIX = {"low": "*", "medium": "**", "high": "***"}  # priority markers of text renderings (the CLI)


def strip_prefix(message: str) -> str:
    """A message without a leading priority marker: alarm logs written before messages were
    plain text carry one ("*** SpO2 84 <= 85")."""
    head, _, rest = message.partition(" ")
    return rest if head and set(head) == {"*"} else message

# Technical signals a rule may watch instead of a value condition. Each maps to what the
# pipeline reports: a device status code, a failed cuff measurement, or a silent feed.
SIGNALS = {
    "feed_lost": "no data or heartbeat from the monitor",
    "no_baseline": "the dose was marked with no pre-dose cuff baseline (baseline-relative limits off)",
    "probe_off": "SpO2 probe off or no signal",
    "lead_off": "ECG lead off",
    "nibp_failed": "NIBP measurement failed",
    "sensor_fault": "sensor fault reported by the device",
    "nibp_overdue": "no valid NIBP reading within the schedule (or the required one missed)",
    "device_lost": "the adapter has lost its device (unplugged, silent, unreadable)",
    "delivery_failed": "an alarm's notice could not be delivered to a recipient, or reached nobody",
    "channel_down": "a notification channel fails or does not answer",
    "nurse_device_lapsed": "an installed nurse view is not heard from, or its push subscription lapsed",
    "cluster_degraded": "the bus between the site's instances is lost: their dashboards no longer see each other's rooms",
    "site_link_lost": "every monitor of a site has gone silent or disconnected: the site's link, not one monitor",
    **DERIVED_SIGNALS,
}
SIGNAL_STATUS_CODES = {
    "probe_off": {"probe_off", "no_signal"},
    "lead_off": {"lead_off"},
    "sensor_fault": {"sensor_fault"},
    "device_lost": {"device_lost"},
}


# Supervision the server depends on: a rules file without these, or with them switched off, would
# let a dead monitor (T4) or a device lost behind a live adapter (T5) look like a quiet patient.
# The server runs T4 by its id, so the id is part of the requirement.
REQUIRED = {"T4": "feed_lost", "T5": "device_lost"}
# ... and they may not be weakened into silence either: a supervision alarm at low priority, or
# one that waits longer than this before it is raised, is refused like a missing one. (A safety
# bound on what a clinic may configure, not a clinical default: the defaults are 10 s and 2 s.)
SUPERVISION_LEAST_PRIORITY = "medium"
SUPERVISION_MAX_DELAY_S = 45.0
Kind = Literal["physiological", "technical"]
ChainStep = Literal["primary", "backup", "clinician", "everyone"]  # alerts.delivery.wire.CHAIN
CHAIN_STEPS: tuple[ChainStep, ...] = ("primary", "backup", "clinician", "everyone")


class RulesError(ValueError):
    """A rules file that was refused; ``str()`` names the file, line and reason of each problem."""


# Contradictory limits. A term "PARAM > x" bounds PARAM from below, "PARAM < x" from above. Two
# limits compare only when both are absolute, or both relative to the same baseline value in the
# same way (BL.SBP + 35 against BL.SBP + 40; BL.SBP * 0.7 against BL.SBP * 0.8).

def _key(term: expression.Term) -> tuple[str, str | None]:
    return ("abs", None) if term.base is None else ("mul" if term.how == "*" else "add", term.base)


def _at(term: expression.Term) -> float:
    return -term.limit if term.base is not None and term.how == "-" else term.limit


def _text(term: expression.Term) -> str:
    if term.base is None:
        return f"{term.param} {term.op} {term.limit:g}"
    return f"{term.param} {term.op} BL.{term.base} {term.how} {term.limit:g}"


def _pairs(a: Expression, b: Expression, a_ops: str,
           b_ops: str) -> Iterator[tuple[expression.Term, expression.Term]]:
    """Pairs of comparable terms on one parameter: one of ``a`` with an operator starting with a
    character of ``a_ops``, one of ``b`` likewise."""
    for x in a.terms:
        for y in b.terms:
            if (x.param == y.param and _key(x) == _key(y)
                    and x.op[0] in a_ops and y.op[0] in b_ops):
                yield x, y


def _check_bounds(expr: Expression) -> None:
    """An ``or`` whose low limit lies above its high limit on the same parameter holds always
    (``HR < 130 or HR > 120``); an ``and`` whose lower bound lies above its upper one never holds
    (``HR > 130 and HR < 120``). Either is a typing mistake that would alarm for ever, or never."""
    if expr.joiner == "or":
        for lo, hi in _pairs(expr, expr, "<", ">"):
            a, b = _at(lo), _at(hi)
            if a > b or (a == b and "=" in lo.op + hi.op):
                raise ValueError(
                    f"'{_text(lo)} or {_text(hi)}' holds for every {lo.param} value (the low limit is "
                    f"not below the high limit): the condition would always hold")
    else:
        for floor, ceiling in _pairs(expr, expr, ">", "<"):
            a, b = _at(floor), _at(ceiling)
            if a > b or (a == b and not ("=" in floor.op and "=" in ceiling.op)):
                raise ValueError(
                    f"'{_text(floor)} and {_text(ceiling)}' holds for no {floor.param} value (the lower "
                    f"bound is above the upper bound): the condition could never hold")


def _check_hysteresis(when: Expression, clear: Expression) -> None:
    """Clearing must lie on the safe side of raising: a value that meets ``when`` must not also
    meet ``clear`` on the same limit (``when: HR > 120`` with ``clear: HR < 125`` would raise and
    clear on every reading of 122)."""
    for w, c in _pairs(when, clear, ">", "<"):  # alarm above w, clears below c
        if _at(c) > _at(w) or (_at(c) == _at(w) and "=" in w.op and "=" in c.op):
            raise ValueError(
                f"'{_text(c)}' clears on values that '{_text(w)}' raises on: the clear limit must be "
                f"at or below the raise limit (hysteresis, not overlap)")
    for w, c in _pairs(when, clear, "<", ">"):  # alarm below w, clears above c
        if _at(c) < _at(w) or (_at(c) == _at(w) and "=" in w.op and "=" in c.op):
            raise ValueError(
                f"'{_text(c)}' clears on values that '{_text(w)}' raises on: the clear limit must be "
                f"at or above the raise limit (hysteresis, not overlap)")


def _supervision(rs: RuleSet) -> list[tuple[tuple[Any, ...], str]]:
    """The required supervision rules (``REQUIRED``) that are missing, changed or switched off,
    each with where in the file it is and why it is refused."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    for rule_id, signal in REQUIRED.items():
        rule = rs.rules.get(rule_id)
        why = f"({SIGNALS[signal]}) is required supervision"
        if rule is None:
            problems.append((("rules",), f"rule {rule_id} {why} and is missing"))
        elif rule.signal != signal:
            problems.append((("rules", rule_id), f"rule {rule_id} {why}: it must watch signal '{signal}'"))
        elif not rule.enabled:
            problems.append((("rules", rule_id, "enabled"), f"rule {rule_id} {why} and cannot be disabled"))
        elif PRIORITY_RANK[rule.priority] < PRIORITY_RANK[SUPERVISION_LEAST_PRIORITY]:
            problems.append((("rules", rule_id, "priority"),
                             f"rule {rule_id} {why}: its priority must be at least {SUPERVISION_LEAST_PRIORITY}"))
        elif rule.delay_s > SUPERVISION_MAX_DELAY_S:
            problems.append((("rules", rule_id, "delay_s"),
                             f"rule {rule_id} {why}: its delay may be at most {SUPERVISION_MAX_DELAY_S:g} s"))
    return problems


class Escalation(BaseModel):
    """Raise an active alarm's priority when all the given conditions are met."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    to: Priority
    after_s: float = Field(default=0, ge=0)  # the condition has lasted this long
    after_dose_s: float | None = Field(default=None, ge=0)  # ... and it is this long after the dose
    within_dose_s: float | None = Field(default=None, gt=0)  # ... and it began within this of the dose
    after_count: int | None = Field(default=None, ge=2)  # ... or a signal came on this many times running


class UnacknowledgedEscalation(BaseModel):
    """An unacknowledged medium alarm goes to the nurse tier, then becomes high, if its rule is of
    one of ``high_kinds``. Technical alarms climb only by their own rule's ``escalate``: a probe
    off or an overdue cuff reading turning red teaches staff that red can wait."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    nurse_after_s: float = Field(gt=0)
    high_after_s: float = Field(gt=0)
    high_kinds: list[Kind] = Field(default_factory=lambda: list[Kind](["physiological"]))

    @model_validator(mode="after")
    def _order(self) -> UnacknowledgedEscalation:
        if self.high_after_s <= self.nurse_after_s:
            raise ValueError("high_after_s must come after nurse_after_s")
        return self


class Cycle(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    every_min: float = Field(gt=0)
    until_min: float | None = Field(default=None, gt=0)  # minutes after the dose; None: for ever


class RequiredReading(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    at_min: float = Field(gt=0)
    window_min: float = Field(gt=0)


class Schedule(BaseModel):
    """The NIBP cycle a session is held to once the dose is given (rule T3 watches it)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    nibp: list[Cycle] = Field(min_length=1)
    overdue_grace_min: float = Field(ge=0)
    required_reading: RequiredReading | None = None
    # The time a repeat reading that a cuff rule asks for (``repeat_within_s``) may take beyond the
    # rule's own interval: starting the cuff and its measurement.
    repeat_grace_s: float = Field(default=0, ge=0)

    def interval_s(self, minutes_after_dose: float) -> float:
        for cycle in self.nibp:
            if cycle.until_min is None or minutes_after_dose < cycle.until_min:
                return cycle.every_min * 60
        return self.nibp[-1].every_min * 60


class Phase(BaseModel):
    """A phase of the session, from ``from_min`` minutes after the dose."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    key: str = Field(pattern=r"^[a-z][a-z_-]*$")
    label: str = Field(min_length=1)
    from_min: float = Field(ge=0)


Route = Literal["iv", "im", "sublingual", "intranasal", "oral"]  # app.record.Route


class RouteTimeline(BaseModel):
    """A route's own timeline, where it differs from the default: its phases, and when its
    discharge window opens. A field left out is the default timeline's."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    phases: list[Phase] | None = Field(default=None, min_length=1)
    discharge_after_dose_min: float | None = Field(default=None, gt=0)
    discharge_after_infusion_min: float | None = Field(default=None, gt=0)


def _check_phases(phases: list[Phase], discharge_after_dose_min: float) -> None:
    starts = [p.from_min for p in phases]
    if starts != sorted(starts) or len(set(starts)) != len(starts):
        raise ValueError("phases must be in order of from_min, each starting after the one before")
    if starts[0] != 0:
        raise ValueError("the first phase starts at the dose (from_min: 0)")
    if len({p.key for p in phases}) != len(phases):
        raise ValueError("phase keys must differ")
    if discharge_after_dose_min <= starts[-1]:
        raise ValueError("discharge_after_dose_min must come after the last phase starts")


class Timeline(BaseModel):
    """The session's phases by minutes after the dose ("pre-dose" before it is implied), and when
    the discharge window opens: ``discharge_after_dose_min`` after the dose, or
    ``discharge_after_infusion_min`` after the end of an infusion when one is marked (or planned:
    a dose given over ``infusion_min``). ``routes``: a route's own phases and minimum times
    (clinical basis section 1: IV 60 min after the infusion ends, esketamine 120 min after the
    dose); ``for_route`` gives the timeline a session of that route is held to."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    phases: list[Phase] = Field(min_length=1)
    pre_dose_label: str = Field(min_length=1)
    discharge_label: str = Field(min_length=1)
    discharge_after_dose_min: float = Field(gt=0)
    discharge_after_infusion_min: float = Field(gt=0)
    routes: dict[Route, RouteTimeline] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _order(self) -> Timeline:
        _check_phases(self.phases, self.discharge_after_dose_min)
        for route, own in self.routes.items():
            try:
                _check_phases(own.phases or self.phases,
                              own.discharge_after_dose_min or self.discharge_after_dose_min)
            except ValueError as e:
                raise ValueError(f"routes.{route}: {e}") from None
        return self

    def for_route(self, route: str | None) -> Timeline:
        """The timeline of a session given by ``route`` (None, or a route without its own: this
        one), with no ``routes`` of its own."""
        own = self.routes.get(route) if route is not None else None  # type: ignore[call-overload]
        if own is None:
            return self.model_copy(update={"routes": {}})
        return Timeline.model_construct(
            phases=own.phases or self.phases, pre_dose_label=self.pre_dose_label,
            discharge_label=self.discharge_label,
            discharge_after_dose_min=own.discharge_after_dose_min or self.discharge_after_dose_min,
            discharge_after_infusion_min=(own.discharge_after_infusion_min
                                          or self.discharge_after_infusion_min),
            routes={})

    def discharge_opens(self, dose_t: float | None, infusion_end_t: float | None) -> float | None:
        """When the discharge window opens (seconds, the session's clock): after the infusion's
        end when there is one, else after the dose; None before the dose."""
        if dose_t is None:
            return None
        if infusion_end_t is not None:
            return infusion_end_t + self.discharge_after_infusion_min * 60
        return dose_t + self.discharge_after_dose_min * 60

    def phase_at(self, dose_t: float | None, infusion_end_t: float | None, now: float) -> str:
        """The key of the phase at ``now``: "pre-dose", a phase's key, or "discharge"."""
        opens = self.discharge_opens(dose_t, infusion_end_t)
        if dose_t is None or opens is None:
            return "pre-dose"
        if now >= opens:
            return "discharge"
        key = self.phases[0].key
        for p in self.phases:
            if (now - dose_t) / 60 >= p.from_min:
                key = p.key
        return key


class BaselinePolicy(BaseModel):
    """How the pre-dose baseline (``BL.*``) is captured when the dose is marked: the mean of the
    last cuff readings, and the mean of each continuous value over the last minutes."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    window_min: float = Field(gt=0)
    nibp_readings: int = Field(ge=1)
    # Upper bounds of a usable resting cuff pressure: relative cuff limits (BL.SBP * 0.7, BL.SBP +
    # 40) take the baseline capped at these, so a hypertensive check-in reading cannot turn normal
    # pressures into a "fall from baseline". The captured baseline itself is kept as measured.
    caps: dict[str, float] = Field(default_factory=dict)
    # The protocol of a checked-in session (clinical basis section 1: "5 min rest, BP twice"):
    # ``rest_min`` of rest from the check-in, then ``nibp_readings`` cuff readings whose mean is
    # the baseline, captured as the last one comes. A reading outside ``plausible`` (each
    # parameter's [low, high]) is no resting reference (a cuff artifact, a cuff on a moving arm):
    # the baseline is shown as implausible and the protocol waits for further readings.
    rest_min: float = Field(default=5, ge=0)
    plausible: dict[str, tuple[float, float]] = Field(default_factory=dict)

    @field_validator("plausible")
    @classmethod
    def _ranges(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for param, (low, high) in v.items():
            if param not in NIBP_PARAMS:
                raise ValueError(f"plausible ranges apply to cuff pressures "
                                 f"({', '.join(sorted(NIBP_PARAMS))}), not {param!r}")
            if not low < high:
                raise ValueError(f"plausible.{param}: the low end {low:g} must be below the high end {high:g}")
        return v

    @field_validator("caps")
    @classmethod
    def _cuff_only(cls, v: dict[str, float]) -> dict[str, float]:
        for param, cap in v.items():
            if param not in NIBP_PARAMS:
                raise ValueError(f"caps apply to cuff pressures ({', '.join(sorted(NIBP_PARAMS))}), not {param!r}")
            if not cap > 0:
                raise ValueError(f"cap for {param} must be above 0, not {cap}")
        return v


class Confirmed(BaseModel):
    """A discharge criterion a person confirms (``Confirmation`` entries of the record)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    key: str = Field(pattern=r"^[a-z][a-z_]*$", max_length=32)
    label: str = Field(min_length=1)


class DischargePolicy(BaseModel):
    """Discharge readiness (``alerts.discharge``; clinical basis section 1): the blood pressure
    within ``bp_within_pct`` of the baseline, or falling and stable (the last two readings within
    ``bp_stable_mmhg`` of each other, below the highest since the dose); no medium or high alarm
    for ``quiet_min`` (but the rules of ``quiet_ignores``: alarms about the system, not the
    patient); SpO2 at least ``spo2_min`` (or at the baseline's); the route's minimum time after
    the dose (``timeline``); and the criteria people confirm. A cuff reading older than
    ``bp_max_age_min``, an SpO2 older than ``spo2_max_age_s``, says nothing (unknown)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    bp_within_pct: float = Field(gt=0)
    bp_stable_mmhg: float = Field(ge=0)
    bp_max_age_min: float = Field(gt=0)
    quiet_min: float = Field(ge=0)
    quiet_ignores: list[str] = Field(default_factory=list)
    spo2_min: float = Field(gt=0)
    spo2_max_age_s: float = Field(gt=0)
    confirmed: list[Confirmed] = Field(default_factory=list)

    @field_validator("confirmed")
    @classmethod
    def _distinct(cls, v: list[Confirmed]) -> list[Confirmed]:
        if len({c.key for c in v}) != len(v):
            raise ValueError("confirmed criteria keys must differ")
        return v


class Scale(BaseModel):
    """A clinical scale observations are scored on (docs/scales.md): its range and step."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    label: str = Field(min_length=1)
    kind: Literal["sedation", "dissociation", "other"]
    min: float
    max: float
    step: float = Field(default=1, gt=0)
    reference: str = ""

    @model_validator(mode="after")
    def _range(self) -> Scale:
        if not self.min < self.max:
            raise ValueError(f"min {self.min:g} must be below max {self.max:g}")
        return self

    def refusal(self, score: float) -> str:
        """"" if ``score`` is on this scale, else why not."""
        if not self.min <= score <= self.max:
            return f"{score:g} is outside {self.label}'s range {self.min:g}-{self.max:g}"
        steps = (score - self.min) / self.step
        if abs(steps - round(steps)) > 1e-9:
            return f"{score:g} is not a step of {self.step:g} on {self.label}"
        return ""


class DocumentationPolicy(BaseModel):
    """What the session record holds and who signs it: the scales observations are scored on,
    the pre-dose gates (rules whose active alarm refuses a dose without a sign-off), the roles
    that may sign off, the esketamine nasal devices' schedule, and how far ahead of the session's
    clock an entry may be dated (``ahead_max_min``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    scales: dict[str, Scale] = Field(min_length=1)
    dose_gates: list[str] = Field(min_length=1)
    sign_off_roles: list[str] = Field(min_length=1)
    esketamine_devices: int = Field(ge=1, le=3)
    esketamine_device_every_min: float = Field(gt=0)
    ahead_max_min: float = Field(default=60, gt=0)


class SignalPolicy(BaseModel):
    """How alarm signals behave once raised (IEC 60601-1-8 inactivation states); the
    responsible organisation's settings, not the user's."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    audio_pause_s: float = Field(gt=0)
    reminder_s: float = Field(gt=0)
    latching_priorities: list[Priority]
    escalation: UnacknowledgedEscalation


class DeliveryPolicy(BaseModel):
    """Who is told of an alarm, and when (``alerts.delivery.chain``). ``steps``: for each priority,
    the seconds after an alarm is raised (or re-sounds unacknowledged) at which each step of the
    chain is told while nobody has acknowledged it; a step left out is never told at that
    priority. Site destinations (an alarm manager, a webhook) get every alarm at once."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    steps: dict[Priority, dict[ChainStep, float]]
    send_timeout_s: float = Field(gt=0)  # a channel that has not answered by then has failed
    retries: int = Field(ge=0)  # further tries of a send that failed for a reason that may pass
    retry_backoff_s: float = Field(gt=0)  # the first retry's wait, doubling after each
    device_heartbeat_s: float = Field(gt=0)  # an installed nurse view silent this long has lapsed
    ack_link_ttl_s: float = Field(gt=0)  # how long a notification's acknowledge link stays valid
    probe_s: float = Field(gt=0)  # how often a site channel that can be probed (an alarm manager) is
    # How long a push service may hold a Web Push message for a phone it cannot reach, per
    # priority (RFC 8030 TTL): past it the message is dropped rather than shown late.
    push_ttl_s: dict[Priority, int]

    @model_validator(mode="after")
    def _chain_order(self) -> DeliveryPolicy:
        for priority, steps in self.steps.items():
            if "primary" not in steps:
                raise ValueError(f"steps.{priority}: the primary nurse must be told")
            delays = [steps[s] for s in CHAIN_STEPS if s in steps]
            if any(d < 0 for d in delays):
                raise ValueError(f"steps.{priority}: a delay cannot be negative")
            if delays != sorted(delays):
                raise ValueError(f"steps.{priority}: the steps must come in chain order "
                                 f"({' -> '.join(CHAIN_STEPS)})")
        for priority in ("low", "medium", "high"):
            if priority not in self.push_ttl_s:
                raise ValueError(f"push_ttl_s.{priority}: missing")
            if self.push_ttl_s[priority] < 0:
                raise ValueError(f"push_ttl_s.{priority}: cannot be negative")
        for priority in ("medium", "high"):
            if priority not in self.steps:
                raise ValueError(f"steps.{priority}: missing: {priority} alarms must reach someone")
        return self


class PulseGuard(BaseModel):
    """Pulse-oximetry artifact guard: a reading counts towards the rule's delay only once no
    artifact has been suspected for ``hold_s``: a ``motion`` status, or the gap between ECG heart
    rate and pulse rate departing by more than ``within`` /min from its median over the last
    ``reference_s`` (0: from no gap at all). Bounded: a condition that has held for ``max_s``
    alarms whatever the guard suspects, and so does an SpO2 below ``deep_below`` that has held for
    ``deep_max_s`` (None: unbounded). A gap that is itself irregular over the reference window
    (median absolute deviation over ``irregular_s`` above ``irregular_mad``, as in atrial fibrillation, where a varying
    share of beats makes no pulse) is no evidence of motion: then only a ``motion`` status is."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    within: float = Field(gt=0)
    hold_s: float = Field(ge=0)
    reference_s: float = Field(default=0, ge=0)
    irregular_mad: float | None = Field(default=None, gt=0)
    irregular_s: float = Field(default=0, ge=0)
    max_s: float | None = Field(default=None, gt=0)
    deep_below: float | None = Field(default=None, gt=0)
    deep_max_s: float | None = Field(default=None, gt=0)


class Rule(BaseModel):
    """One alarm rule. Either ``when`` (a value condition) or ``signal`` (a technical one)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True)

    id: str
    title: str
    kind: Literal["physiological", "technical"]
    priority: Priority
    when: Expression | None = None
    signal: str | None = None
    message: str = ""
    # Continuous parameters: the condition must hold this long before it alarms (persistence),
    # and the clear condition must hold ``clear_for_s`` before it ends (hysteresis).
    delay_s: float = Field(default=0, ge=0)
    clear: Expression | None = None
    clear_for_s: float = Field(default=0, ge=0)
    # Cuff pressures arrive as single readings, so persistence is counted in readings.
    confirm_readings: int = Field(default=1, ge=1)
    confirm_min_apart_s: float = Field(default=0, ge=0)
    confirm_unless: Expression | None = None
    clear_readings: int = Field(default=1, ge=1)
    # Cuff rules: a repeat reading is expected this long after a reading that needs confirming (or
    # after an alarm raised on one reading). Missed, plus the schedule's grace: an unconfirmed
    # condition is raised on what it has, and T3 (NIBP overdue) says the repeat is missing.
    repeat_within_s: float | None = Field(default=None, gt=0)
    escalate: Escalation | None = None
    latching: bool | None = None  # None: as signals.latching_priorities says for its priority
    pulse_guard: PulseGuard | None = None
    # pre_dose: the gates before dosing (evaluated until the dose is marked); post_dose: after it
    phase: Literal["any", "pre_dose", "post_dose"] = "any"
    # Ground-truth labels (from a simulator or an annotator) of the events this rule is meant to
    # catch: how `vitalwatch evaluate` tells a true alarm from a non-actionable one.
    detects: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("when", "clear", "confirm_unless", mode="before")
    @classmethod
    def _parse(cls, v: Any) -> Any:
        return expression.parse(v) if v is not None else None

    @field_validator("when", "clear", "confirm_unless")
    @classmethod
    def _consistent(cls, v: Expression | None) -> Expression | None:
        if v is not None:
            _check_bounds(v)
        return v

    @field_validator("clear")
    @classmethod
    def _safe_side(cls, v: Expression | None, info: ValidationInfo) -> Expression | None:
        when = info.data.get("when")
        if v is not None and when is not None:
            _check_hysteresis(when, v)
        return v

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if (self.when is None) == (self.signal is None):
            raise ValueError("a rule needs exactly one of 'when' (a condition) or 'signal'")
        if self.signal is not None and self.signal not in SIGNALS:
            raise ValueError(f"unknown signal {self.signal!r} (known: {', '.join(SIGNALS)})")
        if self.clear is not None and self.when is not None and self.clear.params - self.when.params:
            raise ValueError("'clear' may only name parameters that 'when' names")
        if self.escalate and PRIORITY_RANK[self.escalate.to] <= PRIORITY_RANK[self.priority]:
            raise ValueError("'escalate.to' must be a higher priority than 'priority'")
        return self

    @model_validator(mode="after")
    def _cuff_clock(self) -> Rule:
        if self.repeat_within_s is not None:
            if not self.on_cuff:
                raise ValueError("'repeat_within_s' applies to cuff rules (SBP, DBP, MAP) only")
            if self.repeat_within_s < self.confirm_min_apart_s:
                raise ValueError(
                    f"'repeat_within_s' ({self.repeat_within_s:g}) is shorter than 'confirm_min_apart_s' "
                    f"({self.confirm_min_apart_s:g}): no repeat could confirm before its deadline")
        return self

    @cached_property  # asked on every reading; a rule is never changed in place (changes make new rules)
    def on_cuff(self) -> bool:
        """True for rules evaluated on each completed NIBP reading."""
        return self.when is not None and self.when.params <= NIBP_PARAMS


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    version: Literal[1]
    signals: SignalPolicy
    schedule: Schedule
    timeline: Timeline
    delivery: DeliveryPolicy
    baseline: BaselinePolicy
    discharge: DischargePolicy
    documentation: DocumentationPolicy
    derived: DerivedPolicy
    rules: dict[str, Rule]
    source: str = ""

    @model_validator(mode="after")
    def _gates_known(self) -> RuleSet:
        for gate in self.documentation.dose_gates:
            rule = self.rules.get(gate)
            if rule is None or rule.phase != "pre_dose":
                raise ValueError(f"documentation.dose_gates: {gate!r} is not a pre_dose rule")
        for rule_id in self.discharge.quiet_ignores:
            if rule_id not in self.rules:
                raise ValueError(f"discharge.quiet_ignores: no rule {rule_id!r}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _ids(cls, data: Any) -> Any:
        # The id is the mapping key; copy it into each rule so a rule knows its own name.
        if isinstance(data, dict) and isinstance(data.get("rules"), dict):
            data = dict(data)
            data["rules"] = {
                k: ({**v, "id": k} if isinstance(v, dict) else v) for k, v in data["rules"].items()
            }
        return data

    def active(self) -> list[Rule]:
        return [r for r in self.rules.values() if r.enabled]

    def with_overrides(self, overrides: dict[str, dict[str, Any]]) -> RuleSet:
        """This rule set with some rules' fields changed (a session's own limits). Raises
        RulesError naming the rule and field of a change that is not valid."""
        data = self.model_dump(mode="python", exclude={"source"})
        for rule_id, change in overrides.items():
            if rule_id not in data["rules"]:
                raise RulesError(f"no rule {rule_id!r} to change")
            bad = set(change) & {"id", "kind", "signal"}
            if bad:
                raise RulesError(f"rule {rule_id}: {', '.join(sorted(bad))} cannot be changed per session")
            data["rules"][rule_id].update(change)
        for rule in data["rules"].values():
            for key in ("when", "clear", "confirm_unless"):
                if rule.get(key) is not None and not isinstance(rule[key], str):
                    rule[key] = rule[key]["text"] if isinstance(rule[key], dict) else rule[key].text
        try:
            out = RuleSet.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err["loc"][1:] if not str(p).startswith("function-"))
            raise RulesError(f"rule {loc}: {err['msg'].removeprefix('Value error, ')}") from None
        if problems := _supervision(out):
            raise RulesError("; ".join(msg for _, msg in problems))
        out.source = f"{self.source} + session changes"
        return out

    def latches(self, rule: Rule, priority: str) -> bool:
        return rule.latching if rule.latching is not None else priority in self.signals.latching_priorities


def load(path: str | Path | None = None) -> RuleSet:
    """Load and check a rules file (the defaults when ``path`` is None). Raises RulesError."""
    path = Path(path) if path is not None else DEFAULT_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError(f"{path}: cannot read the rules file: {e.strerror}") from None
    return loads(text, str(path))


def loads(text: str, name: str = "<rules>") -> RuleSet:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise RulesError(f"{name}: {where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if node is None:
        raise RulesError(f"{name}: line 1: the rules file is empty")
    lines: dict[tuple[Any, ...], int] = {}
    data = _to_python(node, (), lines, name)
    try:
        rules = RuleSet.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(err["loc"])
            line = _line_of(loc, lines)
            in_rule = len(loc) > 1 and loc[0] == "rules"
            rule = f" rule {loc[1]}:" if in_rule else ""
            field = ".".join(str(p) for p in loc[2 if in_rule else 0:] if not str(p).startswith("function-"))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: line {line}:{rule} {field + ': ' if field else ''}{msg}")
        raise RulesError("\n".join(problems)) from None
    if missing := _supervision(rules):
        raise RulesError("\n".join(f"{name}: line {_line_of(loc, lines)}: {msg}" for loc, msg in missing))
    rules.source = name
    return rules


def _to_python(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], name: str) -> Any:
    """Build plain data from YAML nodes, remembering the line of every path (for error messages)
    and refusing duplicate keys, which plain YAML loading would silently let override."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k_node, v_node in node.value:
            key = k_node.value
            if key in out:
                raise RulesError(f"{name}: line {k_node.start_mark.line + 1}: duplicate key {key!r}")
            out[key] = _to_python(v_node, path + (key,), lines, name)
            lines[path + (key,)] = k_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(n, path + (i,), lines, name) for i, n in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1
