"""The report as a PDF, typeset by Typst (the ``typst`` wheel: self-contained, with its own
fonts, so no system package is needed and every machine prints the same pages)."""

from __future__ import annotations

from pathlib import Path

import typst

from app.report.layout import document
from app.report.model import SessionReport

TEMPLATE = Path(__file__).parent / "templates" / "report.typ"


def render(report: SessionReport) -> bytes:
    """The PDF bytes. The same report gives the same bytes (no creation date is written)."""
    doc = document(report)
    return bytes(typst.compile(str(TEMPLATE), sys_inputs={"doc": doc.model_dump_json()}))
