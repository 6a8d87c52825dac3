"""A bare websocket relay: the floor that ``bench/latency.py`` measures vitalwatch against.

It speaks just enough of the monitor protocol for an adapter to stream into it, and nothing more:

* ``/ws/ingest``: the first frame (the ``hello``) is answered with a ``welcome`` (its room noted);
  every later frame is read as JSON only to find its ``seq``, ``type`` and ``wave``, answered with
  an ``ack`` and forwarded, unchanged, to every dashboard that wants it. No validation, no
  storage, no alarms.
* ``/ws/live``: every frame any monitor sends, as it was sent, or, once the dashboard has sent a
  ``subscribe`` (app/feed.py), only the frames it asks for: the rooms, the kinds of message, the
  waves, read from the frame's ``type`` and ``wave`` and the room its monitor's hello named. Like
  vitalwatch's hub, publishing never waits: each dashboard has its own bounded queue drained by
  its own task, and a waveform that does not fit is dropped (and counted) rather than slowing
  ingest down.
* ``/health`` for readiness, ``/stats`` for the counters.

It runs on the same stack with the same settings as ``vitalwatch serve`` (uvicorn, its default
websocket implementation, Starlette's WebSocket, the same frame limit, keep-alive pings and
compression), so the difference between the two is what vitalwatch does with each message, not
the web server underneath.

    python bench/relay.py --port 8100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from dataclasses import dataclass, field

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

QUEUE_SIZE = 1000  # as app/hub.py

# Message types a subscription's kinds name; anything else (hello, heartbeat) goes to everyone.
KINDS = {"numerics", "nibp", "waveform", "status", "alarm", "mark", "settings"}


@dataclass(eq=False)
class Dashboard:
    """One dashboard's queue and what it subscribed to (everything, until it says)."""

    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    rooms: set[str] | None = None
    kinds: set[str] | None = None
    waves: dict[str, set[str]] = field(default_factory=dict)

    def subscribe(self, sub: dict) -> None:
        self.rooms = set(sub["rooms"]) if sub.get("rooms") is not None else None
        self.kinds = set(sub["kinds"]) if "kinds" in sub else None
        self.waves = {room: set(w) for room, w in (sub.get("waveforms") or {}).items()}

    def wants(self, room: str, kind: str, wave: str | None) -> bool:
        # As app/feed.py's Subscribe.wants.
        if self.rooms is not None and room not in self.rooms:
            return False
        if kind not in KINDS or self.kinds is None:
            return True
        if kind not in self.kinds:
            return False
        if kind == "waveform" and self.waves:
            return wave in self.waves.get(room, self.waves.get("*", ()))
        return True


dashboards: set[Dashboard] = set()
stats = {"monitors": 0, "dashboards": 0, "received": 0, "forwarded": 0, "filtered": 0, "dropped": 0,
         "unreadable": 0}


async def ingest(ws: WebSocket) -> None:
    await ws.accept()
    stats["monitors"] += 1
    try:
        try:
            room = str(orjson.loads(await ws.receive_text()).get("room"))  # hello
        except (orjson.JSONDecodeError, AttributeError):
            room = ""
        await ws.send_text('{"type":"welcome","session_id":1,"last_seq":0}')
        while True:
            raw = await ws.receive_text()
            stats["received"] += 1
            try:
                msg = orjson.loads(raw)
                seq, kind, wave = msg["seq"], msg.get("type"), msg.get("wave")
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                stats["unreadable"] += 1
                seq = kind = wave = None
            for dashboard in list(dashboards):
                if not dashboard.wants(room, kind, wave):
                    stats["filtered"] += 1
                    continue
                try:
                    dashboard.queue.put_nowait(raw)
                    stats["forwarded"] += 1
                except asyncio.QueueFull:
                    stats["dropped"] += 1
            await ws.send_text(f'{{"type":"ack","seq":{json.dumps(seq)}}}')
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        stats["monitors"] -= 1


async def live(ws: WebSocket) -> None:
    await ws.accept()
    dashboard = Dashboard()
    dashboards.add(dashboard)
    stats["dashboards"] += 1

    async def send() -> None:
        while True:
            await ws.send_text(await dashboard.queue.get())

    async def receive() -> None:
        while (message := await ws.receive())["type"] != "websocket.disconnect":
            with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                sub = orjson.loads(message.get("text") or "")
                if sub.get("type") == "subscribe":
                    dashboard.subscribe(sub)

    tasks = {asyncio.create_task(send()), asyncio.create_task(receive())}
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        dashboards.discard(dashboard)
        stats["dashboards"] -= 1


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def get_stats(request: Request) -> JSONResponse:
    return JSONResponse(stats)


app = Starlette(routes=[
    WebSocketRoute("/ws/ingest", ingest),
    WebSocketRoute("/ws/live", live),
    Route("/health", health),
    Route("/stats", get_stats),
])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    # The same settings as app/server.py's run().
    config = uvicorn.Config(app, host=args.host, port=args.port, ws_max_size=2**20,
                            log_level="warning", ws_ping_interval=5, ws_ping_timeout=10)
    print(f"relay serving on http://{args.host}:{args.port}", flush=True)
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
