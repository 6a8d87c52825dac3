"""Rule conditions as a clinician writes them: ``SBP >= 160 or DBP >= 100``.

A condition is one or more comparisons ``PARAM OP NUMBER`` joined by ``or`` (any holds) or by
``and`` (all hold), never both: a mixed expression would need precedence rules that a reviewer of
the rules file should not have to know.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

PARAMS = ("HR", "PR", "SpO2", "RR", "EtCO2", "SBP", "DBP", "MAP")
NIBP_PARAMS = frozenset({"SBP", "DBP", "MAP"})

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
_TERM = re.compile(r"^\s*([A-Za-z0-9]+)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Term:
    param: str
    op: str
    limit: float

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.limit)

    def describe(self, value: float) -> str:
        """``SpO2 84 < 85``: the value, the comparison and the limit, as alarm texts read."""
        return f"{self.param} {value:g} {self.op} {self.limit:g}"


@dataclass(frozen=True)
class Expression:
    terms: tuple[Term, ...]
    joiner: str  # "or" | "and"
    text: str

    @property
    def params(self) -> frozenset[str]:
        return frozenset(t.param for t in self.terms)

    def evaluate(self, values: Mapping[str, float | None]) -> tuple[bool | None, Term | None]:
        """Whether the condition holds on ``values``, and the term that decided it.

        Returns ``(None, None)`` when the values say nothing about it (none of its parameters
        present with a value): a missing value is not evidence for or against a condition.
        An ``and`` needs every parameter present to be true.
        """
        known = [(t, values[t.param]) for t in self.terms if values.get(t.param) is not None]
        if not known:
            return None, None
        if self.joiner == "or":
            for term, v in known:
                if term.holds(v):  # type: ignore[arg-type]
                    return True, term
            return (False, None) if len(known) == len(self.terms) else (None, None)
        for term, v in known:
            if not term.holds(v):  # type: ignore[arg-type]
                return False, term
        return (True, known[0][0]) if len(known) == len(self.terms) else (None, None)


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
            raise ValueError(f"{part.strip()!r} is not a comparison like 'HR > 120'")
        param, op, limit = m.groups()
        if param not in PARAMS:
            raise ValueError(f"unknown parameter {param!r} (known: {', '.join(PARAMS)})")
        terms.append(Term(param, op, float(limit)))
    nibp = {t.param in NIBP_PARAMS for t in terms}
    if len(nibp) > 1:
        raise ValueError(f"{text!r} mixes cuff pressures with continuous parameters")
    return Expression(tuple(terms), joiners.pop() if joiners else "or", text.strip())
