"""The session's clinical record: what a clinic must document of a ketamine session beyond the
readings and alarms — check-in, sign-offs, doses, concomitant drugs, interventions, observations
on standard scales, discharge confirmations (clinical basis section 1; the esketamine REMS
Patient Monitoring Form).

Each entry is one of the typed models below, stored append-only in ``record_entries`` (like the
audit trail: a trigger refuses updates and deletes), so the report built from it shows what was
recorded and when. A correction is a new entry that names the one it replaces (``replaces``);
the record as it stands (``Record.current``) leaves out what was replaced, the full history keeps
both. Device time (``t_device``) is when it happened on the session's clock, the clock readings and
alarms are judged on; ``t_server`` is when it was recorded.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.storage import Database
from monitors.protocol import T_MAX, T_MIN

Route = Literal["iv", "im", "sublingual", "intranasal", "oral"]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    t_device: float = Field(ge=T_MIN, le=T_MAX,
                            description="when it happened, on the session's (device) clock")
    replaces: int | None = Field(default=None, ge=1, description="the entry this one corrects")


class CheckIn(_Entry):
    kind: Literal["check_in"] = "check_in"
    label: str = Field(min_length=1, max_length=64, description="the clinic's pseudonymous label")
    weight_kg: float = Field(gt=0, le=400)
    drug: Literal["ketamine", "esketamine"]
    route: Route
    planned_dose_mg: float | None = Field(default=None, gt=0)


class SignOff(_Entry):
    """A prescriber's or clinician's signed decision: the pre-dose gate (G1/G2 active), ending a
    session with discharge criteria unmet, signing the report."""

    kind: Literal["sign_off"] = "sign_off"
    what: Literal["pre_dose_bp", "discharge_unmet", "report"]
    reason: str = Field(min_length=1, max_length=2000)
    rules: list[str] = Field(default_factory=list, description="the gate rules active when signed")


class Dose(_Entry):
    kind: Literal["dose"] = "dose"
    drug: Literal["ketamine", "esketamine"]
    route: Route
    dose_mg: float = Field(gt=0, le=1000)
    mg_per_kg: float | None = Field(default=None, gt=0, description="from the check-in weight")
    lot: str = Field(default="", max_length=64)
    device: int | None = Field(default=None, ge=1, le=3, description="esketamine nasal device 1-3")
    infusion_min: float | None = Field(default=None, gt=0, description="IV: infused over")


class Concomitant(_Entry):
    """A drug the alarm system may weigh (benzodiazepines and opioids raise the breathing risk)."""

    kind: Literal["concomitant"] = "concomitant"
    drug_class: Literal["benzodiazepine", "opioid", "other"]
    drug: str = Field(min_length=1, max_length=64)
    dose_mg: float | None = Field(default=None, gt=0)
    route: Route | None = None


class Intervention(_Entry):
    kind: Literal["intervention"] = "intervention"
    what: Literal["antihypertensive", "oxygen", "antiemetic", "airway", "other"]
    detail: str = Field(default="", max_length=500)
    drug: str = Field(default="", max_length=64)
    dose_mg: float | None = Field(default=None, gt=0)
    oxygen_l_min: float | None = Field(default=None, gt=0, le=15)


class Observation(_Entry):
    """A score on one of the scales in the rules file's documentation section (docs/scales.md)."""

    kind: Literal["observation"] = "observation"
    scale: str = Field(min_length=1, max_length=32)
    score: float
    note: str = Field(default="", max_length=500)


class Confirmation(_Entry):
    """A discharge criterion a person confirms (alert and oriented; nausea minimal)."""

    kind: Literal["confirmation"] = "confirmation"
    criterion: str = Field(min_length=1, max_length=32)
    met: bool
    note: str = Field(default="", max_length=500)


Entry = Annotated[CheckIn | SignOff | Dose | Concomitant | Intervention | Observation | Confirmation,
                  Field(discriminator="kind")]
entry_adapter: TypeAdapter[Entry] = TypeAdapter(Entry)

SCHEMA = """
CREATE TABLE IF NOT EXISTS record_entries (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, kind TEXT NOT NULL,
    t_device REAL NOT NULL, t_server REAL NOT NULL, by TEXT NOT NULL, data TEXT NOT NULL,
    replaces INTEGER REFERENCES record_entries(id));
CREATE INDEX IF NOT EXISTS record_entries_session ON record_entries(session_id, id);
CREATE TRIGGER IF NOT EXISTS record_entries_no_update BEFORE UPDATE ON record_entries
    BEGIN SELECT RAISE(ABORT, 'the clinical record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS record_entries_no_delete BEFORE DELETE ON record_entries
    BEGIN SELECT RAISE(ABORT, 'the clinical record is append-only'); END;
"""


class Stored(BaseModel):
    """An entry as stored: who recorded it, when, and its id."""

    id: int
    session_id: int
    t_server: float
    by: str
    entry: Entry


class Record:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_tables(SCHEMA)

    def add(self, session_id: int, entry: Entry, by: str, now: float) -> Stored:
        if entry.replaces is not None:
            old = self.db.execute("SELECT session_id FROM record_entries WHERE id=?",
                                  (entry.replaces,)).fetchone()
            if old is None or old["session_id"] != session_id:
                raise ValueError(f"replaces: no entry {entry.replaces} in session {session_id}")
        entry_id = self.db.execute(
            "INSERT INTO record_entries(session_id, kind, t_device, t_server, by, data, replaces)"
            " VALUES (?,?,?,?,?,?,?)",
            (session_id, entry.kind, entry.t_device, now, by, entry.model_dump_json(),
             entry.replaces)).lastrowid
        return Stored(id=int(entry_id), session_id=session_id, t_server=now, by=by,  # type: ignore[arg-type]
                      entry=entry)

    def history(self, session_id: int, kind: str | None = None) -> list[Stored]:
        """Every entry, corrections and what they replaced alike, in the order recorded."""
        q, args = "SELECT * FROM record_entries WHERE session_id=?", [session_id]
        if kind is not None:
            q += " AND kind=?"
            args.append(kind)  # type: ignore[arg-type]
        return [Stored(id=r["id"], session_id=r["session_id"], t_server=r["t_server"], by=r["by"],
                       entry=entry_adapter.validate_json(r["data"]))
                for r in self.db.execute(q + " ORDER BY id", args)]

    def current(self, session_id: int, kind: str | None = None) -> list[Stored]:
        """The record as it stands: every entry no later entry replaces."""
        entries = self.history(session_id)
        replaced = {s.entry.replaces for s in entries if s.entry.replaces is not None}
        return [s for s in entries if s.id not in replaced and (kind is None or s.entry.kind == kind)]


def to_json(stored: Stored) -> dict[str, Any]:
    return json.loads(stored.model_dump_json())
