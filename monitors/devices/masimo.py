"""Masimo Radical-7 / Rad-8 / Radical-5 ASCII serial output (docs/device-protocols.md §1).

One line a second, device to host only:
``MM/DD/YY hh:mm:ss KEY=VALUE KEY=VALUE ... CR LF``. There is no checksum, so the grammar is the
only integrity check we have: a line is used whole or not at all. The field set varies by model,
firmware and licence, so values are found by key, never by position.
"""

from __future__ import annotations

import re
from datetime import datetime

from monitors.devices.events import Event, EventQueue, Numerics
from monitors.protocol import UNITS

MAX_LINE = 512  # a real line is under 200 characters; anything longer is noise without an end

_TIMESTAMP = re.compile(rb"^(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?: |$)")
_LINE_END = re.compile(rb"[\r\n]+")

# Masimo key -> protocol Param. SpCO, SpMet, SpHb, PVI … have no protocol parameter yet.
PARAMS = {"SPO2": "SpO2", "BPM": "PR", "PI": "PI"}

# EXC bits -> (status code, text). 0x800 "Masimo SET" means full SET mode while readings are
# good: it is not a fault and is deliberately absent. Bits above 0xFFF and 0x100 come from MD PnP
# code only [U].
EXC_BITS: dict[int, tuple[str, str]] = {
    0x001: ("probe_off", "no sensor"),
    0x002: ("sensor_fault", "defective sensor"),
    0x004: ("low_perfusion", "low perfusion"),
    0x008: ("pulse_search", "pulse search"),
    0x010: ("other", "interference"),
    0x020: ("probe_off", "sensor off"),
    0x040: ("other", "ambient light"),
    0x080: ("sensor_fault", "unrecognised sensor"),
    0x100: ("sensor_fault", "incompatible sensor"),
    0x400: ("other", "low signal IQ"),
    0x1000: ("probe_off", "no cable"),
    0x2000: ("sensor_fault", "cable expired"),
    0x4000: ("sensor_fault", "incompatible cable"),
    0x8000: ("sensor_fault", "unrecognised cable"),
    0x10000: ("sensor_fault", "defective cable"),
    0x20000: ("other", "sensor calibrating"),
    0x40000: ("sensor_fault", "sensor expired"),
    0x80000: ("sensor_fault", "emitter temperature"),
    0x100000: ("sensor_fault", "sensor current limit"),
    0x200000: ("other", "SpCO low confidence"),
    0x400000: ("other", "SpMet low confidence"),
}

# ALARM bits: the device's own alarms. 0x01-0x20 are confirmed by two sources; 0x40 is MD PnP only.
# "Silenced" is no alarm in itself, but whoever watches the screen should know the device is mute.
ALARM_BITS: dict[int, tuple[str, str]] = {
    0x01: ("device_alarm", "SpO2 high"),
    0x02: ("device_alarm", "SpO2 low"),
    0x04: ("device_alarm", "pulse rate high"),
    0x08: ("device_alarm", "pulse rate low"),
    0x10: ("device_alarm", "alarm active"),
    0x20: ("other", "alarms silenced on the device"),
    0x40: ("low_battery", "low battery"),
}


class Malformed(ValueError):
    """A line that matches the timestamp pattern but cannot be trusted."""


def parse_value(text: str) -> float | None:
    """A Masimo value: ``%`` stripped; no digit after a leading sign means "no value"."""
    text = text.replace("%", "")
    if not any(c.isdigit() for c in text.lstrip("+-")):
        return None
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        raise Malformed("bad value")
    return float(text)


def parse_hex(text: str) -> int:
    """ALARM and EXC: hex of 2 to 8 digits, seen at several widths."""
    if not re.fullmatch(r"[0-9A-Fa-f]{1,8}", text):
        raise Malformed("bad hex field")
    return int(text, 16)


def conditions(alarm: int | None, exc: int | None) -> dict[str, str]:
    """The active technical conditions (code -> text) that the ALARM and EXC fields report."""
    texts: dict[str, list[str]] = {}
    for word, table in ((exc, EXC_BITS), (alarm, ALARM_BITS)):
        if word is None:
            continue
        for bit, (code, text) in table.items():
            if word & bit:
                texts.setdefault(code, []).append(text)
    return {code: ", ".join(t) for code, t in texts.items()}


def parse_line(line: bytes) -> tuple[Numerics, dict[str, str] | None]:
    """Decode one line (without its terminator) into numerics and the active conditions
    (None when the line carries neither ALARM nor EXC). Raises ``Malformed``."""
    m = _TIMESTAMP.match(line)
    if m is None:
        raise Malformed("no timestamp")
    mo, dd, yy, hh, mi, ss = (int(g) for g in m.groups())
    try:
        device_time = datetime(2000 + yy, mo, dd, hh, mi, ss).isoformat()
    except ValueError:
        raise Malformed("bad timestamp") from None
    try:
        text = line[m.end():].decode("ascii")
    except UnicodeDecodeError:
        raise Malformed("not ASCII") from None
    values: dict[str, float | None] = {}
    alarm = exc = None
    for token in text.split():
        key, sep, raw = token.partition("=")
        if not sep:
            raise Malformed("token without '='")
        if key in PARAMS:
            param = PARAMS[key]
            try:
                value = parse_value(raw)
            except Malformed:
                raise Malformed(f"bad {key} value") from None
            low, high = UNITS[param][2], UNITS[param][3]
            if value is not None and not low <= value <= high:
                raise Malformed(f"{key} {value:g} out of range")
            values[param] = value
        elif key == "ALARM":
            alarm = parse_hex(raw)
        elif key == "EXC":
            exc = parse_hex(raw)
        # Other keys (SN, SPCO, PVI, EXC1 …) are read past: they vary by model and licence.
    status = None if alarm is None and exc is None else conditions(alarm, exc)
    return Numerics(values, device_time), status


class MasimoParser:
    """Sans-I/O parser for the Masimo ASCII stream (9600 8N1, device to host only).

    Feed bytes with ``receive_data``; collect ``Numerics``, ``DeviceStatus`` (edge-triggered from
    the ALARM/EXC bits) and ``Garbage`` with ``events_received``. Never raises. The host sends
    nothing, so ``data_to_send`` is always empty.
    """

    def __init__(self) -> None:
        self._q = EventQueue()
        self._buf = bytearray()

    def receive_data(self, data: bytes) -> None:
        self._buf += data
        while True:
            m = _LINE_END.search(self._buf)
            if m is None:
                break
            line = bytes(self._buf[: m.start()])
            del self._buf[: m.end()]
            if line:
                self._line(line, len(line) + m.end() - m.start())
        if len(self._buf) > MAX_LINE:
            self._q.garbage(len(self._buf), "line too long")
            self._buf.clear()

    def _line(self, line: bytes, n_bytes: int) -> None:
        try:
            numerics, status = parse_line(line)
        except Malformed as e:
            self._q.garbage(n_bytes, str(e))
            return
        self._q.emit(numerics)
        if status is not None:
            self._q.set_conditions(status)

    def events_received(self) -> list[Event]:
        return self._q.take_events()

    def data_to_send(self) -> bytes:
        return self._q.take_outgoing()
