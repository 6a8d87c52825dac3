"""The report's trend chart as a plotly figure: cuff pressures (SBP, DBP, MAP) above, heart
rate, SpO2 and respiratory rate below, on minutes from the dose, with each alarm's span shaded.

A plain figure dict, built from the report alone (no browser, no clock): app/report/exporter.py
turns it into SVG. The same report gives the same figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from app.report.model import SessionReport

WIDTH, HEIGHT = 720, 430
# The PDF embeds the SVG and draws its text with Typst's own fonts; this one is among them, so
# the page and the PDF show the same letters.
FONT = "Libertinus Serif"
COLOURS = {"SBP": "#b3261e", "DBP": "#e8833a", "MAP": "#6d4c41", "HR": "#1b6e20", "SpO2": "#1f4fa8",
           "RR": "#7b3fa0"}
# Alarm spans, shaded behind the lower panel by priority (technical alarms in grey).
SHADES = {"high": "#d32f2f", "medium": "#f9a825", "low": "#4fc3f7"}
VITALS = ("HR", "SpO2", "RR")


class Chart(BaseModel):
    """What the report shows as its trend: the chart's SVG, or a note in a box saying why not."""

    svg: str = ""
    note: str = ""
    unavailable: bool = False  # the chart should be there and is not (the export failed)


def _minutes(points: Sequence[tuple[float, float]], zero: float) -> tuple[list[float], list[float]]:
    return [round((t - zero) / 60, 2) for t, _ in points], [v for _, v in points]


def figure(report: SessionReport) -> dict[str, Any] | None:
    """The figure, or None when the session has no readings (nothing to plot)."""
    if report.first_reading is None or report.last_reading is None:
        return None
    zero = report.dose_t if report.dose_t is not None else report.first_reading
    t0, t1 = (report.first_reading - zero) / 60, (report.last_reading - zero) / 60
    cuff = [r for r in report.nibp if r.status == "ok"]
    traces: list[dict[str, Any]] = []
    for name, field in (("SBP", "sys"), ("DBP", "dia"), ("MAP", "map")):
        points = [(r.t, getattr(r, field)) for r in cuff if getattr(r, field) is not None]
        x, y = _minutes(points, zero)
        traces.append({"type": "scatter", "mode": "lines+markers", "name": name, "x": x, "y": y,
                       "xaxis": "x", "yaxis": "y", "line": {"color": COLOURS[name], "width": 1.4},
                       "marker": {"size": 5, "color": COLOURS[name]}})
    for name in VITALS:
        x, y = _minutes(report.trend.get(name, []), zero)
        traces.append({"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y,
                       "xaxis": "x2", "yaxis": "y2",
                       # Every minute's value a vertex of the line: plotly would drop the ones on a
                       # straight run, and the SVG would no longer carry each value plotted.
                       "line": {"color": COLOURS[name], "width": 1.4, "simplify": False}})
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for a in report.alarms:
        end = report.last_reading if a.ended is None else a.ended
        start_min, end_min = (a.onset - zero) / 60, (max(end, a.onset) - zero) / 60
        shapes.append({"type": "rect", "xref": "x2", "yref": "y2 domain", "x0": start_min,
                       "x1": max(end_min, start_min + 0.5), "y0": 0, "y1": 1, "layer": "below",
                       "line": {"width": 0}, "opacity": 0.18,
                       "fillcolor": SHADES.get(a.priority, "#9e9e9e")})
    if report.dose_t is not None and t0 <= 0 <= t1:
        shapes.append({"type": "line", "xref": "x2", "yref": "paper", "x0": 0, "x1": 0, "y0": 0, "y1": 1,
                       "line": {"color": "#000", "width": 0.8, "dash": "dash"}})
        notes.append({"text": "dose", "xref": "x2", "yref": "paper", "x": 0, "y": 1, "xanchor": "left",
                      "yanchor": "top", "showarrow": False, "font": {"size": 9}})
    span = [t0, t1 if t1 > t0 else t0 + 1]
    axis = {"showline": True, "linecolor": "#999", "mirror": True, "gridcolor": "#ddd", "zeroline": False,
            "ticks": "outside", "tickcolor": "#999"}
    bp_values = [v for t in traces[:3] for v in t["y"]]
    return {
        "data": traces,
        "layout": {
            "width": WIDTH, "height": HEIGHT, "font": {"family": FONT, "size": 10, "color": "#111"},
            "margin": {"l": 48, "r": 12, "t": 12, "b": 48}, "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",  # transparent: a DEMO watermark shows through
            "showlegend": True,
            "legend": {"orientation": "h", "x": 0, "y": -0.12, "xanchor": "left", "yanchor": "top"},
            "xaxis": {**axis, "domain": [0, 1], "anchor": "y", "matches": "x2", "showticklabels": False,
                      "range": span},
            "yaxis": {**axis, "domain": [0.54, 1], "title": {"text": "mmHg"},
                      "range": [min([40.0, *bp_values]), max([200.0, *bp_values])]},
            "xaxis2": {**axis, "domain": [0, 1], "anchor": "y2", "range": span,
                       "title": {"text": "minutes from " + ("the dose" if report.dose_t is not None
                                                            else "the first reading"),
                                 "standoff": 4}},
            "yaxis2": {**axis, "domain": [0, 0.46], "title": {"text": "/min, %"}, "range": [0, 160]},
            "shapes": shapes, "annotations": notes,
        },
    }
