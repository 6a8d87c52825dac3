"""Serial device protocols: sans-I/O parsers (host side) and encoders (device side).

``PROTOCOLS`` names each protocol a transport can speak, with its parser and the serial port
settings the device expects. A parser never touches a port or a clock::

    proto = PROTOCOLS["masimo"]
    parser = proto.parser()
    if proto.start_command:
        parser.start()            # queue the bytes that make the device stream
    port.write(parser.data_to_send())
    parser.receive_data(port.read(4096))
    for event in parser.events_received():
        ...                       # monitors.devices.events: Numerics, Nibp, WaveChunk, ...

How to cable and configure each device: docs/devices.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitors.devices.contec import ContecLegacyParser, ContecParser
from monitors.devices.contec_device import ContecDevice, ContecLegacyDevice
from monitors.devices.generic import GenericParser
from monitors.devices.intellivue import IntelliVueParser
from monitors.devices.intellivue_device import IntelliVueDevice
from monitors.devices.masimo import MasimoParser
from monitors.devices.masimo_device import MasimoDevice


@dataclass(frozen=True)
class Protocol:
    """A device protocol: its parser and device-side encoder classes and its port settings
    (``parity`` as pyserial spells it: "N", "E" or "O"). ``start_command`` means the host must
    call ``parser.start()`` before the device sends anything."""

    parser: type[Any]
    device: type[Any] | None
    baud: int
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    start_command: bool = False
    rtscts: bool = False


PROTOCOLS: dict[str, Protocol] = {
    "masimo": Protocol(MasimoParser, MasimoDevice, baud=9600),
    "contec": Protocol(ContecParser, ContecDevice, baud=115200, start_command=True),
    "contec_legacy": Protocol(ContecLegacyParser, ContecLegacyDevice, baud=19200, parity="O"),
    "intellivue": Protocol(IntelliVueParser, IntelliVueDevice, baud=115200, start_command=True),
    "generic": Protocol(GenericParser, None, baud=115200),
}

__all__ = ["PROTOCOLS", "Protocol"]
