"""The alarm system of one session: conditions (``engine.py``) joined to signals (``signal.py``).

Every input is a reading or an action with the time it happened, and every output is a list of
``Change`` records — the alarm log. The live server persists and broadcasts them; ``vitalwatch
evaluate`` prints them; given the same inputs at the same times both produce the same list.
Timers (audio pause, reminders, escalation of unacknowledged alarms) advance with the times of
the readings themselves, never with a clock read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from alerts.engine import AlarmEngine, Transition, rule_param
from alerts.rules import PRIORITY_RANK, RuleSet, strip_prefix
from alerts.signal import Event, IllegalTransition, Signal, State

__all__ = ["AlarmSystem", "Change", "IllegalTransition"]

# Signal events as they appear in the log.
LOGGED = {
    Event.ACKNOWLEDGE: "acknowledged", Event.PAUSE_AUDIO: "audio_paused",
    Event.PAUSE_EXPIRED: "audio_resumed", Event.REMINDER: "reminder", Event.RESET: "reset",
    Event.ESCALATE: "escalated", Event.CONDITION_RETURN: "raised",
}


@dataclass(frozen=True)
class Change:
    """One entry of the alarm log."""

    t: float
    rule: str
    event: str  # raised escalated acknowledged audio_paused audio_resumed reminder latched cleared reset
    state: str  # the signal state after the event
    priority: str
    kind: str
    title: str
    message: str  # plain text: the priority is its own field (``rules.PREFIX`` renders it as text)
    onset: float
    delay_s: float
    value: float | None = None
    limit: float | None = None
    by: str = ""
    tier: str = ""  # "nurse" once an unacknowledged alarm has gone to the nurse tier
    param: str | None = None  # the parameter the rule watches (HR, SpO2, SBP …); None: a signal rule

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class AlarmSystem:
    def __init__(self, rules: RuleSet, only: set[str] | None = None) -> None:
        self.rules = rules
        self.policy = rules.signals
        self.engine = AlarmEngine(rules, only)
        self.signals: dict[str, Signal] = {}
        self._conditions: dict[str, Transition] = {}
        self._tier: dict[str, str] = {}
        # When each signal last became unacknowledged (raised, or re-sounded by a reminder):
        # escalation counts from there, not from the original raise.
        self._unacked_since: dict[str, float] = {}

    # Inputs ------------------------------------------------------------------------------

    def numerics(self, t: float, values: Mapping[str, float | None]) -> list[Change]:
        return self._run(t, self.engine.numerics(t, values))

    def nibp(self, t: float, ok: bool, values: Mapping[str, float | None]) -> list[Change]:
        return self._run(t, self.engine.nibp(t, ok, values))

    def waveform(self, t: float, wave: str, rate: float, samples: list[float | None]) -> list[Change]:
        """A waveform chunk (the pleth is evidence of a pulse for the asystole cross-check)."""
        return self._run(t, self.engine.waveform(t, wave, rate, samples))

    def status(self, t: float, code: str, active: bool) -> list[Change]:
        return self._run(t, self.engine.status(t, code, active))

    def signal(self, t: float, name: str, on: bool) -> list[Change]:
        return self._run(t, self.engine.signal(t, name, on))

    def tick(self, t: float) -> list[Change]:
        return self._run(t, self.engine.tick(t))

    def dose(self, t: float) -> list[Change]:
        """The dose was given at ``t`` (pre-dose gates end, the NIBP schedule starts)."""
        return self._run(t, self.engine.dose(t))

    def set_baseline(self, values: Mapping[str, float | None]) -> None:
        self.engine.set_baseline(values)

    def replace_rules(self, rules: RuleSet, t: float) -> list[Change]:
        """Apply changed rules (a session's own limits). An alarm of a rule now switched off
        ends as if its condition had."""
        self.rules, self.policy = rules, rules.signals
        self.engine.replace_rules(rules)
        out = []
        for rule_id, sig in list(self.signals.items()):
            if rule_id not in {r.id for r in self.engine.rules} and sig.state.value != "latched":
                out.append(self._apply(sig, Event.CONDITION_END, t))
        return out

    def act(self, t: float, rule: str, action: str, by: str) -> list[Change]:
        """A person acts on an alarm: ``acknowledge``, ``pause_audio`` or ``reset`` (a latch).
        Raises IllegalTransition if the alarm's state does not allow it, KeyError if no alarm
        of that rule is signalled."""
        sig = self.signals[rule]
        event = Event(action)
        if event not in (Event.ACKNOWLEDGE, Event.PAUSE_AUDIO, Event.RESET):
            raise IllegalTransition(f"{action!r} is not something a person does to an alarm")
        return [self._apply(sig, event, t, by)]

    def restore(self, change: Mapping[str, Any], signal_state: str,
                acknowledged_by: str | None = None) -> None:
        """Put back an alarm signalled before a restart, from its last log row."""
        rule = change["rule"]
        if signal_state != State.LATCHED.value:
            self.engine.restore(rule, onset=change["onset"], priority=change["priority"],
                                message=change["message"], value=change.get("value"),
                                limit=change.get("limit"))
        r = self.rules.rules.get(rule)
        if r is None:
            return
        sig = Signal(rule, change["priority"], self.rules.latches(r, change["priority"]),
                     raised=change["raised"])
        sig.state, sig.acknowledged_by = State(signal_state), acknowledged_by
        self.signals[rule] = sig
        self._conditions[rule] = Transition(
            t=change["raised"], rule=rule, event="raised", priority=change["priority"], kind=r.kind,
            title=r.title, message=strip_prefix(change["message"]), onset=change["onset"],
            delay_s=r.delay_s, value=change.get("value"), limit=change.get("limit"),
            param=rule_param(r))
        self._tier[rule] = change.get("tier") or ""

    def active(self) -> list[Signal]:
        return list(self.signals.values())

    # Joining conditions and signals ------------------------------------------------------

    def _run(self, t: float, transitions: list[Transition]) -> list[Change]:
        out = [c for tr in transitions if (c := self._condition(tr)) is not None]
        out += self._timers(t)
        return out

    def _condition(self, tr: Transition) -> Change | None:
        self._conditions[tr.rule] = tr
        rule = self.rules.rules[tr.rule]
        sig = self.signals.get(tr.rule)
        if tr.event == "raised":
            if sig is not None and sig.state == State.LATCHED:
                return self._apply(sig, Event.CONDITION_RETURN, tr.t)
            self.signals[tr.rule] = Signal(tr.rule, tr.priority, self.rules.latches(rule, tr.priority),
                                           raised=tr.t)
            self._tier[tr.rule] = ""
            self._unacked_since[tr.rule] = tr.t
            return self._change(tr.t, tr.rule, "raised", State.ACTIVE)
        if sig is None:
            return None
        if tr.event == "escalated":
            return self._apply(sig, Event.ESCALATE, tr.t, priority=tr.priority)
        return self._apply(sig, Event.CONDITION_END, tr.t)

    def _timers(self, t: float) -> list[Change]:
        out = []
        esc = self.policy.escalation
        for sig in list(self.signals.values()):
            if (event := sig.due(t)) is not None:
                out.append(self._apply(sig, event, t))
            unacknowledged = sig.state in (State.ACTIVE, State.AUDIO_PAUSED)
            if not unacknowledged or sig.priority != "medium":
                continue
            age = t - self._unacked_since.get(sig.rule, sig.raised)
            # Only the kinds the rules file names climb to high (default physiological): a
            # technical alarm's own rule says how far it climbs. Every kind goes to the nurse.
            climbs = self._conditions[sig.rule].kind in esc.high_kinds
            if age >= esc.high_after_s and climbs:
                out.append(self._apply(sig, Event.ESCALATE, t, priority="high"))
            elif age >= esc.nurse_after_s and self._tier.get(sig.rule) != "nurse":
                self._tier[sig.rule] = "nurse"
                out.append(self._change(t, sig.rule, "escalated", sig.state))
        return out

    def _apply(self, sig: Signal, event: Event, t: float, by: str = "",
               priority: str | None = None) -> Change:
        if priority is not None and PRIORITY_RANK[priority] > PRIORITY_RANK[sig.priority]:
            sig.latching = sig.latching or priority in self.policy.latching_priorities
        state = sig.apply(event, t, by, pause_s=self.policy.audio_pause_s,
                          reminder_s=self.policy.reminder_s, priority=priority)
        if event == Event.CONDITION_END:
            name = "latched" if state == State.LATCHED else "cleared"
        elif event in (Event.RESET, Event.ACKNOWLEDGE) and state == State.CLEARED:
            name = "reset"
        else:
            name = LOGGED[event]
        if event in (Event.REMINDER, Event.CONDITION_RETURN):
            self._unacked_since[sig.rule] = t
            self._tier[sig.rule] = ""
        change = self._change(t, sig.rule, name, state, by)
        if state == State.CLEARED:
            del self.signals[sig.rule]
            self._unacked_since.pop(sig.rule, None)
        return change

    def _change(self, t: float, rule: str, event: str, state: State, by: str = "") -> Change:
        cond = self._conditions[rule]
        sig = self.signals.get(rule)
        priority = sig.priority if sig is not None else cond.priority
        return Change(
            t=t, rule=rule, event=event, state=state.value, priority=priority, kind=cond.kind,
            title=cond.title, message=cond.message, onset=cond.onset,
            delay_s=cond.delay_s, value=cond.value, limit=cond.limit, by=by,
            tier=self._tier.get(rule, ""), param=cond.param,
        )
