"""The monitor side of IntelliVue data export: what a monitor sends, and how it answers a host.

``IntelliVueDevice`` is sans-I/O like the parser: ``receive_data`` takes the host's bytes and
queues the monitor's answers (association accept, the MDS Create event, poll results, release
response); the emulator then calls ``numerics(...)`` about once a second and ``wave(...)`` every
256 ms, which queue extended-poll results while the host has such a poll running.
"""

from __future__ import annotations

import contextlib
import math
import struct
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from monitors.devices.events import EventQueue
from monitors.devices.intellivue import (
    AARQ_PRESENTATION,
    ACTION_POLL,
    ACTION_POLL_EXT,
    ATTR_MODEL,
    ATTR_NU_CMPD_VAL_OBS,
    ATTR_NU_VAL_OBS,
    ATTR_OPERATING_MODE,
    ATTR_SA_VAL_OBS,
    ATTR_SYS_ID,
    ATTR_TIME_STAMP_ABS,
    CLASS_NUMERIC,
    CLASS_WAVE,
    CMD_ACTION,
    CMD_CONFIRMED_EVENT_REPORT,
    EVENT_MDS_CREATE,
    MDS,
    RELEASE_RESPONSE,
    RO_INVOKE,
    RO_LINKED,
    RO_RESULT,
    SPDU_ACCEPT,
    SPDU_ASSOC_REQUEST,
    SPDU_DATA_EXPORT,
    SPDU_RELEASE_REQUEST,
    SYSTEM_TYPE_CLIENT,
    SYSTEM_TYPE_SERVER,
    TICKS_PER_S,
    Deframer,
    Malformed,
    Reader,
    association_message,
    attribute_list,
    data_export,
    decode_message,
    frame,
    read_attribute_list,
    read_length_indicator,
    remote_operation,
    user_info,
)

# The association response's presentation header, byte-identical to the captured one.
AARE_PRESENTATION = bytes.fromhex(
    "3180a0808001010000a280a003000001a58030808001008102510100003080800100810c2a8648ce140201"
    "00000002010000000061803080020101a0806180a180060c2a8648ce14020100000003010000a2030201"
    "00a305a103020100be80288002010281"
)
REFUSE = bytes.fromhex("0c03320100")  # refuse SPDU with its session data, no presentation part

# Param -> (physio_id, unit code, observation handle). Handles follow the captured M8000 where it
# had the measurement (SpO2 1975, PR 1981, Perf 1985, HR 2114, RR 2121, NBP 2860).
PARAM_OBJECTS = {
    "SpO2": (0x4BB8, 0x0220, 1975), "PR": (0x4822, 0x0AA0, 1981), "PI": (0x4BB0, 0x0200, 1985),
    "HR": (0x4182, 0x0AA0, 2114), "RR": (0x500A, 0x0AE0, 2121), "EtCO2": (0x50B0, 0x0F20, 2130),
    "TEMP": (0x4B48, 0x17A0, 2140),
}
NBP_HANDLE, ABP_HANDLE = 2860, 2150
WAVE_OBJECTS = {  # Wave -> (physio_id, handle)
    "PLETH": (0x4BB4, 1977), "ECG_II": (0x0102, 2107), "RESP": (0x5000, 2119),
    "CO2": (0x50AC, 2160), "ABP": (0x4A14, 2170),
}
STATE_INVALID, STATE_UNAVAILABLE = 0x8000, 0x2000
MODE_MONITORING = 0x4000


def encode_float(value: float | None) -> int:
    """The FLOAT-Type word for a value (the NaN word for None), with as few digits as needed."""
    if value is None or not math.isfinite(value):
        return 0x007FFFFF
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    mantissa = int("".join(map(str, digits)) or "0")
    assert isinstance(exponent, int)
    while abs(mantissa) > 0x7FFFFD or exponent < -128:  # keep clear of the special words
        mantissa, exponent = round(mantissa / 10), exponent + 1
    while exponent > 0 and mantissa * 10 <= 0x7FFFFD:
        mantissa, exponent = mantissa * 10, exponent - 1
    if exponent > 127:
        raise ValueError(f"{value!r} does not fit a FLOAT-Type")
    return ((exponent & 0xFF) << 24) | (((-mantissa if sign else mantissa)) & 0xFFFFFF)


def encode_abs_time(t: datetime | None) -> bytes:
    """AbsoluteTime as 8 BCD bytes; all FF when unset."""
    if t is None:
        return b"\xff" * 8
    parts = (t.year // 100, t.year % 100, t.month, t.day, t.hour, t.minute, t.second, 0)
    return bytes((p // 10) << 4 | p % 10 for p in parts)


def nu_obs(physio: int, unit: int, value: float | None, state: int | None = None) -> bytes:
    """NuObsValue: physio_id, state, unit, FLOAT. No value is NaN, flagged invalid."""
    if state is None:
        state = 0 if value is not None else STATE_INVALID
    return struct.pack(">HHHI", physio, state, unit, encode_float(value))


def compound(items: list[bytes]) -> bytes:
    body = b"".join(items)
    return struct.pack(">HH", len(items), len(body)) + body


def poll_result(invoke_id: int, poll_number: int, obj_class: int, group: int, rel_time: int,
                observations: list[tuple[int, list[tuple[int, bytes]]]], *,
                sequence: int | None = None, abs_time: datetime | None = None,
                linked: tuple[int, int] | None = None) -> bytes:
    """A poll result (extended when ``sequence`` is given; a linked result piece when
    ``linked`` = (state, count)), one context (id 0) holding the observations."""
    obs = b"".join(struct.pack(">H", h) + attribute_list(a) for h, a in observations)
    contexts = struct.pack(">HHH", 0, len(observations), len(obs)) + obs
    reply = struct.pack(">H", poll_number)
    reply += b"" if sequence is None else struct.pack(">H", sequence)
    reply += struct.pack(">I", rel_time) + encode_abs_time(abs_time)
    reply += struct.pack(">HHH", 0x0001, obj_class, group)
    reply += struct.pack(">HH", 1, len(contexts)) + contexts
    action = ACTION_POLL if sequence is None else ACTION_POLL_EXT
    result = MDS + struct.pack(">HH", action, len(reply)) + reply
    operation = remote_operation(invoke_id, CMD_ACTION, result)
    if linked is not None:
        return data_export(RO_LINKED, bytes(linked) + operation)
    return data_export(RO_RESULT, operation)


def mds_create_event(invoke_id: int, rel_time: int, attrs: list[tuple[int, bytes]]) -> bytes:
    info = MDS + attribute_list(attrs)
    event = MDS + struct.pack(">IHH", rel_time, EVENT_MDS_CREATE, len(info)) + info
    return data_export(RO_INVOKE, remote_operation(invoke_id, CMD_CONFIRMED_EVENT_REPORT, event))


def string(text: str) -> bytes:
    """A length-prefixed, NUL-terminated, even-length ASCII string (as in the model attribute)."""
    raw = text.encode("ascii") + b"\0"
    raw += b"\0" * (len(raw) % 2)
    return struct.pack(">H", len(raw)) + raw


@dataclass
class _Poll:
    invoke_id: int
    poll_number: int
    group: int
    sequence: int = 0


class IntelliVueDevice:
    """An IntelliVue monitor's MIB port, seen from the cable."""

    def __init__(self, model: tuple[str, str] = ("Philips", "MX450"),
                 system_id: bytes = bytes.fromhex("0009fb000001"),
                 operating_mode: int = MODE_MONITORING,
                 mds_attributes: list[tuple[int, bytes]] | None = None) -> None:
        self.mds_attributes = mds_attributes or [
            (ATTR_SYS_ID, struct.pack(">H", len(system_id)) + system_id),
            (ATTR_MODEL, string(model[0]) + string(model[1])),
            (ATTR_OPERATING_MODE, struct.pack(">H", operating_mode)),
        ]
        self.rel_time = 0  # the monitor's RelativeTime, in 1/8 ms ticks; the caller advances it
        self.associated = False
        self.polls: dict[int, _Poll] = {}  # running extended polls by object class
        self._invoke = 0
        self._last_numerics: list[tuple[int, list[tuple[int, bytes]]]] = []
        self._q = EventQueue()  # only its outgoing buffer is used: a monitor reports nothing
        self._deframer = Deframer(EventQueue(), self._frame)

    def advance(self, seconds: float) -> None:
        self.rel_time = (self.rel_time + round(seconds * TICKS_PER_S)) & 0xFFFFFFFF

    def receive_data(self, data: bytes) -> None:
        self._deframer.feed(data)

    def _frame(self, user_data: bytes, _wire_bytes: int) -> None:
        # A monitor ignores what it cannot read; the host will time out and retry.
        with contextlib.suppress(Malformed, struct.error, ValueError, IndexError):
            self._message(user_data)

    def data_to_send(self) -> bytes:
        return self._q.take_outgoing()

    def _send(self, user_data: bytes) -> None:
        self._q.send(frame(user_data))

    def _message(self, data: bytes) -> None:
        kind = data[0]
        if kind == SPDU_ASSOC_REQUEST:
            self._associate(data)
        elif kind == SPDU_RELEASE_REQUEST:
            self.associated, self.polls = False, {}
            self._send(RELEASE_RESPONSE)
        elif kind == SPDU_DATA_EXPORT and self.associated:
            msg = decode_message(data)
            if msg.ro_type == RO_INVOKE and msg.command == CMD_ACTION and msg.request:
                self._poll(msg.invoke_id, msg.action, msg.request)

    def _associate(self, data: bytes) -> None:
        """Accept a client's association (echoing its poll profile) and announce the MDS."""
        r = Reader(data, 1)
        read_length_indicator(r)
        r.take(14)  # session data
        if r.u8() != 0xC1:
            raise Malformed("no presentation header")
        read_length_indicator(r)
        r.take(len(AARQ_PRESENTATION))  # the fixed template
        info = r.sub(read_length_indicator(r))
        _, _, _, system_type, _ = (info.u32() for _ in range(5))
        read_attribute_list(info)  # option list
        profiles = read_attribute_list(info)
        if system_type != SYSTEM_TYPE_CLIENT or 0x0001 not in profiles:
            self._q.send(frame(REFUSE))
            return
        support = Reader(profiles[0x0001])
        _, min_poll, mtu_rx, mtu_tx, _, _ = (support.u32() for _ in range(6))
        ext = read_attribute_list(support).get(0xF001, b"\x80\0\0\0")
        ext_options = struct.unpack(">I", ext[:4])[0]
        answer = user_info(SYSTEM_TYPE_SERVER, min_poll, mtu_rx, mtu_tx, ext_options)
        self._send(association_message(SPDU_ACCEPT, AARE_PRESENTATION, answer))
        self.associated, self.polls = True, {}
        self._invoke += 1
        self._send(mds_create_event(self._invoke, self.rel_time, self.mds_attributes))

    def _poll(self, invoke_id: int, action: int, request: Reader) -> None:
        poll_number, _, obj_class, group = (request.u16() for _ in range(4))
        if action == ACTION_POLL_EXT:
            # A real monitor streams for NOM_ATTR_TIME_PD_POLL (or a default period); with no
            # clock here, a poll runs until the next request for the same class replaces it.
            self.polls[obj_class] = _Poll(invoke_id, poll_number, group)
            self._reply_ext(obj_class, self._last_numerics if obj_class == CLASS_NUMERIC else [])
        elif action == ACTION_POLL:
            observations = self._last_numerics if obj_class == CLASS_NUMERIC else []
            self._send(poll_result(invoke_id, poll_number, obj_class, group, self.rel_time,
                                   observations))

    def _reply_ext(self, obj_class: int, observations: list[tuple[int, list[tuple[int, bytes]]]],
                   abs_time: datetime | None = None) -> None:
        poll = self.polls.get(obj_class)
        if poll is None:
            return
        self._send(poll_result(poll.invoke_id, poll.poll_number, obj_class, poll.group,
                               self.rel_time, observations, sequence=poll.sequence,
                               abs_time=abs_time))
        poll.sequence = (poll.sequence + 1) & 0xFFFF

    def numerics(self, values: dict[str, float | None], *,
                 nibp: tuple[float | None, float | None, float | None] | None = None,
                 nibp_time: datetime | None = None,
                 abp: tuple[float | None, float | None, float | None] | None = None,
                 abs_time: datetime | None = None) -> None:
        """Queue a numerics result (if the host polls numerics). ``values`` maps protocol Param
        names to values in canonical units (None: invalid); ``nibp`` is the last cuff result
        (sys, dia, mean) measured at ``nibp_time``; ``abp`` an arterial line."""
        observations: list[tuple[int, list[tuple[int, bytes]]]] = []
        for param, value in values.items():
            physio, unit, handle = PARAM_OBJECTS[param]
            observations.append((handle, [(ATTR_NU_VAL_OBS, nu_obs(physio, unit, value))]))
        for handle, base, reading in ((NBP_HANDLE, 0x4A04, nibp), (ABP_HANDLE, 0x4A14, abp)):
            if reading is None:
                continue
            state = None if any(v is not None for v in reading) else STATE_UNAVAILABLE
            values3 = [nu_obs(base + i + 1, 0x0F20, v, state) for i, v in enumerate(reading)]
            attrs = [(ATTR_NU_CMPD_VAL_OBS, compound(values3))]
            if handle == NBP_HANDLE:
                attrs.insert(0, (ATTR_TIME_STAMP_ABS, encode_abs_time(nibp_time)))
            observations.append((handle, attrs))
        self._last_numerics = observations
        self._reply_ext(CLASS_NUMERIC, observations, abs_time)

    def wave(self, name: str, samples: list[int | None]) -> None:
        """Queue one 256 ms block of a waveform (16-bit samples; a None marks the block
        invalid) if the host polls waves."""
        physio, handle = WAVE_OBJECTS[name]
        state = STATE_INVALID if any(s is None for s in samples) else 0
        raw = struct.pack(f">{len(samples)}H", *((s or 0) & 0xFFFF for s in samples))
        value = struct.pack(">HHH", physio, state, len(raw)) + raw
        self._reply_ext(CLASS_WAVE, [(handle, [(ATTR_SA_VAL_OBS, value)])])
