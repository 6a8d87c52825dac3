"""The device map of an HL7 listener: which monitor id, room and device token each equipment id
speaks with.

One device a line, four fields separated by spaces or tabs (quote a field with spaces in it);
``#`` starts a comment::

    # equipment id      monitor id   room       token
    0123456789ABCDEF    bed-1-nibp   "Room 1"   env:BED1_TOKEN
    080019FFFF4F6AC0    bed-2-gw     "Room 2"   vwd_…

The token is the one ``vitalwatch device add MONITOR_ID --room ROOM`` printed: written in the
file, or ``env:NAME`` to read it from the environment variable ``NAME`` (so the file can be
readable without giving the tokens away). The server checks each token against its monitor id
and rooms at every hello, as for any monitor. Errors name the line and the field.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

FIELDS = ("equipment id", "monitor id", "room", "token")
_MONITOR_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


class DeviceMapError(ValueError):
    """The device map cannot be used; the message lists every problem, by line and field."""


@dataclass(frozen=True)
class Device:
    equipment: str
    monitor_id: str
    room: str
    token: str
    line: int


def load(path: str | Path, environ: dict[str, str] | None = None) -> dict[str, Device]:
    """Equipment id -> device. Raises DeviceMapError naming each bad line and field."""
    env = os.environ if environ is None else environ
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DeviceMapError(f"{path}: cannot read the device map: {e}") from None
    errors: list[str] = []
    devices: dict[str, Device] = {}
    monitors: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        where = f"{path}:{n}"
        try:
            fields = shlex.split(line, comments=True)
        except ValueError as e:
            errors.append(f"{where}: {e} (an unclosed quote?)")
            continue
        if not fields:
            continue
        if len(fields) != len(FIELDS):
            missing = FIELDS[len(fields)] if len(fields) < len(FIELDS) else None
            errors.append(f"{where}: {missing}: missing (a line has {len(FIELDS)} fields: "
                          f"{', '.join(FIELDS)})" if missing else
                          f"{where}: {len(fields)} fields, expected {len(FIELDS)} "
                          f"({', '.join(FIELDS)}); quote a room with spaces in it")
            continue
        equipment, monitor_id, room, token = fields
        if not 1 <= len(equipment) <= 64 or not equipment.isprintable():
            errors.append(f"{where}: equipment id: {equipment[:80]!r} must be 1–64 printable characters")
        if not _MONITOR_ID.match(monitor_id):
            errors.append(f"{where}: monitor id: {monitor_id[:80]!r} must be 1–64 letters, digits "
                          f"or _ . : -")
        if not 1 <= len(room) <= 64:
            errors.append(f"{where}: room: must be 1–64 characters")
        if token.startswith("env:"):
            name = token[4:]
            if not env.get(name):
                errors.append(f"{where}: token: the environment variable {name!r} is not set")
            token = env.get(name, "")
        elif not token:
            errors.append(f"{where}: token: missing")
        if equipment in devices:
            errors.append(f"{where}: equipment id: {equipment!r} is already on line "
                          f"{devices[equipment].line}")
            continue
        if monitor_id in monitors:
            errors.append(f"{where}: monitor id: {monitor_id!r} is already on line "
                          f"{monitors[monitor_id]} (each device streams as its own monitor)")
            continue
        devices[equipment] = Device(equipment, monitor_id, room, token, n)
        monitors[monitor_id] = n
    if errors:
        raise DeviceMapError("\n".join(errors))
    if not devices:
        raise DeviceMapError(f"{path}: no devices: add a line per device ({', '.join(FIELDS)})")
    return devices
