"""The uplink: carries a source's messages to the server over a websocket, losing none.

Every message gets the next seq of this stream and waits in the ``Outbox`` until the server
settles it: an ``ack`` (stored) or an ``error`` with ``retry: false`` (refused for good). An
``error`` with ``retry: true`` settles nothing: the uplink goes back to that seq and resends from
there, in order, after the ``retry_after_s`` the server asked for. Sending is paced below the
server's rate limit (``CATCH_UP_SHARE`` of the ``max_rate`` its welcome states), so a backlog
after an outage goes out as fast as the server takes it and no faster. On reconnect the uplink
says ``hello`` with the same stream id and ``resume_from`` (the lowest seq it still holds) and
resends everything unsettled, so a server restart or a network cut loses nothing and stores
nothing twice. See docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections import OrderedDict
from typing import Any

import websockets

from monitors import protocol
from monitors.adapter import Identity, Source
from monitors.protocol import PROTOCOL_VERSION

log = logging.getLogger("vitalwatch.uplink")

HEARTBEAT_S = 1.0
# The close reason of an uplink whose source has ended and whose every message is settled
# (protocol.END_OF_STREAM; kept under this name for the adapters that import it from here).
END_OF_STREAM = protocol.END_OF_STREAM
# The close reason of an uplink that must say hello again to tell the server what it gave up.
RESUME = "resume"
BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 5.0
# While the server is away, messages wait here. Past this many the oldest are given up, and
# counted, rather than letting a long outage exhaust the adapter's memory (about 3 h of numerics
# and NIBP, or ~10 min with three waveforms).
MAX_PENDING = 20_000
# Pacing: the uplink sends at most this share of the rate the server states (200 a second
# today, so 150), in bursts of at most PACE_BURST. A live monitor sends ~20 a second, so a
# backlog drains at ~130 a second: 60 s of outage with waveforms in about 10 s.
CATCH_UP_SHARE = 0.75
DEFAULT_RATE = protocol.MAX_RATE_PER_S  # when the server's welcome does not say
PACE_BURST = 50.0
# At most this many messages sent and not yet answered: bounds what one refusal can send back.
WINDOW = 256


class Outbox:
    """The uplink's delivery logic without the socket or the clock: numbering, what is pending,
    what to send next, and what each answer settles. ``now`` arguments are monotonic seconds."""

    def __init__(self, max_pending: int = MAX_PENDING, window: int = WINDOW) -> None:
        self.pending: OrderedDict[int, str] = OrderedDict()
        self.max_pending, self.window = max_pending, window
        self.seq = 0
        self.cursor = 1  # the lowest seq not yet sent in the current round
        self.round = 0  # bumped whenever the uplink goes back to resend
        # seq → the round it was sent in, for sends of the current round not yet answered
        self.sent_in: dict[int, int] = {}
        self.highest_sent = 0
        self.hold_until = 0.0
        self.rate, self.burst = DEFAULT_RATE * CATCH_UP_SHARE, PACE_BURST
        self.tokens, self.tokens_t = PACE_BURST, 0.0
        self.resume_needed = False
        self.sent = self.resent = self.acked = self.refused = self.deferred = self.given_up = 0
        self.errors: list[dict[str, Any]] = []

    def add(self, message: dict[str, Any]) -> int:
        """Number a message and keep it until settled; returns its seq."""
        self.seq += 1
        self.pending[self.seq] = json.dumps({**message, "seq": self.seq}, separators=(",", ":"),
                                            allow_nan=False)
        while len(self.pending) > self.max_pending:
            seq, _ = self.pending.popitem(last=False)
            self.sent_in.pop(seq, None)
            self.given_up += 1
        return self.seq

    def resume_from(self) -> int:
        """The lowest seq still held (everything below is settled on this side)."""
        return next(iter(self.pending)) if self.pending else self.seq + 1

    def connected(self, max_rate: float | None, now: float) -> None:
        """A new connection was welcomed: resend everything unsettled, from the oldest. Seqs the
        server already has are answered one by one (ack if stored, error if refused), so no
        acknowledgement is ever assumed."""
        self.cursor, self.round = self.resume_from(), self.round + 1
        self.sent_in.clear()
        self.hold_until, self.resume_needed = 0.0, False
        self.rate = (max_rate or DEFAULT_RATE) * CATCH_UP_SHARE
        self.tokens, self.tokens_t = self.burst, now

    def wait_s(self, now: float) -> float | None:
        """Seconds until the next send is allowed; 0 if now; None if there is nothing to send."""
        if self._next() is None or len(self.sent_in) >= self.window:
            return None
        tokens = min(self.burst, self.tokens + (now - self.tokens_t) * self.rate)
        return max(self.hold_until - now, (1 - tokens) / self.rate if tokens < 1 else 0.0, 0.0)

    def take(self, now: float) -> tuple[int, str] | None:
        """The next frame to send, if sending it now is allowed."""
        if self.wait_s(now) != 0.0:
            return None
        seq = self._next()
        assert seq is not None
        self.tokens = min(self.burst, self.tokens + (now - self.tokens_t) * self.rate) - 1
        self.tokens_t = now
        if seq <= self.highest_sent:
            self.resent += 1
        self.highest_sent = max(self.highest_sent, seq)
        self.sent_in[seq] = self.round
        self.cursor = seq + 1
        self.sent += 1
        return seq, self.pending[seq]

    def _next(self) -> int | None:
        if self.cursor > self.seq:
            return None
        if self.cursor in self.pending:
            return self.cursor
        return next((s for s in self.pending if s >= self.cursor), None)

    def on_ack(self, seq: int) -> bool:
        """The server stored ``seq``. Returns True if that settled a pending message."""
        self.sent_in.pop(seq, None)
        if self.pending.pop(seq, None) is None:
            return False
        self.acked += 1
        return True

    def on_error(self, reply: dict[str, Any], now: float) -> bool:
        """A refusal. For good: settles its seq (True). For now: go back and resend from the seq
        the server needs, after the wait it asked for (False)."""
        seq = reply.get("seq")
        if not reply.get("retry"):
            self.errors.append(reply)
            if seq is None or self.pending.pop(seq, None) is None:
                return False
            self.sent_in.pop(seq, None)
            self.refused += 1
            return True
        self.deferred += 1
        if seq is None or seq not in self.pending or self.sent_in.get(seq) != self.round:
            return False  # settled meanwhile, or the answer to a send already superseded
        target = seq
        expected = reply.get("expected_seq")
        if isinstance(expected, int) and expected < seq:
            target = expected
            if expected not in self.pending:
                # The server waits for a seq no longer held here: say hello again with
                # resume_from, so that it records what was given up and goes on.
                self.resume_needed = True
        self.cursor = min(self.cursor, target)
        self.round += 1
        # What was sent from there on is sent again; answers to the earlier sends are stale.
        for s in [s for s in self.sent_in if s >= self.cursor]:
            del self.sent_in[s]
        self.hold_until = max(self.hold_until, now + float(reply.get("retry_after_s") or 0.0))
        return False


class Uplink:
    def __init__(self, url: str, source: Source, stream: str | None = None,
                 token: str | None = None) -> None:
        self.url = url.rstrip("/") + ("" if url.rstrip("/").endswith("/ws/ingest") else "/ws/ingest")
        self.source = source
        self.token = token
        self.identity: Identity = source.identity
        self.stream = stream or uuid.uuid4().hex
        self.outbox = Outbox()
        self.connections = 0
        self.session_id: int | None = None
        self._connected = False
        self._source_done = asyncio.Event()
        self._wake = asyncio.Event()

    # Counters, for the commands that report them.
    @property
    def pending(self) -> OrderedDict[int, str]:
        return self.outbox.pending

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.outbox.errors

    @property
    def given_up(self) -> int:
        return self.outbox.given_up

    @property
    def acked(self) -> int:
        return self.outbox.acked

    @property
    def sent(self) -> int:
        return self.outbox.sent

    async def run(self, until_drained: bool = True) -> None:
        """Stream the source until it ends and (if ``until_drained``) the server has settled
        every message; reconnect with backoff whenever the connection drops."""
        producer = asyncio.create_task(self._produce())
        try:
            backoff = BACKOFF_MIN_S
            while True:
                try:
                    headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
                    async with websockets.connect(self.url, max_size=protocol.MAX_FRAME_BYTES, open_timeout=5,
                                                  ping_interval=5, ping_timeout=10,
                                                  additional_headers=headers) as ws:
                        await self._session(ws)
                        backoff = BACKOFF_MIN_S
                except (TimeoutError, OSError, websockets.WebSocketException) as e:
                    log.warning("uplink to %s: %s; retrying in %.1f s", self.url, e, backoff)
                finally:
                    self._connected = False
                if self._finished(until_drained):
                    return
                if self.outbox.resume_needed:
                    continue  # say hello again at once
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(BACKOFF_MAX_S, backoff * 2)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
            o = self.outbox
            log.info("uplink finished: %d sent (%d resent), %d acknowledged, %d refused, "
                     "%d deferred, %d given up, %d pending", o.sent, o.resent, o.acked, o.refused,
                     o.deferred, o.given_up, len(o.pending))

    def _finished(self, until_drained: bool) -> bool:
        return self._source_done.is_set() and (not until_drained or not self.pending)

    async def _produce(self) -> None:
        async for message in self.source:
            self._enqueue(message)
        self._source_done.set()
        self._wake.set()

    def _enqueue(self, message: dict[str, Any]) -> None:
        self.outbox.add(message)
        self._wake.set()

    async def _session(self, ws: Any) -> None:
        ident = self.identity
        await ws.send(json.dumps({
            "type": "hello", "seq": 0, "protocol": PROTOCOL_VERSION, "monitor_id": ident.monitor_id,
            "stream": self.stream, "room": ident.room, "mode": ident.mode, "vendor": ident.vendor,
            "model": ident.model, "serial": ident.serial, "resume_from": self.outbox.resume_from(),
        }))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if welcome.get("type") != "welcome":
            raise websockets.InvalidMessage(f"server refused hello: {welcome}")
        self.connections += 1
        self.session_id = welcome["session_id"]
        self.outbox.connected(welcome.get("max_rate"), time.monotonic())
        self._connected = True
        log.info("uplink connected: session %s, %d to send", self.session_id, len(self.pending))
        tasks = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._send(ws))]
        try:
            async for frame in ws:
                reply = json.loads(frame)
                if reply.get("type") == "ack":
                    self.outbox.on_ack(reply["seq"])
                elif reply.get("type") == "error":
                    if not reply.get("retry"):
                        log.warning("server refused seq %s: %s: %s", reply.get("seq"),
                                    reply.get("field"), reply.get("reason"))
                    self.outbox.on_error(reply, time.monotonic())
                    if self.outbox.resume_needed:
                        await ws.close(1000, RESUME)
                        return
                self._wake.set()
                if self._source_done.is_set() and not self.pending:
                    await ws.close(1000, END_OF_STREAM)
                    return
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, websockets.WebSocketException,
                                         OSError):
                    await task

    async def _send(self, ws: Any) -> None:
        """Send what is due, in seq order, paced; sleep until there is more or it is allowed."""
        while True:
            frame = self.outbox.take(time.monotonic())
            if frame is not None:
                await ws.send(frame[1])
                continue
            self._wake.clear()
            wait = self.outbox.wait_s(time.monotonic())
            if wait == 0.0:
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns a wake-up that came
            # with a cancellation and drops the cancellation, and this loop would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self._enqueue({"type": "heartbeat", "t": time.time()})
