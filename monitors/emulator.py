"""``vitalwatch emulate PROTOCOL``: a bedside device on a pseudo-terminal, driven by the simulator.

The emulator opens a pseudo-terminal, prints the path of its device side (``/dev/pts/N``) as the
first line of standard output, and then behaves as the real device would on that serial port,
through the device-side encoders of ``monitors.devices``: a Masimo prints a line a second, a Contec
CMS50 waits for the start command and then sends 60 packets a second, an IntelliVue answers the
association and streams what the host polls. A home-made bridge speaking the generic line
protocol sends a JSON line a second and waveform blocks. What the device shows comes from the
physiological simulator (``monitors.simulator``): numerics, cuff results, waveforms and technical
conditions of the chosen scenario.

Time. The device talks at its own pace on the wall clock (one Masimo line a second, whatever the
speed), while the scenario advances ``speed`` times faster: at ``--speed 60`` a Masimo line shows
the patient a minute later than the previous one. Waveforms are sampled from the scenario at the
device's rate, so above speed 1 they are compressed in time, not replayed.

The host side. A pseudo-terminal's device side can be opened and closed by any number of
programs in turn while this process holds the controlling side. Whether a host has it open is
read from the controlling side (``POLLHUP`` while nobody does). While no host is there the device
keeps running and what it sends is lost, like a UART transmitting into an unplugged cable; each
time a host opens the port the device starts as if just connected (a Contec waits for "start"
again, an IntelliVue for an association). Linux semantics; other systems may differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import time
import tty
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar, Protocol

from monitors.adapter import stop_on_signals
from monitors.devices import PROTOCOLS
from monitors.devices.contec_device import ContecDevice, ContecLegacyDevice
from monitors.devices.intellivue import CLASS_WAVE
from monitors.devices.intellivue_device import PARAM_OBJECTS, IntelliVueDevice
from monitors.devices.masimo_device import MASIMO_SET, MasimoDevice
from monitors.simulator import generate

log = logging.getLogger("vitalwatch.emulator")

TICK_S = 0.01
MINUTES = 90.0  # one run of the scenario; it starts over when it ends
MAX_BACKLOG = 65536  # bytes waiting for a host that does not read; beyond, the device drops them
INTELLIVUE_HOST_TIMEOUT_S = 12.0  # a monitor drops a host silent for ~10 s (docs/device-protocols.md)


# --- The patient: the simulator, played on the wall clock ---------------------------------------


class WaveTrack:
    """The recent samples of one simulated waveform, looked up by simulated time."""

    def __init__(self) -> None:
        self.chunks: deque[tuple[float, float, list[float | None]]] = deque()
        self.rate = 0.0

    def add(self, t: float, rate: float, samples: list[float | None]) -> None:
        self.chunks.append((t, rate, samples))
        self.rate = rate
        while len(self.chunks) > 2 and self.chunks[1][0] < t - 2.0:
            self.chunks.popleft()

    def at(self, t: float) -> float | None:
        for t0, rate, samples in reversed(self.chunks):
            if t0 <= t:
                i = int((t - t0) * rate)
                return samples[i] if i < len(samples) else None
        return None


class Patient:
    """The scenario's records applied in simulated time, which runs ``speed`` times faster
    than the wall clock from ``wall0``: the latest numerics, the cuff results not yet taken, the
    active technical conditions and the waveforms."""

    def __init__(self, scenario: str, seed: int, speed: float, waveforms: bool, wall0: float,
                 minutes: float = MINUTES) -> None:
        self.scenario, self.seed, self.speed, self.waveforms = scenario, seed, speed, waveforms
        self.minutes = minutes
        self.wall0 = self.sim0 = wall0
        self.values: dict[str, float | None] = {}
        self.nibp_new: list[dict[str, Any]] = []
        self.last_nibp: dict[str, Any] | None = None
        self.statuses: dict[str, str] = {}
        self.waves: dict[str, WaveTrack] = {}
        self._records = self._run(wall0)
        self._next: dict[str, Any] | None = None

    def _run(self, start: float) -> Iterator[dict[str, Any]]:
        _, records = generate(self.scenario, self.seed, minutes=self.minutes,
                                    waveforms=self.waveforms, start=start)
        self._end = start + self.minutes * 60
        return records

    def sim_time(self, wall: float) -> float:
        return self.sim0 + (wall - self.wall0) * self.speed

    def wall_time(self, sim: float) -> float:
        return self.wall0 + (sim - self.sim0) / self.speed

    def advance(self, wall: float) -> None:
        now = self.sim_time(wall)
        while True:
            if self._next is None:
                self._next = next(self._records, None)
                if self._next is None:
                    log.info("scenario %s ended after %g min: starting it again", self.scenario,
                             self.minutes)
                    self._records = self._run(self._end)
                    continue
            if self._next.get("t", self._next.get("end", 0)) > now:
                return
            self._apply(self._next)
            self._next = None

    def _apply(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        if kind == "numerics":
            self.values = {p: m["value"] for p, m in rec["values"].items()}
        elif kind == "nibp":
            self.nibp_new.append(rec)
            if rec["status"] == "ok":
                self.last_nibp = rec
        elif kind == "status":
            if rec["active"]:
                self.statuses[rec["code"]] = rec.get("text", "")
            else:
                self.statuses.pop(rec["code"], None)
        elif kind == "waveform":
            self.waves.setdefault(rec["wave"], WaveTrack()).add(rec["t"], rec["rate"], rec["samples"])

    def take_nibp(self) -> list[dict[str, Any]]:
        out, self.nibp_new = self.nibp_new, []
        return out

    def wave_at(self, name: str, wall: float) -> float | None:
        track = self.waves.get(name)
        return track.at(self.sim_time(wall)) if track else None


def _int(value: float | None, low: int, high: int) -> int | None:
    """A displayed integer, or None if there is no value or it cannot be shown."""
    if value is None:
        return None
    v = round(value)
    return v if low <= v <= high else None


def _scaled(value: float | None, gain: float, offset: float, high: int) -> int | None:
    if value is None:
        return None
    return max(0, min(high, round(offset + value * gain)))


class _Every:
    """Wall-clock times at which something periodic is due (catching up at most 1 s)."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.next: float | None = None

    def due(self, wall: float) -> list[float]:
        if self.next is None or wall - self.next > 1.0:
            self.next = wall
        out = []
        while self.next <= wall:
            out.append(self.next)
            self.next += self.period
        return out


# --- The devices --------------------------------------------------------------------------------


class DeviceSide(Protocol):
    """The device end of a serial line, as the device models in monitors/devices implement it."""

    def receive_data(self, data: bytes) -> None: ...

    def data_to_send(self) -> bytes: ...


class Talker:
    """One device: what it sends as time passes and how it answers the host. ``reset`` makes it
    a device that was just connected (a host opened the port)."""

    needs_waveforms = False
    device: DeviceSide  # set by ``reset``

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def receive(self, data: bytes, wall: float) -> None:
        self.device.receive_data(data)

    def tick(self, wall: float, patient: Patient) -> None:
        raise NotImplementedError

    def data_to_send(self) -> bytes:
        return bytes(self.device.data_to_send())


class MasimoTalker(Talker):
    """A Radical-7 printing ASCII 1 lines, one a second. Conditions become EXC bits."""

    device: MasimoDevice
    EXC: ClassVar[dict[str, int]] = {"probe_off": 0x020, "no_signal": 0x008, "motion": 0x010,
                                     "low_perfusion": 0x004, "sensor_fault": 0x002}

    def reset(self) -> None:
        self.device = MasimoDevice("radical7", sn="0000012345")
        self.every = _Every(1.0)

    def tick(self, wall: float, patient: Patient) -> None:
        for w in self.every.due(wall):
            exc = 0
            for code in patient.statuses:
                exc |= self.EXC.get(code, 0)
            v = patient.values
            self.device.send(datetime.fromtimestamp(w).replace(microsecond=0),
                             spo2=_int(v.get("SpO2"), 0, 100), pr=_int(v.get("PR"), 0, 350),
                             pi=v.get("PI"), exc=exc or MASIMO_SET)


class ContecTalker(Talker):
    """A CMS50 at 60 packets a second (V7.0 after "start"; the legacy format at once)."""

    needs_waveforms = True

    def __init__(self, legacy: bool = False) -> None:
        self.legacy = legacy
        super().__init__()

    def reset(self) -> None:
        self.device: Any = ContecLegacyDevice() if self.legacy else ContecDevice()
        self.every = _Every(1 / 60)
        self._heard = 0

    def receive(self, data: bytes, wall: float) -> None:
        self.device.receive_data(data)
        commands = getattr(self.device, "commands", [])
        for cmd in commands[self._heard:]:
            log.debug("contec: host command %#04x", cmd)
        self._heard = len(commands)

    def tick(self, wall: float, patient: Patient) -> None:
        for w in self.every.due(wall):
            v = patient.values
            probe_off = "probe_off" in patient.statuses
            pleth = _scaled(patient.wave_at("PLETH", w), 1.27, 0, 127)
            values: dict[str, Any] = {
                "spo2": _int(v.get("SpO2"), 1, 100), "pr": _int(v.get("PR"), 1, 254),
                "pleth": pleth or 0, "probe_error": probe_off,
                "searching": "no_signal" in patient.statuses, "signal": 0 if probe_off else 6}
            if not self.legacy and v.get("PI") is not None:
                values["pi"] = v["PI"]
            self.device.sample(**values)


class IntelliVueTalker(Talker):
    """An IntelliVue MIB port: answers the association and polls; numerics every 1.024 s and
    waveform blocks every 256 ms while the host polls them."""

    needs_waveforms = True
    device: IntelliVueDevice
    # Wave -> (samples per 256 ms block, gain, offset): 16-bit "ADC" units of the emulated monitor.
    WAVES: ClassVar[dict[str, tuple[int, float, float]]] = {
        "PLETH": (32, 40.0, 0.0), "ECG_II": (128, 500.0, 2048.0), "RESP": (16, 40.0, 0.0),
        "CO2": (16, 40.0, 0.0)}

    def reset(self) -> None:
        self.device = IntelliVueDevice()
        self.numerics = _Every(1.024)
        self.blocks = _Every(0.256)
        self.last_wall: float | None = None
        self.last_rx: float | None = None
        self.associated = False

    def receive(self, data: bytes, wall: float) -> None:
        self.device.receive_data(data)
        self.last_rx = wall

    def tick(self, wall: float, patient: Patient) -> None:
        if self.last_wall is not None:
            self.device.advance(wall - self.last_wall)
        self.last_wall = wall
        if self.device.associated != self.associated:
            self.associated = self.device.associated
            log.info("intellivue: %s", "host associated" if self.associated else "association ended")
        if (self.associated and self.last_rx is not None
                and wall - self.last_rx > INTELLIVUE_HOST_TIMEOUT_S):
            log.warning("intellivue: host silent for %.0f s: dropping the association",
                        INTELLIVUE_HOST_TIMEOUT_S)
            self.device.associated, self.device.polls = False, {}
        for w in self.numerics.due(wall):
            values = {p: v for p, v in patient.values.items() if p in PARAM_OBJECTS}
            nibp = patient.last_nibp
            self.device.numerics(
                values,
                nibp=(nibp["sys"], nibp["dia"], nibp["map"]) if nibp else None,
                nibp_time=datetime.fromtimestamp(patient.wall_time(nibp["t"])) if nibp else None,
                abs_time=datetime.fromtimestamp(w))
        for w in self.blocks.due(wall):
            if CLASS_WAVE not in self.device.polls:
                continue
            for name, (n, gain, offset) in self.WAVES.items():
                if name not in patient.waves:
                    continue
                samples = [_scaled(patient.wave_at(name, w - 0.256 + k * 0.256 / n), gain, offset,
                                   0xFFFF) for k in range(n)]
                self.device.wave(name, samples)


class GenericTalker(Talker):
    """A home-made bridge speaking the generic line protocol: a JSON record a second (values,
    active conditions, a new cuff result) and the waveforms in 0.4 s blocks."""

    needs_waveforms = True
    BLOCK_S = 0.4

    def reset(self) -> None:
        self.out = bytearray(b"# vitalwatch emulator, generic line protocol\n")
        self.every = _Every(1.0)
        self.blocks = _Every(self.BLOCK_S)

    def receive(self, data: bytes, wall: float) -> None:
        pass  # a bridge ignores its host

    def data_to_send(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data

    def _line(self, record: dict[str, Any]) -> None:
        self.out += json.dumps(record, separators=(",", ":"), allow_nan=False).encode() + b"\n"

    def tick(self, wall: float, patient: Patient) -> None:
        for w in self.every.due(wall):
            record: dict[str, Any] = dict(patient.values.items())
            record["time"] = datetime.fromtimestamp(w).isoformat(timespec="seconds")
            record["status"] = dict(patient.statuses)
            self._line(record)
            for nibp in patient.take_nibp():
                if nibp["status"] == "ok":
                    self._line({"nibp": {k: nibp[k] for k in ("sys", "dia", "map")}})
                else:
                    self._line({"nibp": {"status": "failed"}})
        for w in self.blocks.due(wall):
            waves = []
            for name, track in patient.waves.items():
                n = round(track.rate * self.BLOCK_S)
                samples = [patient.wave_at(name, w - self.BLOCK_S + k / track.rate) for k in range(n)]
                if n and any(s is not None for s in samples):
                    waves.append({"name": name, "rate": track.rate,
                                  "samples": [None if s is None else round(s, 3) for s in samples]})
            if waves:
                self._line({"waves": waves})


def talker(protocol: str) -> Talker:
    if protocol == "masimo":
        return MasimoTalker()
    if protocol in ("contec", "contec_legacy"):
        return ContecTalker(legacy=protocol == "contec_legacy")
    if protocol == "intellivue":
        return IntelliVueTalker()
    if protocol == "generic":
        return GenericTalker()
    raise ValueError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")


# --- The pseudo-terminal --------------------------------------------------------------------------


class PseudoTerminal:
    """The controlling side of a pseudo-terminal whose device side a host opens as a serial
    port. Non-blocking; ``host_present`` reads whether any program has the device side open."""

    def __init__(self) -> None:
        self.fd, slave = os.openpty()
        try:
            tty.setraw(slave)  # no echo, no line editing, no CR/LF translation: a plain wire
            self.path = os.ttyname(slave)
        finally:
            # Closing our copy lets the controlling side see whether a host has it open.
            os.close(slave)
        os.set_blocking(self.fd, False)
        self._poll = select.poll()
        self._poll.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._backlog = bytearray()
        self.dropped = 0

    def host_present(self) -> bool:
        return not any(ev & (select.POLLHUP | select.POLLERR) for _, ev in self._poll.poll(0))

    def read(self) -> bytes:
        try:
            return os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:  # EIO: the host closed the port just now
            return b""

    def write(self, data: bytes) -> None:
        self._backlog += data
        try:
            n = os.write(self.fd, self._backlog) if self._backlog else 0
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            n = len(self._backlog)  # the host is gone: what was on the wire is lost
        del self._backlog[:n]
        if len(self._backlog) > MAX_BACKLOG:  # the host does not read: the device overruns
            self.dropped += len(self._backlog)
            self._backlog.clear()

    def discard(self) -> None:
        self._backlog.clear()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


async def run_emulator(protocol: str, scenario: str, seed: int, speed: float) -> int:
    """``vitalwatch emulate``: play ``scenario`` as a ``protocol`` device until SIGTERM/SIGINT.
    Returns the exit code (2 for bad arguments)."""
    if protocol not in PROTOCOLS or speed <= 0:
        log.error("cannot emulate %r at speed %g (protocols: %s; speed must be positive)",
                  protocol, speed, ", ".join(PROTOCOLS))
        return 2
    device = talker(protocol)
    wall0 = time.time()
    try:
        patient = Patient(scenario, seed, speed, device.needs_waveforms, wall0)
    except ValueError as e:
        log.error("%s", e)
        return 2
    pty = PseudoTerminal()
    print(pty.path, flush=True)
    log.info("emulating a %s device on %s: scenario %s, seed %d, speed %g", protocol, pty.path,
             scenario, seed, speed)
    stop = stop_on_signals()
    host = False
    try:
        while not stop.is_set():
            wall = time.time()
            present = pty.host_present()
            if present != host:
                host = present
                log.info("host %s the port", "opened" if host else "closed")
                if host:
                    device.reset()
                else:
                    pty.discard()
            if host:
                data = pty.read()
                if data:
                    device.receive(data, wall)
            patient.advance(wall)
            device.tick(wall, patient)
            out = device.data_to_send()
            if host and out:
                pty.write(out)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_S):
                    await stop.wait()
    finally:
        pty.close()
    log.info("emulator stopped%s", f" ({pty.dropped} bytes dropped)" if pty.dropped else "")
    return 0

