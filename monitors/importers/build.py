"""Records from imported values: units, plausibility, "no value", waveform chunks.

The importers read their format; these functions turn what they read into the recording's wire
messages so every format obeys the same rules: values in canonical units, a value outside what a
body can produce (``monitors.protocol.UNITS``) becomes "no value" (null) and is counted, never
dropped silently or sent to be refused by the server; waveforms in 0.4 s chunks with gaps as null.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from monitors.importers.report import Report
from monitors.protocol import UNITS, WAVE_RANGES

CHUNK_S = 0.4  # like a monitor: 0.2–0.5 s per waveform message (docs/protocol.md)

# Unit spellings seen in the wild, to the spelling protocol.UNITS accepts.
UNIT_ALIASES = {
    "bpm": "/min", "/min": "/min", "1/min": "/min", "min-1": "/min", "pm": "/min", "permin": "/min",
    "beats/min": "/min", "breaths/min": "/min", "rpm": "/min", "brpm": "/min", "/m": "/min",
    "%": "%", "mmhg": "mmHg", "kpa": "kPa", "cel": "Cel", "degc": "Cel", "°c": "Cel", "c": "Cel",
}
NIBP_PARAM = {"sys": "SBP", "dia": "DBP", "map": "MAP"}


def epoch(when: datetime) -> float:
    """Seconds since the epoch; a time without a zone is taken as UTC (documented)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def unit_factor(param: str, unit: str, signal: str, report: Report) -> float:
    """The factor to the canonical unit of ``param``. An empty or unknown unit is taken as the
    canonical one, and an unknown one is reported."""
    canonical, accepted, _, _ = UNITS[param]
    if not unit:
        return 1.0
    alias = UNIT_ALIASES.get(unit.strip().lower().replace(" ", ""))
    if alias is None or alias not in accepted:
        if signal not in report.units:
            report.units[signal] = unit
            report.note(f"signal {signal!r}: unit {unit!r} not recognised for {param}; taken as {canonical}")
        return 1.0
    return accepted[alias]


def value(param: str, raw: float | None, factor: float = 1.0, zero_is_none: bool = False,
          decimals: int = 3, report: Report | None = None) -> float | None:
    """One value in the canonical unit, or None: missing (NaN, None), a MIMIC zero when
    ``zero_is_none``, or impossible (counted in ``report``)."""
    if raw is None or not math.isfinite(raw):
        return None
    if raw == 0 and zero_is_none:
        if report is not None:
            report.no_value[param] += 1
        return None
    v = round(raw * factor, decimals)
    _, _, low, high = UNITS[param]
    if not low <= v <= high:
        if report is not None:
            report.bad_value(param, v)
        return None
    return v


def numerics(t: float, values: Mapping[str, float | None]) -> dict[str, Any] | None:
    if not values:
        return None
    return {"type": "numerics", "t": t,
            "values": {p: {"value": v, "unit": UNITS[p][0]} for p, v in values.items()}}


def nibp(t: float, parts: Mapping[str, float | None], report: Report) -> dict[str, Any] | None:
    """A cuff measurement from whichever of sys, dia, map are present (a mean alone is valid), or
    None when none is. A diastolic not below the systolic cannot be: both are made no value."""
    sys_, dia, map_ = parts.get("sys"), parts.get("dia"), parts.get("map")
    if sys_ is not None and dia is not None and dia >= sys_:
        report.bad_value("SBP/DBP (dia >= sys)", dia)
        sys_ = dia = None
    if sys_ is None and dia is None and map_ is None:
        return None
    return {"type": "nibp", "t": t, "status": "ok", "sys": sys_, "dia": dia, "map": map_, "unit": "mmHg"}


def at(t: float, values: Mapping[str, float | None], parts: Mapping[str, float | None],
       report: Report) -> Iterator[dict[str, Any]]:
    """The records of one time: its cuff reading (if any part of one is there), then its
    numerics (if any value is there)."""
    if parts and (cuff := nibp(t, parts, report)) is not None:
        yield cuff
    if (msg := numerics(t, values)) is not None:
        yield msg


def decimals_for(gain: float) -> int:
    """Decimals that keep a sampled signal's resolution (1/gain) and not the float noise."""
    if not gain or not math.isfinite(gain) or gain <= 0:
        return 4
    return max(0, math.ceil(math.log10(gain)) + 1)


def wave_ok(wave: str, rate: float) -> str | None:
    """None if the protocol accepts ``wave`` at ``rate`` Hz, else why not."""
    low, high = WAVE_RANGES[wave]
    return None if low <= rate <= high else f"{rate:g} Hz is outside {low:g}–{high:g} Hz for {wave}"


def wave_chunks(t0: float, wave: str, rate: float, samples: np.ndarray,
                decimals: int = 4) -> Iterator[tuple[float, dict[str, Any]]]:
    """``(t, record)`` per 0.4 s chunk of ``samples`` starting at ``t0``; NaN becomes null."""
    size = max(1, round(rate * CHUNK_S))
    x = np.round(np.asarray(samples, dtype=np.float64), decimals)
    gap = np.isnan(x)
    values = x.tolist()
    for i in np.flatnonzero(gap).tolist():
        values[i] = None
    for i in range(0, len(values), size):
        t = round(t0 + i / rate, 6)
        yield t, {"type": "waveform", "t": t, "wave": wave, "rate": rate, "samples": values[i:i + size]}
