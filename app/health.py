"""Liveness and readiness for load balancers and orchestrators: ``GET /livez`` and ``GET /readyz``.

No login (a load balancer has none), and nothing revealed but the answer: plain text ``up``,
``ready`` or ``not ready``, no version, no reason, no counts (those are on ``/api/health``, behind
a login). ``/livez`` answers 200 whenever the event loop runs this handler: a process that answers
it is alive, whatever else is wrong (restart it only when it does not). ``/readyz`` answers 200
only when this instance can serve: its store answers a trivial query and, when it runs on a bus,
the bus is connected; otherwise 503, so a load balancer sends new dashboards elsewhere while it
lasts (the dashboards already here keep being served).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

log = logging.getLogger("vitalwatch.health")

router = APIRouter()


@router.get("/livez", include_in_schema=False)
async def livez() -> PlainTextResponse:
    return PlainTextResponse("up")


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> PlainTextResponse:
    ready = _store_answers(request) and _bus_connected(request)
    # Never kept by a proxy: the security headers (app/security.py) say no-store on every answer.
    return PlainTextResponse("ready" if ready else "not ready", status_code=200 if ready else 503)


def _store_answers(request: Request) -> bool:
    try:
        request.app.state.pipeline.store.db.execute("SELECT 1").fetchone()
    except Exception:  # any failure of the store is "not ready"; why goes to the log alone
        log.exception("readiness: the store does not answer")
        return False
    return True


def _bus_connected(request: Request) -> bool:
    bus = getattr(request.app.state, "bus", None)
    return bus is None or bool(bus.connected)
