"""The report as a PDF, typeset by Typst (the ``typst`` wheel: self-contained, with its own
fonts, so no system package is needed and every machine prints the same pages)."""

from __future__ import annotations

from pathlib import Path

import typst

from app.report.chart import Chart
from app.report.layout import document
from app.report.model import SessionReport

TEMPLATE = Path(__file__).parent / "templates" / "report.typ"


def render(report: SessionReport, chart: Chart) -> bytes:
    """The PDF bytes, with ``chart`` embedded as SVG (vector: Typst draws its paths and text).
    The same report and chart give the same bytes (no creation date is written)."""
    doc = document(report, chart)
    return bytes(typst.compile(str(TEMPLATE), sys_inputs={"doc": doc.model_dump_json()}))
