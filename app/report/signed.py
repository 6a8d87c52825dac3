"""Signed reports: each version's PDF bytes and report JSON with their SHA-256, append-only.

Version 1 is the signing; an amendment (with its reason) is version n+1, and the versions before
it stay as they were: SQLite triggers refuse every UPDATE and DELETE of the table, as for the
audit trail, so not even a bug in this program can rewrite a signed report.
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, version INTEGER NOT NULL,
    signed_by TEXT NOT NULL, signed_at REAL NOT NULL, reason TEXT NOT NULL DEFAULT '',
    pdf BLOB NOT NULL, pdf_sha256 TEXT NOT NULL, model TEXT NOT NULL, model_sha256 TEXT NOT NULL,
    UNIQUE (session_id, version));
CREATE TRIGGER IF NOT EXISTS reports_no_update BEFORE UPDATE ON reports
    BEGIN SELECT RAISE(ABORT, 'a signed report is immutable'); END;
CREATE TRIGGER IF NOT EXISTS reports_no_delete BEFORE DELETE ON reports
    BEGIN SELECT RAISE(ABORT, 'a signed report is immutable'); END;
"""

# What a version listing shows: everything but the bytes themselves.
LISTED = "session_id, version, signed_by, signed_at, reason, pdf_sha256, model_sha256"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Reports:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_tables(SCHEMA)

    def latest_version(self, session_id: int) -> int:
        row = self.db.execute("SELECT MAX(version) AS v FROM reports WHERE session_id=?",
                              (session_id,)).fetchone()
        return int(row["v"] or 0)

    def add(self, session_id: int, version: int, by: str, at: float, reason: str, pdf: bytes,
            model_json: str) -> dict[str, Any]:
        """Store one version. Raises IntegrityError if that version exists already (two
        signings at once: the second is refused, never a silent overwrite)."""
        self.db.execute(
            "INSERT INTO reports(session_id, version, signed_by, signed_at, reason, pdf, pdf_sha256,"
            " model, model_sha256) VALUES (?,?,?,?,?,?,?,?,?)",
            (session_id, version, by, at, reason, pdf, sha256(pdf), model_json,
             sha256(model_json.encode())))
        return self.version(session_id, version)  # type: ignore[return-value]

    def version(self, session_id: int, version: int) -> dict[str, Any] | None:
        return self.db.execute(f"SELECT {LISTED} FROM reports WHERE session_id=? AND version=?",
                               (session_id, version)).fetchone()

    def versions(self, session_id: int) -> list[dict[str, Any]]:
        return self.db.execute(f"SELECT {LISTED} FROM reports WHERE session_id=? ORDER BY version",
                               (session_id,)).fetchall()

    def content(self, session_id: int, version: int | None = None) -> dict[str, Any] | None:
        """A version's PDF and model JSON (the latest when ``version`` is None)."""
        v = self.latest_version(session_id) if version is None else version
        return self.db.execute("SELECT version, pdf, model, pdf_sha256, model_sha256 FROM reports"
                               " WHERE session_id=? AND version=?", (session_id, v)).fetchone()
