"""The kind of a refused message: what went wrong, in words that carry no value.

A refusal's reason quotes what the monitor sent ("HR 400 /min is physiologically impossible",
"dia: 95 must be below sys 90"), so it is health data and only clinical roles read it. Roles
that look after the system but may not see vital signs (admins) get its kind instead: one of a
fixed vocabulary, chosen by the reason's wording, never built from it, so no value can reach it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# First match wins; the reasons are written by app/ingest.py and monitors/protocol.py (their
# own words and pydantic's). A reason none of these knows is an "invalid message".
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    ("too large", r"exceeds the limit|should have at most"),
    ("rate limit", r"messages a second"),
    ("not JSON", r"^malformed JSON|not a number JSON allows|binary frames"),
    ("impossible value", r"physiologically impossible|is impossible for|must be below"),
    ("not a finite number", r"finite number|finite"),
    ("unknown unit", r"^unknown unit"),
    ("unknown message type", r"^unknown message type|tag|discriminator"),
    ("missing field", r"^Field required"),
    ("unexpected field", r"^Extra inputs are not permitted"),
    ("wrong type", r"^Input should be a valid|^Input should be an? "),
    ("value not allowed", r"^Input should be|^Input should have"),
    ("out of range", r"greater than|less than"),
    ("protocol", r"hello|seq"),
))
KINDS = tuple(kind for kind, _ in _KINDS) + ("invalid message",)


def kind(reason: str) -> str:
    """The kind of a refusal whose reason is ``reason``: one of ``KINDS``."""
    for name, pattern in _KINDS:
        if pattern.search(reason):
            return name
    return KINDS[-1]

# Refusals are counted by field, and a device chooses its field names (an unknown key is refused
# under its own name): past this many distinct fields per monitor the rest are counted together,
# so a device cannot grow the server's memory with made-up names.
MAX_FIELDS = 32
OTHER_FIELDS = "(other fields)"


def counted_field(field: str, counted: Mapping[str, int]) -> str:
    """The key to count a refusal of ``field`` under, given the fields ``counted`` so far."""
    key = field or "message"
    return key if key in counted or len(counted) < MAX_FIELDS else OTHER_FIELDS
