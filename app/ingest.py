"""Websocket ingest (``/ws/ingest``): read, check and settle every message a monitor sends.

Each message is settled exactly once: ``ack`` when it is stored (or was already stored), or
``error`` naming its seq, the field and why. A refused message is counted for its monitor, kept
in the store's reject table and never reaches the pipeline. A monitor that keeps sending bad or
too many messages is disconnected with close code 1008 (policy violation) and a reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import deque
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.pipeline import Pipeline
from app.security import Security, deny
from monitors.uplink import END_OF_STREAM
from monitors.protocol import PROTOCOL_VERSION, Error, Hello, Welcome, monitor_message

log = logging.getLogger("vitalwatch.ingest")

MAX_MESSAGE_BYTES = 64 * 1024  # the largest waveform chunk is ~50 KB as JSON
HELLO_TIMEOUT_S = 10.0
RATE_PER_S = 200.0  # a monitor with three waveforms sends ~20 messages a second
RATE_BURST = 400.0
ERROR_WINDOW_S = 10.0
RECHECK_S = 2.0  # how often an open connection's token is checked again
MAX_ERRORS_IN_WINDOW = 50


_FIELD_PREFIX = re.compile(r"^([A-Za-z0-9_.]+): (.*)$", re.S)


class Refused(Exception):
    def __init__(self, seq: int | None, field: str, reason: str) -> None:
        super().__init__(reason)
        self.seq, self.field, self.reason = seq, field, reason


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse(raw: str) -> Any:
    """Turn one frame into a validated message, or raise Refused naming what is wrong."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Refused(None, "", f"message of {len(raw)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except ValueError as e:
        raise Refused(None, "", f"malformed JSON: {e}") from None
    seq = data.get("seq") if isinstance(data, dict) else None
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    try:
        return monitor_message.validate_python(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err["loc"]]
        # The discriminated union puts the type name first in the location; it is not a field.
        if loc and isinstance(data, dict) and loc[0] == data.get("type"):
            loc = loc[1:]
        loc = [p for p in loc if not p.startswith("function-")]
        reason = err["msg"].removeprefix("Value error, ")
        if m := _FIELD_PREFIX.match(reason):
            loc, reason = [*loc, m.group(1)], m.group(2)
        if err["type"] == "union_tag_invalid":
            reason = f"unknown message type {data.get('type')!r}"
            loc = ["type"]
        elif err["type"] == "union_tag_not_found":
            loc = ["type"]
        raise Refused(seq, ".".join(loc), reason) from None


class _RateLimit:
    """A token bucket: bursts are fine, a sustained flood is not."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.t = rate, burst, burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def ingest(ws: WebSocket, pipeline: Pipeline, security: Security) -> None:
    # A monitor proves who it is at the handshake, before a byte of data is read: an unknown or
    # revoked token is refused with HTTP 401 and the reason, and nothing is accepted.
    auth = ws.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    device, why = security.accounts.device(token, security.demo)
    if device is None:
        await deny(ws, 401, why)
        return
    if not security.origin_ok(ws.headers.get("origin"), ws.headers.get("host")):
        await deny(ws, 403, "cross-origin websocket refused")
        return
    await ws.accept()
    try:
        first = await asyncio.wait_for(ws.receive_text(), HELLO_TIMEOUT_S)
    except (asyncio.TimeoutError, WebSocketDisconnect, KeyError, RuntimeError):
        await _close(ws, 1008, "expected a hello message first")
        return
    try:
        hello = parse(first)
        if not isinstance(hello, Hello):
            raise Refused(hello.seq, "type", f"the first message must be 'hello', not {hello.type!r}")
        if hello.monitor_id != device:
            raise Refused(hello.seq, "monitor_id",
                          f"this token belongs to monitor {device!r}, not {hello.monitor_id!r}")
        if hello.protocol != PROTOCOL_VERSION:
            raise Refused(hello.seq, "protocol",
                          f"protocol {hello.protocol} is not supported (this server speaks {PROTOCOL_VERSION})")
        # A token names the rooms its device may feed, and a room's running session the
        # monitors that may feed it: another patient's room is refused, precisely and counted.
        if why := security.accounts.may_feed(device, hello.room):
            raise Refused(hello.seq, "room", why)
        if why := pipeline.admission(hello.monitor_id, hello.room):
            raise Refused(hello.seq, "room", why)
    except Refused as r:
        pipeline.refuse(device, r.seq, r.field, r.reason, first)
        log.warning("monitor %s: hello refused (%s)", device, r.field or "message")
        await ws.send_text(Error(seq=r.seq, field=r.field, reason=r.reason).model_dump_json())
        # A close reason has at most 123 bytes; a room's name may not be ASCII.
        reason = f"refused hello: {r.field}: {r.reason}".encode()[:120].decode(errors="ignore")
        await _close(ws, 1008, reason)
        return

    monitor_id = hello.monitor_id
    session_id, last_seq, connection = pipeline.hello(hello, time.time())
    await ws.send_text(Welcome(session_id=session_id, last_seq=last_seq).model_dump_json())
    log.info("monitor %s connected (stream %s, session %s)", monitor_id, hello.stream, session_id)
    bucket = _RateLimit(RATE_PER_S, RATE_BURST, time.monotonic())
    errors: deque[float] = deque()
    checked = time.monotonic()
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                if hello.mode == "replay" and message.get("reason") == END_OF_STREAM:
                    # A replay that played to its end leaves no patient behind: no "feed lost"
                    # for it. Its session stays open for review until someone ends it.
                    pipeline.finished(monitor_id, time.time())
                break
            now = time.time()
            if time.monotonic() - checked > RECHECK_S:
                # A token revoked while its monitor is connected stops working within seconds.
                checked = time.monotonic()
                if security.accounts.device(token, security.demo)[0] != device:
                    await _close(ws, 1008, "the device token is no longer valid")
                    break
            raw = message.get("text")
            try:
                if raw is None:
                    raw = repr(message.get("bytes", b""))[:200]
                    raise Refused(None, "", "binary frames are not part of the protocol; send JSON text")
                if not bucket.take(time.monotonic()):
                    raise Refused(None, "", f"more than {RATE_PER_S:g} messages a second")
                msg = parse(raw)
                if isinstance(msg, Hello):
                    raise Refused(msg.seq, "type", "hello was already received on this connection")
                pipeline.accept(monitor_id, msg, now)
                await ws.send_text(f'{{"type":"ack","seq":{msg.seq}}}')  # = Ack(seq=...), cheaper
            except Refused as r:
                pipeline.refuse(monitor_id, r.seq, r.field, r.reason, raw or "")
                await ws.send_text(Error(seq=r.seq, field=r.field, reason=r.reason).model_dump_json())
                errors.append(now)
                while errors and errors[0] < now - ERROR_WINDOW_S:
                    errors.popleft()
                if len(errors) > MAX_ERRORS_IN_WINDOW:
                    log.warning("monitor %s disconnected: too many refused messages", monitor_id)
                    await _close(ws, 1008, f"more than {MAX_ERRORS_IN_WINDOW} refused messages in "
                                           f"{ERROR_WINDOW_S:g} s")
                    break
    except WebSocketDisconnect:
        pass
    finally:
        pipeline.disconnected(monitor_id, time.time(), connection)
        log.info("monitor %s disconnected", monitor_id)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    try:
        await ws.close(code=code, reason=reason)
    except RuntimeError:
        pass  # already closed by the peer
