"""The report's routes: the draft or signed report as HTML and PDF, signing and amending it, its
versions, the FHIR Bundle, the readings as CSV, and a label's course of sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typst
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, ValidationError

from alerts.rules import RulesError, RuleSet
from app.accounts import Login
from app.alarm_log import AlarmLog
from app.api import Id, PipelineDep, ViewHistory
from app.pipeline import Pipeline
from app.record import Record
from app.report import course as course_mod
from app.report import fhir, html, pdf, readings
from app.report.chart import Chart
from app.report.exporter import Exporter
from app.report.model import SessionReport, Signature, build
from app.report.signed import Reports
from app.security import require
from app.storage import IntegrityError
from app.store import Store

log = logging.getLogger("vitalwatch.report")
T = TypeVar("T")
router = APIRouter(prefix="/api")

# Signing is a clinician's act: the role that runs sessions.
SignReport = Annotated[Login, Depends(require("manage_sessions"))]
Label = Annotated[str, Path(min_length=1, max_length=64)]
Version = Annotated[int | None, Query(ge=1, le=1_000_000)]


async def _exporter(request: Request) -> Exporter:
    return request.app.state.charts


ChartsDep = Annotated[Exporter, Depends(_exporter)]


def _rules(pipeline: Pipeline, store: Store, session_id: int) -> RuleSet:
    # The session's own limits, as the pipeline restores them after a restart: every change in
    # order, for a session that has ended too. Changes the clinic's rules no longer accept (the
    # file changed since) leave the clinic's rules, and the report names the rules it used.
    overrides: dict[str, dict[str, Any]] = {}
    for change in store.rule_changes(session_id):
        overrides.setdefault(change["rule"], {}).update(change["change"])
    if overrides:
        with contextlib.suppress(RulesError):
            return pipeline.rules.with_overrides(overrides)
    return pipeline.rules


async def _reading(pipeline: Pipeline, read: Callable[[Store], T]) -> T:
    """Run ``read`` on a connection of its own, in a thread: building a report reads every
    reading of the session (~60 ms for a 2-hour one), which on the event loop would stall the
    live path for as long. The messages queued for the next grouped commit are committed first,
    so the reader sees everything stored so far (SQLite's WAL lets it read while the server
    writes)."""
    pipeline.store.flush()

    def run() -> T:
        store = Store(pipeline.store.db.reopen())
        try:
            return read(store)
        finally:
            store.close()

    return await asyncio.to_thread(run)


async def _draft(pipeline: Pipeline, session_id: int, now: float,
                 signature: Signature | None = None) -> SessionReport:
    def read(store: Store) -> SessionReport:
        return build(store, AlarmLog(store.db), Record(store.db), session_id,
                     _rules(pipeline, store, session_id), now)

    try:
        report = await _reading(pipeline, read)
    except KeyError:
        raise HTTPException(404, f"no session {session_id}") from None
    return report.model_copy(update={"signature": signature}) if signature else report


def _signed(pipeline: Pipeline, session_id: int, version: int | None) -> dict[str, Any] | None:
    content = Reports(pipeline.store.db).content(session_id, version)
    if content is None and version is not None:
        raise HTTPException(404, f"session {session_id} has no signed report version {version}")
    return content


async def _pdf(report: SessionReport, charts: Exporter) -> bytes:
    # Typesetting takes ~40 ms for a 2-hour session, more for longer ones, and the chart's export
    # ~0.1 s (seconds for the first, which starts the browser): both off the event loop, which
    # carries the live path.
    chart = await charts.chart_async(report)
    try:
        return await asyncio.to_thread(pdf.render, report, chart)
    except typst.TypstError as e:
        # The log names the session only: Typst's message may quote the record's text.
        log.error("session %s: the report PDF could not be typeset", report.session_id)
        raise HTTPException(500, f"the report PDF could not be typeset: {e}") from None


@router.get("/sessions/{session_id}/report.json")
async def report_json(session_id: Id, pipeline: PipelineDep, who: ViewHistory,
                      version: Version = None) -> dict[str, Any]:
    """The report's model (``SessionReport``): the latest signed version's (or ``version``'s),
    else the draft's."""
    signed = _signed(pipeline, session_id, version)
    report = (SessionReport.model_validate_json(signed["model"]) if signed
              else await _draft(pipeline, session_id, time.time()))
    return report.model_dump(mode="json")


@router.get("/sessions/{session_id}/report.html", response_class=HTMLResponse)
async def report_html(session_id: Id, pipeline: PipelineDep, charts: ChartsDep, who: ViewHistory,
                      version: Version = None) -> HTMLResponse:
    """The latest signed version (or ``version``), re-drawn from its stored model; else a draft
    built from the data as it stands, marked "DRAFT — not signed"."""
    signed = _signed(pipeline, session_id, version)
    report = (SessionReport.model_validate_json(signed["model"]) if signed
              else await _draft(pipeline, session_id, time.time()))
    chart: Chart = await charts.chart_async(report)
    return HTMLResponse(html.render(report, chart))


@router.get("/sessions/{session_id}/report.pdf")
async def report_pdf(session_id: Id, pipeline: PipelineDep, charts: ChartsDep, who: ViewHistory,
                     version: Version = None) -> Response:
    """The stored PDF of the latest signed version (or ``version``), byte for byte as signed;
    else a draft PDF built now."""
    signed = _signed(pipeline, session_id, version)
    if signed:
        body, name = bytes(signed["pdf"]), f"session-{session_id}-report-v{signed['version']}.pdf"
    else:
        report = await _draft(pipeline, session_id, time.time())
        body, name = await _pdf(report, charts), f"session-{session_id}-report-draft.pdf"
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/sessions/{session_id}/reports")
async def report_versions(session_id: Id, pipeline: PipelineDep, who: ViewHistory) -> list[dict[str, Any]]:
    """The signed versions, oldest first: who signed, when, why (amendments) and the SHA-256 of
    the stored PDF and model."""
    if pipeline.store.session(session_id) is None:
        raise HTTPException(404, f"no session {session_id}")
    return Reports(pipeline.store.db).versions(session_id)


class SignIn(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(default="", max_length=2000, description="a note kept with the version")


class AmendIn(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(min_length=1, max_length=2000, description="why the signed report changes")


async def _store_version(pipeline: Pipeline, charts: Exporter, session_id: int, version: int,
                         who: Login, reason: str) -> dict[str, Any]:
    now = time.time()
    report = await _draft(pipeline, session_id, now, Signature(version=version, by=who.user.name, at=now,
                                                         reason=reason))
    body = await _pdf(report, charts)
    try:
        return Reports(pipeline.store.db).add(session_id, version, who.user.name, now, reason, body,
                                              report.model_dump_json())
    except IntegrityError:
        raise HTTPException(409, f"session {session_id}: version {version} was signed meanwhile") from None


@router.post("/sessions/{session_id}/report/sign", status_code=201)
async def sign_report(session_id: Id, request: Request, pipeline: PipelineDep, charts: ChartsDep,
                      who: SignReport,
                      body: SignIn | None = None) -> dict[str, Any]:
    """Sign the ended session's report as version 1: its PDF and model are stored with their
    SHA-256 and can never change. Audited."""
    if pipeline.store.session(session_id) is None:
        raise HTTPException(404, f"no session {session_id}")
    if session_id in pipeline.sessions:
        raise HTTPException(409, f"session {session_id} is still running: end it before signing its report")
    if Reports(pipeline.store.db).latest_version(session_id):
        raise HTTPException(409, f"session {session_id}'s report is signed already: amend it, with a reason")
    stored = await _store_version(pipeline, charts, session_id, 1, who, body.reason if body else "")
    request.app.state.security.audit.record(time.time(), who.user.name, "report_signed",
                                            f"session {session_id}",
                                            new={"version": 1, "pdf_sha256": stored["pdf_sha256"]})
    return stored


@router.post("/sessions/{session_id}/report/amend", status_code=201)
async def amend_report(session_id: Id, body: AmendIn, request: Request, pipeline: PipelineDep,
                       charts: ChartsDep, who: SignReport) -> dict[str, Any]:
    """A new signed version (n+1) from the data as it now stands, with the reason; the versions
    before it stay as they were. Audited with both versions' digests."""
    if pipeline.store.session(session_id) is None:
        raise HTTPException(404, f"no session {session_id}")
    reports = Reports(pipeline.store.db)
    latest = reports.latest_version(session_id)
    if not latest:
        raise HTTPException(409, f"session {session_id}'s report is not signed yet: sign it first")
    before = reports.version(session_id, latest)
    stored = await _store_version(pipeline, charts, session_id, latest + 1, who, body.reason)
    request.app.state.security.audit.record(
        time.time(), who.user.name, "report_amended", f"session {session_id}",
        old={"version": latest, "pdf_sha256": before["pdf_sha256"] if before else None},
        new={"version": latest + 1, "pdf_sha256": stored["pdf_sha256"], "reason": body.reason})
    return stored


@router.get("/sessions/{session_id}/fhir")
async def session_fhir(session_id: Id, pipeline: PipelineDep, who: ViewHistory) -> dict[str, Any]:
    """The session as a FHIR R4B Bundle (vitals one a minute; see app/report/fhir.py)."""
    try:
        # Validating the bundle's resources is CPU work too (see _reading): off the loop.
        return await asyncio.to_thread(fhir.bundle, await _draft(pipeline, session_id, time.time()))
    except ValidationError as e:
        # Never send a Bundle that is not valid FHIR: say which element failed instead.
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        log.error("session %s: FHIR bundle not valid at %s: %s", session_id, where, err["msg"])
        raise HTTPException(500, f"the FHIR bundle is not valid at {where}: {err['msg']}") from None


@router.get("/sessions/{session_id}/readings.csv", response_class=PlainTextResponse)
async def readings_csv(session_id: Id, pipeline: PipelineDep, who: ViewHistory) -> Response:
    """Every stored reading as CSV (app/report/readings.py says the columns)."""
    if pipeline.store.session(session_id) is None:
        raise HTTPException(404, f"no session {session_id}")
    body = await _reading(pipeline, lambda store: readings.to_csv(store, session_id))
    return Response(body, media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="session-{session_id}-readings.csv"'})


@router.get("/patients/{label}/course")
async def patient_course(label: Label, pipeline: PipelineDep, who: ViewHistory) -> dict[str, Any]:
    """The label's latest sessions (up to 10) side by side: baseline and peak BP, alarms by
    priority, doses."""
    # Another site's sessions of the same label are not shown (read here, on the event loop's
    # connection; the course itself is read in a thread).
    allowed = {r["id"] for r in pipeline.store.sessions() if who.sites.sees(pipeline.site_of(r))}

    def seen(ids: list[int]) -> list[int]:
        return [i for i in ids if i in allowed]

    course = await _reading(
        pipeline, lambda store: course_mod.course(store, AlarmLog(store.db), Record(store.db), label,
                                                  seen))
    return course.model_dump()
