"""Events the device parsers emit: what a device said, decoded, with no timestamps attached.

The transport that feeds a parser stamps each event with the host's receive time: device clocks
are not synchronised (and some devices have none), so a parser never reads a clock.

Event
 ├── Numerics     periodic values, keyed by protocol ``Param`` names; None = "no value"
 ├── Nibp         one finished cuff measurement
 ├── Pressure     one invasive blood pressure reading (no field for it in wire protocol v1)
 ├── WaveChunk    consecutive samples of one waveform
 ├── DeviceStatus a technical condition began (active) or ended
 └── Garbage      bytes that were discarded, and why
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The Status codes of monitors.protocol.Status, repeated here so parsers can be checked against
# them without building pydantic models.
STATUS_CODES = frozenset({
    "probe_off", "no_signal", "sensor_fault", "lead_off", "cuff_error", "motion",
    "low_perfusion", "low_battery", "device_alarm", "device_lost", "other", "pulse_search",
})


@dataclass(frozen=True)
class Numerics:
    """Values keyed by protocol Param name (HR, PR, SpO2, RR, EtCO2, PI, TEMP), in canonical units.

    A key that is present with ``None`` means the device reported "no value" (probe off,
    searching); a key that is absent means the device did not report that parameter at all.
    A value is never 0 as a stand-in for "no value".
    """

    values: dict[str, float | None] = field(default_factory=dict)
    device_time: str | None = None  # ISO 8601 device clock, when the device sends one


@dataclass(frozen=True)
class Nibp:
    """One completed (``ok``) or failed cuff measurement, in mmHg."""

    sys: float | None
    dia: float | None
    map: float | None
    status: Literal["ok", "failed"] = "ok"


@dataclass(frozen=True)
class Pressure:
    """An invasive pressure (``label`` "ABP" or "ART"), in mmHg.

    Wire protocol v1 has no numeric for it, so a transport may drop it; the ABP waveform is sent
    as a ``WaveChunk`` and does travel.
    """

    label: str
    sys: float | None
    dia: float | None
    map: float | None


@dataclass(frozen=True)
class WaveChunk:
    """Consecutive samples of one waveform (protocol ``Wave`` name) at ``rate`` samples/s.

    Samples are in device units (e.g. ADC counts); None marks a sample the device flagged invalid.
    """

    wave: str
    rate: float
    samples: tuple[float | None, ...]


@dataclass(frozen=True)
class DeviceStatus:
    """A technical condition (a protocol Status code) began (``active``) or ended."""

    code: str
    active: bool
    text: str = ""


@dataclass(frozen=True)
class Garbage:
    """``n_bytes`` bytes were discarded; ``reason`` says why (e.g. "bad checksum")."""

    n_bytes: int
    reason: str


Event = Numerics | Nibp | Pressure | WaveChunk | DeviceStatus | Garbage


class EventQueue:
    """What every parser shares: the events not yet collected, the bytes not yet sent, and the
    technical conditions currently active (so a status is reported when it changes, not on every
    packet)."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._outgoing = bytearray()
        self._active: dict[str, str] = {}

    def emit(self, event: Event) -> None:
        self._events.append(event)

    def garbage(self, n_bytes: int, reason: str, merge: bool = True) -> None:
        """Record discarded bytes. With ``merge``, a run of discards with the same reason becomes
        one event, so that a stream of noise does not become a stream of events; whole frames
        are reported one by one (``merge=False``)."""
        if n_bytes <= 0:
            return
        last = self._events[-1] if self._events else None
        if merge and isinstance(last, Garbage) and last.reason == reason:
            self._events[-1] = Garbage(last.n_bytes + n_bytes, reason)
        else:
            self._events.append(Garbage(n_bytes, reason))

    def set_conditions(self, conditions: dict[str, str]) -> None:
        """Report the difference between the active conditions (code -> text) and the last set:
        a condition that began or whose text changed is sent active, one that ended inactive."""
        for code in sorted(self._active.keys() - conditions.keys()):
            self._events.append(DeviceStatus(code, False, self._active[code]))
        for code in sorted(conditions):
            if self._active.get(code) != conditions[code]:
                self._events.append(DeviceStatus(code, True, conditions[code]))
        self._active = dict(conditions)

    def send(self, data: bytes) -> None:
        self._outgoing += data

    def take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def take_outgoing(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data
