"""The rule workbench: ``vitalwatch evaluate FILES --rules A --rules B --report out.html``.

How a clinic decides on a rule change: the same recordings through each rule set, side by side
in one self-contained HTML file — what changes between the rule sets, alarms per hour by rule and
priority, time in alarm, sensitivity and non-actionable alarms against ground truth where the
recordings carry it (``evaluate.quality``), and every recording's trends with the alarms each
rule set raised on them. plotly.js is embedded from the installed plotly package (never a CDN: a
clinic network may be offline), so the file opens anywhere, alone.
"""

from __future__ import annotations

import html
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from alerts.rules import RuleSet
from alerts.system import Change
from offline.evaluate import SessionResult, evaluate_many, quality

MAX_POINTS = 20_000  # per trace: more than 5 h at 1 Hz; longer recordings are thinned evenly
PRIORITY_COLOUR = {"high": "#d62728", "medium": "#e6b800", "low": "#17a2c8"}
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3}
RULESET_COLOUR = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3"]
TRACE_COLOUR = {"HR": "#2ca02c", "SBP": "#444", "DBP": "#444", "MAP": "#888", "SpO2": "#1f77b4",
                "RR": "#9467bd", "EtCO2": "#8c564b"}


@dataclass
class Trends:
    """What a recording showed, for plotting: numerics, cuff readings, marks and truth."""

    series: dict[str, tuple[list[float], list[float | None]]] = field(
        default_factory=lambda: defaultdict(lambda: ([], [])))
    marks: list[dict[str, Any]] = field(default_factory=list)
    truth: list[dict[str, Any]] = field(default_factory=list)
    start: float | None = None

    def add(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        t: Any = rec.get("t")  # a number on every message the series take (the protocol checks it)
        if self.start is None and isinstance(t, (int, float)) and kind not in ("alarm", "truth"):
            self.start = t
        if kind == "numerics":
            for p, v in rec["values"].items():
                xs, ys = self.series[p]
                xs.append(t)
                ys.append((v or {}).get("value"))
        elif kind == "nibp" and rec.get("status") == "ok":
            for key, name in (("sys", "SBP"), ("dia", "DBP"), ("map", "MAP")):
                if rec.get(key) is not None:
                    xs, ys = self.series[name]
                    xs.append(t)
                    ys.append(rec[key])
        elif kind == "mark":
            self.marks.append(rec)
        elif kind == "truth":
            self.truth.append(rec)


def _label(rules: RuleSet, i: int) -> str:
    return f"{chr(65 + i) if i < 26 else i + 1}: {Path(rules.source).name or 'built-in rules'}"


def _thin(xs: list[float], ys: list[Any]) -> tuple[list[float], list[Any]]:
    if len(xs) <= MAX_POINTS:
        return xs, ys
    step = math.ceil(len(xs) / MAX_POINTS)
    return xs[::step], ys[::step]


def alarm_periods(result: SessionResult) -> list[tuple[float, float, Change, str]]:
    """``(start, end, raising change, highest priority reached)`` for every alarm raised."""
    open_: dict[str, tuple[Change, str]] = {}
    out = []
    for c in result.changes:
        if c.event == "raised" and c.rule not in open_:
            open_[c.rule] = (c, c.priority)
        elif c.rule in open_:
            first, top = open_[c.rule]
            if PRIORITY_RANK.get(c.priority, 0) > PRIORITY_RANK.get(top, 0):
                open_[c.rule] = (first, c.priority)
            if c.state == "cleared":
                first, top = open_.pop(c.rule)
                out.append((first.t, c.t, first, top))
    out += [(c.t, result.end, c, top) for c, top in open_.values()]
    return sorted(out, key=lambda x: x[0])


def rule_differences(rulesets: list[RuleSet]) -> list[tuple[str, str, list[str]]]:
    """``(rule, field, value in each rule set)`` wherever the rule sets differ."""
    dumps = [r.model_dump(mode="json", exclude={"source"}) for r in rulesets]
    out = []
    for rid in sorted({k for d in dumps for k in d["rules"]}):
        rules = [d["rules"].get(rid) for d in dumps]
        if all(r == rules[0] for r in rules):
            continue
        if any(r is None for r in rules):
            out.append((rid, "(rule)", ["present" if r else "absent" for r in rules]))
            continue
        for key in sorted({k for r in rules for k in r}):
            values = [r.get(key) for r in rules]
            if any(v != values[0] for v in values):
                out.append((rid, key, [_shown(v) for v in values]))
    for section in ("signals", "schedule", "baseline"):
        values = [d.get(section) for d in dumps]
        if any(v != values[0] for v in values):
            out.append(("—", section, [str(v) for v in values]))
    return out


def _shown(value: Any) -> str:
    """A rule field as its author wrote it: a condition by its text."""
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"]
    return "—" if value is None else str(value)


# Figures ---------------------------------------------------------------------------------------

def _div(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def rate_figure(labels: list[str], summaries: list[dict[str, Any]]) -> go.Figure:
    rules = sorted({r for s in summaries for r in s["alarms_per_hour_by_rule"]})
    fig = make_subplots(rows=1, cols=2, column_widths=[0.7, 0.3],
                        subplot_titles=("Alarms per hour, by rule", "Alarms per hour, by priority"))
    for i, (label, s) in enumerate(zip(labels, summaries)):
        colour = {"color": RULESET_COLOUR[i % len(RULESET_COLOUR)]}
        fig.add_bar(x=rules, y=[s["alarms_per_hour_by_rule"].get(r, 0) for r in rules], name=label,
                    legendgroup=label, marker=colour, row=1, col=1)
        fig.add_bar(x=["high", "medium", "low"], y=[s["alarms_per_hour"].get(p, 0) for p in ("high", "medium", "low")],
                    name=label, legendgroup=label, showlegend=False, marker=colour, row=1, col=2)
    fig.update_layout(barmode="group", height=380, margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return fig


def session_figure(trends: Trends, results: list[SessionResult], labels: list[str]) -> go.Figure:
    t0 = trends.start if trends.start is not None else (results[0].start if results else 0.0)

    def minutes(ts: list[float]) -> list[float]:
        return [round((t - t0) / 60, 4) for t in ts]

    lanes = len(results)
    n_rules = len({c.rule for r in results for c in r.changes if c.event == "raised"})
    lane_px = 30 + 13 * n_rules
    trend_px = 480
    heights = [0.5 * trend_px, 0.25 * trend_px, 0.25 * trend_px] + [lane_px] * lanes
    fig = make_subplots(rows=3 + lanes, cols=1, shared_xaxes=True, vertical_spacing=0.015,
                        row_heights=[h / sum(heights) for h in heights])
    for name, row, mode in (("HR", 1, "lines"), ("SBP", 1, "markers"), ("DBP", 1, "markers"),
                            ("MAP", 1, "markers"), ("SpO2", 2, "lines"), ("RR", 3, "lines"),
                            ("EtCO2", 3, "lines")):
        if name not in trends.series:
            continue
        times, ys = _thin(*trends.series[name])
        symbol = {"SBP": "triangle-down", "DBP": "triangle-up", "MAP": "circle"}.get(name, "circle")
        fig.add_scatter(x=minutes(times), y=ys, name=name, mode=mode, connectgaps=False, row=row, col=1,
                        line={"color": TRACE_COLOUR.get(name), "width": 1.5},
                        marker={"color": TRACE_COLOUR.get(name), "symbol": symbol, "size": 8})
    for k, e in enumerate(e for e in trends.truth if e.get("kind") == "event"):
        for row in (1, 2, 3):
            fig.add_vrect(x0=(e["start"] - t0) / 60, x1=(e["end"] - t0) / 60, fillcolor="#bbb",
                          opacity=0.25, line_width=0, row=row, col=1)
        fig.add_annotation(x=(e["start"] - t0) / 60, y=1, yref="y domain", text=html.escape(e["label"]),
                           showarrow=False, xanchor="left", yanchor="top", yshift=-13 * (k % 3),
                           font={"size": 10, "color": "#555"}, row=1, col=1)
    for m in trends.marks:
        fig.add_vline(x=(m["t"] - t0) / 60, line={"dash": "dot", "color": "#555", "width": 1})
        fig.add_annotation(x=(m["t"] - t0) / 60, y=0.02, yref="y domain", text=html.escape(m.get("what", "")),
                           showarrow=False, xanchor="left", textangle=-90, font={"size": 9}, row=1, col=1)
    periods = [alarm_periods(r) for r in results]
    # One row per rule in every rule set's lane, the same rows in each, so they line up.
    rules = sorted({c.rule for ps in periods for _, _, c, _ in ps}, reverse=True)
    for i, (label, _result) in enumerate(zip(labels, results)):
        row = 4 + i
        by_priority: dict[str, tuple[list, list, list]] = defaultdict(lambda: ([], [], []))
        for start, end, change, top in periods[i]:
            xs, ys, text = by_priority[top]
            tip = f"{change.rule} {top}: {html.escape(change.message)} ({(end - start) / 60:.1f} min)"
            xs += [(start - t0) / 60, (max(end, start + 1) - t0) / 60, None]
            ys += [change.rule, change.rule, None]
            text += [tip, tip, None]
        for priority, (xs, ys, text) in sorted(by_priority.items(), key=lambda kv: PRIORITY_RANK[kv[0]]):
            fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": PRIORITY_COLOUR[priority], "width": 9},
                            name=f"{priority} alarms", showlegend=False, hovertext=text, hoverinfo="text",
                            row=row, col=1)
        fig.update_yaxes(type="category", categoryorder="array", categoryarray=rules,
                         range=[-0.6, max(len(rules), 1) - 0.4], tickfont={"size": 9},
                         title={"text": f"alarms {label.split(':')[0]}", "font": {"size": 11}}, row=row, col=1)
    fig.update_yaxes(title_text="HR · BP", row=1, col=1)
    fig.update_yaxes(title_text="SpO₂ %", row=2, col=1)
    fig.update_yaxes(title_text="RR · EtCO₂", row=3, col=1)
    fig.update_xaxes(title_text="minutes from the start of the recording", row=3 + lanes, col=1)
    fig.update_layout(height=int(sum(heights) * 1.08) + 60, margin={"l": 60, "r": 20, "t": 20, "b": 40},
                      hovermode="closest", legend={"orientation": "h", "y": 1.04})
    return fig


# The page --------------------------------------------------------------------------------------

STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; }
.note { color: #555; font-size: 13px; }
.diff td { text-align: left; font-family: monospace; }
"""


def _table(head: list[str], rows: list[list[Any]], cls: str = "") -> str:
    h = "".join(f"<th>{html.escape(str(x))}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def summary_rows(summaries: list[dict[str, Any]]) -> list[list[Any]]:
    def get(s: dict, *keys: str) -> Any:
        for k in keys:
            s = s.get(k, {}) if isinstance(s, dict) else {}
        return s if s != {} else "—"

    hours = summaries[0]["hours"] or 1e-9
    rows: list[list[Any]] = [
        ["alarms per hour (all)"] + [round(sum(s["alarms_per_hour"].values()), 2) for s in summaries],
    ]
    for p in ("high", "medium", "low"):
        rows.append([f"  {p}"] + [s["alarms_per_hour"].get(p, 0) for s in summaries])
    rows.append(["time in alarm (min)"] + [round(s["time_in_alarm_s"] / 60, 1) for s in summaries])
    rows.append(["time in alarm (% of recorded time)"]
                + [round(100 * s["time_in_alarm_s"] / (hours * 3600), 1) for s in summaries])
    if any("sensitivity" in s for s in summaries):
        rows.append(["non-actionable medium/high per hour"]
                    + [s.get("non_actionable_medium_high_per_hour", "—") for s in summaries])
        labels = sorted({k for s in summaries for k in s.get("sensitivity", {})})
        for k in labels:
            rows.append([f"sensitivity: {k} ({get(summaries[0], 'events', k)} events)"]
                        + [get(s, "sensitivity", k) for s in summaries])
        for k in labels:
            rows.append([f"median detection delay (s): {k}"]
                        + [get(s, "median_detection_delay_s", k) for s in summaries])
    return rows


def render(paths: list[str], rulesets: list[RuleSet],
           sessions: list[tuple[str, Trends, list[SessionResult]]]) -> str:
    labels = [_label(r, i) for i, r in enumerate(rulesets)]
    summaries = [quality([s[2][i] for s in sessions], rules) for i, rules in enumerate(rulesets)]
    diffs = rule_differences(rulesets)
    truth = any("sensitivity" in s for s in summaries)
    parts = [
        "<h1>Rule workbench</h1>",
        (f'<p class="note">{len(paths)} recording(s), {summaries[0]["hours"]:.2f} h in all; generated '
         f"{html.escape(time.strftime('%Y-%m-%d %H:%M'))} by <code>vitalwatch evaluate</code>. The alarms are "
         "those the live server would raise (feed supervision, T4, needs a live server's clock and is not "
         "evaluated). Not a certified medical device: the figures inform a clinic's decision, they do not "
         "make it.</p>"),
        "<h2>Rule sets</h2>", _table(["", "file"], [[lab.split(":")[0], r.source or "built-in"] for lab, r in zip(labels, rulesets)]),
    ]
    if len(rulesets) > 1:
        parts.append("<h3>What differs</h3>")
        parts.append(_table(["rule", "field"] + [lab.split(":")[0] for lab in labels],
                            [[r, f, *v] for r, f, v in diffs], "diff") if diffs else "<p>The rule sets are identical.</p>")
    parts += ["<h2>Side by side</h2>", _table([""] + labels, summary_rows(summaries))]
    if not truth:
        parts.append('<p class="note">No recording carries ground truth (simulated recordings do), so '
                     "sensitivity and non-actionable alarms cannot be measured here.</p>")
    parts.append(_div(rate_figure(labels, summaries)))
    per_session = [[Path(p).name, f"{res[0].hours * 60:.0f}"]
                   + [sum(c.event == "raised" for c in r.changes) for r in res] for p, _, res in sessions]
    parts += ["<h2>Alarms raised per recording</h2>", _table(["recording", "minutes"] + labels, per_session)]
    for path, trends, results in sessions:
        parts.append(f"<h2>{html.escape(Path(path).name)}</h2>")
        parts.append('<p class="note">Trends as recorded; grey bands: true events (ground truth); dotted lines: '
                     "marks; one lane of alarm periods per rule set below, coloured by the highest priority "
                     "reached (hover for the rule and message).</p>")
        parts.append(_div(session_figure(trends, results, labels)))
    body = "\n".join(parts)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>vitalwatch rule workbench</title>'
            f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>{body}</body></html>")


def evaluate_for_report(path: str, rulesets: list[RuleSet],
                        progress: Callable[[int], None] | None = None) -> tuple[str, Trends, list[SessionResult]]:
    """One recording against every rule set, with the trends the report draws."""
    trends = Trends()
    return path, trends, evaluate_many(path, rulesets, observe=trends.add, progress=progress)


def write_report(paths: list[str], rulesets: list[RuleSet], out: str | Path,
                 sessions: list[tuple[str, Trends, list[SessionResult]]] | None = None) -> None:
    """Write the HTML report of every recording against every rule set to ``out`` (evaluating
    them, unless ``sessions`` has them already). Raises RecordingError for a file that is not a
    recording, OSError if ``out`` cannot be written."""
    if sessions is None:
        sessions = [evaluate_for_report(path, rulesets) for path in paths]
    Path(out).write_text(render(paths, rulesets, sessions), encoding="utf-8")
