"""The serial transport driven through a fake port (the only thing replaced is pyserial) and a
fake clock: protocol timers, event mapping, and the statuses that say why no data comes."""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import serial

from monitors.adapter import Identity
from monitors.devices.contec import CMD_PC_CONNECTED, CMD_START
from monitors.devices.contec_device import ContecDevice
from monitors.devices.events import Numerics
from monitors.devices.intellivue import (
    ACTION_POLL,
    ACTION_POLL_EXT,
    SPDU_ASSOC_REQUEST,
    Deframer,
    EventQueue,
    decode_message,
)
from monitors.devices.intellivue_device import IntelliVueDevice
from monitors.devices.masimo_device import MasimoDevice
from monitors.serial_link import (
    READ_TIMEOUT_S,
    SILENT_S,
    STATUS_REPEAT_S,
    SerialLink,
    numerics_message,
)

WALL0 = 1_800_000_000.0
IDENTITY = Identity("mon-1", "Room 1", "test")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class FakePort:
    """A serial port as pyserial shows it: ``write``, ``read`` with a timeout, ``close``. Behind
    it a device-side encoder answers what the host writes; a read with nothing to read lets
    ``READ_TIMEOUT_S`` pass on the fake clock."""

    def __init__(self, clock: Clock, device: Any = None) -> None:
        self.clock, self.device = clock, device
        self.incoming = bytearray()
        self.written = bytearray()
        self.fail: Exception | None = None
        self.closed = False

    def write(self, data: bytes) -> int:
        if self.fail:
            raise self.fail
        self.written += data
        if self.device is not None:
            self.device.receive_data(data)
        return len(data)

    def read(self, size: int) -> bytes:
        if self.fail:
            raise self.fail
        if self.device is not None:
            self.incoming += self.device.data_to_send()
        if not self.incoming:
            self.clock.now += READ_TIMEOUT_S
            return b""
        self.clock.now += 0.002
        data = bytes(self.incoming[:size])
        del self.incoming[:size]
        return data

    def close(self) -> None:
        self.closed = True


class Bench:
    """A ``SerialLink`` on fake ports: ``ports`` are handed out one per open; an exception in
    their place is what that open raises."""

    def __init__(self, protocol: str, ports: list[Any]) -> None:
        self.clock = Clock()
        self.ports = ports
        self.opened: list[FakePort] = []
        self.link = SerialLink("/dev/ttyTEST", protocol, IDENTITY, open_port=self._open,
                               clock=self.clock, wall=self.clock.wall, sleep=self.clock.sleep)

    def _open(self, path: str, spec: Any, baud: int) -> FakePort:
        item = self.ports.pop(0) if len(self.ports) > 1 else self.ports[0]
        if isinstance(item, Exception):
            raise item
        self.opened.append(item)
        return item

    def run(self, seconds: float, each: Callable[[float], None] | None = None) -> list[dict]:
        """Step the link for ``seconds`` of fake time; ``each(now)`` runs before every step."""

        async def go() -> list[dict]:
            out: list[dict] = []
            end = self.clock.now + seconds
            while self.clock.now < end:
                if each:
                    each(self.clock.now)
                for m in await self.link.step():
                    out.append({**m, "at": self.clock.now})
            return out

        return asyncio.run(go())


def every(period: float, action: Callable[[float], None]) -> Callable[[float], None]:
    """``action(t)`` for every multiple of ``period`` that has come since the last call."""
    state: dict[str, float] = {}

    def each(now: float) -> None:
        state.setdefault("next", now)
        while state["next"] <= now:
            action(state["next"])
            state["next"] += period

    return each


def masimo(port: FakePort, exc: int = 0x800, spo2: float | None = 97) -> Callable[[float], None]:
    device = MasimoDevice()

    def line(now: float) -> None:
        device.send(datetime(2026, 1, 1, 12, 0, int(now) % 60), spo2=spo2, pr=64, pi=1.5, exc=exc)
        port.incoming += device.data_to_send()

    return every(1.0, line)


def statuses(messages: list[dict], code: str = "device_lost") -> list[dict]:
    return [m for m in messages if m["type"] == "status" and m["code"] == code]


def test_masimo_lines_become_numerics_stamped_with_host_receive_time():
    """Each Masimo line becomes a numerics message in canonical units, timed when it was read."""
    port = FakePort(Clock())
    bench = Bench("masimo", [port])
    port.clock = bench.clock
    out = bench.run(3.0, masimo(port))
    numerics = [m for m in out if m["type"] == "numerics"]
    assert len(numerics) == 3
    assert numerics[0]["values"] == {"SpO2": {"value": 97.0, "unit": "%"},
                                     "PR": {"value": 64.0, "unit": "/min"},
                                     "PI": {"value": 1.5, "unit": "%"}}
    for m in numerics:
        assert m["t"] == pytest.approx(WALL0 + m["at"], abs=0.01)
    assert not statuses(out) and port.written == b""


def test_contec_is_started_kept_alive_and_restarted_when_it_stops():
    """Contec: start on open, "PC connected" every 5 s, start again 1 s after the packets stop."""
    clock = Clock()
    device = ContecDevice()
    port = FakePort(clock, device)
    bench = Bench("contec", [port])
    port.clock = bench.clock
    sample = every(1 / 60, lambda now: device.sample(spo2=96, pr=70, pleth=60))
    out = bench.run(11.0, sample)
    assert device.commands[0] == CMD_START
    assert device.commands.count(CMD_PC_CONNECTED) == 2  # at 5 s and 10 s
    numerics = [m for m in out if m["type"] == "numerics"]
    assert numerics and numerics[-1]["values"]["SpO2"]["value"] == 96
    pleth = [m for m in out if m["type"] == "waveform"]
    assert pleth and {(m["wave"], m["rate"], len(m["samples"])) for m in pleth} == {("PLETH", 60.0, 15)}
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(pleth)]
    assert gaps == pytest.approx([15 / 60] * len(gaps), abs=1e-3)  # one continuous trace
    starts = device.commands.count(CMD_START)
    device.streaming = False  # the oximeter stops streaming on its own
    bench.run(1.6, sample)
    assert device.commands.count(CMD_START) == starts + 1
    assert device.streaming


def host_requests(written: bytes) -> list[str]:
    """What the host asked an IntelliVue, decoded from the bytes it wrote."""
    frames: list[bytes] = []
    Deframer(EventQueue(), lambda data, _n: frames.append(data)).feed(written)
    names = []
    for data in frames:
        if data[0] == SPDU_ASSOC_REQUEST:
            names.append("associate")
        elif data[0] == 0xE1:
            msg = decode_message(data)
            names.append({ACTION_POLL: "keepalive", ACTION_POLL_EXT: "poll"}.get(msg.action, "other"))
    return names


def test_intellivue_associates_polls_renews_and_keeps_alive():
    """IntelliVue: associate, extended polls renewed every 20 s, a keep-alive every 5 s."""
    clock = Clock()
    device = IntelliVueDevice()
    port = FakePort(clock, device)
    bench = Bench("intellivue", [port])
    port.clock = bench.clock
    values = {"HR": 72, "SpO2": 97, "PR": 71, "RR": 14, "EtCO2": 38}
    out = bench.run(21.0, every(1.024, lambda now: device.numerics(values)))
    asked = host_requests(bytes(port.written))
    assert asked[0] == "associate"
    assert asked.count("poll") == 4  # numerics and waves at once, and renewed at 20 s
    assert asked.count("keepalive") == 4  # at 5, 10, 15 and 20 s
    numerics = [m for m in out if m["type"] == "numerics"]
    assert len(numerics) >= 19
    assert {p: v["value"] for p, v in numerics[-1]["values"].items()} == values
    assert not statuses(out)


def test_intellivue_arterial_pressure_is_dropped_and_logged_once(caplog):
    """An invasive pressure has no wire field: it is dropped, with one log line, not one per poll."""
    clock = Clock()
    device = IntelliVueDevice()
    port = FakePort(clock, device)
    bench = Bench("intellivue", [port])
    port.clock = bench.clock
    with caplog.at_level(logging.WARNING, "vitalwatch.serial"):
        out = bench.run(5.0, every(1.0, lambda now: device.numerics({"HR": 70}, abp=(120, 80, 93))))
    assert sum("invasive pressure ABP" in r.message for r in caplog.records) == 1
    assert len([m for m in out if m["type"] == "numerics"]) >= 4
    assert not [m for m in out if m["type"] not in ("numerics", "waveform")]


@pytest.mark.parametrize("error, words", [
    (serial.SerialException(errno.ENOENT, "could not open port /dev/ttyTEST: No such file"),
     "not found"),
    (serial.SerialException(errno.EACCES, "could not open port /dev/ttyTEST: Permission denied"),
     "no permission"),
    (serial.SerialException("Could not exclusively lock port /dev/ttyTEST"), "in use by another"),
    (serial.SerialException("Could not configure port: (25, 'Inappropriate ioctl for device')"),
     "not a serial port"),
])
def test_a_port_that_will_not_open_is_reported_at_once_and_repeated(error, words, caplog):
    """A port that cannot be opened is a no_signal status (and a log line) at once, repeated."""
    bench = Bench("masimo", [error])
    with caplog.at_level(logging.WARNING, "vitalwatch.serial"):
        out = bench.run(3.0)
    sent = statuses(out)
    assert sent[0]["active"] and words in sent[0]["text"] and sent[0]["at"] < 0.2
    assert all(m["active"] and m["text"] == sent[0]["text"] for m in sent)
    assert 3 <= len(sent) <= 4  # re-sent every STATUS_REPEAT_S
    assert sum(words in r.message for r in caplog.records) == 1  # logged once, not per retry


def test_unplugged_device_is_reported_at_once_and_clears_when_it_is_back():
    """A read error (USB unplugged) is no_signal at once; a new device on the same path clears it."""
    clock = Clock()
    first, second = FakePort(clock), FakePort(clock)
    gone = serial.SerialException(errno.ENOENT, "could not open port: No such file or directory")
    bench = Bench("masimo", [first, gone, gone, gone, second])
    first.clock = second.clock = bench.clock
    out = bench.run(3.0, masimo(first))
    assert not statuses(out)
    first.fail = serial.SerialException("device reports readiness to read but returned no data")
    lost = bench.run(2.0)
    assert first.closed
    assert lost[0]["type"] == "status" and lost[0]["active"] and "lost the device" in lost[0]["text"]
    assert lost[0]["at"] - 3.0 < 0.1
    back = bench.run(4.0, masimo(second))
    assert [m["active"] for m in statuses(lost + back)][-1] is False
    assert all(m["active"] for m in statuses(lost + back)[:-1])  # no clear before the data is back
    assert [m for m in back if m["type"] == "numerics"]
    assert len(bench.opened) == 2


def test_silent_device_is_no_signal_after_the_threshold_until_data_returns():
    """No valid data for SILENT_S raises no_signal, re-sent every second; the next line clears it."""
    port = FakePort(Clock())
    bench = Bench("masimo", [port])
    port.clock = bench.clock
    bench.run(2.0, masimo(port))
    last_line = 1.0  # lines at 0 s and 1 s
    silent = bench.run(6.0)
    sent = statuses(silent)
    assert sent[0]["active"] and "no data from the device" in sent[0]["text"]
    assert sent[0]["at"] - last_line == pytest.approx(SILENT_S, abs=0.1)
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(sent)]
    assert gaps and all(abs(g - STATUS_REPEAT_S) < 0.1 for g in gaps)
    back = bench.run(1.5, masimo(port))
    assert statuses(back)[0]["active"] is False and statuses(back)[0]["at"] - 8.0 < 0.1


def test_garbage_only_suggests_a_wrong_baud_rate():
    """Bytes that never parse (as at a wrong speed) give a no_signal that names the baud rate."""
    port = FakePort(Clock())
    bench = Bench("masimo", [port])
    port.clock = bench.clock
    noise = bytes((i * 97 + 13) % 256 for i in range(120)) + b"\r\n"
    out = bench.run(4.0, every(0.5, lambda now: port.incoming.extend(noise)))
    sent = statuses(out)
    assert sent and sent[0]["active"]
    assert "wrong baud rate" in sent[0]["text"] and "9600 8N1" in sent[0]["text"]


def test_device_condition_and_lost_link_are_separate_statuses():
    """The device's own pulse_search stays as it is while the link reports losing and
    regaining the device under its own code; each ends on its own."""
    clock = Clock()
    first, second = FakePort(clock), FakePort(clock)
    bench = Bench("masimo", [first, second])
    first.clock = second.clock = bench.clock
    out = bench.run(2.0, masimo(first, exc=0x008, spo2=None))
    assert statuses(out, "pulse_search")[0]["text"] == "pulse search" and not statuses(out)
    first.fail = serial.SerialException("read failed: [Errno 5] Input/output error")
    out += bench.run(1.0)
    assert statuses(out)[-1]["active"] and "lost the device" in statuses(out)[-1]["text"]
    assert all(m["active"] for m in statuses(out, "pulse_search"))
    out += bench.run(2.0, masimo(second, exc=0x008, spo2=None))
    assert statuses(out)[-1]["active"] is False
    assert statuses(out, "pulse_search")[-1]["active"] and statuses(out, "pulse_search")[-1]["text"] == "pulse search"
    out += bench.run(2.0, masimo(second))
    assert statuses(out, "pulse_search")[-1]["active"] is False


def test_impossible_value_is_dropped_not_the_whole_message():
    """A value the server would refuse (PI 300 %) becomes "no value"; the others still travel."""
    message = numerics_message(Numerics({"SpO2": 97.0, "PI": 300.0}), WALL0)
    assert message == {"type": "numerics", "t": WALL0,
                       "values": {"SpO2": {"value": 97.0, "unit": "%"},
                                  "PI": {"value": None, "unit": "%"}}}
    assert numerics_message(Numerics({}), WALL0) is None
