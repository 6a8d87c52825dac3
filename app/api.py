"""The REST API: health, rooms and sessions, readings over a time range, alarms, monitors."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from alerts.rules import RulesError
from alerts.system import IllegalTransition
from app import record
from app.accounts import Login
from app.clinical import Refusal
from app.pipeline import HeldElsewhere, Pipeline
from app.security import Security, require
from app.sites import Name as SiteName

router = APIRouter(prefix="/api")


async def _pipeline(request: Request) -> Pipeline:
    return request.app.state.pipeline


PipelineDep = Annotated[Pipeline, Depends(_pipeline)]
ViewLive = Annotated[Login, Depends(require("view_live"))]
ViewHistory = Annotated[Login, Depends(require("view_history"))]
ViewMonitors = Annotated[Login, Depends(require("view_monitors"))]
ManageSessions = Annotated[Login, Depends(require("manage_sessions"))]
SessionDep = Annotated[Login, Depends(require("session"))]


def _security(request: Request) -> Security:
    return request.app.state.security


# Every path and query parameter is bounded, so that an absurd value (a session id of 10^24, a
# negative limit, a megabyte of text) is a 422 naming the parameter, never a 500 from deep
# below (SQLite takes integers of at most 64 bits). Ids are SQLite row ids: 1 … 2^53 (beyond
# that a browser's numbers are no longer exact). Times are seconds since the epoch.
MAX_ID = 2**53
MAX_TIME = 1e11  # the year 5138
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryTime = Annotated[float | None, Query(ge=0, le=MAX_TIME)]
MonitorId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
RuleId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")]
ParamName = Annotated[str, Query(max_length=16)]


@router.get("/health")
async def health(request: Request, pipeline: PipelineDep, who: SessionDep) -> dict[str, Any]:
    pipeline.store.db.execute("SELECT 1").fetchone()
    return {
        "status": "ok",
        "uptime_s": round(time.time() - request.app.state.started, 1),
        "rules": pipeline.rules.source,
        "sessions": len(pipeline.sessions),
        "monitors_connected": sum(m.connected for m in pipeline.monitors.values()),
        "dashboards": len(pipeline.hub.clients),
        "dashboards_cut_off": pipeline.hub.cut_off,
        "dashboard_messages_refused": pipeline.hub.refused,
        "demo": request.app.state.settings.demo,
        "push": request.app.state.push.counts(time.time()),  # app/push.py: phones, lapsed, receipts
        "delivery": request.app.state.delivery.status(),
        # The report's trend chart export (app/report/exporter.py): its browser, exports done
        # and failed, and the last failure's reason.
        "report_charts": request.app.state.charts.status(),
        # The bus between instances (app/bus.py): None when this instance runs alone.
        "bus": request.app.state.bus.status() if request.app.state.bus is not None else None,
        # Per session rebuilt at start-up: messages replayed, seconds, changes logged then, and
        # how far the replay differed from the alarm log (docs/alarms.md, "After a restart").
        "resumed": {str(s.id): s.resumed for s in pipeline.sessions.values() if s.resumed},
        # The sites whose link is lost (app/site_link.py), of those the login sees.
        "site_links_lost": [{"site": s.site, "last_heard_server": s.last_heard_server,
                             "silent_s": round(time.time() - s.last_heard_server, 1), "delay_s": s.delay_s}
                            for s in pipeline.site_links.lost() if who.sites.sees(s.site)],
    }


@router.get("/rooms")
async def rooms(pipeline: PipelineDep, who: ViewLive) -> list[dict[str, Any]]:
    """Every room with an active session, as the live feed's snapshot gives it (``feed.RoomView``):
    its latest values, last NIBP, active alarms and the settings in force."""
    return [r.model_dump(mode="json") for r in pipeline.snapshot(time.time(), visible=who.sites).rooms]


def _visible_sessions(pipeline: Pipeline, who: Login, active: bool = False) -> list[dict[str, Any]]:
    """The sessions of the sites ``who`` sees, each with its site (a row stored before sites
    says '': the default site's)."""
    rows = pipeline.store.sessions(active_only=active)
    for row in rows:
        row["site"] = pipeline.site_of(row)
    return [r for r in rows if who.sites.sees(r["site"])]


@router.get("/sessions")
async def sessions(pipeline: PipelineDep, who: ViewHistory, active: bool = False) -> list[dict[str, Any]]:
    return _visible_sessions(pipeline, who, active)


class SessionStart(BaseModel):
    room: str = Field(min_length=1, max_length=64)
    mode: str = Field(default="live", pattern="^(live|demo|replay|test)$")
    label: str = Field(default="", max_length=64)
    # None: the default site when the user sees it, else the first of the user's sites.
    site: SiteName | None = None


@router.post("/sessions", status_code=201)
async def start_session(body: SessionStart, pipeline: PipelineDep, who: ManageSessions,
                        request: Request) -> dict[str, Any]:
    """Start a session in a room (a monitor streaming into an idle room also starts one), at a
    site the user sees."""
    site = body.site
    if site is None:
        seen = who.sites.to_json()
        site = pipeline.default_site if seen is None or pipeline.default_site in seen else seen[0]
    if not who.sites.sees(site):
        raise HTTPException(403, f"{who.user.name!r} does not see site {site!r}")
    try:
        state = pipeline.start_session(body.room, body.mode, time.time(), body.label, site=site)
    except HeldElsewhere as e:  # several instances: the room's session runs on another
        raise HTTPException(409, str(e)) from None
    _security(request).audit.record(time.time(), who.user.name, "session_started", f"session {state.id}",
                                 new={"room": body.room, "mode": body.mode})
    return pipeline.store.session(state.id)  # type: ignore[return-value]


def _session(pipeline: Pipeline, session_id: int) -> dict[str, Any]:
    row = pipeline.store.session(session_id)
    if row is None:
        raise HTTPException(404, f"no session {session_id}")
    return row


@router.get("/sessions/{session_id}")
async def session(session_id: Id, pipeline: PipelineDep, who: ViewHistory) -> dict[str, Any]:
    row = _session(pipeline, session_id)
    return {**row, **pipeline.store.latest(session_id),
            "alarms": pipeline.alarm_log.alarms(session_id, active_only=True)}


@router.post("/sessions/{session_id}/end")
async def end_session(session_id: Id, pipeline: PipelineDep, who: ManageSessions,
                      request: Request) -> dict[str, Any]:
    """End a session. A checked-in session whose discharge criteria are not all met ends only
    once a clinician has signed off ending it anyway (``SignOff`` what ``discharge_unmet``):
    else 409, listing the criteria unmet."""
    _session(pipeline, session_id)
    state = pipeline.sessions.get(session_id)
    if state is not None and state.doc.check_in is not None and not state.doc.discharge_signed:
        readiness = pipeline.readiness(state, time.time())
        if not readiness.ready:
            unmet = [{"key": c.key, "label": c.label, "status": c.status, "why": c.why}
                     for c in readiness.unmet()]
            blocked = f" (alarm signalled: {', '.join(readiness.blocked_by)})" if readiness.blocked_by else ""
            raise HTTPException(409, {
                "message": f"discharge criteria unmet{blocked}: "
                           + "; ".join(f"{c['label']}: {c['why']}" for c in unmet)
                           + ". Record a sign_off (what: discharge_unmet) with the reason to end anyway.",
                "unmet": unmet})
    if not pipeline.end_session(session_id, time.time()):
        raise HTTPException(409, f"session {session_id} has already ended")
    _security(request).audit.record(time.time(), who.user.name, "session_ended", f"session {session_id}")
    return _session(pipeline, session_id)


class SessionMonitor(BaseModel):
    model_config = {"extra": "forbid"}
    monitor_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")


def _listed(pipeline: Pipeline, session_id: int) -> list[str]:
    state = pipeline.sessions[session_id]
    return [f.monitor_id for f in state.feeds.values() if f.listed]


@router.post("/sessions/{session_id}/monitors")
async def add_session_monitor(session_id: Id, body: SessionMonitor, pipeline: PipelineDep,
                              who: ManageSessions, request: Request) -> dict[str, Any]:
    """List another monitor in a running session (a second device at the bedside): only the
    monitors a session lists may feed it, and each is then supervised on its own. Audited."""
    _active(pipeline, session_id)
    old = _listed(pipeline, session_id)
    if body.monitor_id in old:
        raise HTTPException(409, f"session {session_id} lists monitor {body.monitor_id!r} already")
    new = pipeline.add_monitor(session_id, body.monitor_id, who.user.name, time.time())
    _security(request).audit.record(time.time(), who.user.name, "session_monitor_added",
                                    f"session {session_id}", old={"monitors": old},
                                    new={"monitors": new})
    return {"session_id": session_id, "monitors": new}


@router.delete("/sessions/{session_id}/monitors/{monitor_id}")
async def remove_session_monitor(session_id: Id, monitor_id: MonitorId, pipeline: PipelineDep,
                                 who: ManageSessions, request: Request) -> dict[str, Any]:
    """Take a monitor off a running session: it is no longer expected (no lost-feed alarm for
    it) and may not feed the session again unless added back. Audited."""
    _active(pipeline, session_id)
    old = _listed(pipeline, session_id)
    if monitor_id not in old:
        raise HTTPException(404, f"session {session_id} does not list monitor {monitor_id!r}")
    new = pipeline.remove_monitor(session_id, monitor_id, time.time())
    _security(request).audit.record(time.time(), who.user.name, "session_monitor_removed",
                                    f"session {session_id}", old={"monitors": old},
                                    new={"monitors": new})
    return {"session_id": session_id, "monitors": new}


@router.get("/sessions/{session_id}/readings")
async def readings(
    session_id: Id, pipeline: PipelineDep, who: ViewHistory,
    start: QueryTime = None, end: QueryTime = None,
    params: Annotated[list[Annotated[str, Query(max_length=16)]] | None, Query(max_length=32)] = None,
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
async def waveforms(session_id: Id, wave: Annotated[str, Query(max_length=16)],
                    start: Annotated[float, Query(ge=0, le=MAX_TIME)],
                    end: Annotated[float, Query(ge=0, le=MAX_TIME)],
                    pipeline: PipelineDep, who: ViewHistory) -> list[dict[str, Any]]:
    _session(pipeline, session_id)
    if end - start > 600:
        raise HTTPException(422, "ask for at most 600 s of waveform at a time")
    return pipeline.store.waveforms(session_id, wave, start, end)


@router.get("/sessions/{session_id}/statuses")
async def statuses(session_id: Id, pipeline: PipelineDep, who: ViewHistory) -> list[dict[str, Any]]:
    _session(pipeline, session_id)
    return pipeline.store.statuses(session_id)


@router.get("/alarms")
async def alarms(pipeline: PipelineDep, who: ViewHistory,
                 session_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                 active: bool = False) -> list[dict[str, Any]]:
    """Alarms, newest first: the active ones with ``active=true``, else the history too; only
    those of sessions of the sites the user sees."""
    alarms = pipeline.alarm_log.alarms(session_id, active_only=active)
    if who.sites.every:
        return alarms
    seen = {r["id"] for r in _visible_sessions(pipeline, who)}
    return [a for a in alarms if a["session_id"] in seen]


@router.get("/sessions/{session_id}/alarm-log")
async def alarm_log(session_id: Id, pipeline: PipelineDep, who: ViewHistory) -> list[dict[str, Any]]:
    _session(pipeline, session_id)
    return pipeline.alarm_log.log(session_id)


@router.get("/alarms/{alarm_id}/deliveries")
async def alarm_deliveries(alarm_id: Id, request: Request, pipeline: PipelineDep,
                           who: ViewHistory) -> list[dict[str, Any]]:
    """Every notice of an alarm, oldest first: one row per recipient and destination per
    alarm change, with its state and the time it reached each (docs/delivery.md)."""
    if pipeline.alarm_log.alarm(alarm_id) is None:
        raise HTTPException(404, f"alarm {alarm_id} does not exist")
    return request.app.state.delivery.log.of_alarm(alarm_id)


@router.get("/sessions/{session_id}/deliveries")
async def session_deliveries(session_id: Id, request: Request, pipeline: PipelineDep,
                             who: ViewHistory) -> list[dict[str, Any]]:
    """Every notice of a session's alarms, oldest first (as ``/alarms/{id}/deliveries``)."""
    _session(pipeline, session_id)
    return request.app.state.delivery.log.of_session(session_id)


@router.get("/monitors")
async def monitors(pipeline: PipelineDep, who: ViewMonitors) -> list[dict[str, Any]]:
    """Every monitor heard since start-up, with its counts of accepted, duplicate and refused
    messages (by field) and its last error: its reason quotes what was sent, so only roles that
    may see vital signs get it; others (admins) get its seq, field and kind."""
    values = who.user.can("view_history")
    return [m.to_json(values) for m in pipeline.monitors.values()
            if who.sites.sees(m.site or pipeline.default_site)]


@router.get("/monitors/{monitor_id}/errors")
async def monitor_errors(monitor_id: MonitorId, pipeline: PipelineDep, who: ViewHistory,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """The refused messages of a monitor, newest first, as they arrived (cut at 4 KiB). They
    may hold vital signs, so clinical roles only (an admin sees the counts in /api/monitors)."""
    return pipeline.store.rejects(monitor_id, limit)


ACTIONS = {"acknowledge": "acknowledge", "pause-audio": "pause_audio", "reset": "acknowledge"}


def _act(action: str):
    needs = require(ACTIONS[action])  # outside the annotation: annotations are strings here

    async def act(alarm_id: Id, request: Request, pipeline: PipelineDep,
                  who: Login = Depends(needs)) -> dict[str, Any]:  # noqa: B008
        before = pipeline.alarm_log.alarm(alarm_id)
        try:
            alarm = pipeline.act(alarm_id, action.replace("-", "_"), who.user.name, time.time())
        except KeyError:
            raise HTTPException(404, f"alarm {alarm_id} is not signalled") from None
        except IllegalTransition as e:
            raise HTTPException(409, str(e)) from None
        _security(request).audit.record(
            time.time(), who.user.name, f"alarm_{action.replace('-', '_')}", f"alarm {alarm_id}",
            old={"state": before["state"]} if before else None,
            new={"state": alarm["state"], "rule": alarm["rule"], "session": alarm["session_id"]})
        return alarm

    act.__name__ = f"alarm_{action.replace('-', '_')}"
    return act


for _action in ACTIONS:
    router.post(f"/alarms/{{alarm_id}}/{_action}", name=f"alarm_{_action}")(_act(_action))


class MarkIn(BaseModel):
    what: Literal["dose", "infusion end", "treatment", "intervention", "note"]
    text: str = Field(default="", max_length=500)


MarkEvent = Annotated[Login, Depends(require("mark_event"))]
ChangeLimits = Annotated[Login, Depends(require("change_limits"))]


def _active(pipeline: Pipeline, session_id: int) -> None:
    _session(pipeline, session_id)
    if session_id not in pipeline.sessions:
        raise HTTPException(409, f"session {session_id} has ended")


@router.post("/sessions/{session_id}/marks", status_code=201)
async def add_mark(session_id: Id, body: MarkIn, request: Request, pipeline: PipelineDep,
                   who: MarkEvent) -> dict[str, Any]:
    """Mark an event now: the dose (starts the post-dose rules and captures the baseline), the
    end of an infusion, a treatment, an intervention, a note."""
    _active(pipeline, session_id)
    try:
        mark = pipeline.mark(session_id, body.what, body.text, who.user.name, time.time())
    except Refusal as e:
        raise HTTPException(e.status, {"field": e.field, "reason": e.reason,
                                       "message": f"{e.field}: {e.reason}"}) from None
    # The audit says who marked what, not the note's text: the trail is an admin's, and notes
    # are health data (they stay with the session).
    _security(request).audit.record(time.time(), who.user.name, "mark_added", f"session {session_id}",
                                 new={"what": body.what})
    return mark


@router.get("/sessions/{session_id}/marks")
async def marks(session_id: Id, pipeline: PipelineDep, who: ViewHistory) -> list[dict[str, Any]]:
    _session(pipeline, session_id)
    return pipeline.store.marks(session_id)


@router.post("/sessions/{session_id}/baseline")
async def capture_baseline(session_id: Id, request: Request, pipeline: PipelineDep,
                           who: MarkEvent) -> dict[str, Any]:
    """Capture the pre-dose baseline now (it is captured at the dose mark otherwise)."""
    _active(pipeline, session_id)
    baseline = pipeline.capture_baseline(session_id, time.time())
    _security(request).audit.record(time.time(), who.user.name, "baseline_captured", f"session {session_id}")
    return baseline


@router.get("/sessions/{session_id}/rules")
async def session_rules(session_id: Id, pipeline: PipelineDep, who: ViewHistory) -> dict[str, Any]:
    """The rules in effect for this session (the clinic's, with the session's own changes), its
    dose time and baseline, and the history of changes."""
    row = _session(pipeline, session_id)
    state = pipeline.sessions.get(session_id)
    rules = pipeline.rules.with_overrides(state.overrides) if state and state.overrides else pipeline.rules
    return {
        "rules": {rid: _rule_json(r) for rid, r in rules.rules.items()},
        "dose": row["dose"], "baseline": json.loads(row["baseline"]) if row["baseline"] else None,
        "changes": pipeline.store.rule_changes(session_id),
        "signals": rules.signals.model_dump(), "schedule": rules.schedule.model_dump(),
    }


def _rule_json(rule: Any) -> dict[str, Any]:
    out = rule.model_dump(mode="python", exclude={"when", "clear", "confirm_unless"})
    for key in ("when", "clear", "confirm_unless"):
        expr = getattr(rule, key)
        out[key] = expr.text if expr is not None else None
    return out


class RuleChange(BaseModel):
    model_config = {"extra": "forbid"}
    when: str | None = Field(default=None, max_length=500)
    clear: str | None = Field(default=None, max_length=500)
    delay_s: float | None = Field(default=None, ge=0, le=86400)
    clear_for_s: float | None = Field(default=None, ge=0, le=86400)
    priority: Literal["low", "medium", "high"] | None = None
    enabled: bool | None = None
    reason: str = Field(min_length=1, max_length=500, description="why: kept in the audit trail")


@router.patch("/sessions/{session_id}/rules/{rule_id}")
async def change_rule(session_id: Id, rule_id: RuleId, body: RuleChange, request: Request,
                      pipeline: PipelineDep, who: ChangeLimits) -> dict[str, Any]:
    """Change one rule's limits for this session only; audited with old → new and the reason."""
    _active(pipeline, session_id)
    change = body.model_dump(exclude_none=True, exclude={"reason"})
    if not change:
        raise HTTPException(422, "nothing to change")
    state = pipeline.sessions[session_id]
    before = pipeline.rules.with_overrides(state.overrides) if state.overrides else pipeline.rules
    if rule_id not in before.rules:
        raise HTTPException(404, f"no rule {rule_id!r}")
    old = {k: v for k, v in _rule_json(before.rules[rule_id]).items() if k in change}
    try:
        rules = pipeline.change_rule(session_id, rule_id, change, who.user.name, time.time(),
                                     body.reason)
    except RulesError as e:
        raise HTTPException(422, str(e)) from None
    _security(request).audit.record(time.time(), who.user.name, "limits_changed",
                                 f"session {session_id} rule {rule_id}", old=old,
                                 new={**change, "reason": body.reason})
    return _rule_json(rules.rules[rule_id])


# The session record (app/record.py; docs/session-record.md) ---------------------------------


@router.post("/sessions/{session_id}/record", status_code=201)
async def add_record_entry(session_id: Id, body: record.Entry, request: Request,
                           pipeline: PipelineDep, who: MarkEvent) -> dict[str, Any]:
    """Record one entry of the session record (check-in, sign-off, dose, concomitant drug,
    intervention, observation, confirmation) by the logged-in user. 422 names the field of an
    entry that is wrong; 409 says what the session's state refuses (a dose while a pre-dose gate
    is active and not signed off names the rule); 403 a sign-off by a role that may not sign.
    Audited by kind (a sign-off with what it signs and the gates it covers), not by content."""
    _active(pipeline, session_id)
    try:
        stored = pipeline.add_entry(session_id, body, who.user.name, who.user.role, time.time())
    except Refusal as e:
        raise HTTPException(e.status, {"field": e.field, "reason": e.reason,
                                       "message": f"{e.field}: {e.reason}"}) from None
    entry = stored.entry
    new: dict[str, Any] = {"kind": entry.kind, "entry": stored.id}
    if isinstance(entry, record.SignOff):
        new |= {"what": entry.what, "rules": entry.rules}
    _security(request).audit.record(time.time(), who.user.name,
                                    "sign_off" if entry.kind == "sign_off" else "record_entry_added",
                                    f"session {session_id}", new=new)
    return record.to_json(stored)


@router.get("/sessions/{session_id}/record")
async def record_entries(session_id: Id, pipeline: PipelineDep, who: ViewHistory,
                         history: bool = False) -> list[dict[str, Any]]:
    """The session record as it stands (what corrections replaced left out), or with
    ``history=1`` every entry in the order recorded."""
    _session(pipeline, session_id)
    rows = pipeline.record.history(session_id) if history else pipeline.record.current(session_id)
    return [record.to_json(s) for s in rows]
