"""The dashboards' websocket (``/ws/live``): a snapshot on connect, then every change it wants.

Every message is an ``app.feed`` model. The server publishes a heartbeat every second through the
same queue as the data, so a dashboard that stops hearing it knows its view is not live, whatever
the cause (network, server, or this connection's queue being cut off for being too slow).

A dashboard says what it wants in the URL (``/ws/live?subscribe=<a subscribe message as JSON>``),
so that even the first snapshot and the messages after it hold nothing else (a nurse's phone gets
no waveform, ever); without one it gets everything. It may send a ``subscribe`` (``feed.Subscribe``)
at any time: it replaces the
connection's filter and is answered, through the same queue, by a snapshot of the new selection,
so nothing published after the change falls before it. When several messages are already queued
for a dashboard they go out in one frame, a ``batch`` (``feed.Batch``), applied in order. Anything else it sends, or a frame over
``MAX_FRAME``, is answered by a ``refused`` naming the field and why; the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from app import feed
from app.hub import Client, Outgoing
from app.pipeline import Pipeline
from app.security import Security
from app.sites import EVERY_SITE, Visible

log = logging.getLogger("vitalwatch.live")

CLOSE_TIMEOUT_S = 2.0
RECHECK_S = 2.0  # how often an open dashboard's login is checked again
# A subscribe naming every room and wave of a large clinic is a few KiB: anything far larger is
# not one, and is refused before it is parsed.
MAX_FRAME = 64 * 1024


async def serve(ws: WebSocket, pipeline: Pipeline, security: Security, sites: Visible = EVERY_SITE) -> None:
    """``sites``: the sites the login sees (app/sites.py): nothing of another site's rooms is
    ever sent on this socket, snapshot included."""
    await ws.accept()
    # Before the snapshot, so nothing falls between the two.
    client = pipeline.hub.connect(sites=sites)
    refusal = None
    if (asked := ws.query_params.get("subscribe")) is not None:
        # Set before anything is awaited, so that no message is queued for the default selection.
        try:
            client.subscription = feed.client_message.validate_json(asked)
        except ValidationError as e:
            refusal = _why(e)
    try:
        await ws.send_text(pipeline.snapshot(time.time(), client.subscription, visible=client.sites).model_dump_json())
        if refusal is not None:
            field, reason = refusal
            _refuse(client, pipeline, f"subscribe.{field}" if field else "subscribe", reason)
        sender = asyncio.create_task(_send(ws, client.queue, pipeline))
        receiver = asyncio.create_task(_receive(ws, client, pipeline))
        overflow = asyncio.create_task(client.overflow_event.wait())
        login = asyncio.create_task(_login_ends(ws, security, sites))
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
                await asyncio.wait_for(ws.close(code=4401, reason="login ended or changed"), CLOSE_TIMEOUT_S)
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


async def _send(ws: WebSocket, queue: asyncio.Queue[Outgoing], pipeline: Pipeline) -> None:
    """Send what is queued, in order. Several messages already waiting go in one frame, a
    ``feed.Batch`` of at most ``feed.MAX_BATCH``: one websocket write and one compression for
    all of them instead of one each. Nothing waits for a batch to fill: a message that finds
    the queue empty goes out at once, alone."""
    held: Outgoing | None = None  # taken from the queue, to go after the batch before it
    while True:
        out = held if held is not None else await queue.get()
        held = None
        if not out.batchable or queue.empty():
            await ws.send_text(out.text)
            _delivered(pipeline, [out])
            continue
        batch = [out]
        while len(batch) < feed.MAX_BATCH and not queue.empty():
            nxt = queue.get_nowait()
            if not nxt.batchable:
                held = nxt
                break
            batch.append(nxt)
        if len(batch) == 1:
            await ws.send_text(out.text)
        else:
            # = feed.Batch(messages=[...]).model_dump_json(), from the texts already serialised
            await ws.send_text('{"type":"batch","messages":[' + ",".join(o.text for o in batch) + "]}")
        _delivered(pipeline, batch)


def _delivered(pipeline: Pipeline, sent: list[Outgoing]) -> None:
    now = None
    for out in sent:
        if out.log_id is not None:
            # The first delivery of an alarm change to any dashboard ends its signal-generation
            # delay (device time -> server decision -> on a screen), which is logged to disclose it.
            now = now or time.time()
            pipeline.alarm_log.delivered(out.log_id, now)


async def _login_ends(ws: WebSocket, security: Security, sites: Visible) -> None:
    """Returns when the stream's login has ended (logout, idle timeout, user disabled or role
    changed) or its sites changed: a dashboard must not keep showing patient data to someone no
    longer allowed, and a page told 4401 reconnects with the login's sites as they are now."""
    while True:
        await asyncio.sleep(RECHECK_S)
        login = security.login_of(ws.cookies, touch=False)
        if login is None or not login.user.can("view_live") or login.sites != sites:
            return


async def _receive(ws: WebSocket, client: Client, pipeline: Pipeline) -> None:
    """Read what the dashboard sends (reading is also how a closed connection is noticed)."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            _refuse(client, pipeline, "", "a binary frame: the feed takes JSON text frames")
        elif len(text) > MAX_FRAME:
            _refuse(client, pipeline, "", f"a frame of {len(text)} characters: at most {MAX_FRAME}")
        else:
            try:
                wanted = feed.client_message.validate_json(text)
            except ValidationError as e:
                _refuse(client, pipeline, *_why(e))
                continue
            client.subscription = wanted
            # Through the queue, after what is already in it: from here on only the new selection.
            snapshot = pipeline.snapshot(time.time(), wanted, visible=client.sites)
            if not client.offer(Outgoing(snapshot.model_dump_json(), batchable=False), droppable=False):
                pipeline.hub.cut_off += 1


def _why(error: ValidationError) -> tuple[str, str]:
    """The field a dashboard message is refused on ("kinds.0"), and why."""
    err = error.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "type", f"{err['msg']} (a dashboard sends: subscribe)"
    if err["type"] == "json_invalid":
        return "", f"not JSON: {err['msg']}"
    return ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc), err["msg"]


def _refuse(client: Client, pipeline: Pipeline, field: str, reason: str) -> None:
    client.refused += 1
    pipeline.hub.refused += 1
    log.info("dashboard message refused: %s: %s", field or "(message)", reason)
    refused = feed.Refused(field=field, reason=reason)
    if not client.offer(Outgoing(refused.model_dump_json()), droppable=False):
        pipeline.hub.cut_off += 1
