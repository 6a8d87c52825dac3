"""The rules file: the clinic's alarm rules, reviewed by its medical director.

The defaults (``default-rules.yaml`` beside this module) follow the rule table of the clinical
basis, each rule keeping its id. A rules file that cannot be used is refused as a whole, with
every problem named by file, line and rule: a half-loaded rule set would silently leave a patient
condition unwatched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts import expression
from alerts.derived import SIGNALS as DERIVED_SIGNALS
from alerts.derived import DerivedPolicy
from alerts.expression import NIBP_PARAMS, Expression

DEFAULT_RULES = Path(__file__).with_name("default-rules.yaml")

Priority = Literal["low", "medium", "high"]
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3}
PREFIX = {"low": "*", "medium": "**", "high": "***"}

# Technical signals a rule may watch instead of a value condition. Each maps to what the
# pipeline reports: a device status code, a failed cuff measurement, or a silent feed.
SIGNALS = {
    "feed_lost": "no data or heartbeat from the monitor",
    "probe_off": "SpO2 probe off or no signal",
    "lead_off": "ECG lead off",
    "nibp_failed": "NIBP measurement failed",
    "sensor_fault": "sensor fault reported by the device",
    "nibp_overdue": "no valid NIBP reading within the schedule (or the required one missed)",
    "device_lost": "the adapter has lost its device (unplugged, silent, unreadable)",
    **DERIVED_SIGNALS,
}
SIGNAL_STATUS_CODES = {
    "probe_off": {"probe_off", "no_signal"},
    "lead_off": {"lead_off"},
    "sensor_fault": {"sensor_fault"},
    "device_lost": {"device_lost"},
}


class RulesError(ValueError):
    """A rules file that was refused; ``str()`` names the file, line and reason of each problem."""


class Escalation(BaseModel):
    """Raise an active alarm's priority when all the given conditions are met."""

    model_config = ConfigDict(extra="forbid")
    to: Priority
    after_s: float = Field(default=0, ge=0)  # the condition has lasted this long
    after_dose_s: float | None = Field(default=None, ge=0)  # ... and it is this long after the dose
    within_dose_s: float | None = Field(default=None, gt=0)  # ... and it began within this of the dose
    after_count: int | None = Field(default=None, ge=2)  # ... or a signal came on this many times running


class UnacknowledgedEscalation(BaseModel):
    """An unacknowledged medium alarm goes to the nurse tier, then becomes high."""

    model_config = ConfigDict(extra="forbid")
    nurse_after_s: float = Field(gt=0)
    high_after_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> UnacknowledgedEscalation:
        if self.high_after_s <= self.nurse_after_s:
            raise ValueError("high_after_s must come after nurse_after_s")
        return self


class Cycle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every_min: float = Field(gt=0)
    until_min: float | None = Field(default=None, gt=0)  # minutes after the dose; None: for ever


class RequiredReading(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at_min: float = Field(gt=0)
    window_min: float = Field(gt=0)


class Schedule(BaseModel):
    """The NIBP cycle a session is held to once the dose is given (rule T3 watches it)."""

    model_config = ConfigDict(extra="forbid")
    nibp: list[Cycle] = Field(min_length=1)
    overdue_grace_min: float = Field(ge=0)
    required_reading: RequiredReading | None = None

    def interval_s(self, minutes_after_dose: float) -> float:
        for cycle in self.nibp:
            if cycle.until_min is None or minutes_after_dose < cycle.until_min:
                return cycle.every_min * 60
        return self.nibp[-1].every_min * 60


class BaselinePolicy(BaseModel):
    """How the pre-dose baseline (``BL.*``) is captured when the dose is marked: the mean of the
    last cuff readings, and the mean of each continuous value over the last minutes."""

    model_config = ConfigDict(extra="forbid")
    window_min: float = Field(gt=0)
    nibp_readings: int = Field(ge=1)


class SignalPolicy(BaseModel):
    """How alarm signals behave once raised (IEC 60601-1-8 inactivation states); the
    responsible organisation's settings, not the user's."""

    model_config = ConfigDict(extra="forbid")
    audio_pause_s: float = Field(gt=0)
    reminder_s: float = Field(gt=0)
    latching_priorities: list[Priority]
    escalation: UnacknowledgedEscalation


class PulseGuard(BaseModel):
    """Pulse-oximetry artifact guard: a reading counts towards the rule's delay only once no
    artifact has been suspected for ``hold_s``: a ``motion`` status, or the gap between ECG heart
    rate and pulse rate departing by more than ``within`` /min from its median over the last
    ``reference_s`` (0: from no gap at all). Bounded: a condition that has held for ``max_s``
    alarms whatever the guard suspects, and so does an SpO2 below ``deep_below`` that has held for
    ``deep_max_s`` (None: unbounded)."""

    model_config = ConfigDict(extra="forbid")
    within: float = Field(gt=0)
    hold_s: float = Field(ge=0)
    reference_s: float = Field(default=0, ge=0)
    max_s: float | None = Field(default=None, gt=0)
    deep_below: float | None = Field(default=None, gt=0)
    deep_max_s: float | None = Field(default=None, gt=0)


class Rule(BaseModel):
    """One alarm rule. Either ``when`` (a value condition) or ``signal`` (a technical one)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

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

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if (self.when is None) == (self.signal is None):
            raise ValueError("a rule needs exactly one of 'when' (a condition) or 'signal'")
        if self.signal is not None and self.signal not in SIGNALS:
            raise ValueError(f"unknown signal {self.signal!r} (known: {', '.join(SIGNALS)})")
        if self.clear is not None and self.when is not None:
            if self.clear.params - self.when.params:
                raise ValueError("'clear' may only name parameters that 'when' names")
        if self.escalate and PRIORITY_RANK[self.escalate.to] <= PRIORITY_RANK[self.priority]:
            raise ValueError("'escalate.to' must be a higher priority than 'priority'")
        return self

    @property
    def on_cuff(self) -> bool:
        """True for rules evaluated on each completed NIBP reading."""
        return self.when is not None and self.when.params <= NIBP_PARAMS


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1]
    signals: SignalPolicy
    schedule: Schedule
    baseline: BaselinePolicy
    derived: DerivedPolicy
    rules: dict[str, Rule]
    source: str = ""

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
            rule = f" rule {loc[1]}:" if len(loc) > 1 and loc[0] == "rules" else ""
            field = ".".join(str(p) for p in loc[2:] if not str(p).startswith("function-"))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: line {line}:{rule} {field + ': ' if field else ''}{msg}")
        raise RulesError("\n".join(problems)) from None
    rules.source = name
    return rules


def _to_python(node: yaml.Node, path: tuple[Any, ...], lines: dict, name: str) -> Any:
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
