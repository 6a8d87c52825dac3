"""Replay: a recording streamed through the live path as one more monitor, in replay mode.

The recording's wire messages (numerics, nibp, waveform, status, mark) go to the server exactly
as a monitor would send them, paced by ``speed`` (``monitors.adapter.Paced``), so the server
stores them, evaluates its *current* alarm rules on them and shows them on every dashboard,
marked REPLAY. Recording-only records (``truth``, ``alarm``) are not sent: the alarms are the
server's to decide again.

Two things differ from a monitor at high speed, both because the server refuses a monitor that
sends more than 200 messages a second (docs/protocol.md):

- waveform chunks of the same wave are merged into longer ones (up to ``speed`` × 0.4 s of
  signal and 4096 samples), so that a 100× replay with waveforms sends ~1.3 messages per second
  of recording instead of ~11;
- messages are held back to at most ``MAX_RATE`` a second; the replay then runs slower than
  asked (the achieved speed is reported), never loses anything.

Device timestamps are those of the recording moved to now, so the relative times of alarms are
those of the recording whatever the speed or the message rate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import websockets

from monitors import recording
from monitors.adapter import Identity, Paced
from monitors.protocol import MAX_WAVE_SAMPLES, PROTOCOL_VERSION
from monitors.uplink import Uplink

log = logging.getLogger("vitalwatch.replay")

# The server refuses more than 200 messages a second from one monitor (bursts of 400); the
# uplink adds a heartbeat a second. Stay clear of it.
MAX_RATE = 180.0
CHUNK_S = 0.4  # what a monitor sends at 1×; merged chunks cover speed × this
MAX_CHUNK_S = 32.0
# Ingest refuses messages over 64 KiB; a merged chunk whose JSON is larger is split.
MAX_MESSAGE_BYTES = 60_000
# Fields a recording may carry beyond the wire message (an export says who made a mark); the
# server refuses unknown fields, so they stay in the file.
RECORDING_ONLY = {"mark": ("by",)}


@dataclass
class _Buffer:
    t: float
    rate: float
    samples: list[float | None]

    @property
    def end(self) -> float:
        return self.t + len(self.samples) / self.rate


def _split(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """A waveform record as one or more records that each fit in one message."""
    if len(json.dumps(rec["samples"], separators=(",", ":"))) <= MAX_MESSAGE_BYTES or len(rec["samples"]) < 2:
        return [rec]
    half = len(rec["samples"]) // 2
    second = {**rec, "t": round(rec["t"] + half / rec["rate"], 6), "samples": rec["samples"][half:]}
    return _split({**rec, "samples": rec["samples"][:half]}) + _split(second)


async def merge_waves(records: AsyncIterator[dict[str, Any]], span_s: float) -> AsyncIterator[dict[str, Any]]:
    """Merge consecutive waveform chunks of each wave into chunks of up to ``span_s`` seconds.

    Chunks are merged only when they continue each other (same rate, the next starts where the
    previous ends, within half a sample), so gaps stay gaps. A merged chunk is sent when it is
    full, when its wave stops continuing, or when the stream's time has moved ``span_s`` past its
    start; other records pass through at once. With ``span_s`` ≤ 0.4 nothing is merged.
    """
    buffers: dict[str, _Buffer] = {}

    def flush(wave: str) -> list[dict[str, Any]]:
        b = buffers.pop(wave)
        return _split({"type": "waveform", "t": b.t, "wave": wave, "rate": b.rate, "samples": b.samples})

    async for rec in records:
        t = rec.get("t")
        if rec.get("type") == "waveform" and span_s > CHUNK_S:
            wave, b = rec["wave"], buffers.get(rec["wave"])
            if b is not None and (b.rate != rec["rate"] or abs(rec["t"] - b.end) > 0.5 / b.rate
                                  or len(b.samples) + len(rec["samples"]) > MAX_WAVE_SAMPLES):
                for out in flush(wave):
                    yield out
                b = None
            if b is None:
                buffers[wave] = _Buffer(rec["t"], rec["rate"], list(rec["samples"]))
            else:
                b.samples.extend(rec["samples"])
            if buffers[wave].end - buffers[wave].t >= span_s:
                for out in flush(wave):
                    yield out
            continue
        if isinstance(t, (int, float)):
            for wave in [w for w, b in buffers.items() if t - b.t >= span_s]:
                for out in flush(wave):
                    yield out
        yield rec
    for wave in list(buffers):
        for out in flush(wave):
            yield out


async def throttle(records: AsyncIterator[dict[str, Any]], rate: float,
                   clock: Callable[[], float] = time.monotonic) -> AsyncIterator[dict[str, Any]]:
    """Pass records on at most ``rate`` a second (a token bucket with a burst of one second)."""
    tokens, last = rate, clock()
    async for rec in records:
        now = clock()
        tokens = min(rate, tokens + (now - last) * rate)
        last = now
        if tokens < 1:
            await asyncio.sleep((1 - tokens) / rate)
            now = clock()
            tokens += (now - last) * rate
            last = now
        tokens -= 1
        yield rec


class ReplaySource:
    """A recording as a monitor source (``monitors.adapter.Source``) in replay mode."""

    def __init__(self, identity: Identity, records: Any, speed: float = 1.0, skip_s: float = 0.0,
                 max_rate: float = MAX_RATE) -> None:
        self.identity = identity
        self.paced = Paced(identity, records, speed, skip_s=skip_s)
        self.span_s = min(MAX_CHUNK_S, max(CHUNK_S, speed * CHUNK_S))
        self.max_rate = max_rate
        self.sent = 0
        self.first_t: float | None = None
        self.last_t: float | None = None

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for rec in throttle(merge_waves(self.paced.__aiter__(), self.span_s), self.max_rate):
            t = rec["t"]
            if rec["type"] == "waveform":
                t += len(rec["samples"]) / rec["rate"]
            self.first_t = rec["t"] if self.first_t is None else min(self.first_t, rec["t"])
            self.last_t = t if self.last_t is None else max(self.last_t, t)
            self.sent += 1
            if rec["type"] in RECORDING_ONLY:
                rec = {k: v for k, v in rec.items() if k not in RECORDING_ONLY[rec["type"]]}
            yield rec


def identity_for(header: recording.Header, room: str | None, monitor_id: str | None) -> Identity:
    """The replay's monitor: ``replay-<the recording's monitor id>`` in the recording's room,
    unless told otherwise. It needs a device token of its own like any monitor."""
    mid = monitor_id or f"replay-{header.monitor_id}"
    return Identity(mid[:64], (room or header.room)[:64], "replay", vendor="vitalwatch",
                    model="replay", serial=(header.source or "")[:64])


async def check_server(url: str, identity: Identity, stream: str, token: str | None) -> str | None:
    """Say hello once, as the uplink will, and return why the server refuses this monitor (or
    None). The uplink itself retries for ever, which is right for a bedside monitor and wrong
    for a command someone is waiting on. The uplink's own hello then resumes the same stream."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        async with websockets.connect(url, open_timeout=5, additional_headers=headers) as ws:
            await ws.send(json.dumps({
                "type": "hello", "seq": 0, "protocol": PROTOCOL_VERSION,
                "monitor_id": identity.monitor_id, "stream": stream, "room": identity.room,
                "mode": identity.mode, "vendor": identity.vendor, "model": identity.model,
                "serial": identity.serial}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    except websockets.InvalidStatus as e:
        body = e.response.body.decode("utf-8", "replace").strip() if e.response.body else ""
        return f"the server refused the connection (HTTP {e.response.status_code}: {body or 'no reason'})"
    except (TimeoutError, OSError, websockets.WebSocketException) as e:
        return f"cannot reach the server at {url}: {e or type(e).__name__}"
    if reply.get("type") != "welcome":
        return f"the server refused the monitor: {reply.get('field')}: {reply.get('reason')}"
    return None


async def replay(file: str | Path, server: str, speed: float = 1.0, skip_s: float = 0.0,
                 room: str | None = None, monitor_id: str | None = None, token: str | None = None,
                 out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """Stream ``file`` into ``server`` until every message is settled. Returns 0 when all were
    stored, 1 when the server refused some (listed on ``err``), 2 when it could not start."""
    try:
        header, records = recording.read(file)
    except (recording.RecordingError, OSError) as e:
        print(f"vitalwatch replay: {e}", file=err)
        return 2
    if speed <= 0:
        print("vitalwatch replay: --speed must be positive", file=err)
        return 2
    identity = identity_for(header, room, monitor_id)
    source = ReplaySource(identity, records, speed, skip_s)
    uplink = Uplink(server, source, stream=uuid.uuid4().hex, token=token)
    why = await check_server(uplink.url, identity, uplink.stream, token)
    if why is not None:
        hint = "" if token else (" — a replay is a monitor and needs a device token: "
                                 f"`vitalwatch device add {identity.monitor_id} --room {identity.room!r}`, then --token or "
                                 "VITALWATCH_TOKEN")
        print(f"vitalwatch replay: {why}{hint}", file=err)
        return 2
    began = time.monotonic()
    await uplink.run()
    wall = max(time.monotonic() - began, 1e-9)
    span = (source.last_t - source.first_t
            if source.sent and source.first_t is not None and source.last_t is not None else 0.0)
    print(f"replayed {source.sent} messages ({span / 60:.1f} min of recording) of {file} into "
          f"{identity.room!r} as {identity.monitor_id}, session {uplink.session_id}: "
          f"{wall:.1f} s, {span / wall:.0f}× real time (asked {speed:g}×)", file=out)
    if uplink.errors:
        print(f"vitalwatch replay: the server refused {len(uplink.errors)} messages:", file=err)
        for refusal in uplink.errors[:10]:
            print(f"  seq {refusal.get('seq')}: {refusal.get('field')}: {refusal.get('reason')}", file=err)
        return 1
    if uplink.given_up:
        print(f"vitalwatch replay: {uplink.given_up} messages were given up", file=err)
        return 1
    return 0
