"""The bus between a site's instances (``--bus redis://host:port/db``): every dashboard sees
every room of the site, whichever instance its monitors stream into.

    pipeline ─▶ hub ─tap─▶ outbox (bounded) ─▶ PUBLISH vitalwatch:site:<site>:feed
                 ▲                                              │ Redis pub/sub
                 └── RemoteRooms (app/remote.py) ◀── SUBSCRIBE ─┘  (every instance's envelopes)

Each instance publishes what it produces for its own rooms (the same ``app.feed`` messages its
dashboards get, but heartbeats) in ``Envelope`` s, several messages each, on one Redis
connection (so in order), and every ``SNAPSHOT_EVERY_S`` a snapshot of its rooms; it subscribes
to the same channel and feeds its hub with the other instances' messages (its own come back and
are recognised by their first bytes, unparsed). Pub/sub rather than streams: a dashboard never
replays (the feed's own rule: a snapshot on connect, then live changes), so what Redis would keep
is what the periodic snapshot gives anyway, and nothing accumulates in Redis. docs/cluster.md.

Never blocking. The tap only queues; a message that does not fit the outbox is dropped if it is
a waveform frame (counted), and otherwise (values, alarms) the bus is declared broken like a
failed publish: the connection is dropped and made again, which the others see as a gap, and
the snapshot that follows brings them the state that was not sent (an alarm's change is never
lost silently: its current state travels in the snapshot, and the loss is a resync they count).

Degraded. While the bus is lost (Redis unreachable, a publish failed, or this instance's own
snapshots stop coming back: the whole path is checked, not just a socket), the instance serves
its own rooms as ever, shows the remote rooms as not live, signals N1 "Cluster degraded" in
each of its sessions (the rules file), says not ready on /readyz, and reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Annotated, Final

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app import feed
from app.pipeline import Pipeline
from app.remote import SNAPSHOT_EVERY_S, RemoteRooms

log = logging.getLogger("vitalwatch.bus")

SITE: Final = "default"  # one site for now; the channel names it, so sites can share a Redis
OUTBOX_SIZE: Final = 4000  # as a dashboard's queue (app/hub.py): a burst, not a stuck Redis
PUBLISH_TIMEOUT_S: Final = 2.0
CONNECT_TIMEOUT_S: Final = 2.0
# This instance's own snapshot not heard back for this long: the path through Redis is broken
# even if no socket has said so.
ECHO_SILENCE_S: Final = 2.5 * SNAPSHOT_EVERY_S
BACKOFF_S: Final = (0.5, 1.0, 2.0, 4.0, 5.0)  # between reconnection attempts, the last repeated
SUPERVISE_EVERY_S: Final = 1.0
SCHEMES: Final = ("redis://", "rediss://", "unix://")


class BusError(ValueError):
    """A bus setting the server cannot run with (named, with why)."""


# What travels on the bus: the feed's own room messages, and a snapshot of an instance's rooms.
BusMessage = Annotated[
    feed.Snapshot | feed.SessionStarted | feed.SessionEnded | feed.RoomChanged
    | feed.NumericsMessage | feed.NibpMessage | feed.WaveformMessage | feed.StatusMessage
    | feed.AlarmMessage | feed.MarkMessage | feed.SettingsMessage,
    Field(discriminator="type"),
]


class Envelope(BaseModel):
    """One publish: several messages of one instance, in the order it produced them. ``boot``
    changes whenever the instance (re)starts; ``seq`` counts its envelopes from 0, so that a
    receiver sees a gap (a lost envelope) or a restart."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    instance: str = Field(min_length=1, max_length=128)
    boot: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=0)
    t_server: feed.ServerTime
    messages: list[BusMessage] = Field(min_length=1, max_length=feed.MAX_BATCH)


envelope_adapter = TypeAdapter(Envelope)


class _Head(BaseModel):
    """An envelope's first fields, read before its messages (whose ids are aliased first)."""

    instance: str = Field(min_length=1, max_length=128)
    boot: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=0)


def channel(site: str = SITE) -> str:
    return f"vitalwatch:site:{site}:feed"


def check_url(url: str) -> str:
    """``url`` if it is a Redis URL the client takes, else a ``BusError`` saying why."""
    # The URL itself is never repeated: it may hold the Redis password.
    if not url.startswith(SCHEMES):
        scheme = url.split("://", 1)[0] if "://" in url else "(none)"
        raise BusError(f"--bus: scheme {scheme!r}: no Redis URL (redis://host:port/db, rediss://… "
                       "or unix://…)")
    try:
        aioredis.Redis.from_url(url)
    except ValueError as e:
        raise BusError(f"--bus: not a Redis URL the client takes ({type(e).__name__})") from None
    return url


class Bus:
    def __init__(self, url: str, instance: str, pipeline: Pipeline, site: str = SITE) -> None:
        self.url = check_url(url)
        if not 1 <= len(instance) <= 128:  # as Envelope.instance: the others would refuse it all
            raise BusError(f"--instance-id: {len(instance)} characters: 1 to 128")
        self.instance = instance
        self.boot = uuid.uuid4().hex[:16]
        self.pipeline = pipeline
        self.channel = channel(site)
        self.remote = RemoteRooms()
        self.outbox: asyncio.Queue[BaseModel] = asyncio.Queue(OUTBOX_SIZE)
        self.connected = False  # subscribed, and publishing
        self.degraded_since: float | None = None
        self.broken = asyncio.Event()  # set when the connection must be dropped and made again
        self._own = f'{{"instance":{json.dumps(instance)},'.encode()
        self._own_boot = f'{{"instance":{json.dumps(instance)},"boot":"{self.boot}",'.encode()
        self._seq = 0
        self._echo = 0.0  # when this instance's own snapshot last came back
        self._tasks: list[asyncio.Task[None]] = []
        # Counters (GET /api/health "bus").
        self.published = 0
        self.received = 0
        self.refused = 0  # envelopes that are not one (a field named in the log)
        self.dropped_waveforms = 0
        self.not_sent = 0  # produced while the bus was lost (the snapshot after it stands for them)
        self.overflows = 0
        self.reconnects = 0
        self.conflicts = 0  # envelopes of another process using this instance's name
        pipeline.hub.taps.append(self._tap)
        pipeline.remote = self.remote.views

    # Lifetime ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._supervise())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def status(self) -> dict[str, object]:
        return {"connected": self.connected, "instance": self.instance, "channel": self.channel,
                "degraded_since": self.degraded_since, "published": self.published,
                "received": self.received, "refused": self.refused,
                "dropped_waveforms": self.dropped_waveforms, "not_sent": self.not_sent,
                "overflows": self.overflows, "reconnects": self.reconnects,
                "conflicts": self.conflicts, "remote_ignored": self.remote.ignored,
                "remote": {i.name: {"in_step": i.in_step, "rooms": len(i.rooms), "resyncs": i.resyncs}
                           for i in self.remote.instances.values()}}

    # Outgoing ----------------------------------------------------------------------------

    def _tap(self, message: BaseModel) -> None:
        """Every message the hub publishes for this instance's rooms (the hot path: queue only)."""
        kind = getattr(message, "type", "")
        if kind in ("heartbeat", "refused", "snapshot"):
            return
        if kind == "session_started":
            # A room this instance took over from another (a shared store's lease) is shown as
            # its own from now on, not also as the other's, silent one.
            # (After this message has reached the dashboards: published from inside its tap.)
            stale = self.remote.forget_room(message.room.room)  # type: ignore[attr-defined]
            with contextlib.suppress(RuntimeError):  # no running loop: nobody is connected
                loop = asyncio.get_running_loop()
                for ended in stale:
                    loop.call_soon(self.pipeline.hub.publish, ended, False)
        if not self.connected:
            self.not_sent += 1
            return
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            if kind == "waveform":
                self.dropped_waveforms += 1
            else:
                self.overflows += 1
                if not self.broken.is_set():  # once per overflow, not once per message after it
                    log.warning("bus: outbox full with a %s message; reconnecting (the others "
                                "resync from the next snapshot)", kind)
                self.broken.set()

    def _snapshot(self) -> None:
        snapshot = self.pipeline.snapshot(time.time(), local_only=True)
        try:
            self.outbox.put_nowait(snapshot)
        except asyncio.QueueFull:
            self.overflows += 1
            self.broken.set()

    def _payload(self, messages: list[BaseModel]) -> str:
        # = Envelope(...).model_dump_json(), with "instance" first: receivers recognise their
        # own envelopes by these first bytes without parsing them.
        head = json.dumps({"instance": self.instance, "boot": self.boot, "seq": self._seq,
                           "t_server": time.time()}, separators=(",", ":"))
        self._seq += 1
        return head[:-1] + ',"messages":[' + ",".join(m.model_dump_json() for m in messages) + "]}"

    async def _publish(self, client: aioredis.Redis) -> None:
        while True:
            batch = [await self.outbox.get()]
            while len(batch) < feed.MAX_BATCH and not self.outbox.empty():
                batch.append(self.outbox.get_nowait())
            await asyncio.wait_for(client.publish(self.channel, self._payload(batch)),
                                   PUBLISH_TIMEOUT_S)
            self.published += len(batch)

    async def _snapshots(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_EVERY_S)
            self._snapshot()

    # Incoming ----------------------------------------------------------------------------

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None and message.get("type") == "message":
                self.receive(message["data"], time.time())

    def receive(self, data: bytes, now: float) -> None:
        """One envelope as it came off the bus: its messages into the hub, or a refusal logged."""
        if data.startswith(self._own):
            if data.startswith(self._own_boot):
                if b'"type":"snapshot"' in data:
                    self._echo = now
            else:
                self.conflicts += 1
                log.error("bus: another process publishes as instance %r: give each instance its "
                          "own --instance-id", self.instance)
            return
        self.received += 1
        try:
            raw = json.loads(data)
            head = _Head.model_validate(raw)  # refuses anything but an object
        except ValueError as e:  # ValidationError is one
            self._refuse(e)
            return
        if head.instance == self.instance:  # its own name, written otherwise: never shown as remote
            self.conflicts += 1
            log.error("bus: another process publishes as instance %r", self.instance)
            return
        try:
            inst, out = self.remote.envelope(head.instance, head.boot, head.seq, now)
        except ValueError as e:  # more instances than aliases can tell apart
            self._refuse(e)
            return
        try:
            for m in raw.get("messages") or ():
                if isinstance(m, dict):
                    self.remote.aliased(inst.slot, m)
            envelope = envelope_adapter.validate_python(raw)
        except ValidationError as e:
            self._refuse(e)
            envelope = None
            out += self.remote.out_of_step(inst)  # what it said is lost: resync from its snapshot
        for m in envelope.messages if envelope is not None else ():
            out += self.remote.apply(inst, m)
        for message in out:
            self.pipeline.hub.publish(message, local=False)

    def _refuse(self, error: ValueError) -> None:
        self.refused += 1
        log.warning("bus: an envelope refused: %s", _why(error))

    # The connection ----------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connection()
            except (RedisError, OSError, TimeoutError) as e:
                reason = str(e) or type(e).__name__
            except Exception as e:  # a fault of this code must not end the bus for good
                log.exception("bus: the connection failed")
                reason = type(e).__name__
            else:
                reason = "the link was found broken"
            self._down(reason, time.time())
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt = 0 if self._echo and time.time() - self._echo < ECHO_SILENCE_S else attempt + 1
            self.reconnects += 1

    async def _connection(self) -> None:
        """One connection: subscribe, then publish and listen until something fails."""
        client = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=PUBLISH_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0))  # failures surface at once; this loop owns the backoff
        pubsub = client.pubsub()
        tasks: list[asyncio.Task[None]] = []
        try:
            await pubsub.subscribe(self.channel)
            while not self.outbox.empty():  # what was queued before a failure: the snapshot says it
                self.outbox.get_nowait()
            self.broken.clear()
            self._echo = time.time()  # the echo is due from now
            self._snapshot()  # first on the new connection: what the others resync from
            self.connected = True
            if self.degraded_since is not None:
                log.warning("bus: connected again to %s after %.1f s", self.channel,
                            time.time() - self.degraded_since)
            self.degraded_since = None
            tasks = [asyncio.create_task(self._publish(client)),
                     asyncio.create_task(self._snapshots()),
                     asyncio.create_task(self._listen(pubsub)),
                     asyncio.create_task(self._broken())]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if (error := task.exception()) is not None:
                    raise error
        finally:
            self.connected = False
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, RedisError, OSError, TimeoutError):
                    await task
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(pubsub.aclose(), CONNECT_TIMEOUT_S)
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(client.aclose(), CONNECT_TIMEOUT_S)

    async def _broken(self) -> None:
        await self.broken.wait()

    def _down(self, reason: str, now: float) -> None:
        self.connected = False
        if self.degraded_since is None:
            self.degraded_since = now
            log.warning("bus: lost (%s); serving this instance's rooms alone, the others' are "
                        "not live here; reconnecting", reason)
            for message in self.remote.lost():
                self.pipeline.hub.publish(message, local=False)

    async def _supervise(self) -> None:
        """Every second: the path checked end to end, the remote instances' silence, and the
        cluster's signal (N1) set in every session as it stands."""
        while True:
            now = time.time()
            if self.connected and now - self._echo > ECHO_SILENCE_S:
                log.warning("bus: this instance's own snapshot has not come back for %.1f s",
                            now - self._echo)
                self.broken.set()
            for message in self.remote.expire(now):
                self.pipeline.hub.publish(message, local=False)
            try:
                self.pipeline.cluster_signal(not self.connected, now)
            except Exception:  # the bus's supervision must outlive any one bad session
                log.exception("cluster supervision failed")
            await asyncio.sleep(SUPERVISE_EVERY_S)


def _why(error: Exception) -> str:
    if isinstance(error, ValidationError) and error.errors():
        err = error.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc']) or '(envelope)'}: {err['msg']}"
    return f"(envelope): {error}"
