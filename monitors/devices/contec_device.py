"""The device side of the Contec protocols: packets a CMS50 would send, and its answers to the host.

``ContecDevice`` (V7.0) streams only between the host's "start" and "stop" commands, answers the
identifier and PI-support questions, and acknowledges "stop" with the 0C "free" packet.
``ContecLegacyDevice`` streams unconditionally. Both are sans-I/O: the emulator calls
``sample(...)`` 60 times a second and writes ``data_to_send()`` to its pseudo-terminal.
"""

from __future__ import annotations

from monitors.devices.contec import (
    CMD_ASK_ID,
    CMD_ASK_PI,
    CMD_START,
    CMD_STOP,
    INVALID_PI,
    INVALID_PR,
    INVALID_SPO2,
    PROBE_OFF_PLETH,
    decode_payload,
    encode_packet,
)


def encode_realtime(
    *,
    spo2: int | None,
    pr: int | None,
    pi: float | None = None,
    pleth: int = 0,
    signal: int = 4,
    bar: int = 0,
    probe_error: bool = False,
    searching: bool = False,
    searching_too_long: bool = False,
    low_spo2: bool = False,
    beep: bool = False,
) -> bytes:
    """A V7.0 type-01 real-time packet; None values become the device's invalid markers."""
    status = (signal & 0x0F) | searching_too_long << 4 | low_spo2 << 5 | beep << 6 | probe_error << 7
    pleth_byte = (PROBE_OFF_PLETH if probe_error else pleth & 0x7F) | searching << 7
    pi_raw = INVALID_PI if pi is None else max(0, min(0xFFFE, round(pi * 100)))
    bar_byte = (bar & 0x0F) | (pi is None) << 4
    payload = bytes([
        status, pleth_byte, bar_byte,
        INVALID_PR if pr is None else pr & 0xFF,
        INVALID_SPO2 if spo2 is None else spo2 & 0x7F,
        pi_raw & 0xFF, pi_raw >> 8,
    ])
    return encode_packet(0x01, payload)


def encode_legacy(
    *,
    spo2: int | None,
    pr: int | None,
    pleth: int = 0,
    signal: int = 4,
    bar: int = 0,
    probe_error: bool = False,
    searching: bool = False,
    spo2_dropping: bool = False,
    beep: bool = False,
) -> bytes:
    """An old-format 5-byte live packet (PR 255 and SpO2 127 mark no value)."""
    pr_raw = 255 if pr is None else pr & 0xFF
    return bytes([
        0x80 | (signal & 0x0F) | probe_error << 4 | spo2_dropping << 5 | beep << 6,
        0 if probe_error else pleth & 0x7F,
        (bar & 0x0F) | probe_error << 4 | searching << 5 | (pr_raw >> 7) << 6,
        pr_raw & 0x7F,
        127 if spo2 is None else spo2 & 0x7F,
    ])


class ContecDevice:
    """A CMS50D+/CMS50E speaking protocol V7.0, seen from its serial port."""

    def __init__(self, identifier: str = "CMS50E", pi_supported: bool = True) -> None:
        self.identifier = identifier
        self.pi_supported = pi_supported
        self.streaming = False
        self.commands: list[int] = []  # every command heard, for tests and the emulator's log
        self._buf = bytearray()
        self._outgoing = bytearray()

    def receive_data(self, data: bytes) -> None:
        """Bytes from the host: 9-byte 7D command packets, framed by the same sync bit."""
        for b in data:
            if not b & 0x80:
                self._buf = bytearray([b])
            elif self._buf:
                self._buf.append(b)
            if len(self._buf) == 9:
                packet, self._buf = bytes(self._buf), bytearray()
                if packet[0] == 0x7D:
                    self._command(decode_payload(packet)[0])

    def _command(self, cmd: int) -> None:
        self.commands.append(cmd)
        if cmd == CMD_START:
            self.streaming = True
        elif cmd == CMD_STOP:
            self.streaming = False
            self._outgoing += encode_packet(0x0C, b"")
        elif cmd == CMD_ASK_ID:
            self._outgoing += encode_packet(0x04, self.identifier.encode("ascii")[:7].ljust(7, b"\0"))
        elif cmd == CMD_ASK_PI:
            self._outgoing += encode_packet(0x0E, bytes([int(self.pi_supported)]))
        elif cmd not in (0xAF,):  # "PC connected" has no reply
            self._outgoing += encode_packet(0x0B, bytes([cmd, 0x05]))  # 05: unsupported

    def sample(self, **values: float | bool | None) -> None:
        """Queue one real-time packet (keywords of ``encode_realtime``) if the host started the
        stream; a real device sends nothing before "start"."""
        if self.streaming:
            if not self.pi_supported:
                values["pi"] = None
            self._outgoing += encode_realtime(**values)  # type: ignore[arg-type]

    def data_to_send(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data


class ContecLegacyDevice:
    """An older CMS50D+ that streams 5-byte packets from power-on and ignores the host."""

    def __init__(self) -> None:
        self._outgoing = bytearray()

    def receive_data(self, data: bytes) -> None:
        pass

    def sample(self, **values: int | bool | None) -> None:
        self._outgoing += encode_legacy(**values)  # type: ignore[arg-type]

    def data_to_send(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data
