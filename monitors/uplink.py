"""The uplink: carries a source's messages to the server over a websocket, losing none.

Every message gets the next seq of this stream and waits in ``pending`` until the server settles
it (``ack`` or ``error``). On reconnect the uplink says ``hello`` with the same stream id, learns
the last seq the server stored, forgets what is settled and resends the rest in order, so a
server restart or a network cut loses nothing and stores nothing twice. Heartbeats are not
resent: they only say "still here" at the moment they are sent.
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

from monitors.adapter import Identity, Source
from monitors.protocol import PROTOCOL_VERSION

log = logging.getLogger("vitalwatch.uplink")

HEARTBEAT_S = 1.0
# The close reason of an uplink whose source has ended and whose every message is settled: a
# replay that has played to its end (the server then ends a replay's session).
END_OF_STREAM = "end of stream"
BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 5.0
# While the server is away, messages wait here. Past this many the oldest are given up, and
# counted, rather than letting a long outage exhaust the adapter's memory (about 3 h of numerics
# and NIBP, or ~10 min with three waveforms).
MAX_PENDING = 20_000


class Uplink:
    def __init__(self, url: str, source: Source, stream: str | None = None,
                 token: str | None = None) -> None:
        self.url = url.rstrip("/") + ("" if url.rstrip("/").endswith("/ws/ingest") else "/ws/ingest")
        self.source = source
        self.token = token
        self.identity: Identity = source.identity
        self.stream = stream or uuid.uuid4().hex
        self.pending: OrderedDict[int, str] = OrderedDict()
        self.seq = 0
        self.sent = 0
        self.acked = 0
        self.errors: list[dict[str, Any]] = []
        self.given_up = 0
        self.connections = 0
        self.session_id: int | None = None
        self._ws: Any = None
        self._source_done = asyncio.Event()
        self._wake = asyncio.Event()

    async def run(self, until_drained: bool = True) -> None:
        """Stream the source until it ends and (if ``until_drained``) the server has settled
        every message; reconnect with backoff whenever the connection drops."""
        producer = asyncio.create_task(self._produce())
        try:
            backoff = BACKOFF_MIN_S
            while True:
                try:
                    headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
                    async with websockets.connect(self.url, max_size=2**20, open_timeout=5,
                                                  ping_interval=5, ping_timeout=10,
                                                  additional_headers=headers) as ws:
                        await self._session(ws)
                        backoff = BACKOFF_MIN_S
                except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as e:
                    log.warning("uplink to %s: %s; retrying in %.1f s", self.url, e, backoff)
                finally:
                    self._ws = None
                if self._finished(until_drained):
                    return
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(BACKOFF_MAX_S, backoff * 2)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    def _finished(self, until_drained: bool) -> bool:
        return self._source_done.is_set() and (not until_drained or not self.pending)

    async def _produce(self) -> None:
        async for message in self.source:
            self._enqueue(message)
        self._source_done.set()
        self._wake.set()

    def _enqueue(self, message: dict[str, Any]) -> None:
        self.seq += 1
        text = json.dumps({**message, "seq": self.seq}, separators=(",", ":"), allow_nan=False)
        if message.get("type") != "heartbeat":
            self.pending[self.seq] = text
            while len(self.pending) > MAX_PENDING:
                self.pending.popitem(last=False)
                self.given_up += 1
        if self._ws is not None:
            self._send_soon(text)

    def _send_soon(self, text: str) -> None:
        ws = self._ws

        async def send() -> None:
            with contextlib.suppress(websockets.WebSocketException, OSError):
                await ws.send(text)

        # Sends are queued in order on the connection's own write lock.
        asyncio.ensure_future(send())
        self.sent += 1

    async def _session(self, ws: Any) -> None:
        ident = self.identity
        await ws.send(json.dumps({
            "type": "hello", "seq": 0, "protocol": PROTOCOL_VERSION, "monitor_id": ident.monitor_id,
            "stream": self.stream, "room": ident.room, "mode": ident.mode, "vendor": ident.vendor,
            "model": ident.model, "serial": ident.serial,
        }))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if welcome.get("type") != "welcome":
            raise websockets.InvalidMessage(f"server refused hello: {welcome}")
        self.connections += 1
        self.session_id = welcome["session_id"]
        self._settle(welcome["last_seq"])
        resent, last = 0, welcome["last_seq"]
        # The source keeps producing while we resend; loop until nothing unsent is left, then
        # switch to sending as produced (no await between the check and the switch).
        while batch := [(s, t) for s, t in self.pending.items() if s > last]:
            for s, text in batch:
                await ws.send(text)
                last, resent = s, resent + 1
        self.sent += resent
        self._ws = ws
        log.info("uplink connected: session %s, resent %d", self.session_id, resent)
        beat = asyncio.create_task(self._heartbeat())
        try:
            async for frame in ws:
                reply = json.loads(frame)
                if reply["type"] == "ack":
                    self.acked += 1
                    self._settle(reply["seq"])
                elif reply["type"] == "error":
                    self.errors.append(reply)
                    log.warning("server refused seq %s: %s: %s", reply.get("seq"), reply.get("field"),
                                reply.get("reason"))
                    if reply.get("seq") is not None:
                        self.pending.pop(reply["seq"], None)
                if self._source_done.is_set() and not self.pending:
                    await ws.close(1000, END_OF_STREAM)
                    return
        finally:
            beat.cancel()

    def _settle(self, seq: int) -> None:
        while self.pending and next(iter(self.pending)) <= seq:
            self.pending.popitem(last=False)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self._enqueue({"type": "heartbeat", "t": time.time()})
