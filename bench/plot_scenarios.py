"""Draw each scenario's 90-minute trends to docs/img/sim-<scenario>.png.

    .venv/bin/python bench/plot_scenarios.py [--seed 0] [--out docs/img] [--html]

The plots are drawn from the records alone, as a dashboard would see them: numerics once a
second, cuff readings as bars from diastolic to systolic, ground truth shaded (events red,
artifacts grey), clinical marks as dashed lines. PNG export goes through kaleido with the
system chromium (BROWSER_PATH, /usr/bin/chromium by default), so no browser is downloaded;
``--html`` writes interactive HTML files instead, for a machine without chromium.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from monitors.simulator import SCENARIOS, generate

ROOT = Path(__file__).resolve().parent.parent

TITLES = {
    "typical-responder": "typical responder: +12/+8, HR +4 peaking at 38 min",
    "hypertensive-surge": "hypertensive surge: BL 146/92, +45/+25, treated at 36 min",
    "vasovagal": "vasovagal at cannulation: HR 80 → 42, SBP → 78",
    "airway-obstruction": "airway obstruction at 32 min: capnogram lost, SpO2 97 → 84, jaw thrust",
    "sensor-disconnect": "sensor disconnect: SpO2 probe off at 25 min for 4 min",
    "vomiting-movement": "vomiting / movement: real HR and SBP +15, false SpO2 and RR, failed NIBP",
    "random": "a patient, response and artifacts drawn from the §4 distributions",
}


def figure(scenario: str, seed: int) -> go.Figure:
    header, records = generate(scenario, seed, minutes=90, start=0.0)
    dose = header.meta["dose_time"]

    def minute(t: float) -> float:
        return (t - dose) / 60

    num: dict[str, tuple[list, list]] = {p: ([], []) for p in ("HR", "PR", "SpO2", "RR", "EtCO2")}
    ok, failed, truth, marks = [], [], [], []
    for r in records:
        kind = r["type"]
        if kind == "numerics":
            for p, (xs, ys) in num.items():
                xs.append(minute(r["t"]))
                ys.append(r["values"][p]["value"])
        elif kind == "nibp":
            (ok if r["status"] == "ok" else failed).append(r)
        elif kind == "truth":
            truth.append(r)
        elif kind == "mark":
            marks.append(r)

    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[0.3, 0.26, 0.2, 0.24])
    def trend(param: str, name: str, color: str, row: int, dash: str = "solid") -> None:
        xs, ys = num[param]
        fig.add_trace(go.Scatter(x=xs, y=ys, name=name, line={"color": color, "width": 1, "dash": dash}), row, 1)

    trend("HR", "HR (ECG)", "#1a9850", 1)
    trend("PR", "PR (oximeter)", "#66bd63", 1, dash="dot")
    xs = [minute(r["t"]) for r in ok]
    # A bar from diastolic to systolic, as a cuff reading is drawn on a paper chart.
    bars = {"type": "data", "symmetric": False, "array": [0] * len(ok),
                "arrayminus": [r["sys"] - r["dia"] for r in ok], "color": "#d73027", "width": 0, "thickness": 2}
    fig.add_trace(go.Scatter(x=xs, y=[r["sys"] for r in ok], mode="markers", name="NIBP sys/dia",
                             error_y=bars,
                             marker={"color": "#d73027", "size": 7, "symbol": "triangle-down"}), 2, 1)
    fig.add_trace(go.Scatter(x=xs, y=[r["dia"] for r in ok], mode="markers", showlegend=False,
                             marker={"color": "#d73027", "size": 7, "symbol": "triangle-up"}), 2, 1)
    fig.add_trace(go.Scatter(x=xs, y=[r["map"] for r in ok], mode="markers", name="NIBP MAP",
                             marker={"color": "#f46d43", "size": 5}), 2, 1)
    if failed:
        fig.add_trace(go.Scatter(x=[minute(r["t"]) for r in failed], y=[60] * len(failed), mode="markers",
                                 name="NIBP failed", marker={"color": "black", "size": 9, "symbol": "x"}), 2, 1)
    trend("SpO2", "SpO2", "#4575b4", 3)
    trend("RR", "RR", "#984ea3", 4)
    trend("EtCO2", "EtCO2", "#ff7f00", 4)

    # Ground truth: one shaded band per interval; its label once, on the top panel.
    # Labels are stacked so that overlapping intervals stay readable.
    for i, r in enumerate(sorted(truth, key=lambda r: r["start"])):
        color = "#d73027" if r["kind"] == "event" else "#777777"
        x0, x1 = minute(r["start"]), max(minute(r["end"]), minute(r["start"]) + 0.15)
        fig.add_vrect(x0=x0, x1=x1, fillcolor=color, opacity=0.15, line_width=0, row="all", col=1)
        fig.add_annotation(x=x0, y=1.0 - 0.1 * (i % 5), yref="y domain", xref="x", text=r["label"],
                           showarrow=False, xanchor="left", yanchor="top", bgcolor="rgba(255,255,255,0.7)",
                           font={"size": 11, "color": color}, row=1, col=1)
    for r in marks:
        fig.add_vline(x=minute(r["t"]), line={"color": "#333", "width": 1, "dash": "dash"}, row="all", col=1)
        fig.add_annotation(x=minute(r["t"]), y=1.0, yref="y4 domain", xref="x4", text=r["text"],
                           showarrow=False, xanchor="left", yanchor="top", font={"size": 9, "color": "#333"},
                           textangle=-90, row=4, col=1)

    fig.update_yaxes(title_text="/min", range=[30, 140], row=1, col=1)
    fig.update_yaxes(title_text="mmHg", range=[40, 210], row=2, col=1)
    fig.update_yaxes(title_text="SpO2 %", range=[74, 101], row=3, col=1)
    fig.update_yaxes(title_text="RR /min, EtCO2 mmHg", range=[-2, 62], row=4, col=1)
    fig.update_xaxes(title_text="minutes from dose", row=4, col=1)
    meta = header.meta
    fig.update_layout(
        title=f"{scenario} (seed {seed}, {meta['route']}): {TITLES[scenario]}",
        width=1400, height=1000, template="plotly_white", margin={"l": 70, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "right", "x": 1},
    )
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--html", action="store_true", help="write HTML instead of PNG")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    # kaleido drives a browser; point it at the system one rather than letting it fetch one.
    os.environ.setdefault("BROWSER_PATH", "/usr/bin/chromium")
    for scenario in SCENARIOS:
        fig = figure(scenario, args.seed)
        if args.html:
            path = args.out / f"sim-{scenario}.html"
            fig.write_html(path, include_plotlyjs=True)
        else:
            path = args.out / f"sim-{scenario}.png"
            fig.write_image(path, scale=1)
        print(path)


if __name__ == "__main__":
    main()
