"""Contec CMS50D+ / CMS50E pulse oximeters (docs/device-protocols.md §2).

Two incompatible generations exist:

- ``ContecParser``: protocol V7.0, 115200 8N1, 9-byte real-time packets at 60/s, streaming only
  after the host sends "start" (and, per the vendor document, "PC connected" every 5 s).
- ``ContecLegacyParser``: the older 5-byte live format, 19200 8O1, streams on connect.

Neither has a checksum. V7.0 frames with a sync bit instead: the type byte is the only byte with
bit 7 clear, so a packet interrupted by a type byte is discarded and decoding restarts there.
"""

from __future__ import annotations

from monitors.devices.events import Event, EventQueue, Numerics, WaveChunk

PLETH_RATE = 60.0  # real-time packets per second, one pleth sample each
PLETH_CHUNK = 15  # samples per WaveChunk: four chunks a second keeps the trace smooth
NUMERICS_EVERY = 60  # re-send unchanged numerics once a second (counted in packets, not time)

# V7.0 device-to-host packet lengths by type byte.
PACKET_LENGTHS = {0x01: 9, 0x04: 9, 0x0B: 4, 0x0C: 2, 0x0D: 3, 0x0E: 3}

CMD_START = 0xA1
CMD_STOP = 0xA2
CMD_PC_CONNECTED = 0xAF
CMD_ASK_ID = 0xAA
CMD_ASK_PI = 0xAC

INVALID_PR = 0xFF
INVALID_SPO2 = 0x7F
INVALID_PI = 0xFFFF
PROBE_OFF_PLETH = 0x40


def encode_packet(kind: int, payload: bytes) -> bytes:
    """A V7.0 packet: type, high-bits byte, then the payload with bit 7 moved into the high-bits
    byte (bit k of it carries bit 7 of payload byte k) and set on the wire."""
    if len(payload) > 7 or kind & 0x80:
        raise ValueError("a V7.0 packet has a 7-bit type and at most 7 payload bytes")
    high = 0x80
    for k, b in enumerate(payload):
        high |= ((b >> 7) & 1) << k
    return bytes([kind, high]) + bytes(b | 0x80 for b in payload)


def decode_payload(packet: bytes) -> bytes:
    """The payload bytes of a V7.0 packet with each bit 7 restored from the high-bits byte."""
    high = packet[1]
    return bytes((b & 0x7F) | (((high >> k) & 1) << 7) for k, b in enumerate(packet[2:]))


def command(cmd: int) -> bytes:
    """A host-to-device command: ``7D 81 cc 80 80 80 80 80 80`` (unused bytes are 00 as 80)."""
    return encode_packet(0x7D, bytes([cmd, 0, 0, 0, 0, 0, 0]))


def _valid(value: int, low: int, high: int) -> float | None:
    return float(value) if low <= value <= high else None


class _Oximeter:
    """What both generations do with a decoded sample: batch the pleth, send numerics when they
    change (or once a second), and report probe-off/searching when they begin and end."""

    def __init__(self) -> None:
        self._q = EventQueue()
        self._pleth: list[float | None] = []
        self._last: dict[str, float | None] | None = None
        self._since_numerics = 0
        self._has_pi = False  # PI is reported only by devices that have ever sent a valid one
        self._conditions: dict[str, str] = {}

    def _sample(
        self, spo2: float | None, pr: float | None, pi: float | None, pleth: float | None,
        probe_off: bool, searching: bool,
    ) -> None:
        values: dict[str, float | None] = {"SpO2": spo2, "PR": pr}
        if pi is not None or self._has_pi:
            values["PI"] = pi
        self._since_numerics += 1
        if values != self._last or self._since_numerics >= NUMERICS_EVERY:
            self._q.emit(Numerics(values))
            self._last = values
            self._since_numerics = 0
        # A real-time sample ends any notice ("disconnected", "refused"): the device is talking.
        self._conditions = {}
        if probe_off:
            self._conditions["probe_off"] = "probe error / finger out"
        elif searching:
            self._conditions["pulse_search"] = "searching for pulse"
        self._q.set_conditions(self._conditions)
        self._pleth.append(pleth)
        if len(self._pleth) >= PLETH_CHUNK:
            self._q.emit(WaveChunk("PLETH", PLETH_RATE, tuple(self._pleth)))
            self._pleth = []

    def _notice(self, text: str) -> None:
        self._conditions = {**self._conditions, "other": text}
        self._q.set_conditions(self._conditions)

    def events_received(self) -> list[Event]:
        return self._q.take_events()

    def data_to_send(self) -> bytes:
        return self._q.take_outgoing()


class ContecParser(_Oximeter):
    """Sans-I/O host side of Contec protocol V7.0.

    ``start()`` queues the start-streaming command and ``keepalive()`` the "PC connected" command;
    the transport owns the timers: call ``start()`` on connect, ``keepalive()`` every
    ``KEEPALIVE_S`` seconds, and ``start()`` again if ``realtime_packets`` has not grown for
    ``RESTART_S`` seconds (the vendor document treats 1 s without an answer as a lost link).
    """

    KEEPALIVE_S = 5.0
    RESTART_S = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()
        self.realtime_packets = 0
        self.identifier: str | None = None

    def start(self) -> None:
        self._q.send(command(CMD_START))

    def keepalive(self) -> None:
        self._q.send(command(CMD_PC_CONNECTED))

    def stop(self) -> None:
        self._q.send(command(CMD_STOP))

    def ask_identifier(self) -> None:
        self._q.send(command(CMD_ASK_ID))

    def receive_data(self, data: bytes) -> None:
        for b in data:
            if b & 0x80:
                if self._buf:
                    self._buf.append(b)
                else:
                    self._q.garbage(1, "no sync bit")  # hunting for a type byte
                    continue
            else:
                if self._buf:
                    self._q.garbage(len(self._buf), "truncated packet")
                self._buf = bytearray([b])
                if b not in PACKET_LENGTHS:
                    self._q.garbage(1, "unknown packet type")
                    self._buf.clear()
                    continue
            if len(self._buf) == PACKET_LENGTHS[self._buf[0]]:
                packet, self._buf = bytes(self._buf), bytearray()
                self._packet(packet)

    def _packet(self, packet: bytes) -> None:
        kind, p = packet[0], decode_payload(packet)
        if kind == 0x01:
            self.realtime_packets += 1
            probe_off = bool(p[0] & 0x80)
            pi_raw = p[5] | p[6] << 8
            pi = None if (p[2] & 0x10 or pi_raw == INVALID_PI) else pi_raw / 100
            if pi is not None:
                self._has_pi = True
            self._sample(
                spo2=_valid(p[4], 1, 100),
                pr=_valid(p[3], 1, 254),
                pi=pi,
                pleth=None if probe_off else float(p[1] & 0x7F),
                probe_off=probe_off,
                searching=bool(p[1] & 0x80 or p[0] & 0x10),
            )
        elif kind == 0x04:
            self.identifier = p.rstrip(b"\x00").decode("ascii", "replace")
        elif kind == 0x0D:
            self._notice(f"device disconnected (reason {p[0]:#04x})")
        elif kind == 0x0B and p[1] != 0:
            self._notice(f"command {p[0]:#04x} refused (reason {p[1]:#04x})")
        # 0x0C "free" after a stop and 0x0E PI support need no action: PI validity is per packet.


class ContecLegacyParser(_Oximeter):
    """Sans-I/O parser of the older 5-byte live format (19200 8O1; streams without a command).

    Only the first byte of a packet has bit 7 set; it is the sync. There is no PI.
    """

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()

    def receive_data(self, data: bytes) -> None:
        for b in data:
            if b & 0x80:
                if self._buf:
                    self._q.garbage(len(self._buf), "truncated packet")
                self._buf = bytearray([b])
            elif self._buf:
                self._buf.append(b)
            else:
                self._q.garbage(1, "no sync bit")
                continue
            if len(self._buf) == 5:
                packet, self._buf = bytes(self._buf), bytearray()
                self._packet(packet)

    def _packet(self, p: bytes) -> None:
        probe_off = bool(p[0] & 0x10 or p[2] & 0x10)
        pr = p[3] | (p[2] & 0x40) << 1  # byte 2 bit 6 is pulse-rate bit 7
        self._sample(
            spo2=_valid(p[4], 1, 100),
            pr=_valid(pr, 1, 254),
            pi=None,
            pleth=None if probe_off else float(p[1]),
            probe_off=probe_off,
            searching=bool(p[2] & 0x20),
        )
