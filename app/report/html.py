"""The report as an HTML page (Jinja2, autoescaped: every text of the record is escaped)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.report.chart import Chart
from app.report.layout import document
from app.report.model import SessionReport

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html", "j2"]))


def render(report: SessionReport, chart: Chart) -> str:
    return _env.get_template("report.html.j2").render(doc=document(report, chart))
