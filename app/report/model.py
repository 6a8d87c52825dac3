"""The session report as data: ``SessionReport``, assembled from the store, the alarm log and the
clinical record by ``build``. HTML, PDF, FHIR and the signed versions are all drawn from it, so
they cannot disagree; a signed version keeps this model's JSON and is re-drawn from it alone.

Identification is by the clinic's pseudonymous label only. Times are seconds since the epoch on
the session's (device) clock unless a field says server. Missing data is shown as missing
(``None``, an empty list, a field's ``source`` saying what was looked for), never invented.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from pydantic import BaseModel, Field

from alerts import discharge as readiness
from alerts.baseline import CuffReading
from alerts.rules import DEFAULT_RULES, RuleSet
from app import clinical
from app.alarm_log import AlarmLog
from app.record import Record, Stored
from app.report import rems
from app.storage import Database
from app.store import Store

# The continuous parameters the report's trend and the FHIR export carry, one value a minute.
TREND_PARAMS = ("HR", "SpO2", "RR", "EtCO2", "TEMP")
TREND_BIN_S = 60.0


class Signature(BaseModel):
    version: int
    by: str
    at: float = Field(description="server time of signing")
    reason: str = ""


class Entry(BaseModel):
    """A record entry as the report shows it: what, when, who recorded it."""

    id: int
    kind: str
    t_device: float
    t_server: float
    by: str
    data: dict[str, Any]
    minutes_from_dose: float | None = None


class CuffRow(BaseModel):
    t: float
    minutes_from_dose: float | None
    status: str
    sys: float | None
    dia: float | None
    map: float | None
    reason: str = ""


class AlarmRow(BaseModel):
    id: int
    rule: str
    title: str
    kind: str
    priority: str
    param: str | None
    message: str
    onset: float
    ended: float | None
    state: str
    acknowledged_by: str | None
    acknowledged_at: float | None


class Discharge(BaseModel):
    source: str
    confirmations: list[Entry]
    criteria: list[dict[str, Any]] = []  # computed at the end of monitoring (alerts.discharge)
    judged_at: float | None = None  # device time the criteria were judged at
    ready: bool | None = None


class Deliveries(BaseModel):
    available: bool = Field(description="whether this database records deliveries at all")
    rows: list[dict[str, Any]] = []


class SessionReport(BaseModel):
    session_id: int
    label: str | None
    label_source: str
    mode: str
    room: str
    started: float = Field(description="server time the session started")
    ended: float | None = Field(description="server time it ended; None while it runs")
    generated: float = Field(description="server time this report was built")
    rules: str = Field(description="the rules file the REMS fields were judged by")
    signature: Signature | None = None
    dose_t: float | None
    dose_source: str
    first_reading: float | None
    last_reading: float | None
    check_in: Entry | None
    baseline: dict[str, float | None] | None
    doses: list[Entry]
    concomitants: list[Entry]
    interventions: list[Entry]
    observations: list[Entry]
    sign_offs: list[Entry]
    marks: list[dict[str, Any]]
    nibp: list[CuffRow]
    trend: dict[str, list[tuple[float, float]]] = Field(
        description="per parameter: (minute start, median) of each minute with a value")
    alarms: list[AlarmRow]
    deliveries: Deliveries
    discharge: Discharge
    rems: rems.RemsForm

    @property
    def watermark(self) -> str:
        """The data mode in capitals on every page of anything but a live session."""
        return "" if self.mode == "live" else self.mode.upper()


def _entry(s: Stored, dose_t: float | None) -> Entry:
    data = s.entry.model_dump(mode="json", exclude={"kind", "t_device", "replaces"})
    return Entry(id=s.id, kind=s.entry.kind, t_device=s.entry.t_device, t_server=s.t_server, by=s.by,
                 data=data, minutes_from_dose=None if dose_t is None
                 else round((s.entry.t_device - dose_t) / 60, 1))


def trend(rows: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """The median of each whole minute that has values, per parameter: the trend of a 90-min
    session in ~90 points a line, and the 1/min the FHIR export carries."""
    bins: dict[str, dict[float, list[float]]] = {}
    for r in rows:
        if r["value"] is None or r["param"] not in TREND_PARAMS:
            continue
        start = r["t"] - r["t"] % TREND_BIN_S
        bins.setdefault(r["param"], {}).setdefault(start, []).append(r["value"])
    return {p: [(t, round(statistics.median(v), 2)) for t, v in sorted(b.items())]
            for p, b in bins.items()}


def _acknowledgements(alarm_log: AlarmLog, session_id: int) -> dict[int, float]:
    acked: dict[int, float] = {}
    for row in alarm_log.log(session_id):
        if row["event"] == "acknowledged":
            acked.setdefault(row["alarm_id"], row["t"])
    return acked


def deliveries(db: Database, session_id: int) -> Deliveries:
    """Alarm deliveries per recipient (the ``deliveries`` table), when this database has one."""
    if not db.has_table("deliveries"):
        return Deliveries(available=False)
    columns = db.columns("deliveries")
    # In the order they were made: SQLite's rowid (older tables may have no id), PostgreSQL's id.
    order = "rowid" if db.dialect == "sqlite" else "id"
    if "session_id" in columns:
        q = f"SELECT * FROM deliveries WHERE session_id=? ORDER BY {order}"
    elif "alarm_id" in columns:  # deliveries named by their alarm only
        q = f"SELECT * FROM deliveries WHERE alarm_id IN (SELECT id FROM alarms WHERE session_id=?) ORDER BY {order}"
    else:
        return Deliveries(available=False)
    return Deliveries(available=True, rows=[
        {k: (v if isinstance(v, (str, int, float)) or v is None else repr(v)) for k, v in dict(r).items()}
        for r in db.execute(q, (session_id,))])


def _discharge(store: Store, current: list[Stored], rules: RuleSet, session: dict[str, Any],
               dose_t: float | None, baseline: dict[str, Any] | None, nibp_rows: list[dict[str, Any]],
               numerics: list[dict[str, Any]], alarm_rows: list[dict[str, Any]], last: float | None,
               confirmations: list[Entry]) -> Discharge:
    """The discharge criteria as the room view showed them at the end of monitoring (the last
    reading), judged by the same function from the stored data, with who confirmed what."""
    doc = clinical.documented(current)
    if doc.check_in is None or last is None:
        return Discharge(source="the clinical record's confirmations (no check-in: criteria not judged)",
                         confirmations=confirmations)
    marked = next((m["t"] for m in store.marks(session["id"]) if m["what"] == "infusion end"), None)
    spo2 = next(((r["t"], r["value"]) for r in reversed(numerics) if r["param"] == "SpO2"), None)
    result = readiness.readiness(
        rules.discharge, rules.timeline.for_route(doc.check_in.route), readiness.Inputs(
            dose_t=dose_t, infusion_end_t=marked if marked is not None else doc.planned_infusion_end,
            baseline=baseline,
            cuffs=[CuffReading(r["t"], r["sys"], r["dia"], r["map"]) for r in nibp_rows if r["status"] == "ok"],
            spo2=spo2, alarms=[readiness.AlarmSpan(a["rule"], a["priority"], a["onset"], a["ended"],
                                                   waiting=a["state"] == "latched") for a in alarm_rows],
            confirmations=doc.confirmations), last)
    return Discharge(
        source="computed from the data at the last reading, as the room view judges them; "
               "confirmations from the clinical record",
        confirmations=confirmations, judged_at=last, ready=result.ready,
        criteria=[{"criterion": c.label, "status": c.status, "why": c.why} for c in result.criteria])


def build(store: Store, alarm_log: AlarmLog, record: Record, session_id: int, rules: RuleSet,
          now: float) -> SessionReport:
    """The report of one session as its data stands at ``now`` (server time). Raises KeyError
    for a session that does not exist."""
    session = store.session(session_id)
    if session is None:
        raise KeyError(session_id)
    current = record.current(session_id)
    by_kind: dict[str, list[Stored]] = {}
    for s in current:
        by_kind.setdefault(s.entry.kind, []).append(s)
    doses = by_kind.get("dose", [])
    if doses:
        dose_t: float | None = min(d.entry.t_device for d in doses)
        dose_source = "the first dose in the clinical record"
    elif session["dose"] is not None:
        dose_t, dose_source = session["dose"], "the dose mark (no dose in the clinical record)"
    else:
        dose_t, dose_source = None, "no dose recorded"
    check_ins = by_kind.get("check_in", [])
    check_in = check_ins[-1] if check_ins else None
    if check_in is not None:
        label, label_source = check_in.entry.label, "the check-in"  # type: ignore[union-attr]
    elif session["label"]:
        label, label_source = session["label"], "the session"
    else:
        label, label_source = None, "no label recorded"

    nibp_rows = store.nibp(session_id)
    numerics = store.numerics(session_id)
    times = [r["t"] for r in numerics] + [r["t"] for r in nibp_rows]
    first, last = (min(times), max(times)) if times else (None, None)
    acked = _acknowledgements(alarm_log, session_id)
    alarm_rows = sorted(alarm_log.alarms(session_id, limit=10_000), key=lambda a: (a["onset"], a["id"]))
    alarms = [AlarmRow(id=a["id"], rule=a["rule"], title=a["title"], kind=a["kind"], priority=a["priority"],
                       param=a["param"], message=a["message"], onset=a["onset"], ended=a["ended"],
                       state=a["state"], acknowledged_by=a["acknowledged_by"],
                       acknowledged_at=acked.get(a["id"]))
              for a in alarm_rows]
    baseline = json.loads(session["baseline"]) if session["baseline"] else None
    entries = {k: [_entry(s, dose_t) for s in v] for k, v in by_kind.items()}
    observations = [{**e.data, "t_device": e.t_device, "by": e.by} for e in entries.get("observation", [])]
    form = rems.form(nibp_rows, dose_t, session["ended"] is not None, rules, baseline, first, last,
                     observations, [a.model_dump() for a in alarms])
    return SessionReport(
        session_id=session_id, label=label, label_source=label_source, mode=session["mode"],
        room=session["room"], started=session["started"], ended=session["ended"], generated=now,
        rules=(rules.source or str(DEFAULT_RULES)).replace(str(DEFAULT_RULES), "the default rules"),
        dose_t=dose_t, dose_source=dose_source, first_reading=first, last_reading=last,
        check_in=_entry(check_in, dose_t) if check_in else None, baseline=baseline,
        doses=entries.get("dose", []), concomitants=entries.get("concomitant", []),
        interventions=entries.get("intervention", []), observations=entries.get("observation", []),
        sign_offs=entries.get("sign_off", []), marks=store.marks(session_id),
        nibp=[CuffRow(t=r["t"], minutes_from_dose=None if dose_t is None else round((r["t"] - dose_t) / 60, 1),
                      status=r["status"], sys=r["sys"], dia=r["dia"], map=r["map"], reason=r["reason"] or "")
              for r in nibp_rows],
        trend=trend(numerics), alarms=alarms, deliveries=deliveries(store.db, session_id),
        discharge=_discharge(store, current, rules, session, dose_t, baseline, nibp_rows, numerics,
                             alarm_rows, last, entries.get("confirmation", [])),
        rems=form)
