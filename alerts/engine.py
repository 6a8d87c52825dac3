"""Alarm conditions: which rules hold, from the readings of one session.

Theory of operation. Each rule has a condition state (``Phase``), one of:

    IDLE ──holds──▶ PENDING ──raise (held for its delay / confirmed)──▶ ACTIVE
      ▲               │  ▲                                                │
      └───lapse───────┘  └─restart (onset moved)      escalate (priority)─┤
      └───────────────────────clear (clear condition held: hysteresis)────┘
    IDLE / PENDING / ACTIVE ─restore─▶ ACTIVE (an alarm put back after a server restart)

Rule 1: every change of condition state is a row of ``PHASES``, made by ``_State.move``; nothing
else sets ``phase``, and a pair missing from the table (raising an idle condition, clearing one
that is not active) raises ``IllegalTransition``, as the signal states of ``signal.py`` do.
Only the edges into ``ACTIVE`` (``raised``), a priority raise while active (``escalated``) and the
edge out of it (``cleared``) are reported, as ``Transition`` values. The engine reads no clock and
does no I/O: every call takes the time it happens at, so feeding it the same readings at the same
times gives the same transitions, live or offline.

A session's dose time and pre-dose baseline, once given (``dose``, ``set_baseline``), switch the
pre-dose gates off, the post-dose rules on, and give baseline-relative limits their values.

Cuff confirmations have a clock. A cuff rule with ``repeat_within_s`` expects its repeat reading
that long (plus the schedule's ``repeat_grace_s``) after the first reading of a pending
condition, or after an alarm raised on a single reading. When the deadline passes with no valid
reading, time alone (``tick``) raises the pending condition on the unconfirmed reading and turns
on ``nibp_overdue`` (T3): a hypotension seen once is not left to the next scheduled reading 15 min
later, and a "re-measure now" that is never done is noticed. Cuff time is not trusted backwards:
a reading stamped before the previous one counts on its values, not its time, so a reordering can
neither make two readings look further apart than they were nor move a deadline earlier.

Continuous parameters (HR, SpO2 …) persist by time: a rule's condition must hold on every reading
for ``delay_s``. Cuff pressures come as single readings minutes apart, so cuff rules persist by
count (``confirm_readings``). A reading without a value for a rule's parameters says nothing
about it: a pending condition stays pending (its onset unchanged) through a gap of up to
``derived.blank_tolerance_s`` and starts over after a longer one; an active alarm stays (the
technical alarm for the lost signal is a rule of its own).

What no single reading says — how long a parameter has had no value, the best heart-rate source,
whether anything shows a pulse — is derived in ``derived.py`` and reaches the rules as the
``HRbest`` parameter and as technical signals (``vitals_absent``, ``asystole`` …).

Time may run backwards: readings of two monitors of one room interleave, each stamped by its own
clock. A reading stamped before a pending condition's onset (or before a clear condition began)
moves that start back to its own time, so an elapsed time is never negative and a monitor whose
clock runs ahead cannot hold an alarm back; a reading after more than the blank tolerance without
one starts the condition over, so a stray old time stamp cannot make an alarm early either.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from alerts import derived
from alerts.cadence import Cadence
from alerts.derived import Derived
from alerts.expression import DERIVED_PARAMS, NIBP_PARAMS, PARAMS, Term, Values
from alerts.rules import (
    PRIORITY_RANK,
    SIGNAL_STATUS_CODES,
    Escalation,
    PulseGuard,
    Rule,
    RuleSet,
    strip_prefix,
)
from alerts.signal import IllegalTransition

CONTINUOUS = tuple(p for p in PARAMS if p not in NIBP_PARAMS and p not in DERIVED_PARAMS)
# Technical signals set from derived.py after every input, not straight from one status code.
DERIVED_SIGNALS = frozenset(derived.SIGNALS) | {"lead_off"}
SOURCE = {"PR": "pulse rate: no ECG heart rate", "PLETH": "from the pleth: no ECG or pulse rate"}


class Phase(str, Enum):
    """The condition state of one rule (see the theory of operation above)."""

    IDLE = "idle"
    PENDING = "pending"
    ACTIVE = "active"


class Step(str, Enum):
    HOLDS = "holds"  # the condition starts to hold
    RESTART = "restart"  # a pending condition starts over (its onset moves)
    LAPSE = "lapse"  # it stops holding before it is raised (or a gap too long, or the dose)
    RAISE = "raise"  # held for its delay, confirmed, or overdue: the alarm is raised
    ESCALATE = "escalate"  # an active alarm's priority goes up
    CLEAR = "clear"  # its clear condition has held: the alarm ends
    RESTORE = "restore"  # an alarm signalled before a server restart is put back


# (phase, step) → next phase. Lapsing while idle is allowed (a condition that does not hold, for
# a rule that was not pending, changes nothing); the rest is exactly the diagram.
PHASES: dict[tuple[Phase, Step], Phase] = {
    (Phase.IDLE, Step.HOLDS): Phase.PENDING,
    (Phase.IDLE, Step.LAPSE): Phase.IDLE,
    (Phase.PENDING, Step.RESTART): Phase.PENDING,
    (Phase.PENDING, Step.LAPSE): Phase.IDLE,
    (Phase.PENDING, Step.RAISE): Phase.ACTIVE,
    (Phase.ACTIVE, Step.ESCALATE): Phase.ACTIVE,
    (Phase.ACTIVE, Step.CLEAR): Phase.IDLE,
    (Phase.IDLE, Step.RESTORE): Phase.ACTIVE,
    (Phase.PENDING, Step.RESTORE): Phase.ACTIVE,
    (Phase.ACTIVE, Step.RESTORE): Phase.ACTIVE,
}


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def _negate(holds: bool | None) -> bool | None:
    return None if holds is None else not holds


@dataclass(frozen=True)
class Transition:
    t: float
    rule: str
    event: str  # "raised" | "escalated" | "cleared"
    priority: str
    kind: str  # "physiological" | "technical"
    title: str
    message: str  # "SpO2 84 <= 85": plain text, the priority is its own field
    onset: float  # when the condition began to hold
    delay_s: float  # the condition delay applied (persistence), for disclosure
    value: float | None = None
    limit: float | None = None
    param: str | None = None  # the parameter the rule watches (``rule_param``)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rule_param(rule: Rule) -> str | None:
    """The parameter a rule watches, as a page names it: the first of its ``when`` (a derived one
    under the parameter it stands for: ``HRbest`` is shown as HR); None for a signal rule."""
    if rule.when is None or not rule.when.terms:
        return None
    param = rule.when.terms[0].param
    return DERIVED_PARAMS.get(param, param)


@dataclass
class _State:
    phase: Phase = Phase.IDLE  # set only by ``move``
    onset: float = 0.0
    last_held: float = 0.0  # latest reading on which the pending condition held
    counted_since: float | None = None  # start of the unguarded stretch counting for delay_s
    deep_since: float | None = None  # start of the pending stretch's SpO2 below the guard's deep limit
    readings: list[float] = field(default_factory=list)  # cuff readings confirming `when`
    clear_since: float | None = None
    clear_count: int = 0
    count: int = 0  # how many times running a signal has come on (e.g. failed cuff readings)
    priority: str = ""
    message: str = ""
    value: float | None = None
    limit: float | None = None
    repeat_due: float | None = None  # cuff rules: when the repeat reading asked for is overdue

    def move(self, step: Step, rule: str = "") -> Phase:
        """Take ``step`` by the table; raises IllegalTransition if the table has no such move."""
        target = PHASES.get((self.phase, step))
        if target is None:
            raise IllegalTransition(f"{rule}: a condition that is {self.phase.value} cannot {step.value}")
        self.phase = target
        return target

    def start(self, t: float, rule: str = "") -> None:
        """The condition holds from ``t`` on: idle → pending, or a pending one starting over."""
        self.move(Step.HOLDS if self.phase == Phase.IDLE else Step.RESTART, rule)
        self.onset = t


class AlarmEngine:
    """The alarm conditions of one session under one rule set.

    ``only`` restricts the engine to some rules; the server runs feed supervision (``T4``) in an
    engine of its own because it is judged on the server's clock, not the device's.
    """

    def __init__(self, rules: RuleSet, only: set[str] | None = None) -> None:
        self._only = only
        self.rules = [r for r in rules.active() if only is None or r.id in only]
        self.schedule = rules.schedule
        self._state = {r.id: _State() for r in self.rules}
        self._by_signal = self._signal_rules()
        self._index()
        self.dose_t: float | None = None
        self.baseline: dict[str, float | None] | None = None
        self._last_cuff_ok: float | None = None
        self._cuff_t: float | None = None  # the previous cuff reading's time stamp
        self._latest = -math.inf  # the latest time any input has moved the engine to
        self._no_baseline: bool | None = None  # T9's signal as last set
        self._codes: set[str] = set()  # device status codes active now
        self._artifact: dict[str, float] = {}  # rule id -> last time its pulse guard saw an artifact
        self._gaps: deque[tuple[float, float]] = deque()  # (t, HR - PR): the pulse guard's reference
        self._irregular: dict[float, tuple[float, float]] = {}  # window -> (when, MAD) last worked out
        self._gap_refs: dict[tuple[float, float], tuple[float, float, float]] = {}  # (median, jump, MAD) now
        self.derived = Derived(rules.derived)
        self._hr_source = ""
        self.baseline_policy = rules.baseline
        self._cuffs: list[tuple[float, dict[str, float | None]]] = []
        self._recent: deque[tuple[float, dict[str, float | None]]] = deque()
        self._required_checked = False
        self.cadence = Cadence()  # how often the room's numerics come (a trend: once a minute)

    def replace_rules(self, rules: RuleSet) -> None:
        """Use changed rules from now on (a session's limits edited by a clinician). Conditions
        keep their state; a rule switched off loses its state (its alarm is the caller's to end)."""
        self._no_baseline = None  # a rule switched back on hears its signal again
        self.rules = [r for r in rules.active() if self._only is None or r.id in self._only]
        self._state = {r.id: self._state.get(r.id, _State()) for r in self.rules}
        self._by_signal = self._signal_rules()
        self._index()
        self.schedule = rules.schedule
        self.derived.policy = rules.derived

    def _index(self) -> None:
        """Each rule beside its state, and the rules that time alone can move, worked out once per
        set of rules: ``_progress`` runs on every input (a pleth chunk five times a second), and
        looking each rule's state up by id there was a good part of the engine's time."""
        self._pairs = [(r, self._state[r.id]) for r in self.rules]
        self._delayed = [(r, st) for r, st in self._pairs if r.signal is not None]
        self._escalating = [(r, st, r.escalate) for r, st in self._pairs if r.escalate is not None]

    def _signal_rules(self) -> dict[str, list[Rule]]:
        out: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.signal is not None:
                out.setdefault(rule.signal, []).append(rule)
        return out

    def dose(self, t: float) -> list[Transition]:
        """The dose is given at ``t`` (later doses of the same session, such as the second
        nasal device, change nothing): pre-dose gates stop, post-dose rules and the NIBP schedule
        start, and the baseline is captured from what came before, unless it was set already."""
        if self.dose_t is not None:
            return []
        self.dose_t = t
        if self.baseline is None:
            self.baseline = self.capture_baseline(t)
        out: list[Transition] = []
        for rule in self.rules:  # the pre-dose gates have done their work: their alarms end
            st = self._state[rule.id]
            if rule.phase == "pre_dose" and st.phase == Phase.ACTIVE:
                # Said in the alarm's log entry: the gate's alarm (latching by default) then keeps
                # signalling until a person acknowledges it, instead of ending unseen.
                st.message += " (dose marked while active)"
                self._clear(rule, st, t, out)
                st.repeat_due = None
            elif rule.phase == "pre_dose":
                st.move(Step.LAPSE, rule.id)
                st.readings, st.repeat_due = [], None
        self._progress(t, out)
        return out

    def set_baseline(self, values: Mapping[str, float | None]) -> None:
        """The session's pre-dose baseline (``BL.*`` in the rules)."""
        self.baseline = dict(values)

    def capture_baseline(self, t: float) -> dict[str, float | None]:
        """The baseline as the rules file defines it, from the readings seen up to ``t``: the
        mean of the last cuff readings and of each continuous value over the window."""
        policy = self.baseline_policy
        cuffs = [v for (ct, v) in self._cuffs if ct <= t][-policy.nibp_readings:]
        recent = [v for (vt, v) in self._recent if t - policy.window_min * 60 <= vt <= t]
        out: dict[str, float | None] = {}
        for params, rows in ((("SBP", "DBP", "MAP"), cuffs), (CONTINUOUS, recent)):
            for p in params:
                xs = [x for r in rows if (x := r.get(p)) is not None]
                out[p] = round(sum(xs) / len(xs), 1) if xs else None
        return out

    def _remember(self, t: float, values: Mapping[str, float | None], cuff: bool) -> None:
        # Only what a baseline may need: cuff readings and the last window of numerics, and
        # only until the dose (after it, the baseline is fixed).
        if self.dose_t is not None:
            return
        if cuff:
            self._cuffs.append((t, dict(values)))
            del self._cuffs[:-self.baseline_policy.nibp_readings]
        else:
            self._recent.append((t, dict(values)))
            horizon = t - self.baseline_policy.window_min * 60
            while self._recent and self._recent[0][0] < horizon:
                self._recent.popleft()

    def _applies(self, rule: Rule) -> bool:
        if rule.phase == "pre_dose":
            return self.dose_t is None
        if rule.phase == "post_dose":
            return self.dose_t is not None
        return True

    # Inputs ------------------------------------------------------------------------------

    def numerics(self, t: float, values: Mapping[str, float | None]) -> list[Transition]:
        out: list[Transition] = []
        self._remember(t, values, cuff=False)
        self.cadence.add(t)
        self.derived.numerics(t, values)
        hr, pr = values.get("HR"), values.get("PR")
        if hr is not None and pr is not None:
            self._gaps.append((t, hr - pr))
        horizon = t - max((max(r.pulse_guard.reference_s, r.pulse_guard.irregular_s)
                            for r in self.rules if r.pulse_guard), default=0)
        while self._gaps and self._gaps[0][0] < horizon:
            self._gaps.popleft()
        self._gap_refs = {}
        best, self._hr_source = self.derived.best_heart_rate(t)
        values = {**values, "HRbest": best}
        for rule in self.rules:
            if rule.when is not None and not rule.on_cuff and self._applies(rule):
                self._continuous(rule, t, values, out)
        self._derive(t, out)
        self._progress(t, out)
        return out

    def waveform(self, t: float, wave: str, rate: float, samples: list[float | None]) -> list[Transition]:
        """A chunk of a waveform, its first sample at ``t`` (the pleth is heartbeat evidence;
        the other waves say nothing the rules use, and cost nothing)."""
        out: list[Transition] = []
        if wave != "PLETH":
            return out
        self.derived.waveform(t, wave, rate, samples)
        self._derive(t, out)
        self._progress(t, out)
        return out

    def nibp(self, t: float, ok: bool, values: Mapping[str, float | None]) -> list[Transition]:
        out: list[Transition] = []
        # A reading stamped before the previous one (reordered, or a device clock stepped back):
        # its values are evidence, its time is not. It cannot start or end a confirmation's
        # spacing nor make the schedule think the last reading older than it is. Order is judged
        # against the previous reading only, so one stray stamp decides only its neighbour's.
        in_order = self._cuff_t is None or t >= self._cuff_t
        self._cuff_t, last_ok = t, self._last_cuff_ok
        if ok:
            self._last_cuff_ok = t
            self._remember(t, values, cuff=True)
            for rule in self.rules:
                if rule.on_cuff and self._applies(rule):
                    self._cuff(rule, t, values, out, in_order=in_order)
            self._level(t, "nibp_overdue", False, out)
        self._level(t, "nibp_failed", not ok, out)
        if ok and not in_order and last_ok is not None:
            self._last_cuff_ok = max(last_ok, t)  # a reordered reading does not age the last one
        self._progress(t, out)
        return out

    def status(self, t: float, code: str, active: bool) -> list[Transition]:
        out: list[Transition] = []
        if active:
            self._codes.add(code)
        else:
            self._codes.discard(code)
        self.derived.status(code, active)
        for signal, codes in SIGNAL_STATUS_CODES.items():
            if code in codes and signal not in DERIVED_SIGNALS:
                # A signal fed by several codes (probe off, no signal) is on while any of them is.
                self._level(t, signal, bool(self._codes & codes), out)
        self._derive(t, out)
        self._progress(t, out)
        return out

    def signal(self, t: float, name: str, on: bool) -> list[Transition]:
        """Set a technical signal (e.g. ``feed_lost``) that no device message carries."""
        out: list[Transition] = []
        self._level(t, name, on, out)
        self._progress(t, out)
        return out

    def tick(self, t: float) -> list[Transition]:
        """Let time pass with no new reading (every input does this too)."""
        out: list[Transition] = []
        self._derive(t, out)
        self._progress(t, out)
        return out

    def _derive(self, t: float, out: list[Transition]) -> None:
        """Set the technical signals that derived.py judges (blank monitor, asystole …)."""
        for signal, (on, detail) in self.derived.levels(t).items():
            if signal in self._by_signal:
                self._level(t, signal, on, out, detail)

    def _progress(self, t: float, out: list[Transition]) -> None:
        """What time alone moves on: technical delays, the NIBP schedule, escalations."""
        for rule, st in self._delayed:
            if st.phase == Phase.PENDING and t - st.onset >= rule.delay_s:
                self._raise(rule, st, t, out)
        self._schedule(t, out)
        self._escalate(t, out)

    def _schedule(self, t: float, out: list[Transition]) -> None:
        """NIBP overdue (T3): no valid reading for the schedule's interval plus grace since the
        last one (or the dose), or no valid reading in the window around the required one."""
        self._latest = max(self._latest, t)
        self._repeats(t, out)
        self._baseline_gate(t, out)
        if self.dose_t is None or t < self.dose_t:
            return
        since = max(self._last_cuff_ok or self.dose_t, self.dose_t)
        sched = self.schedule
        due = self.schedule.interval_s((since - self.dose_t) / 60) + sched.overdue_grace_min * 60
        overdue = t - since > due
        req = sched.required_reading
        if req is not None and not self._required_checked:
            window_end = self.dose_t + (req.at_min + req.window_min) * 60
            if t >= window_end:
                self._required_checked = True
                window_start = self.dose_t + (req.at_min - req.window_min) * 60
                if self._last_cuff_ok is None or self._last_cuff_ok < window_start:
                    overdue = True
        if overdue:
            self._level(t, "nibp_overdue", True, out)

    def _repeats(self, t: float, out: list[Transition]) -> None:
        """A repeat reading a cuff rule asked for that has not come by its deadline: the pending
        condition is raised on the unconfirmed reading, and T3 says the repeat is missing."""
        missed = False
        for rule, st in self._pairs:
            if st.repeat_due is None or t < st.repeat_due:
                continue
            st.repeat_due = None
            if rule.repeat_within_s is None:  # the rule was changed since it asked
                continue
            missed = True
            if st.phase == Phase.PENDING and self._applies(rule):
                st.message += " (unconfirmed: no repeat reading)"
                self._raise(rule, st, t, out)
        if missed:
            self._level(t, "nibp_overdue", True, out)

    def _repeat_deadline(self, rule: Rule, since: float) -> float | None:
        if rule.repeat_within_s is None:
            return None
        return since + rule.repeat_within_s + self.schedule.repeat_grace_s

    def _baseline_gate(self, t: float, out: list[Transition]) -> None:
        """T9: dosed with no pre-dose cuff baseline, the relative cuff limits are off; said for as
        long as it is so (a baseline set later ends it)."""
        if self.dose_t is not None and t >= self.dose_t:
            missing = not any((self.baseline or {}).get(p) is not None for p in NIBP_PARAMS)
            if missing != self._no_baseline:  # a level: said once per change
                self._no_baseline = missing
                self._level(t, "no_baseline", missing, out)

    def _describe_cuff(self, rule: Rule, st: _State, term: Term | None, values: Values,
                       baseline: Mapping[str, float | None] | None) -> None:
        """As ``_describe``, with the limit taken from the capped baseline the cuff rule used."""
        self._describe(rule, st, term, values)
        if term is not None and term.base is not None:
            st.limit = term.threshold(baseline)
            st.message = term.describe(values[term.param], baseline)
            if rule.message:
                st.message += f": {rule.message}"

    def _cuff_baseline(self) -> dict[str, float | None] | None:
        """The baseline as relative cuff limits use it: capped by ``baseline.caps``."""
        if self.baseline is None:
            return None
        caps = self.baseline_policy.caps
        return {p: (min(v, caps[p]) if v is not None and p in caps else v) for p, v in self.baseline.items()}

    def restore(self, rule_id: str, *, onset: float, priority: str, message: str,
                value: float | None = None, limit: float | None = None) -> None:
        """Put back an alarm that was active before a restart (its log entry holds these), so
        that it clears by its own rule instead of vanishing or being raised twice."""
        st = self._state.get(rule_id)
        if st is None:
            return
        st.move(Step.RESTORE, rule_id)
        st.onset, st.priority = onset, priority
        st.message, st.value, st.limit = strip_prefix(message), value, limit

    def active(self) -> list[Transition]:
        """The alarms active now, each as its latest raise/escalation."""
        return [
            self._transition(r, st, st.onset, "raised")
            for r in self.rules
            if (st := self._state[r.id]).phase == Phase.ACTIVE
        ]

    # Rule kinds ------------------------------------------------------------------------------

    def _continuous(self, rule: Rule, t: float, values: Values, out: list[Transition]) -> None:
        st = self._state[rule.id]
        assert rule.when is not None
        guard = rule.pulse_guard
        suspended = guard is not None and self._artifact_suspected(rule, guard, t, values)
        holds, term = rule.when.evaluate(values, self.baseline)
        if holds is None and st.phase != Phase.ACTIVE and any(
                values.get(p) is not None for p in rule.when.params):
            holds = False  # some of its values are here and none holds: that is no gap
        if holds is None:
            # No value: no evidence either way. A brief gap (a 1-s dropout) keeps a pending
            # condition pending with its onset; a longer one starts it over.
            if st.phase == Phase.PENDING and t - st.last_held > self.derived.policy.blank_tolerance_s:
                st.move(Step.LAPSE, rule.id)
            return
        if st.phase == Phase.ACTIVE:
            if not suspended:  # an artifact says nothing about the end of a real event either
                self._clear_continuous(rule, st, t, holds, values, out)
            return
        if not holds:
            st.move(Step.LAPSE, rule.id)
            return
        policy = self.derived.policy
        # No message at all for longer than a dropout beyond the source's own reporting interval
        # (a trend's value stands for its minute, as on the trend's screen).
        silence = t - st.last_held > policy.blank_tolerance_s + max(policy.stale_s, self.cadence.interval_s)
        # A reading from before the onset, or after a long silence, starts the condition over.
        if st.phase == Phase.IDLE or t < st.onset or silence:
            st.start(t, rule.id)
            st.counted_since, st.deep_since = None, None
        st.last_held = t
        # A suspected artifact stops the delay counting, but only for so long: a condition that
        # has held past the guard's cap alarms whatever the guard suspects.
        if suspended:
            st.counted_since = None
        elif st.counted_since is None:
            st.counted_since = t
        due = st.counted_since is not None and t - st.counted_since >= rule.delay_s
        if due or (guard is not None and self._guard_capped(guard, st, t, values, rule.delay_s)):
            self._describe(rule, st, term, values)
            self._raise(rule, st, t, out)

    def _clear_continuous(self, rule: Rule, st: _State, t: float, holds: bool, values: Values,
                          out: list[Transition]) -> None:
        cleared = rule.clear.evaluate(values, self.baseline)[0] if rule.clear else _negate(holds)
        if cleared is None:
            return
        if not cleared:
            st.clear_since = None
            return
        if st.clear_since is None or t < st.clear_since:
            st.clear_since = t
        if t - st.clear_since >= rule.clear_for_s:
            self._clear(rule, st, t, out)

    @staticmethod
    def _guard_capped(guard: PulseGuard, st: _State, t: float, values: Values, delay_s: float) -> bool:
        """Whether the guard's bounds are past: the condition has held for ``max_s``, or the SpO2
        has stayed below the deep limit for ``deep_max_s`` (no artifact reads that low)."""
        spo2 = values.get("SpO2")
        if guard.deep_below is not None and spo2 is not None and spo2 < guard.deep_below:
            st.deep_since = t if st.deep_since is None else st.deep_since
        elif spo2 is not None:
            st.deep_since = None
        if guard.max_s is not None and t - st.onset >= max(delay_s, guard.max_s):
            return True
        return (guard.deep_max_s is not None and st.deep_since is not None
                and t - st.deep_since >= max(delay_s, guard.deep_max_s))

    def _artifact_suspected(self, rule: Rule, guard: PulseGuard, t: float, values: Values) -> bool:
        """Whether an SpO2 reading at ``t`` may be a motion artifact: the device reports motion,
        or the gap between ECG heart rate and pulse rate has just jumped away from what it has
        been (a steady gap, as in atrial fibrillation with a pulse deficit, is no artifact)."""
        hr, pr = values.get("HR"), values.get("PR")
        evidence = "motion" in self._codes
        if hr is not None and pr is not None:
            # A jump: the gap departs from its median over the reference window (once that window
            # is half filled; at the start of a session, from no gap), or from the gap of the
            # reading before (a pulse rate jumping about, for as long as the motion goes on).
            ref, jump, mad = self._gap_reference(t, guard)
            irregular = guard.irregular_mad is not None and mad > guard.irregular_mad
            evidence = evidence or (not irregular and (
                jump > guard.within or abs((hr - pr) - ref) > guard.within))
        if evidence:
            self._artifact[rule.id] = t
        return t - self._artifact.get(rule.id, -math.inf) < guard.hold_s

    def _gap_reference(self, t: float, guard: PulseGuard) -> tuple[float, float, float]:
        """The ECG-to-pulse gap's median over the guard's ``reference_s`` (0 until half of it is
        filled, or when ``reference_s`` is 0), how far the latest gap jumped from the one before,
        and the gap's median absolute deviation over ``irregular_s`` (its irregularity: long
        enough that a motion burst, even a vomiting episode of minutes, barely moves it, while a
        rhythm such as atrial fibrillation, which lasts, does)."""
        key = (guard.reference_s, guard.irregular_s)
        if key not in self._gap_refs:
            ref, jump, mad = 0.0, 0.0, 0.0
            if self._gaps:
                recent = self._since(t - guard.reference_s)
                if guard.reference_s > 0 and recent and t - self._gaps[-len(recent)][0] >= guard.reference_s / 2:
                    ref = _median(recent)
                if len(recent) >= 2:
                    jump = abs(recent[-1] - recent[-2])
                mad = self._irregularity(t, guard.irregular_s, guard.hold_s / 2)
            self._gap_refs[key] = (ref, jump, mad)
        return self._gap_refs[key]

    def _since(self, start: float) -> list[float]:
        """The gaps from ``start`` on, oldest first (read from the newest end: the window is
        short beside the deque)."""
        out = []
        for gt, g in reversed(self._gaps):
            if gt < start:
                break
            out.append(g)
        out.reverse()
        return out

    def _irregularity(self, t: float, window_s: float, every_s: float) -> float:
        """The gap's median absolute deviation over ``window_s`` (0 until half of it is filled).
        A property of the rhythm over minutes, so it is worked out again only every ``every_s``
        of device time (half the guard's hold: an artifact's evidence lasts the hold anyway) or
        when time goes back, not on every reading."""
        if window_s <= 0:
            return 0.0
        done = self._irregular.get(window_s)
        if done is not None and 0 <= t - done[0] < every_s:
            return done[1]
        longer = self._since(t - window_s)
        mad = 0.0
        if longer and t - self._gaps[-len(longer)][0] >= window_s / 2:
            centre = _median(longer)
            mad = _median([abs(g - centre) for g in longer])
        self._irregular[window_s] = (t, mad)
        return mad

    def _cuff(self, rule: Rule, t: float, values: Values, out: list[Transition], *,
              in_order: bool = True) -> None:
        st = self._state[rule.id]
        assert rule.when is not None
        baseline = self._cuff_baseline()
        holds, term = rule.when.evaluate(values, baseline)
        if st.phase == Phase.ACTIVE and holds is not None:
            st.repeat_due = None  # a valid reading after the raise is the repeat it asked for
        if holds is None and st.phase != Phase.ACTIVE:
            return
        if st.phase in (Phase.IDLE, Phase.PENDING):
            if not holds:
                st.move(Step.LAPSE, rule.id)
                st.readings, st.repeat_due = [], None
                return
            if st.phase == Phase.IDLE:
                st.start(t, rule.id)
            # A reordered reading counts, but its time is unknown (NaN): it can neither start nor
            # end the spacing that confirm_min_apart_s asks for.
            st.readings.append(t if in_order else math.nan)
            known = [r for r in st.readings if not math.isnan(r)]
            single = rule.confirm_unless is not None and rule.confirm_unless.evaluate(values, baseline)[0]
            confirmed = len(st.readings) >= rule.confirm_readings and (
                rule.confirm_min_apart_s == 0 or (in_order and t - known[0] >= rule.confirm_min_apart_s)
            )
            self._describe_cuff(rule, st, term, values, baseline)
            if single or confirmed:
                once = len(st.readings) == 1
                self._raise(rule, st, t, out)
                # Raised on one reading ("re-measure now"): the repeat is still asked for.
                now = t if in_order else max(t, self._latest)
                st.repeat_due = self._repeat_deadline(rule, now) if once else None
            elif st.repeat_due is None:
                # From the first reading; for a reordered one, from the latest time known.
                since = known[0] if known else max(t, self._latest)
                st.repeat_due = self._repeat_deadline(rule, since)
            return
        cleared = rule.clear.evaluate(values, baseline)[0] if rule.clear else _negate(holds)
        if cleared is None:
            return
        st.clear_count = st.clear_count + 1 if cleared else 0
        if st.clear_count >= rule.clear_readings:
            self._clear(rule, st, t, out)

    def _level(self, t: float, signal: str, on: bool, out: list[Transition], detail: str = "") -> None:
        for rule in self._by_signal.get(signal, ()):
            st = self._state[rule.id]
            st.count = st.count + 1 if on else 0
            if on and (st.phase == Phase.IDLE or (st.phase == Phase.PENDING and t < st.onset)):
                st.start(t, rule.id)
                st.value = st.limit = None
            if on and st.phase == Phase.PENDING:
                # What the alarm will say (which signal is absent …) as of its latest reading.
                said = "; ".join(x for x in (detail, rule.message) if x)
                st.message = rule.title + (f": {said}" if said else "")
            if on and st.phase == Phase.PENDING and t - st.onset >= rule.delay_s:
                self._raise(rule, st, t, out)
            elif not on and st.phase == Phase.PENDING:
                st.move(Step.LAPSE, rule.id)
            elif not on and st.phase == Phase.ACTIVE:
                self._clear(rule, st, t, out)

    # Bookkeeping -------------------------------------------------------------------------

    def _describe(self, rule: Rule, st: _State, term: Term | None, values: Values) -> None:
        if term is None:
            st.message, st.value, st.limit = rule.title, None, None
            return
        st.value, st.limit = values[term.param], term.threshold(self.baseline)
        st.message = term.describe(values[term.param], self.baseline)
        if term.param == "HRbest" and self._hr_source in SOURCE:
            st.message += f" ({SOURCE[self._hr_source]})"
        if rule.message:
            st.message += f": {rule.message}"

    def _raise(self, rule: Rule, st: _State, t: float, out: list[Transition]) -> None:
        st.move(Step.RAISE, rule.id)
        st.priority = rule.priority
        st.clear_since, st.clear_count, st.readings = None, 0, []
        out.append(self._transition(rule, st, t, "raised"))

    def _clear(self, rule: Rule, st: _State, t: float, out: list[Transition]) -> None:
        out.append(self._transition(rule, st, t, "cleared"))
        st.move(Step.CLEAR, rule.id)
        st.readings, st.clear_since, st.clear_count = [], None, 0

    def _escalate(self, t: float, out: list[Transition]) -> None:
        for rule, st, esc in self._escalating:
            if (
                st.phase == Phase.ACTIVE
                and PRIORITY_RANK[st.priority] < PRIORITY_RANK[esc.to]
                and self._escalation_due(esc, st, t)
            ):
                st.move(Step.ESCALATE, rule.id)
                st.priority = esc.to
                out.append(self._transition(rule, st, t, "escalated"))

    def _escalation_due(self, esc: Escalation, st: _State, t: float) -> bool:
        if esc.after_count is not None:
            return st.count >= esc.after_count
        if t - st.onset < esc.after_s:
            return False
        if esc.after_dose_s is not None and (self.dose_t is None or t - self.dose_t < esc.after_dose_s):
            return False
        if esc.within_dose_s is not None and (self.dose_t is None or st.onset - self.dose_t > esc.within_dose_s):
            return False
        return True

    @staticmethod
    def _transition(rule: Rule, st: _State, t: float, event: str) -> Transition:
        return Transition(
            t=t, rule=rule.id, event=event, priority=st.priority, kind=rule.kind,
            title=rule.title, message=st.message, onset=st.onset,
            delay_s=rule.delay_s, value=st.value, limit=st.limit, param=rule_param(rule),
        )
