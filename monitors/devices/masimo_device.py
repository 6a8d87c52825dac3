"""The device side of the Masimo ASCII protocol: turn values into the line a Masimo would send.

Sans-I/O like the parser: ``MasimoDevice.send(...)`` queues a line, ``data_to_send()`` hands the
bytes to whatever plays the serial port (a pseudo-terminal in the emulator). The host never
talks to a Masimo, so ``receive_data`` only counts what it is given.
"""

from __future__ import annotations

from datetime import datetime

# Per model: (fields in order, ALARM hex digits, EXC hex digits). The layouts follow the MD PnP
# Radical-7 and Radical-5 example strings.
MODELS = {
    "radical7": (("SN", "SPO2", "BPM", "PI", "SPCO", "SPMET", "DESAT", "PIDELTA", "PVI"), 4, 6),
    "radical5": (("SPO2", "BPM", "PI"), 2, 3),
}

MASIMO_SET = 0x800  # EXC status bit set while the device runs in full SET mode (not a fault)


def _fixed(value: float | None, width: int, decimals: int, signed: bool = False) -> str:
    """Zero-padded like the device (``098``, ``01.25``, ``-02``), dashes for no value."""
    if value is None:
        dashes = "-" * width if decimals == 0 else "-" * (width - decimals - 1) + "." + "-" * decimals
        return ("+" if signed else "") + dashes
    if signed:
        return ("-" if value < 0 else "+") + f"{abs(value):0{width}.{decimals}f}"
    return f"{value:0{width}.{decimals}f}"


def encode_line(
    timestamp: datetime,
    *,
    spo2: float | None = None,
    pr: float | None = None,
    pi: float | None = None,
    spco: float | None = None,
    spmet: float | None = None,
    desat: float | None = None,
    pidelta: float | None = None,
    pvi: float | None = None,
    sn: str | None = None,
    alarm: int = 0,
    exc: int = MASIMO_SET,
    model: str = "radical7",
) -> bytes:
    """One ASCII line, CR LF included, as the given model prints it."""
    fields, alarm_digits, exc_digits = MODELS[model]
    texts = {
        "SN": sn if sn is not None else "-" * 10,
        "SPO2": _fixed(spo2, 3, 0) + "%",
        "BPM": _fixed(pr, 3, 0),
        "PI": _fixed(pi, 5, 2) + "%",
        "SPCO": _fixed(spco, 4, 1) + "%",
        "SPMET": _fixed(spmet, 4, 1) + "%",
        "DESAT": _fixed(desat, 2, 0),
        "PIDELTA": _fixed(pidelta, 2, 0, signed=True),
        "PVI": _fixed(pvi, 3, 0),
    }
    parts = [timestamp.strftime("%m/%d/%y %H:%M:%S")]
    parts += [f"{key}={texts[key]}" for key in fields]
    parts += [f"ALARM={alarm:0{alarm_digits}X}", f"EXC={exc:0{exc_digits}X}"]
    return (" ".join(parts) + "\r\n").encode("ascii")


class MasimoDevice:
    """A Masimo as seen from the serial port: queue a line per second with ``send``."""

    def __init__(self, model: str = "radical7", sn: str | None = None) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r} (known: {', '.join(MODELS)})")
        self.model = model
        self.sn = sn
        self.bytes_ignored = 0
        self._outgoing = bytearray()

    def receive_data(self, data: bytes) -> None:
        # A Masimo ignores anything the host sends.
        self.bytes_ignored += len(data)

    def send(self, timestamp: datetime, **values: float | None) -> None:
        """Queue one line; ``values`` are the keyword arguments of ``encode_line``."""
        self._outgoing += encode_line(timestamp, sn=self.sn, model=self.model, **values)  # type: ignore[arg-type]

    def data_to_send(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data
