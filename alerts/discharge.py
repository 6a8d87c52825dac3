"""Discharge readiness, judged live: clinical basis section 1's criteria, with the thresholds of
the rules file's ``discharge`` section and the route's minimum time of its ``timeline``.

Pure, like the alarm engine: ``readiness`` takes what it judges and the time, reads no clock and
does no I/O, so the room view, the report and a test give the same answer for the same data.
Each criterion is met, unmet or unknown (no data to judge it by), and says why. A session is
ready only when every criterion is met, and never while a medium or high alarm is signalled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from alerts.baseline import CuffReading
from alerts.rules import PRIORITY_RANK, DischargePolicy, Timeline

Status = Literal["met", "unmet", "unknown"]


@dataclass(frozen=True)
class AlarmSpan:
    """An alarm as readiness sees it: its highest priority, when its condition began and ended
    (None: it holds), and whether its signal still waits for a person (latched, unacknowledged)."""

    rule: str
    priority: str
    onset: float
    ended: float | None
    waiting: bool = False


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    status: Status
    why: str


@dataclass(frozen=True)
class Inputs:
    """What readiness is judged on. Times are seconds on the session's (device) clock."""

    dose_t: float | None
    infusion_end_t: float | None
    baseline: Mapping[str, float | None] | None
    cuffs: Sequence[CuffReading]  # valid cuff readings, any order
    spo2: tuple[float, float | None] | None  # (time, value) of the latest SpO2
    alarms: Sequence[AlarmSpan]
    confirmations: Mapping[str, tuple[bool, str]] = field(default_factory=dict)  # key -> (met, note)


@dataclass(frozen=True)
class Readiness:
    criteria: list[Criterion]
    ready: bool
    blocked_by: list[str]  # medium/high alarms signalled now

    @property
    def met(self) -> int:
        return sum(c.status == "met" for c in self.criteria)

    def unmet(self) -> list[Criterion]:
        return [c for c in self.criteria if c.status != "met"]


def _bp(policy: DischargePolicy, x: Inputs, now: float) -> Criterion:
    label = f"BP within {policy.bp_within_pct:g} % of baseline, or falling and stable"
    recent = sorted((c for c in x.cuffs if c.sys is not None and c.t <= now), key=lambda c: c.t)
    if not recent or now - recent[-1].t > policy.bp_max_age_min * 60:
        return Criterion("bp", label, "unknown",
                         f"no cuff reading in the last {policy.bp_max_age_min:g} min")
    last = recent[-1]
    base = x.baseline or {}
    sbp0, dbp0 = base.get("SBP"), base.get("DBP")
    if sbp0 is None:
        return Criterion("bp", label, "unknown", "no baseline blood pressure")
    pct = policy.bp_within_pct * 0.01
    within = [abs(v - b) <= b * pct for v, b in ((last.sys, sbp0), (last.dia, dbp0))
              if v is not None and b is not None]
    shown = f"{last.sys:g}/{last.dia:g}" if last.dia is not None else f"{last.sys:g}"
    if within and all(within):
        return Criterion("bp", label, "met", f"{shown} against baseline {sbp0:g}/{dbp0 or 0:g}")
    after = [c for c in recent if x.dose_t is not None and c.t >= x.dose_t]
    if len(after) >= 2:
        prev = after[-2]
        peak = max(c.sys for c in after if c.sys is not None)
        stable = abs(last.sys - prev.sys) <= policy.bp_stable_mmhg  # type: ignore[operator]
        if stable and last.sys < peak:  # type: ignore[operator]
            return Criterion("bp", label, "met",
                             f"{shown}: falling from {peak:g} and stable (within "
                             f"{policy.bp_stable_mmhg:g} mmHg of the reading before)")
    return Criterion("bp", label, "unmet",
                     f"{shown} is more than {policy.bp_within_pct:g} % from baseline "
                     f"{sbp0:g}/{dbp0 or 0:g}, and not falling and stable")


def _quiet(policy: DischargePolicy, x: Inputs, now: float) -> tuple[Criterion, list[str]]:
    label = f"No medium or high alarm for {policy.quiet_min:g} min"
    serious = [a for a in x.alarms if PRIORITY_RANK.get(a.priority, 0) >= PRIORITY_RANK["medium"]
               and a.rule not in policy.quiet_ignores]
    signalled = sorted({a.rule for a in serious if a.ended is None or a.waiting})
    if signalled:
        return Criterion("quiet", label, "unmet", f"alarm active: {', '.join(signalled)}"), signalled
    since = now - policy.quiet_min * 60
    recent = [a for a in serious if a.ended is not None and a.ended > since]
    if recent:
        last = max(recent, key=lambda a: a.ended or 0)
        left = (last.ended or 0) - since
        return Criterion("quiet", label, "unmet",
                         f"{last.rule} ended {(now - (last.ended or 0)) / 60:.0f} min ago "
                         f"({left / 60:.0f} min to go)"), []
    return Criterion("quiet", label, "met", "none"), []


def _spo2(policy: DischargePolicy, x: Inputs, now: float) -> Criterion:
    label = f"SpO2 at least {policy.spo2_min:g} % (or at baseline)"
    if x.spo2 is None or x.spo2[1] is None or now - x.spo2[0] > policy.spo2_max_age_s:
        return Criterion("spo2", label, "unknown", f"no SpO2 in the last {policy.spo2_max_age_s:g} s")
    value = x.spo2[1]
    if value >= policy.spo2_min:
        return Criterion("spo2", label, "met", f"SpO2 {value:g}")
    base = (x.baseline or {}).get("SpO2")
    if base is not None and value >= base:
        return Criterion("spo2", label, "met", f"SpO2 {value:g}, at its baseline {base:g}")
    return Criterion("spo2", label, "unmet", f"SpO2 {value:g} < {policy.spo2_min:g}")


def _time(timeline: Timeline, x: Inputs, now: float) -> Criterion:
    label = "Minimum time after the dose"
    opens = timeline.discharge_opens(x.dose_t, x.infusion_end_t)
    if opens is None:
        return Criterion("time", label, "unmet", "no dose recorded")
    after = (f"{timeline.discharge_after_infusion_min:g} min after the infusion's end"
             if x.infusion_end_t is not None
             else f"{timeline.discharge_after_dose_min:g} min after the dose")
    if now >= opens:
        return Criterion("time", label, "met", after)
    # Rounded up: the last minute is "1 min to go", never "0 min to go" while still unmet.
    return Criterion("time", label, "unmet", f"{after}: {math.ceil((opens - now) / 60)} min to go")


def readiness(policy: DischargePolicy, timeline: Timeline, x: Inputs, now: float) -> Readiness:
    """The discharge criteria at ``now``; ``timeline`` is the session's route's
    (``Timeline.for_route``)."""
    quiet, blocked = _quiet(policy, x, now)
    criteria = [_bp(policy, x, now), quiet, _spo2(policy, x, now), _time(timeline, x, now)]
    for c in policy.confirmed:
        said = x.confirmations.get(c.key)
        if said is None:
            criteria.append(Criterion(c.key, c.label, "unknown", "not confirmed yet"))
        else:
            met, note = said
            criteria.append(Criterion(c.key, c.label, "met" if met else "unmet",
                                      note or ("confirmed" if met else "confirmed not met")))
    ready = not blocked and all(c.status == "met" for c in criteria)
    return Readiness(criteria, ready, blocked)
