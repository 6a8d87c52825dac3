"""The serial transport: a bedside device on a serial port, as a monitor ``Source``.

Theory of operation. ``SerialLink`` owns the port and the clock; the protocol's sans-I/O parser
(``monitors.devices``) owns the bytes. One turn of the loop (``step``):

1. If the port is closed, try to open it (port settings from ``PROTOCOLS``), with backoff. Each
   open gets a fresh parser, and the protocol's timers queue its start command.
2. Write what the parser wants sent, then read what the device sent (at most ``READ_TIMEOUT_S``).
3. Feed the bytes to the parser; stamp its events with the host receive time (device clocks are
   not trusted) and map them to wire messages.
4. Run the protocol's timers (Contec keep-alive and restart, IntelliVue polls, keep-alives and
   re-association); what they queue is written on the next turn, a moment later.
5. Work out the link's own technical condition (port missing, permission denied, device gone,
   silent, or sending only garbage) and report the union of it and the device's conditions as
   ``status`` messages.

Why a thread per read instead of non-blocking I/O on the file descriptor: pyserial's portable
API is blocking, and a Windows COM port has no descriptor an event loop could watch. Each read
runs in the default executor with a short timeout (``READ_TIMEOUT_S``), so the event loop (and
the uplink's heartbeats) never wait on the port, the code is the same on every OS, and all the
state stays on the event loop's thread: the executor only ever touches the port object.

Why statuses are repeated. A device that stops talking behind a live adapter is not a lost feed
(the uplink keeps sending heartbeats), so the link reports it itself: ``device_lost`` active after
``SILENT_S`` without valid data, at once when the port disappears, inactive on recovery (the
server's technical rule T5, "monitor device lost", raises it within seconds). The device's own
conditions (probe off, pulse search) keep their own codes. Every active condition is re-sent
every ``STATUS_REPEAT_S`` for as long as it lasts, so the server's record of it stays current
even across a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import serial

from monitors.adapter import Identity, stop_on_signals
from monitors.devices import PROTOCOLS, Protocol
from monitors.devices.contec import ContecParser
from monitors.devices.events import DeviceStatus, Event, Garbage, Nibp, Numerics, Pressure, WaveChunk
from monitors.devices.intellivue import IntelliVueParser
from monitors.protocol import UNITS
from monitors.uplink import Uplink

log = logging.getLogger("vitalwatch.serial")

READ_TIMEOUT_S = 0.05  # longest a read blocks; also the granularity of the timers
WRITE_TIMEOUT_S = 1.0
SILENT_S = 2.5  # no valid data for this long: the device is silent (a Masimo talks every 1 s)
REOPEN_SILENT_S = 15.0  # ... and for this long: close and reopen the port (a wedged adapter)
RETRY_MIN_S, RETRY_MAX_S = 0.25, 2.0  # backoff between attempts to open the port
STATUS_REPEAT_S = 1.0  # an active condition is re-sent this often (see the module docstring)
GARBAGE_WINDOW_S = 5.0  # the share of garbage is judged over this window ...
GARBAGE_SHARE = 0.5  # ... and above this share the data is called unreadable
GARBAGE_MIN_BYTES = 16  # ... once at least this many bytes arrived in the window
WAVE_RESYNC_S = 0.5  # a waveform chunk's time is continued from the last one if this close

VENDORS = {"masimo": "Masimo", "contec": "Contec", "contec_legacy": "Contec",
           "intellivue": "Philips", "generic": ""}


# --- Mapping events to wire messages ---------------------------------------------------------


def numerics_message(event: Numerics, t: float,
                     dropped: set[str] | None = None) -> dict[str, Any] | None:
    """A ``numerics`` message (None if the event has no parameter at all). The server refuses a
    whole message for one impossible value, so such a value becomes "no value" instead (and its
    parameter is added to ``dropped``)."""
    values: dict[str, dict[str, Any]] = {}
    for param, value in event.values.items():
        if param not in UNITS:
            continue
        low, high = UNITS[param][2], UNITS[param][3]
        if value is not None and not low <= value <= high:
            if dropped is not None:
                dropped.add(param)
            value = None
        values[param] = {"value": value, "unit": UNITS[param][0]}
    return {"type": "numerics", "t": t, "values": values} if values else None


def nibp_message(event: Nibp, t: float) -> dict[str, Any]:
    if event.status == "failed":
        return {"type": "nibp", "t": t, "status": "failed", "reason": "reported by the device"}
    return {"type": "nibp", "t": t, "status": "ok", "sys": event.sys, "dia": event.dia,
            "map": event.map}


# The status code of the link's own condition: the device is gone, silent or unreadable.
LINK = "device_lost"


def status_message(code: str, active: bool, text: str, t: float) -> dict[str, Any]:
    return {"type": "status", "t": t, "code": code, "active": active, "text": text[:200]}


# --- Protocol timers ------------------------------------------------------------------------


class _NoTimers:
    """Devices that stream by themselves (Masimo, Contec legacy, generic bridges)."""

    def opened(self, parser: Any, now: float) -> None:
        pass

    def tick(self, parser: Any, now: float, last_valid: float) -> None:
        pass


class _ContecTimers(_NoTimers):
    """V7.0: start on connect, "PC connected" every 5 s, start again after 1 s without a
    real-time packet (docs/devices.md)."""

    def opened(self, parser: ContecParser, now: float) -> None:
        parser.start()
        self.keepalive_at = now + parser.KEEPALIVE_S
        self.packets, self.packets_at = parser.realtime_packets, now

    def tick(self, parser: ContecParser, now: float, last_valid: float) -> None:
        if now >= self.keepalive_at:
            parser.keepalive()
            self.keepalive_at = now + parser.KEEPALIVE_S
        if parser.realtime_packets != self.packets:
            self.packets, self.packets_at = parser.realtime_packets, now
        elif now - self.packets_at >= parser.RESTART_S:
            parser.start()
            self.packets_at = now


class _IntelliVueTimers(_NoTimers):
    """Associate on connect; while polling, renew the extended polls every ``REPOLL_S`` and send
    a keep-alive every ``KEEPALIVE_S``; associate again after ``SILENCE_S`` without valid data
    (a refused or aborted association included)."""

    def opened(self, parser: IntelliVueParser, now: float) -> None:
        parser.start()
        self.started = now
        self.polling_since: float | None = None

    def tick(self, parser: IntelliVueParser, now: float, last_valid: float) -> None:
        if parser.state == "polling":
            if self.polling_since is None:  # the parser sent the first polls itself
                self.polling_since = self.poll_at = self.keepalive_at = now
                self.poll_at += parser.REPOLL_S
                self.keepalive_at += parser.KEEPALIVE_S
            if now >= self.poll_at:
                parser.poll()
                self.poll_at = now + parser.REPOLL_S
            if now >= self.keepalive_at:
                parser.keepalive()
                self.keepalive_at = now + parser.KEEPALIVE_S
        else:
            self.polling_since = None
        if now - max(last_valid, self.started) >= parser.SILENCE_S:
            log.info("no valid data from the monitor for %.0f s: associating again", parser.SILENCE_S)
            parser.start()
            self.started = now


def _timers(parser: Any) -> _NoTimers:
    if isinstance(parser, ContecParser):
        return _ContecTimers()
    if isinstance(parser, IntelliVueParser):
        return _IntelliVueTimers()
    return _NoTimers()


# --- Opening the port -------------------------------------------------------------------------


def open_serial(path: str, spec: Protocol, baud: int) -> Any:
    """Open ``path`` with the protocol's line settings (the pyserial boundary)."""
    return serial.Serial(path, baudrate=baud, bytesize=spec.bytesize, parity=spec.parity,
                         stopbits=spec.stopbits, rtscts=spec.rtscts, timeout=READ_TIMEOUT_S,
                         write_timeout=WRITE_TIMEOUT_S, exclusive=True)


def open_failure_text(path: str, error: Exception) -> str:
    """What to tell a person about a port that would not open, and what to check."""
    code = getattr(error, "errno", None)
    message = str(error)
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return (f"serial port {path} not found: is the device (or its USB-serial adapter) "
                f"plugged in, and is the port name right?")
    if code in (errno.EACCES, errno.EPERM):
        return (f"no permission to open {path}: add this user to the port's group "
                f"(usually 'dialout') and log in again")
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in message:
        return f"{path} is in use by another program: close the vendor's software"
    if code == errno.ENOTTY or "Could not configure port" in message:
        return f"{path} is not a serial port: check the --port name"
    return f"cannot open {path}: {message}"[:200]


def _exchange(port: Any, outgoing: bytes) -> bytes:
    """Runs in the executor: write what the parser queued, then read what has arrived."""
    if outgoing:
        port.write(outgoing)
    return bytes(port.read(4096))


# --- The link ---------------------------------------------------------------------------------


class SerialLink:
    """A ``Source``: the device speaking ``protocol`` on the serial port ``path``.

    Iterating yields wire messages without ``seq`` and never ends and never raises: a device
    that is missing, unplugged, silent or unreadable is reported as a ``status`` message (and a
    log line) while the link keeps trying. ``path`` is opened again on every attempt, so a
    symlink to the port may be re-pointed at another device.

    ``open_port``, ``clock`` (monotonic), ``wall`` (receive timestamps) and ``sleep`` are the
    boundaries a test may replace.
    """

    def __init__(self, path: str, protocol: str, identity: Identity, *, baud: int | None = None,
                 waves: bool = True, open_port: Callable[[str, Protocol, int], Any] = open_serial,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
        self.path, self.protocol, self.identity = path, protocol, identity
        self.spec = PROTOCOLS[protocol]
        self.baud = baud or self.spec.baud
        self.waves = waves
        self._open_port, self._clock, self._wall, self._sleep = open_port, clock, wall, sleep
        self.port: Any = None
        self.parser: Any = None
        self._timers: _NoTimers = _NoTimers()
        self._outgoing = b""
        now = clock()
        self._retry_at = now
        self._retry_delay = RETRY_MIN_S
        self._opened_at = now
        self._last_valid = now
        self._spoke = False  # the current parser has reported anything at all
        self._link_onset = now  # when the link's current condition began
        self._down: str | None = None  # why the port is closed, once an attempt failed
        self._window: deque[tuple[float, int, int]] = deque()  # (time, bytes, garbage bytes)
        self._last_garbage = ""
        self._device: dict[str, str] = {}  # conditions the device reports (code -> text)
        self._link: dict[str, str] = {}  # the link's own condition
        self._sent: dict[str, tuple[str, float]] = {}  # code -> (text sent, next repeat due)
        self._wave_next: dict[str, float] = {}
        self._dropped_pressures: set[str] = set()
        self._dropped: set[str] = set()  # parameters that had impossible values
        self._described = False  # the device told who it is (IntelliVue MDS Create)
        self.counts = {"opens": 0, "bytes": 0, "garbage_bytes": 0, "messages": 0}

    @property
    def line_settings(self) -> str:
        return f"{self.baud} {self.spec.bytesize}{self.spec.parity}{self.spec.stopbits}"

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                for message in await self.step():
                    yield message
        finally:
            self.close()

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    async def step(self) -> list[dict[str, Any]]:
        """One turn: open if needed, exchange bytes, run timers, report conditions."""
        out: list[dict[str, Any]] = []
        try:
            if self.port is None:
                self._try_open()
            if self.port is None:
                out += self._conditions()
                await self._sleep(max(0.0, min(0.1, self._retry_at - self._clock())))
                return out
            outgoing, self._outgoing = self._outgoing, b""
            try:
                data = await asyncio.to_thread(_exchange, self.port, outgoing)
            except (serial.SerialException, OSError) as e:
                self._lost(e)
                return out + self._conditions()
            out += self._receive(data, self._clock(), self._wall())
            self._timers.tick(self.parser, self._clock(), self._last_valid)
            self._outgoing += self.parser.data_to_send()
            if self._clock() - max(self._last_valid, self._opened_at) >= REOPEN_SILENT_S:
                log.warning("nothing valid from %s for %.0f s: reopening the port", self.path,
                            REOPEN_SILENT_S)
                self._closed_for(self._link.get(LINK, "the device fell silent"),
                                 now=self._clock())
        except Exception:  # a bug here must not take the adapter down: start the port over
            log.exception("serial link failed; reopening %s", self.path)
            self._closed_for(f"internal error reading {self.path}; reopening", now=self._clock())
        return out + self._conditions()

    # -- the port ----------------------------------------------------------------------------

    def _try_open(self) -> None:
        now = self._clock()
        if now < self._retry_at:
            return
        try:
            self.port = self._open_port(self.path, self.spec, self.baud)
        except (serial.SerialException, OSError, ValueError) as e:
            # The text is logged (once per change) with the status; the raw error only here.
            log.debug("opening %s failed: %s", self.path, e)
            self._down = open_failure_text(self.path, e)
            self._retry_at = now + self._retry_delay
            self._retry_delay = min(RETRY_MAX_S, self._retry_delay * 2)
            return
        self.counts["opens"] += 1
        log.info("opened %s at %s for %s", self.path, self.line_settings, self.protocol)
        self._down = None
        self._retry_delay = RETRY_MIN_S
        # The silence is still measured from the last valid data, across reopens: a reopened
        # port is no news until the device says something.
        self._opened_at = now
        self._spoke = False
        self._window.clear()
        self._outgoing = b""
        parser_class = self.spec.parser
        self.parser = parser_class(waves=self.waves) if parser_class is IntelliVueParser else parser_class()
        self._timers = _timers(self.parser)
        self._timers.opened(self.parser, now)
        self._outgoing = self.parser.data_to_send()

    def _lost(self, error: Exception) -> None:
        log.warning("lost %s: %s", self.path, error)
        self._closed_for(f"lost the device on {self.path}: unplugged, switched off, or the "
                         f"cable pulled", now=self._clock())

    def _closed_for(self, reason: str, now: float) -> None:
        self.close()
        self._down = reason
        self._retry_at = now + RETRY_MIN_S
        self._retry_delay = RETRY_MIN_S

    # -- bytes in, messages out --------------------------------------------------------------

    def _receive(self, data: bytes, now: float, t: float) -> list[dict[str, Any]]:
        """Feed ``data`` (read at ``now``, host time ``t``) to the parser; the wire messages of
        its events. Valid data is a reading of any kind; a status alone does not prove that
        readings flow (an IntelliVue refusing the association talks, but sends no values)."""
        if data:
            self.parser.receive_data(data)
            self.counts["bytes"] += len(data)
        garbage = 0
        out: list[dict[str, Any]] = []
        valid = False
        for event in self.parser.events_received():
            if isinstance(event, Garbage):
                garbage += event.n_bytes
                self._last_garbage = event.reason
                log.debug("garbage from %s: %d bytes, %s", self.path, event.n_bytes, event.reason)
                continue
            if not self._spoke:
                # The conditions the previous connection's parser reported are stale now; until
                # this one says something they stay, so nothing is cleared on no evidence.
                self._spoke = True
                self._device = {}
            valid = valid or not isinstance(event, DeviceStatus)
            message = self._map(event, t)
            if message is not None:
                out.append(message)
        self.counts["garbage_bytes"] += garbage
        if data or garbage:
            self._window.append((now, len(data), garbage))
        if valid:
            if self._last_valid <= self._link_onset and self._link:
                log.info("receiving data from %s again", self.path)
            self._last_valid = now
        device = getattr(self.parser, "device", None)
        if not self._described and isinstance(device, dict) and device.get("model"):
            self._described = True
            log.info("%s: %s, system id %s", self.path, device["model"], device.get("system_id", "?"))
        self.counts["messages"] += len(out)
        return out

    def _map(self, event: Event, t: float) -> dict[str, Any] | None:
        if isinstance(event, Numerics):
            dropped: set[str] = set()
            message = numerics_message(event, t, dropped)
            for param in sorted(dropped - self._dropped):
                log.warning("an impossible %s value from %s was dropped (logged once)", param,
                            self.path)
            self._dropped |= dropped
            return message
        if isinstance(event, Nibp):
            return nibp_message(event, t)
        if isinstance(event, WaveChunk):
            return self._waveform(event, t)
        if isinstance(event, DeviceStatus):
            if event.active:
                self._device[event.code] = event.text
            else:
                self._device.pop(event.code, None)
            return None
        if isinstance(event, Pressure):
            if event.label not in self._dropped_pressures:
                self._dropped_pressures.add(event.label)
                log.warning("invasive pressure %s is read but wire protocol v1 has no field for "
                            "it: dropped (its waveform still travels)", event.label)
            return None
        return None

    def _waveform(self, event: WaveChunk, t: float) -> dict[str, Any]:
        """A chunk's first sample is at receive time minus its length, or right after the
        previous chunk of the same wave when that is close (so the trace stays continuous)."""
        duration = len(event.samples) / event.rate
        start = t - duration
        expected = self._wave_next.get(event.wave)
        if expected is not None and abs(expected - start) <= WAVE_RESYNC_S:
            start = expected
        self._wave_next[event.wave] = start + duration
        return {"type": "waveform", "t": round(start, 4), "wave": event.wave, "rate": event.rate,
                "samples": list(event.samples)}

    # -- conditions --------------------------------------------------------------------------

    def _garbage_share(self, now: float, since: float | None = None) -> tuple[float, int]:
        """The share of discarded bytes and the bytes received in the window (and after
        ``since``)."""
        while self._window and self._window[0][0] < now - GARBAGE_WINDOW_S:
            self._window.popleft()
        recent = [(n, g) for at, n, g in self._window if since is None or at > since]
        received = sum(n for n, _ in recent)
        garbage = sum(g for _, g in recent)
        return (min(1.0, garbage / received) if received else 0.0), received

    def link_condition(self, now: float) -> dict[str, str]:
        """The link's own condition now: {} while valid data flows, else {code: text}.
        ``device_lost`` holds until valid data arrives again (a port that reopens is no news)."""
        if self.port is None:
            return {LINK: self._down} if self._down is not None else {}
        waiting = LINK in self._link and self._last_valid <= self._link_onset
        if now - self._last_valid >= SILENT_S or waiting:
            share, received = self._garbage_share(now, since=self._last_valid)
            unreadable = received >= GARBAGE_MIN_BYTES and share >= GARBAGE_SHARE
            if unreadable:
                return {LINK: (
                    f"only unreadable data from {self.path} ({self._last_garbage}): wrong baud "
                    f"rate? {self.protocol} expects {self.line_settings}; check the device's "
                    f"serial settings")}
            if received:
                return {LINK: (
                    f"no valid data from {self.path}: the device talks but sends no readings "
                    f"{self.protocol} can use; check the protocol and the device's output mode")}
            if waiting and now - self._last_valid < SILENT_S:
                return dict(self._link)
            return {LINK: (
                f"no data from the device on {self.path}: is it switched on, its serial output "
                f"enabled, and the cable plugged in?")}
        share, received = self._garbage_share(now)
        if received >= GARBAGE_MIN_BYTES and share >= GARBAGE_SHARE:
            return {"other": (f"much of the data from {self.path} is unreadable: a loose cable, "
                              f"noise, or a wrong baud rate ({self.protocol} expects "
                              f"{self.line_settings})")}
        return {}

    def _conditions(self) -> list[dict[str, Any]]:
        """Status messages for what changed in the union of the link's and the device's
        conditions (ended ones first), and repeats of the active ones."""
        now, t = self._clock(), self._wall()
        link = self.link_condition(now)
        if link != self._link:
            if not self._link:
                self._link_onset = now
            for code in self._link.keys() - link.keys():
                log.info("%s: recovered (%s ended)", self.path, code)
            for code, text in link.items():
                if self._link.get(code) != text:
                    log.warning("%s: %s", code, text)
            self._link = link
        combined: dict[str, str] = {}
        for source in (link, self._device):
            for code, text in source.items():
                combined[code] = f"{combined[code]}; {text}" if code in combined else text
        out = []
        for code in sorted(self._sent.keys() - combined.keys()):
            out.append(status_message(code, False, self._sent.pop(code)[0], t))
        for code in sorted(combined):
            text = combined[code]
            sent = self._sent.get(code)
            if sent is None:
                due = now + STATUS_REPEAT_S
            elif sent[0] != text:
                due = sent[1]  # a new text goes out at once; the repeats keep their rhythm
            elif now >= sent[1]:
                # On a fixed grid from the onset, so that the N-th repeat is N seconds after it
                # (a server's delay of 10 s is judged on the 10th), whatever the loop's jitter.
                due = sent[1] + STATUS_REPEAT_S if now - sent[1] < STATUS_REPEAT_S else now + STATUS_REPEAT_S
            else:
                continue
            if (sent is None or sent[0] != text) and code not in link:
                log.info("device reports %s: %s", code, text)
            out.append(status_message(code, True, text, t))
            self._sent[code] = (text, due)
        return out


# --- The command ------------------------------------------------------------------------------


def default_monitor_id(path: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.:\-]", "-", Path(path).name) or "port"
    return f"serial-{name}"[:64]


async def run_monitor(port: str, protocol: str, server: str, room: str, *,
                      monitor_id: str | None = None, token: str | None = None,
                      baud: int | None = None, mode: str = "live") -> int:
    """``vitalwatch monitor serial``: stream the device on ``port`` to ``server`` until SIGTERM
    or SIGINT. Returns the exit code (2 for an unknown protocol)."""
    if protocol not in PROTOCOLS:
        log.error("unknown protocol %r (known: %s)", protocol, ", ".join(PROTOCOLS))
        return 2
    identity = Identity(monitor_id or default_monitor_id(port), room, mode,
                        vendor=VENDORS.get(protocol, ""), model=protocol)
    link = SerialLink(port, protocol, identity, baud=baud)
    uplink = Uplink(server, link, token=token)
    stop = stop_on_signals()
    log.info("serial monitor %s: %s (%s, %s) -> %s, room %r", identity.monitor_id, port, protocol,
             link.line_settings, server, room)
    task = asyncio.create_task(uplink.run())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, stopper):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        link.close()
    log.info("serial monitor stopped (%d bytes read, %d garbage)", link.counts["bytes"],
             link.counts["garbage_bytes"])
    return 0
