"""The REST API: health, rooms and sessions, readings over a time range, alarms, monitors."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from app.pipeline import Pipeline

router = APIRouter(prefix="/api")


async def _pipeline(request: Request) -> Pipeline:
    return request.app.state.pipeline  # type: ignore[no-any-return]


PipelineDep = Annotated[Pipeline, Depends(_pipeline)]


@router.get("/health")
async def health(request: Request, pipeline: PipelineDep) -> dict[str, Any]:
    pipeline.store.db.execute("SELECT 1").fetchone()
    return {
        "status": "ok",
        "uptime_s": round(time.time() - request.app.state.started, 1),
        "rules": pipeline.rules.source,
        "sessions": len(pipeline.sessions),
        "monitors_connected": sum(m.connected for m in pipeline.monitors.values()),
        "dashboards": len(pipeline.hub.clients),
        "dashboards_cut_off": pipeline.hub.cut_off,
        "demo": request.app.state.settings.demo,
    }


@router.get("/rooms")
async def rooms(pipeline: PipelineDep) -> list[dict[str, Any]]:
    """Every room with an active session: its latest values, last NIBP and active alarms."""
    return pipeline.snapshot(time.time())["rooms"]  # type: ignore[no-any-return]


@router.get("/sessions")
async def sessions(pipeline: PipelineDep, active: bool = False) -> list[dict[str, Any]]:
    return pipeline.store.sessions(active_only=active)


class SessionStart(BaseModel):
    room: str = Field(min_length=1, max_length=64)
    mode: str = Field(default="live", pattern="^(live|demo|replay|test)$")
    label: str = Field(default="", max_length=64)


@router.post("/sessions", status_code=201)
async def start_session(body: SessionStart, pipeline: PipelineDep) -> dict[str, Any]:
    """Start a session in a room (a monitor streaming into an idle room also starts one)."""
    state = pipeline.start_session(body.room, body.mode, time.time(), body.label)
    return pipeline.store.session(state.id)  # type: ignore[return-value]


def _session(pipeline: Pipeline, session_id: int) -> dict[str, Any]:
    row = pipeline.store.session(session_id)
    if row is None:
        raise HTTPException(404, f"no session {session_id}")
    return row


@router.get("/sessions/{session_id}")
async def session(session_id: int, pipeline: PipelineDep) -> dict[str, Any]:
    row = _session(pipeline, session_id)
    return {**row, **pipeline.store.latest(session_id),
            "alarms": pipeline.alarm_log.alarms(session_id, active_only=True)}


@router.post("/sessions/{session_id}/end")
async def end_session(session_id: int, pipeline: PipelineDep) -> dict[str, Any]:
    _session(pipeline, session_id)
    if not pipeline.end_session(session_id, time.time()):
        raise HTTPException(409, f"session {session_id} has already ended")
    return _session(pipeline, session_id)


@router.get("/sessions/{session_id}/readings")
async def readings(
    session_id: int, pipeline: PipelineDep,
    start: float | None = None, end: float | None = None,
    params: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """Numerics (one row per value; ``value: null`` is "no value") and cuff measurements
    between ``start`` and ``end`` (seconds since the epoch, device time)."""
    _session(pipeline, session_id)
    return {
        "session_id": session_id,
        "numerics": pipeline.store.numerics(session_id, start, end, params),
        "nibp": pipeline.store.nibp(session_id, start, end),
    }


@router.get("/sessions/{session_id}/waveforms")
async def waveforms(session_id: int, wave: str, start: float, end: float,
              pipeline: PipelineDep) -> list[dict[str, Any]]:
    _session(pipeline, session_id)
    if end - start > 600:
        raise HTTPException(422, "ask for at most 600 s of waveform at a time")
    return pipeline.store.waveforms(session_id, wave, start, end)


@router.get("/sessions/{session_id}/statuses")
async def statuses(session_id: int, pipeline: PipelineDep) -> list[dict[str, Any]]:
    _session(pipeline, session_id)
    return pipeline.store.statuses(session_id)


@router.get("/alarms")
async def alarms(pipeline: PipelineDep, session_id: int | None = None,
           active: bool = False) -> list[dict[str, Any]]:
    """Alarms, newest first: the active ones with ``active=true``, else the history too."""
    return pipeline.alarm_log.alarms(session_id, active_only=active)


@router.get("/sessions/{session_id}/alarm-log")
async def alarm_log(session_id: int, pipeline: PipelineDep) -> list[dict[str, Any]]:
    _session(pipeline, session_id)
    return pipeline.alarm_log.log(session_id)


@router.get("/monitors")
async def monitors(pipeline: PipelineDep) -> list[dict[str, Any]]:
    """Every monitor heard since start-up, with its counts of accepted, duplicate and refused
    messages (by field) and its last error."""
    return [m.to_json() for m in pipeline.monitors.values()]


@router.get("/monitors/{monitor_id}/errors")
async def monitor_errors(monitor_id: str, pipeline: PipelineDep, limit: int = 100) -> list[dict[str, Any]]:
    """The refused messages of a monitor, newest first, as they arrived (cut at 4 KiB)."""
    return pipeline.store.rejects(monitor_id, min(limit, 1000))
