"""A generic line protocol for home-made bridges (an Arduino, a script reading some device).

The full specification, with examples, is in docs/devices.md ("Generic line protocol"). In
short: UTF-8 lines; a line starting with ``{`` is a JSON record, any other line is CSV whose
columns were named by the last header line. Values are in the protocol's canonical units.
A record is used whole or not at all: an unknown name, a non-number or an impossible value
drops the record as ``Garbage`` with the reason, so a bridge with a typo shows up at once.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from monitors.devices.events import (
    STATUS_CODES,
    Event,
    EventQueue,
    Nibp,
    Numerics,
    WaveChunk,
)
from monitors.protocol import MAX_WAVE_SAMPLES, UNITS, WAVE_RANGES, Param, Wave

MAX_LINE = 65536  # a JSON line can carry a wave block of a few thousand samples
PARAMS = {p.value.lower(): p.value for p in Param}
WAVES = {w.value.lower(): w.value for w in Wave}
NIBP_COLUMNS = {"nibp_sys": "sys", "nibp_dia": "dia", "nibp_map": "map"}
COLUMNS = set(PARAMS) | set(NIBP_COLUMNS) | {"time", "status"}
NO_VALUE = {"", "-", "--", "null", "none", "nan"}


class Rejected(ValueError):
    """A record that cannot be used; the message is the Garbage reason."""


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() in NO_VALUE:
            return None
        try:
            value = float(value)
        except ValueError:
            raise Rejected(f"{what}: not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(f"{what}: not a number")
    try:
        number = float(value)
    except OverflowError:
        raise Rejected(f"{what}: not a number") from None
    if not math.isfinite(number):
        raise Rejected(f"{what}: not a number")
    return number


def _in_range(param: str, value: float | None, what: str) -> float | None:
    low, high = UNITS[param][2], UNITS[param][3]
    if value is not None and not low <= value <= high:
        raise Rejected(f"{what} {value:g} is impossible ({low:g}-{high:g})")
    return value


def _nibp(fields: dict[str, Any]) -> Nibp:
    status = fields.pop("status", "ok")
    unknown = set(fields) - {"sys", "dia", "map"}
    if unknown or status not in ("ok", "failed"):
        raise Rejected(f"nibp: unknown field {min(unknown)[:20]!r}" if unknown
                       else "nibp: status must be 'ok' or 'failed'")
    v = {k: _in_range(p, _number(fields.get(k), f"nibp.{k}"), f"nibp.{k}")
         for k, p in (("sys", "SBP"), ("dia", "DBP"), ("map", "MAP"))}
    if status == "ok" and all(x is None for x in v.values()):
        raise Rejected("nibp: 'ok' needs at least one of sys, dia, map")
    if v["sys"] is not None and v["dia"] is not None and v["dia"] >= v["sys"]:
        raise Rejected("nibp: dia must be below sys")
    return Nibp(v["sys"], v["dia"], v["map"], status)


def _wave(obj: Any) -> WaveChunk:
    if not isinstance(obj, dict) or set(obj) != {"name", "rate", "samples"}:
        raise Rejected("wave: needs exactly name, rate, samples")
    name = WAVES.get(str(obj["name"]).lower())
    if name is None:
        raise Rejected(f"wave: unknown name {str(obj['name'])[:20]!r}")
    rate = _number(obj["rate"], "wave.rate")
    low, high = WAVE_RANGES[name]
    if rate is None or not low <= rate <= high:
        raise Rejected(f"wave: rate is impossible for {name}")
    samples = obj["samples"]
    if not isinstance(samples, list) or not 1 <= len(samples) <= MAX_WAVE_SAMPLES:
        raise Rejected(f"wave: samples must be a list of 1-{MAX_WAVE_SAMPLES}")
    return WaveChunk(name, rate, tuple(_number(s, "wave sample") for s in samples))


def _status(value: Any) -> dict[str, str]:
    """Active conditions: a list of codes, an object {code: text}, or (CSV) codes joined by |."""
    if isinstance(value, str):
        value = [c for c in value.split("|") if c.strip()]
    if isinstance(value, list):
        value = dict.fromkeys(value, "")
    if not isinstance(value, dict):
        raise Rejected("status: must be a list of codes or an object")
    out = {}
    for code, text in value.items():
        code = str(code).strip()
        if code not in STATUS_CODES:
            raise Rejected(f"status: unknown code {code[:20]!r}")
        out[code] = str(text)[:200]
    return out


def parse_json(line: str) -> tuple[list[Event], dict[str, str] | None]:
    """Events of one JSON record, and its active conditions (None if it says nothing of them)."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        raise Rejected("bad JSON") from None
    if not isinstance(obj, dict):
        raise Rejected("a JSON record must be an object")
    values: dict[str, float | None] = {}
    events: list[Event] = []
    device_time = None
    status = None
    for key, value in obj.items():
        param = PARAMS.get(key.lower())
        if param is not None:
            values[param] = _in_range(param, _number(value, param), param)
        elif key == "time":
            device_time = str(value)[:64] if value is not None else None
        elif key == "nibp":
            if not isinstance(value, dict):
                raise Rejected("nibp: must be an object")
            events.append(_nibp(dict(value)))
        elif key in ("wave", "waves"):
            events += [_wave(w) for w in (value if isinstance(value, list) else [value])]
        elif key == "status":
            status = _status(value)
        else:
            raise Rejected(f"unknown key {key[:20]!r}")
    if values:
        events.insert(0, Numerics(values, device_time))
    return events, status


class GenericParser:
    """Sans-I/O parser of the generic line protocol (JSON or CSV lines). Never raises; the host
    sends nothing."""

    def __init__(self) -> None:
        self._q = EventQueue()
        self._buf = bytearray()
        self._header: list[str] | None = None

    def receive_data(self, data: bytes) -> None:
        self._buf += data
        while (end := self._buf.find(b"\n")) >= 0:
            raw = bytes(self._buf[:end])
            del self._buf[:end + 1]
            self._line(raw, len(raw) + 1)
        if len(self._buf) > MAX_LINE:
            self._q.garbage(len(self._buf), "line too long")
            self._buf.clear()

    def events_received(self) -> list[Event]:
        return self._q.take_events()

    def data_to_send(self) -> bytes:
        return self._q.take_outgoing()

    def _line(self, raw: bytes, n_bytes: int) -> None:
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            self._q.garbage(n_bytes, "not UTF-8")
            return
        if not line or line.startswith("#"):
            return
        try:
            events, status = parse_json(line) if line.startswith("{") else self._csv(line)
        except Rejected as e:
            self._q.garbage(n_bytes, str(e))
            return
        for event in events:
            self._q.emit(event)
        if status is not None:
            self._q.set_conditions(status)

    def _csv(self, line: str) -> tuple[list[Event], dict[str, str] | None]:
        fields = [f.strip() for f in re.split(r"[,;\t]", line)]
        names = [f.lower() for f in fields]
        if all(n in COLUMNS for n in names) and len(set(names)) == len(names):
            self._header = names
            return [], None
        if self._header is None:
            raise Rejected("no header line yet")
        if len(fields) != len(self._header):
            raise Rejected(f"{len(fields)} fields, header has {len(self._header)}")
        values: dict[str, float | None] = {}
        nibp: dict[str, Any] = {}
        device_time, status = None, None
        for name, text in zip(self._header, fields, strict=True):
            if name in PARAMS:
                param = PARAMS[name]
                values[param] = _in_range(param, _number(text, param), param)
            elif name in NIBP_COLUMNS:
                if text.lower() not in NO_VALUE:
                    nibp[NIBP_COLUMNS[name]] = text
            elif name == "time":
                device_time = text or None
            elif name == "status":
                status = _status(text)
        events: list[Event] = [Numerics(values, device_time)] if values else []
        if nibp:
            events.append(_nibp(nibp))
        return events, status

