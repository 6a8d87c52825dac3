"""Building blocks of the alarm-safety tests: a room's readings second by second, a pleth trace,
and the engine's transitions for them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from alerts.engine import AlarmEngine, Transition
from alerts.rules import RuleSet, load

RULES = load()
T0 = 1_000_000.0
PLETH_RATE = 125.0
CHUNK = 50  # samples: 0.4 s of pleth, as monitors send it

Values = dict[str, float | None]


def pleth_chunk(t: float, rate_per_min: float | None) -> list[float | None]:
    """0.4 s of pleth from ``t``: a pulse at ``rate_per_min``, flat (0), or no samples (None)."""
    if rate_per_min is None:
        return [None] * CHUNK
    out: list[float | None] = []
    for i in range(CHUNK):
        s = t + i / PLETH_RATE
        ripple = 0.3 * math.sin(2 * math.pi * 7.3 * s)  # sensor noise, never a pulse
        if rate_per_min == 0:
            out.append(round(35.0 + ripple, 1))
            continue
        phase = (s * rate_per_min / 60.0) % 1.0
        out.append(round(35.0 + 30.0 * math.exp(-0.5 * ((phase - 0.2) / 0.1) ** 2) + ripple, 1))
    return out


@dataclass
class Room:
    """A room's readings over ``seconds``: ``numerics(s)`` gives the values of second ``s``
    (None: no message that second), ``pleth(s)`` the pleth's pulse rate (0 flat, None no trace,
    ``...`` no waveform at all), ``statuses`` (second, code, active) events."""

    seconds: int
    numerics: Callable[[int], Values | None]
    pleth: Callable[[float], float | None] | None = None
    statuses: list[tuple[float, str, bool]] = field(default_factory=list)

    def run(self, rules: RuleSet = RULES) -> list[Transition]:
        engine = AlarmEngine(rules)
        engine.dose(T0 - 600)
        events: list[tuple[float, int, object]] = []
        for s in range(self.seconds):
            v = self.numerics(s)
            if v is not None:
                events.append((float(s), 1, v))
        if self.pleth is not None:
            for k in range(int(self.seconds / 0.4)):
                events.append((round(k * 0.4, 6), 2, None))
        for s, code, active in self.statuses:
            events.append((float(s), 0, (code, active)))
        out: list[Transition] = []
        for s, kind, what in sorted(events, key=lambda e: (e[0], e[1])):
            t = T0 + s
            if kind == 0:
                code, active = what  # type: ignore[misc]
                out += engine.status(t, code, active)
            elif kind == 1:
                out += engine.numerics(t, what)  # type: ignore[arg-type]
            else:
                assert self.pleth is not None
                out += engine.waveform(t, "PLETH", PLETH_RATE, pleth_chunk(t, self.pleth(s)))
        return out


def raised(transitions: list[Transition]) -> dict[str, Transition]:
    """The first raise of each rule."""
    out: dict[str, Transition] = {}
    for tr in transitions:
        if tr.event == "raised":
            out.setdefault(tr.rule, tr)
    return out


def normal(s: int) -> Values:
    """An ordinary reading: ECG, oximeter and capnograph all well."""
    return {"HR": 75, "PR": 75, "SpO2": 97, "RR": 14, "EtCO2": 38}
