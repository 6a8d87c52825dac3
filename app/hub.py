"""Broadcast to dashboards, with one bounded queue and one subscription per connection.

A slow or stuck dashboard must never delay ingest or the other dashboards, so publishing never
waits: each message (an ``app.feed`` model) is offered to the clients whose subscription wants
it (``feed.Subscribe.wants``), serialised once for all of them, and only if one does. When a
client's queue is full, a waveform frame (stale a fraction of a second later anyway) is dropped
for that client and counted; anything else (values, alarms) is never dropped silently: the client
is cut off instead, and gets a fresh snapshot when it reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from app import feed
from app.sites import EVERY_SITE, Visible

# About ten seconds of everything 64 monitors with waveforms send: room for a burst, not for a
# dashboard that has stopped reading.
QUEUE_SIZE = 4000


@dataclass(frozen=True)
class Outgoing:
    """One serialised message on its way to a dashboard; ``log_id`` names an alarm change (its
    first delivery is logged, to disclose the signal-generation delay). ``batchable`` False (a
    snapshot): always sent in a frame of its own, never inside a ``feed.Batch``."""

    text: str
    log_id: int | None = None
    batchable: bool = True


@dataclass(eq=False)
class Client:
    queue: asyncio.Queue[Outgoing] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    subscription: feed.Subscribe = field(default_factory=feed.Subscribe)
    # The sites its user sees (app/sites.py): set by the server from the login, never by what
    # the dashboard asks; a subscription only narrows within it.
    sites: Visible = EVERY_SITE
    dropped_waveforms: int = 0
    refused: int = 0  # messages from this dashboard the server could not take (``feed.Refused``)
    overflowed: bool = False  # set when a message that may not be dropped did not fit
    overflow_event: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, out: Outgoing, droppable: bool) -> bool:
        """Queue ``out``; False if it did not fit (then a message that may not be dropped has
        cut the client off)."""
        if self.overflowed:
            return True
        try:
            self.queue.put_nowait(out)
        except asyncio.QueueFull:
            if droppable:
                self.dropped_waveforms += 1
            else:
                self.overflowed = True
                self.overflow_event.set()
            return False
        return True


def _room_of(message: BaseModel) -> tuple[str | None, str | None]:
    """The room a message is about (None: every dashboard's, a heartbeat), and its site when the
    message itself says (a RoomState / RoomView, a site's own message)."""
    room = getattr(message, "room", None)
    if room is None or isinstance(room, str):
        return room, getattr(message, "site", None)
    return str(room.room), str(room.site)  # a RoomState / RoomView


class Hub:
    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.published = 0
        self.cut_off = 0
        self.refused = 0  # dashboard messages refused, over every connection
        # Told of every message this instance produces itself (the bus, app/bus.py); it runs on
        # the hot path: it must only take note, never wait.
        self.taps: list[Callable[[BaseModel], None]] = []
        # The site of each room, learnt from the messages that carry it (a room's state, local
        # or from the bus) and from the pipeline when it loads a session: room messages name
        # only their room, and their site is looked up here.
        self.sites: dict[str, str] = {}

    def connect(self, subscription: feed.Subscribe | None = None, sites: Visible = EVERY_SITE) -> Client:
        client = Client(subscription=subscription or feed.Subscribe(), sites=sites)
        self.clients.add(client)
        return client

    def place(self, room: str, site: str) -> None:
        """``room`` belongs to ``site`` (from now on, until a room state says otherwise)."""
        self.sites[room] = site

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)

    def publish(self, message: BaseModel, local: bool = True) -> None:
        """Offer ``message`` to every dashboard that wants it. ``local`` False: another instance's
        message, from the bus: not passed to the taps again, and its ``log_id`` is no row of this
        instance's alarm log."""
        kind: str = message.type  # type: ignore[attr-defined]
        room, site = _room_of(message)
        if room is not None:
            if site is not None:
                self.sites[room] = site
            else:
                site = self.sites.get(room)
        wave = getattr(message, "wave", None)
        droppable = kind == "waveform"
        log_id = getattr(message, "log_id", None) if local else None
        if local:
            for tap in self.taps:
                tap(message)
        self.published += 1
        out: Outgoing | None = None
        for client in list(self.clients):
            if client.overflowed:
                continue
            if (room is not None or site is not None) and not client.sites.sees(site):
                continue  # another site's: never sent, whatever the subscription says
            if room is not None and not client.subscription.wants(room, kind, wave):
                continue
            if out is None:  # serialised once, and only if someone wants it
                out = Outgoing(message.model_dump_json(), log_id)
            if not client.offer(out, droppable) and not droppable:
                self.cut_off += 1
