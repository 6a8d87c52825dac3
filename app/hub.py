"""Broadcast to dashboards, with one bounded queue per connection.

A slow or stuck dashboard must never delay ingest or the other dashboards, so publishing never
waits: each message is serialised once and offered to every client's queue. When a client's queue
is full, a waveform frame (stale a fraction of a second later anyway) is dropped for that client
and counted; anything else (values, alarms) is never dropped silently: the client is cut off
instead, and gets a fresh snapshot when it reconnects.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

# About ten seconds of everything 64 monitors with waveforms send: room for a burst, not for a
# dashboard that has stopped reading.
QUEUE_SIZE = 4000


@dataclass(eq=False)
class Client:
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped_waveforms: int = 0
    overflowed: bool = False  # set when a message that may not be dropped did not fit
    overflow_event: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.published = 0
        self.cut_off = 0

    def connect(self) -> Client:
        client = Client()
        self.clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)

    def publish(self, message: dict[str, Any]) -> None:
        text = json.dumps(message, separators=(",", ":"), allow_nan=False)
        droppable = message.get("type") == "waveform"
        self.published += 1
        for client in list(self.clients):
            if client.overflowed:
                continue
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                if droppable:
                    client.dropped_waveforms += 1
                else:
                    client.overflowed = True
                    client.overflow_event.set()
                    self.cut_off += 1
