"""The audit trail: who did what, when, and what it changed — append-only.

SQLite triggers refuse every UPDATE and DELETE on the table, so not even a bug in this program can
rewrite history; only someone with the file itself can.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from app.storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, t REAL NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '', old TEXT, new TEXT, source TEXT NOT NULL DEFAULT '');
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""

FIELDS = ("id", "t", "user", "action", "target", "old", "new", "source")
# A cell starting with one of these is a formula to a spreadsheet. The name of a failed login is
# whatever an anonymous visitor typed, so the export must never hand one over as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class Audit:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_tables(SCHEMA)

    def record(self, t: float, user: str, action: str, target: str = "", old: Any = None,
               new: Any = None, source: str = "") -> None:
        """Append one entry. ``old``/``new`` are JSON-encoded; never pass secrets."""
        self.db.execute(
            "INSERT INTO audit(t, user, action, target, old, new, source) VALUES (?,?,?,?,?,?,?)",
            (t, user, action, target, None if old is None else json.dumps(old),
             None if new is None else json.dumps(new), source),
        )

    def entries(self, since: float | None = None, action: str | None = None,
                limit: int = 1000) -> list[dict]:
        q = "SELECT * FROM audit WHERE t >= ?"
        args: list[float | str] = [since or 0.0]
        if action:
            q += " AND action = ?"
            args.append(action)
        return self.db.execute(q + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()

    def csv(self) -> str:
        """The whole trail as CSV, oldest first; text that a spreadsheet would run as a formula
        is prefixed with an apostrophe."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        for row in self.db.execute("SELECT * FROM audit ORDER BY id"):
            writer.writerow([_cell(row[f]) for f in FIELDS])
        return out.getvalue()
