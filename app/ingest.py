"""Websocket ingest (``/ws/ingest``): read, check and settle every message a monitor sends.

Messages are taken strictly in seq order, and each seq is settled exactly once: ``ack`` when it
is stored (the transaction committed), or ``error`` with ``retry: false`` naming its seq, the
field and why (refused for good: the seq is recorded as settled-but-not-stored and counted). A
message that is not taken *now* — over the rate limit, or a seq ahead of the next one — gets an
``error`` with ``retry: true`` and settles nothing: the monitor resends it. A resent seq that is
already settled is answered as it was the first time. A monitor that keeps sending bad messages,
or keeps ignoring ``retry_after_s``, is disconnected with close code 1008 and a reason.
See docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections import deque
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.pipeline import NotAdmitted, Pipeline
from app.security import Security, deny
from app.storage import DatabaseError
from monitors import protocol
from monitors.protocol import (
    END_OF_STREAM,
    MAX_SEQ,
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOLS,
    Error,
    Heartbeat,
    Hello,
    Welcome,
    last_t,
    monitor_message,
)

log = logging.getLogger("vitalwatch.ingest")

MAX_MESSAGE_BYTES = protocol.MAX_MESSAGE_BYTES
HELLO_TIMEOUT_S = 10.0
RATE_PER_S = protocol.MAX_RATE_PER_S
RATE_BURST = protocol.MAX_BURST
RECONNECT_AFTER_S = 5.0  # what a monitor refused a room mid-stream is told to wait before trying again
ERROR_WINDOW_S = 10.0
RECHECK_S = 2.0  # how often an open connection's token is checked again
MAX_ERRORS_IN_WINDOW = 50
# Refusals for now (retry: true) are a sender's pacing, not its data, going wrong: an honest
# uplink that overshoots has at most its in-flight window (256) refused at once. Only a sender
# that ignores retry_after_s for seconds on end reaches this.
MAX_DEFERRED_IN_WINDOW = 1000
# Device time against the server clock, for live streams (docs/protocol.md, "Time"). A reading
# from the future would hold alarm timers back; one from long ago would make a condition look
# as if it had lasted for ages. The past bound is far beyond what an uplink buffers (MAX_PENDING,
# about 3 h of numerics), so a backlog after an outage is still taken.
FUTURE_S = 10.0
PAST_S = 24 * 3600.0
BACKWARD_S = 5.0  # how far a message may go back behind the latest this monitor has sent


# A JSON escape of half a surrogate pair: only then can decoded text be invalid Unicode.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
# A run of 19 digits may be an integer beyond 64 bits, which orjson reads as a float (or refuses):
# such a frame is read by the standard library, which keeps it an integer.
_LONG_NUMBER = re.compile(r"\d{19}")


class Refused(Exception):
    """A message not stored: for good (``retry`` false) or for now (``retry`` true)."""

    def __init__(self, seq: int | None, field: str, reason: str, retry: bool = False,
                 retry_after_s: float | None = None, expected_seq: int | None = None) -> None:
        super().__init__(reason)
        self.seq, self.field, self.reason = seq, field, reason
        self.retry, self.retry_after_s, self.expected_seq = retry, retry_after_s, expected_seq

    def error(self) -> Error:
        return Error(seq=self.seq, field=self.field, reason=self.reason, retry=self.retry,
                     retry_after_s=self.retry_after_s, expected_seq=self.expected_seq)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def decode(raw: str) -> Any:
    """One frame's JSON, or Refused (seq unknown) saying why it cannot be read."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Refused(None, "", f"message of {len(raw)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    # The fast path: orjson reads every frame it accepts as the standard library would, except
    # integers beyond 64 bits; it refuses NaN, Infinity, lone surrogates and numbers too large
    # for a double. Anything it refuses is read again below, so that the refusal says the same.
    if not _LONG_NUMBER.search(raw):
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(raw)
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise Refused(None, "", "malformed JSON: nested too deeply") from None
    except ValueError as e:  # includes integers of more than 4300 digits
        raise Refused(None, "", f"malformed JSON: {e}") from None
    if _SURROGATE.search(raw):
        try:  # a lone surrogate cannot be stored, shown or even written back in an error
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise Refused(None, "", "malformed JSON: a \\u escape of a lone surrogate is not "
                          "text") from None
    return data


def read_seq(data: Any) -> int:
    """The seq of a decoded message, read before anything else so that every later refusal can
    name it. Raises Refused (seq unknown) if it is missing or not a seq."""
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean"}.get(type(data), "a number")
        raise Refused(None, "", f"a message must be a JSON object, not {kind if data is not None else 'null'}")
    seq = data.get("seq")
    if "seq" not in data:
        raise Refused(None, "seq", "Field required")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise Refused(None, "seq", f"Input should be a valid integer, not {type(seq).__name__}")
    if not 0 <= seq <= MAX_SEQ:
        shown = str(seq) if len(str(seq)) <= 30 else f"a number of {len(str(seq))} digits"
        raise Refused(None, "seq", f"seq must be between 0 and {MAX_SEQ} (2^53 - 1), not {shown}")
    return seq


def validate(data: Any, seq: int | None = None) -> Any:
    """A decoded message validated against the protocol models, or Refused naming field and why."""
    try:
        return monitor_message.validate_python(data)
    except RecursionError:
        raise Refused(seq, "", "nested too deeply") from None
    except ValidationError as e:
        field, reason = protocol.refusal(e, data)
        raise Refused(seq, field[:200], reason[:500]) from None


def parse(raw: str) -> Any:
    """Turn one frame into a validated message, or raise Refused naming what is wrong."""
    data = decode(raw)
    seq = read_seq(data) if isinstance(data, dict) and "seq" in data else None
    return validate(data, seq)


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

    def wait_s(self) -> float:
        """How long until one message will be taken again."""
        return max(0.001, math.ceil(max(0.0, 1 - self.tokens) / self.rate * 1000) / 1000)


class Connection:
    """One monitor connection's ingest after its hello, without the socket: a frame in, the
    answer out (and whether to close). Every check of a message lives here."""

    def __init__(self, pipeline: Pipeline, hello: Hello, live: bool, mono: float) -> None:
        self.pipeline, self.monitor_id, self.stream = pipeline, hello.monitor_id, hello.stream
        self.key = (hello.monitor_id, hello.stream)
        # Server-clock bounds apply to live data (or data feeding a live session): other modes may
        # run on simulated time, faster than the wall clock (monitors.adapter.Paced).
        self.live = live
        self.bucket = _RateLimit(RATE_PER_S, RATE_BURST, mono)
        self.errors: deque[float] = deque()
        self.deferrals: deque[float] = deque()
        self.deferred = 0

    def resume(self, resume_from: int | None, last_seq: int, now: float) -> int:
        """Apply the hello's ``resume_from``: seqs the monitor no longer holds and the server
        never stored are recorded as given up (and counted), so the stream can go on. Returns
        the stream's last settled seq."""
        if resume_from is None or resume_from - 1 <= last_seq:
            return last_seq
        first, last = last_seq + 1, resume_from - 1
        reason = (f"seqs {first}–{last} were given up by the monitor and never received"
                  if first < last else f"seq {first} was given up by the monitor and never received")
        self.pipeline.store.skip(self.monitor_id, self.stream, first, last, "seq", reason)
        self.pipeline.last_seq[self.key] = last
        self.pipeline.refuse(self.monitor_id, None, "seq", reason, "")
        log.warning("monitor %s stream %s: %s", self.monitor_id, self.stream, reason)
        return last

    def handle(self, raw: str | None, now: float, mono: float) -> tuple[str, str | None]:
        """Settle (or defer) one frame. Returns the answer to send and, when the connection
        must be closed for policy, the close reason."""
        next_seq = self.pipeline.last_seq.get(self.key, 0) + 1
        try:
            if raw is None:
                raise Refused(None, "", "binary frames are not part of the protocol; send JSON text")
            data = decode(raw)
            seq = read_seq(data)
            if not self.bucket.take(mono):
                raise Refused(seq, "", f"more than {RATE_PER_S:g} messages a second", retry=True,
                              retry_after_s=self.bucket.wait_s())
            if data.get("type") == "hello":
                raise Refused(seq, "type", "hello was already received on this connection")
            if seq == 0:
                raise Refused(0, "seq", "seq 0 is the hello's; a stream's messages are numbered from 1")
            if seq < next_seq:
                return self._settled_before(seq, now), None
            if seq > next_seq:
                raise Refused(seq, "seq", f"seq {seq} is ahead of the next one this stream needs "
                              f"({next_seq}): resend from {next_seq}, in order", retry=True,
                              retry_after_s=0.0, expected_seq=next_seq)
            msg = validate(data, seq)
            if self.live or self._feeds_live():
                self._check_time(msg, now)
            try:
                self.pipeline.accept(self.monitor_id, msg, now)
            except NotAdmitted as e:
                # The monitor's session ended and another monitor holds the room now: nothing of
                # this message is settled (it stays the monitor's to resend once a clinician adds
                # it), and the connection ends, as a refused hello would.
                refusal = Refused(seq, "room", str(e), retry=True, retry_after_s=RECONNECT_AFTER_S)
                reason = f"refused: room: {e}".encode()[:120].decode(errors="ignore")
                return refusal.error().model_dump_json(), reason
            return f'{{"type":"ack","seq":{msg.seq}}}', None  # = Ack(seq=...), cheaper
        except Refused as r:
            return r.error().model_dump_json(), self._refused(r, raw, next_seq, now)

    def _settled_before(self, seq: int, now: float) -> str:
        """A resent seq that is already settled: acknowledged again if it was stored, refused
        again (with the first reason) if it was not."""
        unstored = self.pipeline.store.unstored(self.monitor_id, self.stream, seq)
        if unstored is not None:
            return Error(seq=seq, field=unstored["field"],
                         reason=f"refused when first sent: {unstored['reason']}").model_dump_json()
        self.pipeline.accept(self.monitor_id, Heartbeat.model_construct(type="heartbeat", seq=seq,
                                                                          t=now), now)
        return f'{{"type":"ack","seq":{seq}}}'

    def _check_time(self, msg: Any, now: float) -> None:
        ahead = msg.t - now
        if ahead > FUTURE_S:
            raise Refused(msg.seq, "t", f"t is {ahead:.1f} s ahead of the server clock (more than "
                          f"{FUTURE_S:g} s ahead is refused: check the device's clock)")
        if -ahead > PAST_S:
            raise Refused(msg.seq, "t", f"t is {-ahead / 3600:.1f} h behind the server clock (more "
                          f"than {PAST_S / 3600:g} h behind is refused)")
        # Measured against everything this monitor has sent before (on any connection: the
        # first message after a reconnect may not go back either; a waveform chunk by its last
        # sample), and against the earlier of that and now, so that one reading a few seconds
        # ahead cannot get the next, correctly timed ones refused.
        previous = self.pipeline.monitor(self.monitor_id).device_time
        end = last_t(msg)
        if previous is not None and end < min(previous, now) - BACKWARD_S:
            raise Refused(msg.seq, "t", f"t is {previous - end:.1f} s before what this monitor "
                          f"sent last (more than {BACKWARD_S:g} s back is refused)")

    def _feeds_live(self) -> bool:
        """Whether this monitor feeds a live session now (a test-mode monitor a clinician added
        to a live patient's session is held to the live bounds from then on)."""
        m = self.pipeline.monitors.get(self.monitor_id)
        session = self.pipeline.sessions.get(m.session_id) if m and m.session_id is not None else None
        return session is not None and session.mode == "live"

    def _refused(self, r: Refused, raw: str | None, next_seq: int, now: float) -> str | None:
        """Record a refusal; returns the close reason when the monitor has had too many."""
        if r.retry:
            # Not a refusal of the data: counted apart and not kept (the message comes again).
            self.deferred += 1
            self.pipeline.monitor(self.monitor_id).refused_by["deferred"] += 1
            return self._count(self.deferrals, now, MAX_DEFERRED_IN_WINDOW,
                               "refusals for now (retry_after_s ignored)")
        if r.seq is not None and r.seq == next_seq:
            # Refused for good: the seq is settled, recorded as such (so a resend is refused
            # again, never acknowledged) and the stream goes on with the next one.
            self.pipeline.store.skip(self.monitor_id, self.stream, r.seq, r.seq, r.field, r.reason)
            self.pipeline.last_seq[self.key] = r.seq
        self.pipeline.refuse(self.monitor_id, r.seq, r.field, r.reason, raw or "")
        return self._count(self.errors, now, MAX_ERRORS_IN_WINDOW, "refused messages")

    @staticmethod
    def _count(window: deque[float], now: float, limit: int, what: str) -> str | None:
        window.append(now)
        while window and window[0] < now - ERROR_WINDOW_S:
            window.popleft()
        if len(window) > limit:
            return f"more than {limit} {what} in {ERROR_WINDOW_S:g} s"
        return None


async def ingest(ws: WebSocket, pipeline: Pipeline, security: Security) -> None:
    try:
        await _ingest(ws, pipeline, security)
    except DatabaseError as e:
        # The database is unreachable (a PostgreSQL restart): nothing unstored was acknowledged;
        # the monitor is told to come back, and resends what it has not had acknowledged.
        log.error("monitor connection ended: the database is unavailable (%s)", e)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            if ws.client_state == WebSocketState.CONNECTING:
                await deny(ws, 503, "the database is unavailable; reconnect later")
            else:
                await _close(ws, 1011, "the database is unavailable; reconnect and resend")


async def _ingest(ws: WebSocket, pipeline: Pipeline, security: Security) -> None:
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
    except (TimeoutError, WebSocketDisconnect, KeyError, RuntimeError):
        await _close(ws, 1008, "expected a hello message first")
        return
    try:
        hello = parse(first)
        if not isinstance(hello, Hello):
            raise Refused(hello.seq, "type", f"the first message must be 'hello', not {hello.type!r}")
        if hello.monitor_id != device:
            raise Refused(hello.seq, "monitor_id",
                          f"this token belongs to monitor {device!r}, not {hello.monitor_id!r}")
        if hello.protocol not in SUPPORTED_PROTOCOLS:
            raise Refused(hello.seq, "protocol",
                          f"protocol {hello.protocol} is not supported (this server speaks "
                          f"{', '.join(map(str, sorted(SUPPORTED_PROTOCOLS)))}; {PROTOCOL_VERSION} is current)")
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
    # The room's site is its device's (its registration, app/accounts.py): not the hello's to say.
    session_id, last_seq, connection = pipeline.hello(hello, time.time(),
                                                      security.accounts.device_site(device))
    session = pipeline.sessions.get(session_id)
    live = hello.mode == "live" or (session is not None and session.mode == "live")
    conn = Connection(pipeline, hello, live, time.monotonic())
    last_seq = conn.resume(hello.resume_from, last_seq, time.time())
    await ws.send_text(Welcome(session_id=session_id, last_seq=last_seq, max_rate=RATE_PER_S,
                               max_burst=RATE_BURST).model_dump_json())
    log.info("monitor %s connected (stream %s, session %s)", monitor_id, hello.stream, session_id)
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
            if time.monotonic() - checked > RECHECK_S:
                # A token revoked while its monitor is connected stops working within seconds.
                checked = time.monotonic()
                if security.accounts.device(token, security.demo)[0] != device:
                    await _close(ws, 1008, "the device token is no longer valid")
                    break
            raw = message.get("text")
            if raw is None:
                raw = None if message.get("bytes") is not None else ""
            answer, close = conn.handle(raw, time.time(), time.monotonic())
            try:
                # Acknowledged only once stored: the message went into the store's next grouped
                # commit (shared with whatever other monitors sent meanwhile); wait for it.
                await pipeline.store.committed()
            except Exception as e:  # noqa: BLE001 - the store logged it; any failure means unstored
                # Nothing of the failed group is stored: the stream goes on from what is, and
                # the monitor, unacknowledged, resends the rest after reconnecting.
                try:
                    pipeline.last_seq[conn.key] = pipeline.store.last_seq(monitor_id, hello.stream)
                except DatabaseError:
                    # The database is unreachable (PostgreSQL restarting): forget the stream's
                    # seq, so that the next hello reads it from the store rather than tell the
                    # monitor that a message of the failed group was stored.
                    pipeline.last_seq.pop(conn.key, None)
                log.error("monitor %s: messages not stored (%s); disconnecting", monitor_id, e)
                await _close(ws, 1011, "could not store the messages; reconnect and resend")
                break
            await ws.send_text(answer)
            if close is not None:
                log.warning("monitor %s disconnected: %s", monitor_id, close)
                await _close(ws, 1008, close)
                break
    except WebSocketDisconnect:
        pass
    finally:
        pipeline.disconnected(monitor_id, time.time(), connection)
        log.info("monitor %s disconnected (%d messages deferred)", monitor_id, conn.deferred)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # already closed by the peer
        await ws.close(code=code, reason=reason)
