"""Philips IntelliVue MIB/RS-232 Data Export, host side (docs/device-protocols.md §3).

Theory of operation. Three layers, each decoded by one part of this module:

1. **Frames** (``Deframer``): ``C0 | 11 01 len | user data | FCS | C1`` with 0x7D transparency.
   A frame whose FCS, header or length is wrong is discarded whole, so no value is ever taken
   from a damaged frame.
2. **Session** (first user-data byte): association request/accept/refuse, release, abort; or
   ``E1`` for a data-export message.
3. **Data export** (``decode_message`` and the poll-reply walker): remote operations on the MDS;
   the monitor's MDS Create event, and the results of the polls we send.

The host's conversation is the ``TRANSITIONS`` table: associate, answer the MDS Create event,
poll. The parser reads no clock: the transport calls ``start()`` to associate, ``poll()`` every
``REPOLL_S`` (an extended poll streams for ``POLL_PERIOD_S`` and must be renewed before it
lapses), and ``keepalive()`` every ``KEEPALIVE_S`` (the monitor drops a silent host after ~10 s).
All multi-byte fields are big-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from monitors.devices.events import Event, EventQueue, Nibp, Numerics, Pressure, WaveChunk
from monitors.protocol import UNITS

# --- Frames -------------------------------------------------------------------------------------

BOF, EOF, ESC = 0xC0, 0xC1, 0x7D
FRAME_HEADER = b"\x11\x01"  # protocol 0x11 (data export), message type 0x01
MAX_FRAME = 8192  # unescaped; the association allows at most a 2500-byte MTU
FCS_GOOD_RESIDUE = 0xF0B8


def _fcs_table() -> list[int]:
    table = []
    for i in range(256):
        v = i
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        table.append(v)
    return table


_FCS_TABLE = _fcs_table()


def fcs16(data: bytes | bytearray, fcs: int = 0xFFFF) -> int:
    """The running PPP FCS-16 (RFC 1662, CRC-16/X-25) register, before the final XOR."""
    for b in data:
        fcs = (fcs >> 8) ^ _FCS_TABLE[(fcs ^ b) & 0xFF]
    return fcs


def frame(user_data: bytes) -> bytes:
    """Wrap user data in a wire frame: header, FCS (low byte first), and transparency over
    everything between BOF and EOF (header and FCS included, unlike some clients)."""
    body = FRAME_HEADER + struct.pack(">H", len(user_data)) + user_data
    body += struct.pack("<H", fcs16(body) ^ 0xFFFF)
    out = bytearray([BOF])
    for b in body:
        if b in (BOF, EOF, ESC):
            out += bytes([ESC, b ^ 0x20])
        else:
            out.append(b)
    out.append(EOF)
    return bytes(out)


class Deframer:
    """Splits a byte stream into checked frames: ``on_frame(user_data, wire_bytes)`` is called
    for each good frame as soon as its EOF arrives (so events keep the order of the bytes), and
    bad bytes go to the queue as ``Garbage``."""

    def __init__(self, queue: EventQueue, on_frame: Callable[[bytes, int], None]) -> None:
        self._q = queue
        self._on_frame = on_frame
        self._buf = bytearray()
        self._in_frame = False
        self._escaped = False
        self._wire = 0  # bytes of the current frame as received, for honest Garbage counts

    def _begin(self) -> None:
        self._buf.clear()
        self._in_frame, self._escaped, self._wire = True, False, 1

    def feed(self, data: bytes) -> None:
        for b in data:
            if not self._in_frame:
                if b == BOF:
                    self._begin()
                else:
                    self._q.garbage(1, "outside frame")
                continue
            self._wire += 1
            if b == BOF:  # a new frame starts inside this one: the sender gave up on it
                self._q.garbage(self._wire - 1, "frame restarted", merge=False)
                self._begin()
            elif self._escaped:
                self._escaped = False
                if b == EOF:
                    self._q.garbage(self._wire, "frame aborted", merge=False)
                    self._in_frame = False
                else:
                    self._buf.append(b ^ 0x20)
            elif b == ESC:
                self._escaped = True
            elif b == EOF:
                self._in_frame = False
                reason = self._check()
                if reason:
                    self._q.garbage(self._wire, reason, merge=False)
                else:
                    self._on_frame(bytes(self._buf[4:-2]), self._wire)
            else:
                self._buf.append(b)
            if self._in_frame and len(self._buf) > MAX_FRAME:
                self._q.garbage(self._wire, "frame too long", merge=False)
                self._in_frame = False
                self._buf.clear()

    def _check(self) -> str:
        buf = self._buf
        if len(buf) < 6:
            return "short frame"
        if fcs16(buf) != FCS_GOOD_RESIDUE:
            return "bad checksum"
        if buf[:2] != FRAME_HEADER:
            return "not a data-export frame"
        if struct.unpack(">H", buf[2:4])[0] != len(buf) - 6:
            return "bad frame length"
        return ""


# --- Basic types --------------------------------------------------------------------------------


class Malformed(ValueError):
    """A message that passed the FCS but does not parse (truncated field, impossible length)."""


class Reader:
    """Bounds-checked big-endian reads over one message."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else min(end, len(data))

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise Malformed("field runs past its message")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def sub(self, n: int) -> Reader:
        """A reader over the next ``n`` bytes, which this one skips."""
        start = self.pos
        self.take(n)
        return Reader(self.data, start, start + n)

    def remaining(self) -> int:
        return self.end - self.pos


FLOAT_SPECIAL = {0x007FFFFF: "NaN", 0x00800000: "NRes", 0x007FFFFE: "+INF",
                 0x00800002: "-INF", 0x00800001: "reserved"}


def decode_float(word: int) -> Decimal | None:
    """FLOAT-Type: signed 8-bit exponent, signed 24-bit mantissa; None for the special words.
    Decimal keeps 97.7 exactly 97.7."""
    if word in FLOAT_SPECIAL:
        return None
    exponent = (word >> 24) - 256 if word >> 31 else word >> 24
    mantissa = word & 0xFFFFFF
    if mantissa & 0x800000:
        mantissa -= 0x1000000
    return Decimal(mantissa).scaleb(exponent)


def decode_abs_time(raw: bytes) -> str | None:
    """AbsoluteTime: 8 BCD bytes (century, year, month, day, hour, minute, second, fraction);
    all FF means unset. Returns ISO 8601 or None (unset or not valid BCD)."""
    if raw == b"\xff" * 8:
        return None
    digits = []
    for b in raw[:7]:
        hi, lo = b >> 4, b & 0x0F
        if hi > 9 or lo > 9:
            return None
        digits.append(hi * 10 + lo)
    c, y, mo, d, h, mi, s = digits
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        return None
    return f"{c:02d}{y:02d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"


def length_indicator(n: int) -> bytes:
    """The session layer's length: one byte below 255, else FF and two bytes."""
    return bytes([n]) if n < 255 else b"\xff" + struct.pack(">H", n)


def read_length_indicator(r: Reader) -> int:
    n = r.u8()
    return r.u16() if n == 0xFF else n


def attribute_list(attrs: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(struct.pack(">HH", a, len(v)) + v for a, v in attrs)
    return struct.pack(">HH", len(attrs), len(body)) + body


def read_attribute_list(r: Reader) -> dict[int, bytes]:
    count, length = r.u16(), r.u16()
    body = r.sub(length)
    attrs = {}
    for _ in range(count):
        attr_id, n = body.u16(), body.u16()
        attrs[attr_id] = body.take(n)
    return attrs


# --- Session layer ------------------------------------------------------------------------------

SPDU_ASSOC_REQUEST, SPDU_REFUSE, SPDU_ACCEPT = 0x0D, 0x0C, 0x0E
SPDU_RELEASE_REQUEST, SPDU_RELEASE_RESPONSE, SPDU_ABORT = 0x09, 0x0A, 0x19
SPDU_DATA_EXPORT = 0xE1

# The fixed wrapper of the association messages, from the Philips guide as copied by every
# client (VSCapture, mindleaving): session data, then the presentation header's ASN.1 payload.
# The response header was checked against the captured association (session_messages.ndjson).
SESSION_DATA = bytes.fromhex("0508130100160102800014020002")
AARQ_PRESENTATION = bytes.fromhex(
    "3180a0808001010000a280a003000001a4803080020101060452010001308006025101000000003080020102"
    "060c2a8648ce14020100000001013080060c2a8648ce1402010000000201000000000000618030800201"
    "01a0806080a180060c2a8648ce14020100000003010000be802880060c2a8648ce1402010000000101020102"
    "81"
)
# Release request and response: session byte, length 24, presentation header, 4-byte trailer.
RELEASE_REQUEST = bytes.fromhex("0918" "c11661803080020101a080628080010000000000" "00000000")
RELEASE_RESPONSE = bytes.fromhex("0a18" "c11661803080020101a080638080010000000000" "00000000")
PRESENTATION_TRAILER = bytes(16)

PROTOCOL_VERSION = 0x80000000
NOMENCLATURE_VERSION = 0x40000000
SYSTEM_TYPE_CLIENT = 0x80000000  # the monitor refuses an association without it
SYSTEM_TYPE_SERVER = 0x00800000  # as seen in the captured association response
STARTUP_COLD = 0x20000000
POLL_PROFILE_REV = 0x80000000
POLL_OPTIONS_DYN = 0x60000000  # dynamic create/delete of objects
EXT_NUMERICS_1S = 0x80000000
EXT_WAVES = 0x08000000
ATTR_POLL_PROFILE_SUPPORT = 0x0001
ATTR_POLL_PROFILE_EXT = 0xF001


def user_info(system_type: int, min_poll_ticks: int, mtu_rx: int, mtu_tx: int,
              ext_options: int) -> bytes:
    """MDSEUserInfoStd: versions, system type, startup mode, an empty option list and the
    Poll Profile Support attribute carrying the Poll Profile Extension."""
    ext = struct.pack(">I", ext_options) + attribute_list([])
    support = struct.pack(">IIIIII", POLL_PROFILE_REV, min_poll_ticks, mtu_rx, mtu_tx,
                          0xFFFFFFFF, POLL_OPTIONS_DYN)
    support += attribute_list([(ATTR_POLL_PROFILE_EXT, ext)])
    head = struct.pack(">IIIII", PROTOCOL_VERSION, NOMENCLATURE_VERSION, 0, system_type,
                       STARTUP_COLD)
    return head + attribute_list([]) + attribute_list([(ATTR_POLL_PROFILE_SUPPORT, support)])


def association_message(kind: int, presentation: bytes, info: bytes) -> bytes:
    """An association request (0D) or accept (0E): session header and data, presentation
    header, the user info with its ASN.1 length, and the zero presentation trailer."""
    user = length_indicator(len(info)) + info
    header = b"\xc1" + length_indicator(len(presentation) + len(user) + len(PRESENTATION_TRAILER))
    body = SESSION_DATA + header + presentation + user + PRESENTATION_TRAILER
    return bytes([kind]) + length_indicator(len(body)) + body


def association_request(min_poll_ticks: int = 2500, ext_options: int = EXT_NUMERICS_1S) -> bytes:
    return association_message(
        SPDU_ASSOC_REQUEST, AARQ_PRESENTATION,
        user_info(SYSTEM_TYPE_CLIENT, min_poll_ticks, 2500, 1000, ext_options))


# --- Data export ---------------------------------------------------------------------------------

RO_INVOKE, RO_RESULT, RO_ERROR, RO_LINKED = 1, 2, 3, 5
CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT, CMD_GET, CMD_ACTION = 0, 1, 3, 7
MDS = struct.pack(">HHH", 0x0021, 0, 0)  # managed object: class MDS, context 0, handle 0
EVENT_MDS_CREATE = 0x0D06
ACTION_POLL, ACTION_POLL_EXT = 0x0C16, 0xF13B
CLASS_MDS, CLASS_NUMERIC, CLASS_WAVE = 0x21, 0x06, 0x09
GROUP_ALL, GROUP_SYSTEM_PRODUCTION = 0x0000, 0x080C
ATTR_TIME_PD_POLL = 0xF13E
ATTR_NU_VAL_OBS, ATTR_NU_CMPD_VAL_OBS, ATTR_TIME_STAMP_ABS = 0x0950, 0x094B, 0x0990
ATTR_SA_VAL_OBS = 0x096E
ATTR_SYS_ID, ATTR_MODEL, ATTR_OPERATING_MODE = 0x0984, 0x0928, 0x0946
MODE_DEMO = 0x2000
TICKS_PER_S = 8000  # RelativeTime counts 1/8 ms


def data_export(ro_type: int, body: bytes, context: int = 2) -> bytes:
    """SPpdu (session E100, presentation context) + ROapdus header + the remote operation."""
    return struct.pack(">HHHH", 0xE100, context, ro_type, len(body)) + body


def remote_operation(invoke_id: int, command: int, argument: bytes) -> bytes:
    return struct.pack(">HHH", invoke_id, command, len(argument)) + argument


def poll_request(invoke_id: int, poll_number: int, obj_class: int, group: int = GROUP_ALL,
                 extended_ticks: int | None = None) -> bytes:
    """A single poll (``extended_ticks`` None) or an extended poll streaming for that long."""
    request = struct.pack(">HHHH", poll_number, 0x0001, obj_class, group)
    action = ACTION_POLL
    if extended_ticks is not None:
        action = ACTION_POLL_EXT
        request += attribute_list([(ATTR_TIME_PD_POLL, struct.pack(">I", extended_ticks))])
    argument = MDS + struct.pack(">IHH", 0, action, len(request)) + request
    return data_export(RO_INVOKE, remote_operation(invoke_id, CMD_ACTION, argument))


def mds_create_result(invoke_id: int, event_time: int) -> bytes:
    """The host's answer to the MDS Create event, echoing its invoke id."""
    result = MDS + struct.pack(">IHH", event_time, EVENT_MDS_CREATE, 0)
    return data_export(RO_RESULT, remote_operation(invoke_id, CMD_CONFIRMED_EVENT_REPORT, result))


@dataclass
class Message:
    """A decoded data-export message: the remote-operation envelope and what it carries."""

    ro_type: int
    invoke_id: int = 0
    command: int = 0
    error: int = 0
    event_type: int = 0
    event_time: int = 0
    action: int = 0
    attributes: dict[int, bytes] = field(default_factory=dict)  # MDS Create
    poll: PollReply | None = None
    request: Reader | None = None  # argument of an action invoke (device side)


@dataclass
class PollReply:
    poll_number: int
    rel_time: int
    abs_time: bytes
    obj_class: int
    group: int
    observations: list[tuple[int, dict[int, bytes]]]  # (handle, attributes)
    sequence: int = 0


def decode_message(data: bytes) -> Message:
    """Decode a data-export message (first bytes E1 00). Raises ``Malformed``."""
    r = Reader(data)
    if r.u16() != 0xE100:
        raise Malformed("not a data-export session")
    r.u16()  # presentation context
    ro_type, length = r.u16(), r.u16()
    r = r.sub(length)
    if ro_type == RO_ERROR:
        return Message(ro_type, invoke_id=r.u16(), error=r.u16())
    if ro_type == RO_LINKED:
        r.take(2)  # linked id: state (first/middle/last) and count; each piece stands alone
    elif ro_type not in (RO_INVOKE, RO_RESULT):
        raise Malformed(f"unknown remote operation type {ro_type}")
    msg = Message(RO_RESULT if ro_type == RO_LINKED else ro_type, invoke_id=r.u16(),
                  command=r.u16())
    body = r.sub(r.u16())
    if msg.command in (CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT):
        body.take(6)  # managed object
        msg.event_time, msg.event_type = body.u32(), body.u16()
        info = body.sub(body.u16())
        if msg.ro_type == RO_INVOKE and msg.event_type == EVENT_MDS_CREATE:
            info.take(6)
            msg.attributes = read_attribute_list(info)
    elif msg.command == CMD_ACTION:
        body.take(6)
        if msg.ro_type == RO_INVOKE:
            body.u32()  # scope
            msg.action = body.u16()
            msg.request = body.sub(body.u16())
        else:
            msg.action = body.u16()
            reply = body.sub(body.u16())
            if msg.action in (ACTION_POLL, ACTION_POLL_EXT):
                msg.poll = _read_poll_reply(reply, extended=msg.action == ACTION_POLL_EXT)
    return msg


def _read_poll_reply(r: Reader, extended: bool) -> PollReply:
    poll_number = r.u16()
    sequence = r.u16() if extended else 0
    rel_time, abs_time = r.u32(), r.take(8)
    r.u16()  # partition
    obj_class, group = r.u16(), r.u16()
    observations = []
    count, length = r.u16(), r.u16()
    contexts = r.sub(length)
    for _ in range(count):
        contexts.u16()  # context id
        n_obs, obs_length = contexts.u16(), contexts.u16()
        obs = contexts.sub(obs_length)
        for _ in range(n_obs):
            handle = obs.u16()
            observations.append((handle, read_attribute_list(obs)))
    return PollReply(poll_number, rel_time, abs_time, obj_class, group, observations, sequence)


# --- From observations to events ------------------------------------------------------------------

UNIT_FACTORS = {  # unit code -> factor to the canonical unit, per kind of measurement
    "rate": {0x0AA0: 1.0, 0x0AE0: 1.0},  # beats or breaths per minute
    "percent": {0x0220: 1.0},
    "perf": {0x0200: 1.0, 0x0220: 1.0},  # IntelliVue "Perf" is dimensionless [U]
    "pressure": {0x0F20: 1.0, 0x0F03: 7.50062},  # mmHg, kPa
    "temp": {0x17A0: 1.0},  # degrees Celsius [S]
}

# physio_id -> (Param, kind, priority): when two sources report a parameter, the valid one with
# the lowest priority number wins (pleth pulse before generic pulse, airway RR before impedance).
NUMERIC_PARAMS = {
    0x4182: ("HR", "rate", 0),
    0x4822: ("PR", "rate", 0), 0x480A: ("PR", "rate", 1),
    0x4BB8: ("SpO2", "percent", 0),
    0x4BB0: ("PI", "perf", 0),
    0x5012: ("RR", "rate", 0), 0x500A: ("RR", "rate", 1),
    0x50B0: ("EtCO2", "pressure", 0), 0x509C: ("EtCO2", "pressure", 1),
    0x4B48: ("TEMP", "temp", 0),
}
# physio_id -> (label, field) for pressures: NBP goes to Nibp, arterial lines to Pressure.
PRESSURES = {
    0x4A05: ("NBP", "sys"), 0x4A06: ("NBP", "dia"), 0x4A07: ("NBP", "map"),
    0x4A15: ("ABP", "sys"), 0x4A16: ("ABP", "dia"), 0x4A17: ("ABP", "map"),
    0x4A11: ("ART", "sys"), 0x4A12: ("ART", "dia"), 0x4A13: ("ART", "map"),
}
PRESSURE_UNITS = {"sys": "SBP", "dia": "DBP", "map": "MAP"}  # keys of protocol.UNITS
# physio_id -> (Wave, samples/s). Rates are the usual RS-232 export rates [S]; the capture
# shows 32 pleth samples per 0.256 s (125/s) [V].
WAVES = {
    0x4BB4: ("PLETH", 125.0), 0x0102: ("ECG_II", 500.0), 0x5000: ("RESP", 62.5),
    0x50AC: ("CO2", 62.5), 0x4A14: ("ABP", 125.0), 0x4A10: ("ABP", 125.0),
}


def valid_state(state: int) -> bool:
    """MeasurementState: valid only with no bit of the high byte set (invalid, questionable,
    unavailable, calibrating, test data, demo data)."""
    return state & 0xFF00 == 0


def nu_values(attrs: dict[int, bytes]) -> list[tuple[int, int, int, Decimal | None]]:
    """Every (physio_id, state, unit, value) of an observation, single and compound."""
    raw = []
    if ATTR_NU_VAL_OBS in attrs:
        raw.append(attrs[ATTR_NU_VAL_OBS])
    if ATTR_NU_CMPD_VAL_OBS in attrs:
        r = Reader(attrs[ATTR_NU_CMPD_VAL_OBS])
        count, _ = r.u16(), r.u16()
        raw += [r.take(10) for _ in range(count)]
    out = []
    for item in raw:
        if len(item) < 10:
            raise Malformed("short numeric value")
        physio, state, unit, word = struct.unpack(">HHHI", item[:10])
        out.append((physio, state, unit, decode_float(word)))
    return out


def sa_value(attrs: dict[int, bytes]) -> tuple[int, int, bytes] | None:
    """The (physio_id, state, sample bytes) of a wave observation's SaObsValue, if it has one.
    The compound form (0x0967) is skipped: the capture shows it beside the single one with a
    different sample count for the same lead, and its meaning is not documented [U]."""
    if ATTR_SA_VAL_OBS not in attrs:
        return None
    r = Reader(attrs[ATTR_SA_VAL_OBS])
    physio, state, n = r.u16(), r.u16(), r.u16()
    return physio, state, r.take(n)


# --- The host ----------------------------------------------------------------------------------

IDLE, ASSOCIATING, ASSOCIATED, POLLING, RELEASING = (
    "idle", "associating", "associated", "polling", "releasing")

# (state, what arrived) -> next state. Anything not listed leaves the state unchanged. "start"
# and "abort"/"refuse" may come at any time: the monitor can drop us, the transport can restart.
TRANSITIONS = {
    (ASSOCIATING, "accept"): ASSOCIATED,
    (ASSOCIATED, "mds_create"): POLLING,
    (POLLING, "mds_create"): POLLING,  # the monitor restarted its side: answer and poll again
    (ASSOCIATED, "release"): RELEASING,
    (POLLING, "release"): RELEASING,
    (RELEASING, "released"): IDLE,
}
ANY_STATE = {"start": ASSOCIATING, "refuse": IDLE, "abort": IDLE, "release_request": IDLE}


class IntelliVueParser:
    """Sans-I/O host side of IntelliVue MIB/RS-232 data export (115200 8N1).

    After ``start()`` the parser associates, answers the monitor's MDS Create event by itself
    and starts extended polls of numerics (and waves, if asked). The transport calls ``poll()``
    every ``REPOLL_S`` and ``keepalive()`` every ``KEEPALIVE_S`` while ``state == "polling"``,
    and ``start()`` again when nothing valid has arrived for ``SILENCE_S``.
    Emits ``Numerics``, ``Nibp``, ``Pressure``, ``WaveChunk``, ``DeviceStatus`` and ``Garbage``.
    """

    POLL_PERIOD_S = 30.0
    REPOLL_S = 20.0
    KEEPALIVE_S = 5.0
    SILENCE_S = 10.0

    def __init__(self, waves: bool = False) -> None:
        self.waves = waves
        self.state = IDLE
        self.relative_time: float | None = None  # monitor's clock at the last poll reply, s
        self.device: dict[str, object] = {}  # model, system id, operating mode from MDS Create
        self._q = EventQueue()
        self._deframer = Deframer(self._q, self._frame)
        self._invoke = 0
        self._poll_number = 0
        self._notices: dict[str, str] = {}
        self._last_nibp: tuple[object, ...] | None = None

    # -- what the transport calls --

    def start(self) -> None:
        """(Re)associate: queue the association request."""
        self._to("start")
        ext = EXT_NUMERICS_1S | (EXT_WAVES if self.waves else 0)
        self._q.send(frame(association_request(ext_options=ext)))

    def poll(self) -> None:
        """Queue the extended polls (re-issue before ``POLL_PERIOD_S`` lapses)."""
        if self.state != POLLING:
            return
        ticks = int(self.POLL_PERIOD_S * TICKS_PER_S)
        classes = [CLASS_NUMERIC] + ([CLASS_WAVE] if self.waves else [])
        for obj_class in classes:
            self._q.send(frame(poll_request(self._next_invoke(), self._next_poll(), obj_class,
                                            extended_ticks=ticks)))

    def keepalive(self) -> None:
        """Queue the cheapest single poll there is (MDS, system production group)."""
        if self.state == POLLING:
            self._q.send(frame(poll_request(self._next_invoke(), self._next_poll(), CLASS_MDS,
                                            GROUP_SYSTEM_PRODUCTION)))

    def release(self) -> None:
        """End the association politely; the monitor answers with a release response."""
        if self.state in (ASSOCIATED, POLLING):
            self._to("release")
            self._q.send(frame(RELEASE_REQUEST))

    def receive_data(self, data: bytes) -> None:
        self._deframer.feed(data)

    def events_received(self) -> list[Event]:
        return self._q.take_events()

    def data_to_send(self) -> bytes:
        return self._q.take_outgoing()

    # -- internals --

    def _frame(self, user_data: bytes, wire_bytes: int) -> None:
        try:
            self._message(user_data)
        except (Malformed, struct.error, ValueError, IndexError):
            # The FCS was right, so the monitor sent this; we cannot read it. Report, go on.
            self._q.garbage(wire_bytes, "malformed message", merge=False)

    def _to(self, what: str) -> None:
        self.state = ANY_STATE.get(what) or TRANSITIONS.get((self.state, what), self.state)

    def _next_invoke(self) -> int:
        self._invoke = (self._invoke + 1) & 0xFFFF
        return self._invoke

    def _next_poll(self) -> int:
        self._poll_number = (self._poll_number + 1) & 0xFFFF
        return self._poll_number

    def _notice(self, kind: str, text: str | None) -> None:
        """Keep the "other" condition in step with the notices (refused, aborted, demo …)."""
        if text is None:
            self._notices.pop(kind, None)
        else:
            self._notices[kind] = text
        texts = [self._notices[k] for k in sorted(self._notices)]
        self._q.set_conditions({"other": "; ".join(texts)} if texts else {})

    def _message(self, data: bytes) -> None:
        kind = data[0]
        if kind == SPDU_DATA_EXPORT:
            self._data_export(decode_message(data))
        elif kind == SPDU_ACCEPT:
            self._to("accept")
            self._notice("association", None)
        elif kind == SPDU_REFUSE:
            self._to("refuse")
            self._notice("association", "monitor refused the association")
        elif kind == SPDU_ABORT:
            self._to("abort")
            self._notice("association", "monitor aborted the association")
        elif kind == SPDU_RELEASE_RESPONSE:
            self._to("released")
        elif kind == SPDU_RELEASE_REQUEST:
            self._to("release_request")
            self._q.send(frame(RELEASE_RESPONSE))
        else:
            raise Malformed(f"unknown session message {kind:#04x}")

    def _data_export(self, msg: Message) -> None:
        if msg.ro_type == RO_ERROR:
            self._notice("error", f"monitor returned error {msg.error} for request {msg.invoke_id}")
            return
        if msg.ro_type == RO_INVOKE and msg.event_type == EVENT_MDS_CREATE:
            self._mds_create(msg)
            return
        if msg.poll is not None:
            self._notice("error", None)
            self._poll_reply(msg.poll)

    def _mds_create(self, msg: Message) -> None:
        attrs = msg.attributes
        if ATTR_OPERATING_MODE in attrs:
            mode = Reader(attrs[ATTR_OPERATING_MODE]).u16()
            self.device["operating_mode"] = mode
            demo = "monitor in demo mode: its values are simulated" if mode & MODE_DEMO else None
            self._notice("demo", demo)
        if ATTR_MODEL in attrs:
            r = Reader(attrs[ATTR_MODEL])
            maker = r.take(r.u16()).rstrip(b"\0").decode("ascii", "replace")
            model = r.take(r.u16()).rstrip(b"\0").decode("ascii", "replace")
            self.device["model"] = f"{maker} {model}".strip()
        if ATTR_SYS_ID in attrs:
            r = Reader(attrs[ATTR_SYS_ID])
            self.device["system_id"] = r.take(r.u16()).hex(":")
        self._q.send(frame(mds_create_result(msg.invoke_id, msg.event_time)))
        self._to("mds_create")
        self.poll()

    def _poll_reply(self, reply: PollReply) -> None:
        self.relative_time = reply.rel_time / TICKS_PER_S
        device_time = decode_abs_time(reply.abs_time)
        if reply.obj_class == CLASS_NUMERIC:
            self._numerics(reply, device_time)
        elif reply.obj_class == CLASS_WAVE:
            self._waves(reply)

    def _numerics(self, reply: PollReply, device_time: str | None) -> None:
        best: dict[str, tuple[int, float | None]] = {}  # param -> (priority, value)
        pressures: dict[str, dict[str, float | None]] = {}
        nibp_time: bytes | None = None
        for _handle, attrs in reply.observations:
            for physio, state, unit, value in nu_values(attrs):
                if physio in NUMERIC_PARAMS:
                    param, kind, priority = NUMERIC_PARAMS[physio]
                    v = self._checked(param, self._convert(value, state, unit, kind))
                    held = best.get(param)
                    if held is None or (v is not None and (held[1] is None or priority < held[0])):
                        best[param] = (priority, v)
                elif physio in PRESSURES:
                    label, name = PRESSURES[physio]
                    v = self._convert(value, state, unit, "pressure")
                    pressures.setdefault(label, {})[name] = self._checked(PRESSURE_UNITS[name], v)
                    if label == "NBP":
                        nibp_time = attrs.get(ATTR_TIME_STAMP_ABS, nibp_time)
        if best:
            self._q.emit(Numerics({p: v for p, (_, v) in sorted(best.items())}, device_time))
        for label, p in sorted(pressures.items()):
            sys_, dia, map_ = p.get("sys"), p.get("dia"), p.get("map")
            if sys_ is None and dia is None and map_ is None:
                continue
            if sys_ is not None and dia is not None and dia >= sys_:
                self._notice(f"range {label}", f"impossible {label} (dia >= sys) ignored")
                continue
            if label == "NBP":
                # The monitor repeats the last cuff result on every poll; a new measurement is a
                # new (values, measurement time) pair.
                key = (sys_, dia, map_, nibp_time)
                if key != self._last_nibp:
                    self._last_nibp = key
                    self._q.emit(Nibp(sys_, dia, map_, "ok"))
            else:
                self._q.emit(Pressure(label, sys_, dia, map_))

    def _checked(self, param: str, value: float | None) -> float | None:
        """A value outside what can be measured can only come from a fault: drop it and say so
        (until a possible value arrives) rather than pass on a number nobody should trust."""
        low, high = UNITS[param][2], UNITS[param][3]
        if value is not None and not low <= value <= high:
            self._notice(f"range {param}", f"impossible {param} value from the monitor ignored")
            return None
        if value is not None:
            self._notice(f"range {param}", None)
        return value

    def _convert(self, value: Decimal | None, state: int, unit: int, kind: str) -> float | None:
        factor = UNIT_FACTORS[kind].get(unit)
        if value is None or not valid_state(state):
            return None
        if factor is None:
            self._notice(f"unit {unit:#06x}", f"value in unsupported unit {unit:#06x} ignored")
            return None
        return float(value) if factor == 1.0 else round(float(value) * factor, 3)

    def _waves(self, reply: PollReply) -> None:
        for _handle, attrs in reply.observations:
            sa = sa_value(attrs)
            if sa is None or sa[0] not in WAVES or not sa[2] or len(sa[2]) % 2:
                continue
            physio, state, raw = sa
            # Samples are 16-bit (the capture's arrays hold two bytes per sample); the sample size
            # proper is in the SA specification attribute, which we do not poll.
            samples = struct.unpack(f">{len(raw) // 2}H", raw)
            name, rate = WAVES[physio]
            ok = valid_state(state)
            self._q.emit(WaveChunk(name, rate, tuple(float(s) if ok else None for s in samples)))
