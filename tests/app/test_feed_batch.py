"""Batches on the live feed: what is already queued for a dashboard goes out in one frame, in
order and bounded; nothing waits for a batch to fill; a snapshot always travels alone."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect

from alerts.rules import load
from app import feed, live
from app.hub import Hub, Outgoing
from app.pipeline import Pipeline
from app.store import Store
from tests.app.helpers import Dashboard, RawMonitor, check_feed_message
from tests.conftest import Server, free_port, seconds


def heartbeat(i: int) -> Outgoing:
    return Outgoing(feed.Heartbeat(t_server=float(i)).model_dump_json())


def test_a_full_queue_goes_out_in_bounded_batches_in_order(tmp_path: Path) -> None:
    """150 messages queued before the sender runs, a snapshot at position 100 among them, go out
    as a batch of MAX_BATCH, a batch of the rest before the snapshot, the snapshot alone, and a
    batch after it, every message once and in order; a message that finds the queue empty later
    goes out at once, alone."""
    store = Store(tmp_path / "vitalwatch.sqlite3")
    pipeline = Pipeline(store, Hub(), load(None), time.time())
    snapshot = feed.Snapshot(t_server=100.0, subscription=feed.Subscribe(), rooms=[])

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        queue: asyncio.Queue[Outgoing] = asyncio.Queue()
        for i in range(150):
            queue.put_nowait(Outgoing(snapshot.model_dump_json(), batchable=False) if i == 100
                             else heartbeat(i))
        sender = asyncio.create_task(live._send(ws, queue, pipeline))
        assert await ws.receive_text() == "more"
        queue.put_nowait(heartbeat(150))
        await ws.receive_text()  # the client's goodbye
        sender.cancel()

    app = Starlette(routes=[WebSocketRoute("/feed", endpoint)])
    frames: list[dict] = []

    async def run() -> None:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            async with connect(f"ws://127.0.0.1:{port}/feed") as ws:
                while sum(len(f["messages"]) if f["type"] == "batch" else 1 for f in frames) < 150:
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), seconds(5))))
                await ws.send("more")
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), seconds(5))))
                await ws.send("bye")
        finally:
            server.should_exit = True
            await serving

    try:
        asyncio.run(asyncio.wait_for(run(), seconds(30)))
    finally:
        store.close()
    for frame in frames:
        check_feed_message(frame)
    assert [(f["type"], len(f.get("messages", []))) for f in frames] == [
        ("batch", feed.MAX_BATCH), ("batch", 100 - feed.MAX_BATCH), ("snapshot", 0), ("batch", 49),
        ("heartbeat", 0)]
    unpacked = [m for f in frames for m in (f["messages"] if f["type"] == "batch" else [f])]
    assert [m["t_server"] for m in unpacked] == [float(i) for i in range(151)]


def test_messages_published_together_reach_a_dashboard_as_one_batch(server: Server) -> None:
    """A monitor's hello publishes the session's start and its room state in one go: a dashboard
    gets them in one batch frame, valid against the exported schema, in that order."""
    dash = Dashboard(server, validate=True)
    mon = RawMonitor(server, room="Batch room")
    dash.wait(lambda m: m["type"] == "room" and m["room"]["room"] == "Batch room", timeout=seconds(10))
    together = [b for b in dash.batches
                if any(m["type"] == "session_started" for m in b["messages"])]
    assert together, f"no batch held the session's start: {[b['messages'] for b in dash.batches]}"
    kinds = [m["type"] for m in together[0]["messages"]]
    assert kinds.index("session_started") < kinds.index("room")
    mon.close()
    dash.close()
