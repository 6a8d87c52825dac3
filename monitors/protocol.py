"""The monitor wire protocol: what a monitor adapter sends to the server and what it gets back.

Every message is one JSON object in one websocket text frame, with a ``type`` field. Monitor →
server messages carry ``seq``, a number that rises by one per message within a *stream* (one run of
an adapter, named by the ``stream`` id in its ``hello``); the server takes them strictly in order.
It answers each message with an ``ack`` (that seq is stored), an ``error`` with ``retry: false``
(refused for good: that seq is settled, do not resend it) or an ``error`` with ``retry: true``
(not taken now: resend it, after ``retry_after_s``). An adapter that reconnects sends ``hello``
again with the same stream id and resends every message not yet settled; the server stores a
(monitor, stream, seq) at most once.

These models are the single definition of the protocol: the server validates with them, the
adapters build with them, and ``docs/protocol.schema.json`` is exported from them.
See docs/protocol.md for the prose.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

PROTOCOL_VERSION = 2
# The versions a server takes. Version 2 added the invasive arterial pressure numerics (ABPsys,
# ABPdia, ABPmean); a version-1 adapter never sends them, so everything it sends means the same.
SUPPORTED_PROTOCOLS = frozenset({1, 2})

# The largest seq: 2^53 - 1, the largest integer every JSON implementation reads exactly. A stream
# cannot run out: at 100 messages a second it lasts for millions of years.
MAX_SEQ = 2**53 - 1
# Device timestamps must lie in this range (2000-01-01 to 2100-01-01, seconds since the Unix
# epoch) whatever the mode: anything else is a broken clock or milliseconds sent as seconds.
# How far they may be from the server's clock is the server's to check (docs/protocol.md).
T_MIN = 946_684_800.0
T_MAX = 4_102_444_800.0
# Waveform samples are stored as float32.
FLOAT32_MAX = 3.4028234663852886e38


def _number(v: object) -> int | float:
    """JSON numbers only: ``true`` is not 1 and ``"72"`` is not 72 (an adapter sending either has
    a bug worth hearing about). Integers are numbers."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        # ValueError, not TypeError: pydantic reports only ValueError as a field's validation error.
        raise ValueError(f"must be a number, not {_json_type(v)}")  # noqa: TRY004
    if isinstance(v, int) and abs(v) > 1e308:
        raise ValueError("must be a number of at most 1e308")
    return v


def _json_type(v: object) -> str:
    names = {bool: "a boolean", str: "a string", list: "an array", dict: "an object",
             type(None): "null"}
    return names.get(type(v), type(v).__name__)


def _sample(v: object) -> object:
    v = _number(v)
    if not abs(v) <= FLOAT32_MAX:
        raise ValueError(f"sample {v:g} is beyond the float32 range (±3.4e38)")
    return v


def _time(v: object) -> object:
    v = _number(v)
    if not T_MIN <= v <= T_MAX:
        raise ValueError(f"{v:g} is not a time between 2000 and 2100 in seconds since 1970")
    return v


Number = Annotated[float, BeforeValidator(_number)]
Sample = Annotated[float, BeforeValidator(_sample)]
Time = Annotated[float, BeforeValidator(_time), Field(
    description="device timestamp, seconds since the Unix epoch (2000-01-01 to 2100-01-01)")]
Seq = Annotated[StrictInt, Field(ge=0, le=MAX_SEQ)]  # ingest refuses 0 (the hello's) for data


class Param(str, Enum):
    """Numeric parameters a monitor may report, named as on a bedside monitor."""

    HR = "HR"  # heart rate from ECG
    PR = "PR"  # pulse rate from the oximeter
    SpO2 = "SpO2"
    RR = "RR"  # respiration rate
    EtCO2 = "EtCO2"
    PI = "PI"  # perfusion index
    TEMP = "TEMP"
    # Invasive arterial pressure from an arterial line (protocol version 2), beat-to-beat
    # averaged by the monitor; the cuff's readings travel as ``nibp`` messages instead.
    ABPsys = "ABPsys"
    ABPdia = "ABPdia"
    ABPmean = "ABPmean"


class Wave(str, Enum):
    PLETH = "PLETH"
    ECG_II = "ECG_II"
    RESP = "RESP"
    CO2 = "CO2"
    ABP = "ABP"


# Canonical unit per parameter, the units accepted for it with the factor that converts them to
# the canonical one, and the range a real measurement can take at all. The range is not an alarm
# limit (those live in the rules file): a value outside it can only come from a broken device or
# adapter, so the message is refused instead of being shown or alarmed on.
UNITS: dict[str, tuple[str, dict[str, float], float, float]] = {
    "HR": ("/min", {"/min": 1.0, "bpm": 1.0}, 0, 350),
    "PR": ("/min", {"/min": 1.0, "bpm": 1.0}, 0, 350),
    "SpO2": ("%", {"%": 1.0}, 0, 100),
    "RR": ("/min", {"/min": 1.0, "rpm": 1.0, "brpm": 1.0}, 0, 150),
    "EtCO2": ("mmHg", {"mmHg": 1.0, "kPa": 7.50062}, 0, 150),
    "PI": ("%", {"%": 1.0}, 0, 100),
    "TEMP": ("Cel", {"Cel": 1.0, "degC": 1.0}, 15, 46),
    "SBP": ("mmHg", {"mmHg": 1.0, "kPa": 7.50062}, 10, 350),
    "DBP": ("mmHg", {"mmHg": 1.0, "kPa": 7.50062}, 5, 300),
    "MAP": ("mmHg", {"mmHg": 1.0, "kPa": 7.50062}, 5, 320),
    # An arterial line reads below zero when it is zeroed, flushed or disconnected (MIMIC's
    # unconnected lines sit near -16 mmHg): such values are real readings of the transducer.
    "ABPsys": ("mmHg", {"mmHg": 1.0, "kPa": 7.50062}, -50, 350),
    "ABPdia": ("mmHg", {"mmHg": 1.0, "kPa": 7.50062}, -50, 300),
    "ABPmean": ("mmHg", {"mmHg": 1.0, "kPa": 7.50062}, -50, 320),
}

WAVE_RANGES: dict[str, tuple[float, float]] = {
    "PLETH": (1, 1000),
    "ECG_II": (50, 2000),
    "RESP": (1, 500),
    "CO2": (1, 500),
    "ABP": (1, 1000),
}

MAX_WAVE_SAMPLES = 4096

# Transport limits: the server enforces them (app/ingest.py) and every adapter keeps within them
# (monitors/uplink.py, monitors/replay.py), so both read them from here.
# One message's JSON at most; the largest waveform chunk (MAX_WAVE_SAMPLES) is ~50 KB as JSON.
MAX_MESSAGE_BYTES = 64 * 1024
# The websocket layer's own frame limit, well above MAX_MESSAGE_BYTES: a message that is too
# large is then refused with a reason naming its size, instead of the connection being dropped.
MAX_FRAME_BYTES = 2**20
# The message rate one connection may keep up (a token bucket: MAX_BURST at once, MAX_RATE_PER_S
# sustained); the welcome states them. A monitor with three waveforms sends ~20 a second.
MAX_RATE_PER_S = 200.0
MAX_BURST = 400.0
# The close reason of an adapter whose source has ended and whose every message is settled (a
# replay that has played to its end): its session no longer expects that monitor.
END_OF_STREAM = "end of stream"


def _finite(v: float | None, what: str) -> float | None:
    if v is not None and not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {v!r}")
    return v


def to_canonical(param: str, value: float | None, unit: str) -> float | None:
    """Convert ``value`` in ``unit`` to the parameter's canonical unit, checking the range."""
    canonical, accepted, low, high = UNITS[param]
    if unit not in accepted:
        raise ValueError(f"unknown unit {unit!r} for {param} (accepted: {', '.join(accepted)})")
    if value is None:
        return None
    _finite(value, param)
    converted = value * accepted[unit]
    if not low <= converted <= high:
        raise ValueError(
            f"{param} {value:g} {unit} is physiologically impossible "
            f"(possible: {low:g}–{high:g} {canonical})"
        )
    return round(converted, 3)


# Checks that span fields raise "field.path: reason", so the error sent back names the field.
class _Msg(BaseModel):
    # Unknown fields are refused: an adapter with a typo must hear about it, not lose data quietly.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Measurement(_Msg):
    """One value. ``value: null`` means the device has no valid value (probe off, searching):
    it is stored as "no value", never as zero."""

    value: Number | None
    unit: StrictStr = Field(max_length=16)


class Hello(_Msg):
    """The first message of every connection. ``resume_from`` is the lowest seq the adapter
    still holds: every seq below it is settled on the adapter's side (acknowledged, refused, or
    given up when its buffer overflowed), so the server need not wait for them."""

    type: Literal["hello"]
    seq: StrictInt = Field(ge=0, le=MAX_SEQ)
    protocol: StrictInt = Field(ge=1, le=1000)
    monitor_id: StrictStr = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    stream: StrictStr = Field(min_length=1, max_length=64)
    room: StrictStr = Field(min_length=1, max_length=64)
    mode: Literal["live", "demo", "replay", "test"]
    vendor: StrictStr = Field(default="", max_length=64)
    model: StrictStr = Field(default="", max_length=64)
    serial: StrictStr = Field(default="", max_length=64)
    resume_from: StrictInt | None = Field(default=None, ge=1, le=MAX_SEQ)


class Numerics(_Msg):
    type: Literal["numerics"]
    seq: Seq
    t: Time
    values: dict[Param, Measurement] = Field(min_length=1)

    @model_validator(mode="after")
    def _convert(self) -> Numerics:
        for param, m in self.values.items():
            try:
                m.value = to_canonical(param.value, m.value, m.unit)
            except ValueError as e:
                raise ValueError(f"values.{param.value}: {e}") from None
            m.unit = UNITS[param.value][0]
        return self


class Nibp(_Msg):
    """One completed (or failed) cuff measurement. ``t`` is when the measurement finished."""

    type: Literal["nibp"]
    seq: Seq
    t: Time
    status: Literal["ok", "failed"]
    sys: Number | None = None
    dia: Number | None = None
    map: Number | None = None
    unit: StrictStr = Field(default="mmHg", max_length=16)
    reason: StrictStr = Field(default="", max_length=200, description="why it failed, if it did")

    @model_validator(mode="after")
    def _check(self) -> Nibp:
        for name, param in (("sys", "SBP"), ("dia", "DBP"), ("map", "MAP")):
            try:
                setattr(self, name, to_canonical(param, getattr(self, name), self.unit))
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
        self.unit = "mmHg"
        if self.status == "ok":
            if self.sys is None and self.dia is None and self.map is None:
                raise ValueError("status: 'ok' needs at least one of sys, dia, map")
            if self.sys is not None and self.dia is not None and self.dia >= self.sys:
                raise ValueError(f"dia: {self.dia:g} must be below sys {self.sys:g}")
        return self


class Waveform(_Msg):
    type: Literal["waveform"]
    seq: Seq
    t: Time = Field(description="device timestamp of the first sample")
    wave: Wave
    rate: Number = Field(description="samples per second")
    samples: list[Sample | None] = Field(min_length=1, max_length=MAX_WAVE_SAMPLES)

    @model_validator(mode="after")
    def _check(self) -> Waveform:
        low, high = WAVE_RANGES[self.wave.value]
        if not low <= self.rate <= high:
            raise ValueError(f"rate: {self.rate:g} Hz is impossible for {self.wave.value}")
        return self


class Status(_Msg):
    """A technical condition the device reports (probe off, cuff error, lead off …).
    ``active: false`` reports that the condition has ended."""

    type: Literal["status"]
    seq: Seq
    t: Time
    code: Literal[
        "probe_off", "no_signal", "sensor_fault", "lead_off", "cuff_error", "motion",
        "low_perfusion", "low_battery", "device_alarm", "device_lost", "other", "pulse_search",
    ]
    active: StrictBool = True
    text: StrictStr = Field(default="", max_length=200)


class Mark(_Msg):
    """A clinical event at ``t``: the dose (which starts the post-dose rules and captures the
    pre-dose baseline), the end of an infusion, a treatment, a note. Clinicians add them from the
    dashboard; a monitor with an event button, a simulator or a replay may send them too."""

    type: Literal["mark"]
    seq: Seq
    t: Time
    what: Literal["dose", "infusion end", "treatment", "intervention", "note"]
    text: StrictStr = Field(default="", max_length=500)


class Heartbeat(_Msg):
    """"Still here": a sequenced message like any other (acknowledged, resent if unsettled),
    stored as nothing but its seq."""

    type: Literal["heartbeat"]
    seq: Seq
    t: Time


def last_t(msg: Numerics | Nibp | Waveform | Status | Mark | Heartbeat) -> float:
    """The latest device time a message speaks for: its ``t``, or a waveform chunk's last sample."""
    return msg.t + len(msg.samples) / msg.rate if isinstance(msg, Waveform) else msg.t


MonitorMessage = Annotated[
    Hello | Numerics | Nibp | Waveform | Status | Mark | Heartbeat, Field(discriminator="type")
]
monitor_message = TypeAdapter(MonitorMessage)


# Server → monitor.


class Welcome(BaseModel):
    """The answer to ``hello``. Every seq of this stream up to ``last_seq`` is settled and the
    server takes ``last_seq + 1`` next; seqs the adapter still holds at or below ``last_seq``
    are answered one by one when resent (``ack`` if stored, ``error`` if refused). ``max_rate``
    and ``max_burst`` are the connection's message rate limit (a token bucket): an adapter
    that stays below them is never refused for its rate."""

    type: Literal["welcome"] = "welcome"
    session_id: int
    last_seq: int
    max_rate: float | None = None
    max_burst: float | None = None


class Ack(BaseModel):
    """The message with this ``seq`` is stored (now, or when it was first sent)."""

    type: Literal["ack"] = "ack"
    seq: int


class Error(BaseModel):
    """A message was not stored. ``seq`` is null when it could not even be read.

    ``retry: false``: refused for good (its content, its time, a second hello …); the seq is
    settled and must not be resent. ``retry: true``: not taken now (over the rate limit, or a
    seq out of order); resend it, in order, no sooner than ``retry_after_s``. ``expected_seq``
    is the seq the server takes next, when that is what went wrong."""

    type: Literal["error"] = "error"
    seq: int | None
    field: str
    reason: str
    retry: bool = False
    retry_after_s: float | None = None
    expected_seq: int | None = None


ServerMessage = Annotated[Welcome | Ack | Error, Field(discriminator="type")]


# A validator's message that names its own field ("HR: HR 900 /min is ...") names it once.
_FIELD_PREFIX = re.compile(r"^([A-Za-z0-9_.]+): (.*)$", re.DOTALL)


def refusal(error: ValidationError, data: Any) -> tuple[str, str]:
    """The field (dotted: ``values.HR``) and the reason a message failed ``monitor_message``,
    as the server's refusals and offline evaluation both report them."""
    err = error.errors(include_url=False, include_input=False)[0]
    loc = [str(p) for p in err["loc"]]
    # The discriminated union puts the type name first in the location; it is not a field.
    if loc and isinstance(data, dict) and loc[0] == data.get("type"):
        loc = loc[1:]
    loc = [p for p in loc if not p.startswith("function-")]
    reason = err["msg"].removeprefix("Value error, ")
    if m := _FIELD_PREFIX.match(reason):
        loc, reason = [*loc, m.group(1)], m.group(2)
    if err["type"] == "union_tag_invalid" and isinstance(data, dict):
        reason = f"unknown message type {str(data.get('type'))[:40]!r}"
        loc = ["type"]
    elif err["type"] == "union_tag_not_found":
        loc = ["type"]
    return ".".join(loc), reason


def json_schema() -> dict[str, Any]:
    """The JSON Schema of both directions, as exported to docs/protocol.schema.json."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"vitalwatch monitor protocol v{PROTOCOL_VERSION}",
        "monitor_to_server": TypeAdapter(MonitorMessage).json_schema(),
        "server_to_monitor": TypeAdapter(ServerMessage).json_schema(),
    }
