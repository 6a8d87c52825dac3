"""Rule conditions as a clinician writes them: ``SBP >= 160 or DBP >= 100``.

A condition is one or more comparisons joined by ``or`` (any holds) or by ``and`` (all hold),
never both: a mixed expression would need precedence rules that a reviewer of the rules file
should not have to know. A comparison is ``PARAM OP LIMIT`` where LIMIT is a number, or relative
to the session's pre-dose baseline: ``BL.SBP + 40``, ``BL.SpO2 - 4``, ``BL.SBP * 0.7``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

PARAMS = ("HR", "PR", "SpO2", "RR", "EtCO2", "SBP", "DBP", "MAP", "HRbest", "ABPsys", "ABPdia", "ABPmean")
NIBP_PARAMS = frozenset({"SBP", "DBP", "MAP"})
# Parameters no device sends: the alarm engine derives them (alerts/derived.py). ``HRbest`` is the
# best heart-rate source (ECG heart rate, else the oximeter's pulse rate); alarm texts call it HR.
DERIVED_PARAMS = {"HRbest": "HR"}

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
_NUMBER = r"-?\d+(?:\.\d+)?"
_TERM = re.compile(
    rf"^\s*([A-Za-z0-9]+)\s*(>=|<=|>|<)\s*(?:({_NUMBER})|BL\.([A-Za-z0-9]+)\s*(?:([-+*])\s*({_NUMBER}))?)\s*$"
)

Values = Mapping[str, float | None]


@dataclass(frozen=True)
class Term:
    param: str
    op: str
    limit: float  # the number, or the offset (+/-) or factor (*) applied to the baseline
    base: str | None = None  # baseline parameter for a relative limit
    how: str = "+"

    def threshold(self, baseline: Values | None) -> float | None:
        """The limit in effect; None for a relative limit with no baseline yet."""
        if self.base is None:
            return self.limit
        b = (baseline or {}).get(self.base)
        if b is None:
            return None
        return b * self.limit if self.how == "*" else b + (self.limit if self.how == "+" else -self.limit)

    def holds(self, value: float, baseline: Values | None = None) -> bool | None:
        limit = self.threshold(baseline)
        return None if limit is None else _OPS[self.op](value, limit)

    def describe(self, value: float | None, baseline: Values | None = None) -> str:
        """``SpO2 84 < 85``: the value, the comparison and the limit, as alarm texts read;
        a relative limit also says where it comes from (``SBP 172 >= 165 (BL+40)``)."""
        limit = self.threshold(baseline)
        shown = "?" if value is None else f"{value:g}"
        text = f"{DERIVED_PARAMS.get(self.param, self.param)} {shown} {self.op} {round(limit, 1) if limit is not None else '?':g}"
        if self.base is not None:
            text += f" (BL{'×' if self.how == '*' else self.how}{self.limit:g})"
        return text


@dataclass(frozen=True)
class Expression:
    terms: tuple[Term, ...]
    joiner: str  # "or" | "and"
    text: str

    @cached_property  # asked on every reading of every rule; the terms never change
    def params(self) -> frozenset[str]:
        return frozenset(t.param for t in self.terms)

    @property
    def relative(self) -> bool:
        return any(t.base is not None for t in self.terms)

    def evaluate(self, values: Values, baseline: Values | None = None) -> tuple[bool | None, Term | None]:
        """Whether the condition holds on ``values``, and the term that decided it.

        Returns ``(None, None)`` when the values say nothing about it: a missing value is not
        evidence for or against a condition. An ``and`` needs every term known to be true. A
        relative term before the baseline exists does not apply at all (the absolute terms of
        the same condition still do).
        """
        applicable = [t for t in self.terms
                      if t.base is None or (baseline or {}).get(t.base) is not None]
        known = [(t, bool(t.holds(v, baseline))) for t in applicable
                 if (v := values.get(t.param)) is not None]
        if not known:
            return None, None
        if self.joiner == "or":
            for term, held in known:
                if held:
                    return True, term
            return (False, None) if len(known) == len(applicable) else (None, None)
        for term, held in known:
            if not held:
                return False, term
        return (True, known[0][0]) if len(known) == len(applicable) else (None, None)


def parse(text: str) -> Expression:
    """Parse a condition; raises ValueError with a message a clinic's reviewer can act on."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a condition must be text such as 'HR > 120'")
    words = re.split(r"\s+(and|or)\s+", text.strip())
    parts, joiners = words[0::2], set(words[1::2])
    if len(joiners) > 1:
        raise ValueError(f"{text!r} mixes 'and' with 'or'; split it into two rules")
    terms = []
    for part in parts:
        m = _TERM.match(part)
        if not m:
            raise ValueError(f"{part.strip()!r} is not a comparison like 'HR > 120' or 'SBP >= BL.SBP + 40'")
        param, op, number, base, how, amount = m.groups()
        for p in (param, base):
            if p is not None and p not in PARAMS:
                raise ValueError(f"unknown parameter {p!r} (known: {', '.join(PARAMS)})")
        if base is not None:
            terms.append(Term(param, op, float(amount or (1 if how == "*" else 0)), base, how or "+"))
        else:
            terms.append(Term(param, op, float(number)))
    nibp = {t.param in NIBP_PARAMS for t in terms}
    if len(nibp) > 1:
        raise ValueError(f"{text!r} mixes cuff pressures with continuous parameters")
    return Expression(tuple(terms), joiners.pop() if joiners else "or", text.strip())
