"""The dashboards' websocket (``/ws/live``): a snapshot on connect, then every change.

The server publishes a heartbeat every second through the same queue as the data, so a dashboard
that stops hearing it knows its view is not live, whatever the cause (network, server, or this
connection's queue being cut off for being too slow).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from app.pipeline import Pipeline
from app.security import Security

CLOSE_TIMEOUT_S = 2.0
RECHECK_S = 2.0  # how often an open dashboard's login is checked again
ALARM_PREFIX = '{"type":"alarm"'


async def serve(ws: WebSocket, pipeline: Pipeline, security: Security) -> None:
    await ws.accept()
    client = pipeline.hub.connect()  # before the snapshot, so nothing falls between the two
    try:
        await ws.send_text(json.dumps(pipeline.snapshot(time.time()), allow_nan=False))
        sender = asyncio.create_task(_send(ws, client.queue, pipeline))
        receiver = asyncio.create_task(_drain(ws))
        overflow = asyncio.create_task(client.overflow_event.wait())
        login = asyncio.create_task(_login_ends(ws, security))
        done, pending = await asyncio.wait(
            {sender, receiver, overflow, login}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:  # a closed socket ends a task with an exception: nothing to report
            if not task.cancelled():
                task.exception()
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
        if login in done:
            pipeline.hub.disconnect(client)
            # 4401: the page asks /api/me, finds the login gone and goes to the login page.
            with contextlib.suppress(RuntimeError, asyncio.TimeoutError):
                await asyncio.wait_for(ws.close(code=4401, reason="login ended"), CLOSE_TIMEOUT_S)
        if overflow in done:
            pipeline.hub.disconnect(client)
            # 1013 "try again later": the dashboard reconnects and gets a fresh snapshot. A
            # client that reads nothing cannot even take the close frame; then give up on it.
            with contextlib.suppress(RuntimeError, asyncio.TimeoutError):
                await asyncio.wait_for(
                    ws.close(code=1013, reason="dashboard too slow; reconnect for a snapshot"),
                    CLOSE_TIMEOUT_S)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        pipeline.hub.disconnect(client)


async def _send(ws: WebSocket, queue: asyncio.Queue[str], pipeline: Pipeline) -> None:
    while True:
        text = await queue.get()
        await ws.send_text(text)
        if text.startswith(ALARM_PREFIX):
            # The first delivery of an alarm change to any dashboard ends its signal-generation
            # delay (device time -> server decision -> on a screen), which is logged to disclose it.
            pipeline.alarm_log.delivered(json.loads(text)["log_id"], time.time())


async def _login_ends(ws: WebSocket, security: Security) -> None:
    """Returns when the stream's login has ended (logout, idle timeout, user disabled or role
    changed): a dashboard must not keep showing patient data to someone no longer allowed."""
    while True:
        await asyncio.sleep(RECHECK_S)
        if not security.still_allowed(ws.cookies, "view_live"):
            return


async def _drain(ws: WebSocket) -> None:
    """Dashboards send nothing yet; reading is how a closed connection is noticed."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
