"""The report as a document: the same headings, tables and texts for the HTML page and the PDF,
so the two cannot say different things. Each renderer only lays out a ``Document``.

A missing value is written ``—`` with the reason beside it, never left blank.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from app.report.chart import Chart
from app.report.model import Entry, SessionReport
from app.report.rems import BloodPressure, Judgement

MISSING = "—"
DRAFT = "DRAFT — not signed"


class Table(BaseModel):
    title: str
    columns: list[str]
    rows: list[list[str]]
    empty: str = "none recorded"


class Document(BaseModel):
    title: str
    watermark: str  # DEMO / REPLAY / TEST; empty for a live session
    status: str  # the draft notice, or who signed which version when
    draft: bool
    facts: list[tuple[str, str]]
    rems: Table
    chart: Chart
    tables: list[Table]


def when(t: float | None) -> str:
    if t is None:
        return MISSING
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def minute(m: float | None) -> str:
    return MISSING if m is None else f"{m:+.1f} min"


def _num(v: float | None, unit: str = "") -> str:
    return MISSING if v is None else f"{v:g}{unit}"


def _bp(field: BloodPressure) -> str:
    v = field.value
    if v is None:
        return MISSING
    return f"{_num(v.sys)}/{_num(v.dia)} mmHg (MAP {_num(v.map)}) at {minute(v.minutes_from_dose)}, {when(v.t)}"


def _judged(j: Judgement) -> str:
    if j.acceptable is None:
        return MISSING
    return "yes" if j.acceptable else "no: " + "; ".join(j.held)


def _data(e: Entry, *keys: str) -> list[str]:
    return [MISSING if e.data.get(k) in (None, "") else str(e.data[k]) for k in keys]


def _entries(title: str, entries: list[Entry], columns: list[str], keys: list[str]) -> Table:
    return Table(title=title, columns=["time", "from dose", *columns, "recorded by"],
                 rows=[[when(e.t_device), minute(e.minutes_from_dose), *_data(e, *keys), e.by]
                       for e in entries])


def document(report: SessionReport, chart: Chart) -> Document:
    """The report laid out, with its trend ``chart`` (exported beforehand: app/report/exporter.py)."""
    r = report
    f = r.rems
    sig = r.signature
    draft = sig is None
    status = DRAFT if sig is None else (f"Signed, version {sig.version}, by {sig.by} at {when(sig.at)}"
                                        + (f" — amended: {sig.reason}" if sig.reason else ""))
    ci = r.check_in
    facts = [
        ("Label", f"{r.label or MISSING} ({r.label_source})"), ("Mode", r.mode), ("Room", r.room),
        ("Session", str(r.session_id)), ("Started (server clock)", when(r.started)),
        ("Ended (server clock)", when(r.ended) if r.ended is not None else "not ended"),
        ("Readings", f"{when(r.first_reading)} to {when(r.last_reading)}"),
        ("Dose time", f"{when(r.dose_t)} ({r.dose_source})"),
        ("Check-in", MISSING if ci is None else
         f"{ci.data['drug']} {ci.data['route']}, {ci.data['weight_kg']:g} kg, planned "
         f"{_num(ci.data.get('planned_dose_mg'), ' mg')}, by {ci.by}"),
        ("Baseline", MISSING if not r.baseline else
         ", ".join(f"{k} {_num(v)}" for k, v in r.baseline.items())),
        ("Rules", r.rules),
        ("Report built", when(r.generated)),
    ]
    rems = Table(title="REMS Patient Monitoring Form", columns=["field", "value", "source"], rows=[
        ["BP before the dose", _bp(f.pre_dose_bp), f.pre_dose_bp.source],
        ["BP at about 40 min", _bp(f.bp_40_min), f.bp_40_min.source],
        ["BP before the end", _bp(f.end_bp), f.end_bp.source],
        ["Vitals acceptable before dosing", _judged(f.pre_dose_acceptable), f.pre_dose_acceptable.source],
        ["Vitals acceptable at the end", _judged(f.end_acceptable), f.end_acceptable.source],
        ["Total minutes monitored", _num(f.total_minutes.value, " min"), f.total_minutes.source],
        ["Sedation, dissociation, breathing events",
         "; ".join(f"{minute(None if r.dose_t is None else round((e.t - r.dose_t) / 60, 1))} {e.text}"
                   for e in f.events) or "none recorded",
         "observations in the clinical record; alarms on SpO2, RR, EtCO2"],
    ])
    tables = [
        _entries("Doses", r.doses, ["drug", "route", "mg", "mg/kg", "lot", "device", "infused over (min)"],
                 ["drug", "route", "dose_mg", "mg_per_kg", "lot", "device", "infusion_min"]),
        _entries("Concomitant drugs", r.concomitants, ["class", "drug", "mg", "route"],
                 ["drug_class", "drug", "dose_mg", "route"]),
        _entries("Interventions", r.interventions, ["what", "drug", "mg", "O2 l/min", "detail"],
                 ["what", "drug", "dose_mg", "oxygen_l_min", "detail"]),
        _entries("Observations", r.observations, ["scale", "score", "note"], ["scale", "score", "note"]),
        _entries("Sign-offs", r.sign_offs, ["what", "reason", "rules"], ["what", "reason", "rules"]),
        Table(title="Blood pressure (cuff)", columns=["time", "from dose", "status", "SBP", "DBP", "MAP", "reason"],
              rows=[[when(c.t), minute(c.minutes_from_dose), c.status, _num(c.sys), _num(c.dia),
                     _num(c.map), c.reason] for c in r.nibp]),
        Table(title="Alarms", columns=["onset", "rule", "priority", "message", "ended", "acknowledged"],
              rows=[[when(a.onset), f"{a.rule} {a.title}", a.priority, a.message,
                     when(a.ended) if a.ended is not None else a.state,
                     f"{a.acknowledged_by} at {when(a.acknowledged_at)}" if a.acknowledged_by else "no"]
                    for a in r.alarms]),
        Table(title="Alarm deliveries", columns=sorted({k for row in r.deliveries.rows for k in row}) or ["—"],
              rows=[[str(row.get(k, "")) for k in sorted({k for d in r.deliveries.rows for k in d})]
                    for row in r.deliveries.rows],
              empty="none recorded" if r.deliveries.available
              else "not recorded: this installation keeps no per-recipient delivery log"),
        Table(title="Discharge criteria" + ("" if r.discharge.judged_at is None else
                                            f" at {when(r.discharge.judged_at)}: "
                                            + ("all met" if r.discharge.ready else "not all met")),
              columns=["criterion", "status", "why"],
              rows=[[c["criterion"], c["status"], c["why"]] for c in r.discharge.criteria],
              empty=f"not judged ({r.discharge.source})"),
        _entries("Discharge confirmations", r.discharge.confirmations, ["criterion", "met", "note"],
                 ["criterion", "met", "note"]).model_copy(update={"empty": f"none recorded ({r.discharge.source})"}),
        Table(title="Marks", columns=["time", "what", "text", "by"],
              rows=[[when(m["t"]), m["what"], m["text"], m["by"]] for m in r.marks]),
    ]
    return Document(title=f"Session report — {r.label or 'no label'} — session {r.session_id}",
                    watermark=r.watermark, status=status, draft=draft, facts=facts, rems=rems,
                    chart=chart, tables=tables)
