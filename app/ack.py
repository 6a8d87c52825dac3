"""Acknowledging from a notification: the page an acknowledge link opens, and its action.

No login: the link's signed token (``app.ack_link``) is the authority, for one alarm, one
recipient, once, for a short time. The page says which room and alarm it is about and has one
button; pressing it acknowledges the alarm as that user "(via notification)", audited like an
acknowledgement on a dashboard, and marks the delivery acknowledged. A link that is altered,
expired or spent is refused with a 4xx saying which.
"""

from __future__ import annotations

import html
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from alerts.delivery.wire import State
from alerts.system import IllegalTransition
from app.ack_link import Link, LinkError
from app.delivery import DeliveryService

router = APIRouter()

Token = Annotated[str, Path(min_length=10, max_length=1024, pattern=r"^[A-Za-z0-9_\-.]+$")]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:28rem;padding:0 1rem}}
.high{{color:#b00020}}.medium{{color:#a06000}}button{{font-size:1.4rem;padding:.8rem 1.6rem}}</style>
</head><body>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status)


def _service(request: Request) -> DeliveryService:
    return request.app.state.delivery


def _alarm(service: DeliveryService, link: Link) -> dict[str, Any]:
    alarm = service.pipeline.alarm_log.alarm(link.alarm_id)
    delivery = service.log.get(link.delivery_id)
    if alarm is None or delivery is None or delivery["alarm_id"] != link.alarm_id \
            or delivery["recipient"] != link.user:
        raise LinkError(404, "this acknowledge link is for an alarm this server does not have")
    return alarm


def _room(service: DeliveryService, alarm: dict[str, Any]) -> str:
    session = service.pipeline.store.db.execute(
        "SELECT room FROM sessions WHERE id=?", (alarm["session_id"],)).fetchone()
    return str(session["room"]) if session else "?"


@router.get("/ack/{token}", include_in_schema=False)
async def ack_page(token: Token, request: Request) -> HTMLResponse:
    service = _service(request)
    try:
        link = service.links.read(token, time.time())
        alarm = _alarm(service, link)
    except LinkError as err:
        return _page("Cannot acknowledge", f"<h1>Cannot acknowledge</h1><p>{html.escape(str(err))}</p>",
                     err.status)
    e = html.escape
    what = (f"<p class=\"{e(alarm['priority'])}\"><strong>{e(alarm['priority'].upper())}</strong> · "
            f"{e(_room(service, alarm))}</p><h1>{e(alarm['title'])}</h1><p>{e(alarm['message'])}</p>"
            f"<p>State: {e(alarm['state'])}</p>")
    form = (f"<form method=\"post\" action=\"/api/ack/{e(token)}\"><p>Acknowledge as "
            f"<strong>{e(link.user)}</strong>:</p><button type=\"submit\">Acknowledge</button></form>")
    return _page(f"Acknowledge alarm · {_room(service, alarm)}", what + form)


@router.post("/api/ack/{token}")
async def acknowledge(token: Token, request: Request) -> Response:
    """Acknowledge the alarm of an acknowledge link (once). JSON answers, or a page when the
    link's own form posted it."""
    service = _service(request)
    form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    now = time.time()
    try:
        link = service.links.read(token, now)
        before = _alarm(service, link)
        by = f"{link.user} (via notification)"
        try:
            alarm = service.pipeline.act(link.alarm_id, "acknowledge", by, now)
        except KeyError:
            raise LinkError(409, "this alarm is no longer signalled") from None
        except IllegalTransition as err:
            raise LinkError(409, str(err)) from None
        service.links.spend(link, now)
    except LinkError as err:
        if form:
            return _page("Cannot acknowledge",
                         f"<h1>Cannot acknowledge</h1><p>{html.escape(str(err))}</p>", err.status)
        raise HTTPException(err.status, str(err)) from None
    request.app.state.security.audit.record(
        now, link.user, "alarm_acknowledge", f"alarm {link.alarm_id}",
        old={"state": before["state"]},
        new={"state": alarm["state"], "rule": alarm["rule"], "session": alarm["session_id"],
             "via": "notification", "delivery": link.delivery_id},
        source=f"acknowledge link of delivery {link.delivery_id}")
    service.log.move(link.delivery_id, State.acknowledged, now, by=link.user)
    if form:
        return _page("Acknowledged", f"<h1>Acknowledged</h1><p>{html.escape(alarm['title'])} · "
                     f"{html.escape(_room(service, alarm))}, by {html.escape(link.user)}.</p>")
    return JSONResponse({"alarm": alarm, "delivery_id": link.delivery_id, "by": by})
