"""The report's trend chart as SVG, drawn directly: cuff pressures above, heart rate, SpO2 and
respiratory rate below, on minutes from the dose.

Drawn here rather than exported from plotly: plotly's SVG export needs kaleido driving a
browser — 2.6-3.0 s for one small chart with Debian's chromium, each time, against well under a
millisecond here — and a browser on every machine that prints a report. Vector output either
way, so the PDF stays sharp at any zoom.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from app.report.model import SessionReport

WIDTH, PANEL, GAP, LEFT, RIGHT, TOP = 720.0, 150.0, 28.0, 44.0, 12.0, 14.0
COLOURS = {"SBP": "#b3261e", "DBP": "#e8833a", "HR": "#1b6e20", "SpO2": "#1f4fa8", "RR": "#7b3fa0"}


def _scale(lo: float, hi: float, a: float, b: float):
    span = hi - lo or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _line(points: Sequence[tuple[float, float]], colour: str, x, y) -> str:
    if not points:
        return ""
    path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    return f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.4"/>'


def _dots(points: Sequence[tuple[float, float]], colour: str, x, y) -> str:
    return "".join(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.2" fill="{colour}"/>' for t, v in points)


def _axis(y0: float, lo: float, hi: float, y, label: str) -> str:
    out = [f'<rect x="{LEFT}" y="{y0}" width="{WIDTH - LEFT - RIGHT}" height="{PANEL}" fill="none" stroke="#999" stroke-width="0.6"/>',
           f'<text x="4" y="{y0 + 10}" font-size="9">{escape(label)}</text>']
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        out.append(f'<text x="{LEFT - 4}" y="{y(v) + 3:.1f}" font-size="8" text-anchor="end">{v:.0f}</text>')
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd" stroke-width="0.4"/>')
    return "".join(out)


def svg(report: SessionReport) -> str:
    """The chart; a note instead of lines when the session has no readings."""
    height = TOP + 2 * PANEL + GAP + 34
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH:.0f} {height:.0f}" font-family="sans-serif">')
    if report.first_reading is None or report.last_reading is None:
        return head + '<text x="10" y="30" font-size="12">no readings stored</text></svg>'
    zero = report.dose_t if report.dose_t is not None else report.first_reading
    t0, t1 = (report.first_reading - zero) / 60, (report.last_reading - zero) / 60
    x = _scale(t0, t1 if t1 > t0 else t0 + 1, LEFT, WIDTH - RIGHT)

    def minutes(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [((t - zero) / 60, v) for t, v in points]

    cuff = [r for r in report.nibp if r.status == "ok"]
    sys_pts = minutes([(r.t, r.sys) for r in cuff if r.sys is not None])
    dia_pts = minutes([(r.t, r.dia) for r in cuff if r.dia is not None])
    bp_values = [v for _, v in sys_pts + dia_pts] or [60.0, 160.0]
    bp_lo, bp_hi = min(40.0, min(bp_values)), max(200.0, max(bp_values))
    y_bp = _scale(bp_lo, bp_hi, TOP + PANEL, TOP)
    y2 = TOP + PANEL + GAP
    y_vs = _scale(0, 160, y2 + PANEL, y2)
    parts = [head, _axis(TOP, bp_lo, bp_hi, y_bp, "mmHg"), _axis(y2, 0, 160, y_vs, "/min, %")]
    for name, pts in (("SBP", sys_pts), ("DBP", dia_pts)):
        parts += [_line(pts, COLOURS[name], x, y_bp), _dots(pts, COLOURS[name], x, y_bp)]
    for name in ("HR", "SpO2", "RR"):
        parts.append(_line(minutes(report.trend.get(name, [])), COLOURS[name], x, y_vs))
    if report.dose_t is not None and t0 <= 0 <= t1:
        parts.append(f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{TOP}" y2="{y2 + PANEL}" stroke="#000" '
                     'stroke-dasharray="3,2" stroke-width="0.8"/>')
        parts.append(f'<text x="{x(0) + 3:.1f}" y="{TOP + 9}" font-size="8">dose</text>')
    step = 15 if t1 - t0 > 60 else 5
    m = step * (int(t0 // step))
    while m <= t1:
        if m >= t0:
            parts.append(f'<text x="{x(m):.1f}" y="{y2 + PANEL + 11}" font-size="8" text-anchor="middle">{m:g}</text>')
        m += step
    legend_x = LEFT
    for name, colour in COLOURS.items():
        parts.append(f'<rect x="{legend_x}" y="{height - 9}" width="8" height="3" fill="{colour}"/>'
                     f'<text x="{legend_x + 11}" y="{height - 5}" font-size="8">{name}</text>')
        legend_x += 52
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{height - 5}" font-size="8" text-anchor="end">'
                 f'minutes from {"the dose" if report.dose_t is not None else "the first reading"}</text>')
    parts.append("</svg>")
    return "".join(parts)
