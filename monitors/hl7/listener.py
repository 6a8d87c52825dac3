"""The HL7 listener: ``vitalwatch monitor hl7 --listen HOST:PORT --devices FILE``.

Theory of operation. Monitors and gateways connect over TCP (TLS if a certificate is given)
and send PCD-01 messages in MLLP frames (``mllp``). Each frame is read by ``pcd01.parse`` and
answered at once, on the same connection, with its acknowledgement:

- ``AA``: every reading of the message was handed to its device's uplink. The uplink numbers
  it and holds it until the server has acknowledged storing it, resending across outages and
  server restarts (``monitors.uplink``): AA promises *accepted for delivery*, not *stored*.
- ``AE``: the readings without errors were handed over; ERR segments name the others.
- ``AR``: nothing was taken (not HL7, not ORU^R01, no equipment id, an equipment id not in the
  device map); MSA-3 and ERR say why. Resending the same message gets the same answer.

Each equipment id in the device map becomes its own monitor stream to the server (``Feed``,
with its own hello, monitor id, room and token), started by its first message. A feed that
stops sending for ``silent_s`` reports ``device_lost`` (the server's technical rule T5, as for
a serial monitor whose device falls silent), repeated every ``STATUS_REPEAT_S`` and ended by
the next message; a listener that stops altogether loses its uplinks, which the server
reports as lost feeds (T4).

Device times. A message's observation times are the device's times (``pcd01``), kept if they
are at most ``MAX_BEHIND_S`` behind the host clock and not ahead of it by more than
``MAX_AHEAD_S``; outside that the device's clock is wrong and the receive time is used (logged
once per device, counted). The server takes a monitor's messages in time order (a few seconds
back at most), so a reading older than what its feed already sent — a cuff measurement that
a gateway delivers minutes after it finished — is sent at the feed's latest time, and counted
as ``late``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timezone
from pathlib import Path
from typing import Any

from monitors.adapter import Identity, stop_on_signals
from monitors.hl7 import devices as device_map
from monitors.hl7 import pcd01
from monitors.hl7.mllp import MllpFramer, frame
from monitors.uplink import Uplink

log = logging.getLogger("vitalwatch.hl7")

SILENT_S = 30.0  # default: a feed silent this long is lost (PCD-01 senders report every 1–10 s)
STATUS_REPEAT_S = 1.0  # an active device_lost is re-sent this often (as the serial link does)
MAX_BEHIND_S = 15 * 60.0  # device times further behind than this are a wrong clock
MAX_AHEAD_S = 2.0  # ... and ahead by more than this
READ_SIZE = 65536


class Feed:
    """One equipment id's stream: the messages its HL7 messages became, as a monitor Source."""

    def __init__(self, identity: Identity, silent_s: float = SILENT_S,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.identity, self.silent_s, self.clock, self.wall = identity, silent_s, clock, wall
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.heard = clock()
        self.latest_t: float | None = None
        self.lost = False
        self.counts: Counter[str] = Counter()
        self._clock_warned = False

    def put(self, messages: list[dict[str, Any]], received: float) -> None:
        """Hand over one HL7 message's readings (``received``: host time it arrived)."""
        self.heard = self.clock()
        for msg in messages:
            t = msg["t"]
            if t is None:
                t = received
            elif not received - MAX_BEHIND_S <= t <= received + MAX_AHEAD_S:
                self.counts["clock_off"] += 1
                if not self._clock_warned:
                    self._clock_warned = True
                    log.warning("%s: device time is %.0f s off the host clock: using receive "
                                "times (logged once)", self.identity.monitor_id, t - received)
                t = received
            if self.latest_t is not None and t < self.latest_t:
                self.counts["late"] += 1
                log.info("%s: a %s from %.0f s before the feed's latest time is sent at that "
                         "time", self.identity.monitor_id, msg["type"], self.latest_t - t)
                t = self.latest_t
            self.latest_t = t
            self.counts[msg["type"]] += 1
            self.queue.put_nowait({**msg, "t": round(t, 3)})

    def _status(self, active: bool) -> dict[str, Any]:
        # A status is stamped now and counts as what the feed sent last: later readings timed
        # before it are sent at its time (the server would refuse them as going back).
        t = max(self.wall(), self.latest_t or 0.0)
        self.latest_t = t
        text = (f"no HL7 message from equipment {self.identity.serial} for "
                f"{self.silent_s:g} s: is the monitor on and its HL7 export pointed here?")
        return {"type": "status", "t": round(t, 3), "code": "device_lost", "active": active,
                "text": text[:200]}

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        repeat_at = 0.0
        while True:
            try:  # asyncio.timeout, not wait_for, which on 3.11 can drop a cancellation
                async with asyncio.timeout(STATUS_REPEAT_S / 4):
                    msg = await self.queue.get()
            except TimeoutError:
                msg = None
            if msg is not None:
                if self.lost:
                    self.lost = False
                    log.info("%s: receiving HL7 messages again", self.identity.monitor_id)
                    yield self._status(False)
                yield msg
                continue
            now = self.clock()
            if now - self.heard >= self.silent_s:
                if not self.lost:
                    self.lost = True
                    self.counts["lost"] += 1
                    log.warning("%s: no HL7 message for %g s", self.identity.monitor_id,
                                self.silent_s)
                    repeat_at = now
                if now >= repeat_at:
                    repeat_at = now + STATUS_REPEAT_S
                    yield self._status(True)


class Listener:
    """The MLLP server and the per-device feeds; ``receive`` is the whole of one message's
    handling (frame bytes in, acknowledgement bytes out), without the socket."""

    def __init__(self, devices: dict[str, device_map.Device], server: str, mode: str = "live",
                 silent_s: float = SILENT_S, tz: timezone | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.devices, self.server, self.mode = devices, server, mode
        self.silent_s, self.tz, self.wall = silent_s, tz, wall
        self.feeds: dict[str, tuple[Feed, Uplink, asyncio.Task[None]]] = {}
        self.counts: Counter[str] = Counter()
        self.unknown_codes: Counter[str] = Counter()
        self.not_carried: Counter[str] = Counter()
        self.unknown_equipment: Counter[str] = Counter()
        self._acks = 0
        self._servers: list[asyncio.Server] = []

    # -- one message -------------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        received = self.wall()
        text = _decode(data)
        parsed = pcd01.parse(text, self.tz)
        if parsed.verdict != "AR":
            self._route(parsed, received)
        self.counts[parsed.verdict] += 1
        self.counts["messages"] += 1
        if parsed.verdict != "AA":
            log.warning("HL7 message %r from %s: %s %s", parsed.control_id[:40],
                        parsed.equipment or "?", parsed.verdict, parsed.reason)
        self._acks += 1
        ack = pcd01.acknowledgement(parsed, f"VW{int(received)}-{self._acks}",
                                    datetime.fromtimestamp(received, UTC))
        return ack.encode("utf-8")

    def _route(self, parsed: pcd01.Parsed, received: float) -> None:
        """Hand the readings to the device's feed, or turn the message into an AR."""
        if not parsed.equipment:
            parsed.verdict, parsed.messages = "AR", []
            parsed.reason = "no equipment id: neither OBX-18 nor MSH-3 names the device"
            parsed.problems = [pcd01.Problem("OBX", 1, 18, parsed.reason, "101")]
            return
        device = self.devices.get(parsed.equipment)
        if device is None:
            self.unknown_equipment[parsed.equipment] += 1
            if self.unknown_equipment[parsed.equipment] == 1:
                log.warning("HL7 message from equipment %r, which is not in the device map: "
                            "refused (add a line for it)", parsed.equipment)
            parsed.verdict, parsed.messages = "AR", []
            parsed.reason = (f"equipment id {parsed.equipment[:64]} is not in this listener's "
                             f"device map")
            parsed.problems = [pcd01.Problem("OBX", 1, 18, parsed.reason, "204")]
            return
        for label, n in parsed.unknown.items():
            if not self.unknown_codes[label]:
                log.warning("%s: MDC code %s is not known: counted, not carried (logged once)",
                            device.monitor_id, label)
            self.unknown_codes[label] += n
        for label, n in parsed.not_carried.items():
            if not self.not_carried[label]:
                log.info("%s: %s: counted, not carried (logged once)", device.monitor_id, label)
            self.not_carried[label] += n
        self.feed(device, parsed).put(parsed.messages, received)

    def feed(self, device: device_map.Device, parsed: pcd01.Parsed | None = None) -> Feed:
        """The device's feed, started (with its uplink) on its first message."""
        if device.equipment not in self.feeds:
            vendor = ""
            if parsed is not None:
                vendor = parsed.msh.get("sending_app", "").split(parsed.msh.get("separators", "|^")[1])[0]
            identity = Identity(device.monitor_id, device.room, self.mode, vendor=vendor[:64],
                                model="HL7 PCD-01", serial=device.equipment[:64])
            feed = Feed(identity, self.silent_s)
            uplink = Uplink(self.server, feed, token=device.token)
            task = asyncio.get_running_loop().create_task(uplink.run())
            self.feeds[device.equipment] = (feed, uplink, task)
            log.info("equipment %s -> monitor %s, room %r", device.equipment, device.monitor_id,
                     device.room)
        return self.feeds[device.equipment][0]

    # -- the sockets -------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        framer = MllpFramer()
        self.counts["connections"] += 1
        log.info("HL7 connection from %s", peer)
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                before = framer.garbage_bytes
                for body in framer.receive_data(data):
                    writer.write(frame(self.receive(body)))
                if framer.garbage_bytes > before:
                    self.counts["garbage_bytes"] += framer.garbage_bytes - before
                    log.warning("%s: %d bytes outside MLLP frames discarded", peer,
                                framer.garbage_bytes - before)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError) as e:
            log.info("HL7 connection from %s ended: %s", peer, e)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                await writer.wait_closed()
        log.info("HL7 connection from %s closed", peer)

    async def serve(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        """Start listening; returns the port (useful with port 0)."""
        server = await asyncio.start_server(self._connection, host, port, ssl=tls)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        for server in self._servers:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for _, _, task in self.feeds.values():
            task.cancel()
        for _, _, task in self.feeds.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def summary(self) -> str:
        c = self.counts
        lines = [(f"{c['messages']} HL7 messages: {c['AA']} AA, {c['AE']} AE, {c['AR']} AR; "
                  f"{c['garbage_bytes']} bytes outside frames")]
        for equipment, (feed, uplink, _) in self.feeds.items():
            f = feed.counts
            lines.append(f"  {equipment} -> {feed.identity.monitor_id}: {f['numerics']} numerics, "
                         f"{f['nibp']} nibp, {f['late']} late, {f['clock_off']} with a wrong "
                         f"clock, lost {f['lost']} times; {uplink.acked} acknowledged by the "
                         f"server, {len(uplink.pending)} pending")
        for label, n in sorted(self.unknown_codes.items()):
            lines.append(f"  unknown code {label}: {n} observations not carried")
        for label, n in sorted(self.not_carried.items()):
            lines.append(f"  {label}: {n} observations not carried")
        for equipment, n in sorted(self.unknown_equipment.items()):
            lines.append(f"  equipment {equipment} not in the device map: {n} messages refused")
        return "\n".join(lines)


def _decode(data: bytes) -> str:
    """HL7 v2 text: UTF-8, or ISO 8859-1 (PCD-01's usual MSH-18 ``8859/1``), which reads any
    byte, so no message is refused for its characters alone."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too); ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen must be HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def tls_context(certfile: str | None, keyfile: str | None,
                client_ca: str | None = None) -> ssl.SSLContext | None:
    if not certfile:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED  # only monitors with a certificate from this CA
    return ctx


async def run_listener(listen: str, devices_path: str | Path, server: str, *, mode: str = "live",
                       silent_s: float = SILENT_S, certfile: str | None = None,
                       keyfile: str | None = None, client_ca: str | None = None,
                       err: Callable[[str], None] | None = None) -> int:
    """``vitalwatch monitor hl7``: listen until SIGTERM or SIGINT. Returns the exit code (2 for
    bad arguments or a bad device map, told on stderr)."""
    say = err or (lambda text: print(f"vitalwatch monitor hl7: {text}", flush=True))
    try:
        host, port = parse_listen(listen)
        if not silent_s > 0:
            raise ValueError(f"--silent-after must be positive, got {silent_s:g}")
        if bool(certfile) != bool(keyfile):
            raise ValueError("--certfile and --keyfile go together")
        devices = device_map.load(devices_path)
        tls = tls_context(certfile, keyfile, client_ca)
    except (ValueError, OSError, ssl.SSLError) as e:
        say(str(e))
        return 2
    listener = Listener(devices, server, mode=mode, silent_s=silent_s)
    stop = stop_on_signals()
    try:
        bound = await listener.serve(host, port, tls)
    except OSError as e:
        say(f"cannot listen on {listen}: {e}")
        return 2
    log.info("HL7 listener on %s:%d (%s), %d devices -> %s", host, bound,
             "TLS" if tls else "plain TCP", len(devices), server)
    print(f"vitalwatch monitor hl7 listening on {host}:{bound}", flush=True)
    try:
        await stop.wait()
    finally:
        await listener.close()
        log.info("HL7 listener stopped\n%s", listener.summary())
    return 0
