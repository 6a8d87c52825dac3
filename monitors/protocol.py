"""The monitor wire protocol: what a monitor adapter sends to the server and what it gets back.

Every message is one JSON object in one websocket text frame, with a ``type`` field. Monitor →
server messages carry ``seq``, a number that rises by one per message within a *stream* (one run of
an adapter, named by the ``stream`` id in its ``hello``). The server answers each message with an
``ack`` (stored or refused for good: do not resend) or an ``error`` (which also settles that seq).
An adapter that reconnects sends ``hello`` again with the same stream id and resends every message
the server has not settled; the server stores a (monitor, stream, seq) at most once.

These models are the single definition of the protocol: the server validates with them, the
adapters build with them, and ``docs/protocol.schema.json`` is exported from them.
See docs/protocol.md for the prose.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

PROTOCOL_VERSION = 1


class Param(str, Enum):
    """Numeric parameters a monitor may report, named as on a bedside monitor."""

    HR = "HR"  # heart rate from ECG
    PR = "PR"  # pulse rate from the oximeter
    SpO2 = "SpO2"
    RR = "RR"  # respiration rate
    EtCO2 = "EtCO2"
    PI = "PI"  # perfusion index
    TEMP = "TEMP"


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
}

WAVE_RANGES: dict[str, tuple[float, float]] = {
    "PLETH": (1, 1000),
    "ECG_II": (50, 2000),
    "RESP": (1, 500),
    "CO2": (1, 500),
    "ABP": (1, 1000),
}

MAX_WAVE_SAMPLES = 4096


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

    value: float | None
    unit: str


class Hello(_Msg):
    type: Literal["hello"]
    seq: int = Field(ge=0)
    protocol: int = Field(ge=1)
    monitor_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    stream: str = Field(min_length=1, max_length=64)
    room: str = Field(min_length=1, max_length=64)
    mode: Literal["live", "demo", "replay", "test"]
    vendor: str = Field(default="", max_length=64)
    model: str = Field(default="", max_length=64)
    serial: str = Field(default="", max_length=64)


class Numerics(_Msg):
    type: Literal["numerics"]
    seq: int = Field(ge=0)
    t: float = Field(description="device timestamp, seconds since the Unix epoch")
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
    seq: int = Field(ge=0)
    t: float
    status: Literal["ok", "failed"]
    sys: float | None = None
    dia: float | None = None
    map: float | None = None
    unit: str = "mmHg"
    reason: str = Field(default="", max_length=200, description="why it failed, if it did")

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
    seq: int = Field(ge=0)
    t: float = Field(description="device timestamp of the first sample")
    wave: Wave
    rate: float = Field(description="samples per second")
    samples: list[float | None] = Field(min_length=1, max_length=MAX_WAVE_SAMPLES)

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
    seq: int = Field(ge=0)
    t: float
    code: Literal[
        "probe_off", "no_signal", "sensor_fault", "lead_off", "cuff_error", "motion",
        "low_perfusion", "low_battery", "device_alarm", "device_lost", "other", "pulse_search",
    ]
    active: bool = True
    text: str = Field(default="", max_length=200)


class Mark(_Msg):
    """A clinical event at ``t``: the dose (which starts the post-dose rules and captures the
    pre-dose baseline), the end of an infusion, a treatment, a note. Clinicians add them from the
    dashboard; a monitor with an event button, a simulator or a replay may send them too."""

    type: Literal["mark"]
    seq: int = Field(ge=0)
    t: float
    what: Literal["dose", "infusion end", "treatment", "intervention", "note"]
    text: str = Field(default="", max_length=500)


class Heartbeat(_Msg):
    type: Literal["heartbeat"]
    seq: int = Field(ge=0)
    t: float


MonitorMessage = Annotated[
    Union[Hello, Numerics, Nibp, Waveform, Status, Mark, Heartbeat], Field(discriminator="type")
]
monitor_message = TypeAdapter(MonitorMessage)


# Server → monitor.


class Welcome(BaseModel):
    """The answer to ``hello``: ``last_seq`` is the highest seq of this stream already settled,
    so the adapter can forget everything up to it."""

    type: Literal["welcome"] = "welcome"
    session_id: int
    last_seq: int


class Ack(BaseModel):
    """Every message up to and including ``seq`` is settled."""

    type: Literal["ack"] = "ack"
    seq: int


class Error(BaseModel):
    """A message was refused. ``seq`` is null when it could not even be read."""

    type: Literal["error"] = "error"
    seq: int | None
    field: str
    reason: str


ServerMessage = Annotated[Union[Welcome, Ack, Error], Field(discriminator="type")]


def json_schema() -> dict:
    """The JSON Schema of both directions, as exported to docs/protocol.schema.json."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"vitalwatch monitor protocol v{PROTOCOL_VERSION}",
        "monitor_to_server": TypeAdapter(MonitorMessage).json_schema(),
        "server_to_monitor": TypeAdapter(ServerMessage).json_schema(),
    }
