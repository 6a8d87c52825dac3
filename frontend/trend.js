// The room view's trend chart (Plotly): HR with the cuff readings, SpO2, RR and EtCO2 over the
// session, with the alarm periods shaded in a strip above, the alarm limits as lines, the event
// marks (dose, notes, treatments) as vertical lines, and the DEMO/TEST/REPLAY watermark.
//
// Points are kept here per trace in time order, so readings that arrive out of order (the
// backfill after a reconnect, a monitor resending what it held while the server was down) are
// merged into place by time, and a reading seen twice is kept once. New points at the end are
// appended with Plotly.extendTraces in batches (every UPDATE_MS); anything else redraws the chart
// with Plotly.react on the next flush. Each trace keeps at most MAX_POINTS.

import { limitLines } from "./limits.js";
import { PARAMS } from "./vitals.js";

const MAX_POINTS = 20000; // per trace: more than 5 h of 1 Hz numerics
const TRIM_SLACK = 1000;
const UPDATE_MS = 2000;
const REDRAW_MS = 1000;
const LABEL_PX = 12; // the height a limit label needs
export const NUMERIC_TRACES = ["HR", "SpO2", "RR", "EtCO2"];
const TRACES = ["HR", "SBP", "DBP", "MAP", "SpO2", "RR", "EtCO2"];
const TRACE = Object.fromEntries(TRACES.map((name, i) => [name, i]));
const AXIS = { HR: "y", SBP: "y", DBP: "y", MAP: "y", PR: "y", SpO2: "y2", RR: "y3", EtCO2: "y3" };
const COLOURS = {
  HR: "#36e27c", SBP: "#ffffff", DBP: "#ffffff", MAP: "#9fb0c0", SpO2: "#52c7ff", RR: "#f2f2f2", EtCO2: "#d9b8ff",
};
const PRIORITY_COLOUR = { high: "#ff2020", medium: "#ffd500", low: "#00d4ff" };
// The alarm strip's lanes, in paper coordinates above the HR/BP plot.
const STRIP = { low: [0.915, 0.932], medium: [0.936, 0.953], high: [0.957, 0.974] };
const DOMAINS = { y: [0.45, 0.9], y2: [0.24, 0.41], y3: [0, 0.2] };
const MARK_LABEL = { dose: "DOSE", "infusion end": "INFUSION END", treatment: "TREATMENT", intervention: "INTERVENTION", note: "NOTE" };

/**
 * `text` for a Plotly text field (annotation text and hovertext): Plotly reads a subset of HTML
 * there (`<a href>` becomes a live link, `<br>`, `<b>`…) and decodes entities after it, so
 * escaping `&`, `<` and `>` shows any text — a monitor's mark, a user name — exactly as written.
 */
export function plotlyText(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A local-time label Plotly puts on a date axis as is (it has no time zones of its own). */
export function timeLabel(t) {
  const d = new Date(t * 1000);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** The time (seconds) of a label made by timeLabel, as Plotly gives it back on a click. */
export function labelTime(label) {
  return new Date(String(label).replace(" ", "T")).getTime() / 1000;
}

/** The index of the first element of sorted `ts` that is >= t. */
function lowerBound(ts, t) {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class TrendChart {
  /**
   * `node`: the chart's element. Options for a chart of a stored session (the replay view):
   * `cursor` draws a moment line (setCursor(t)); `onPick(t)` is called with the time clicked.
   */
  constructor(node, { cursor = false, onPick = null } = {}) {
    this.node = node;
    this.cursor = cursor ? { t: null } : null;
    this.onPick = onPick;
    this.picking = false;
    this.series = Object.fromEntries(TRACES.map((name) => [name, { t: [], y: [] }]));
    this.appends = new Map(); // trace index -> {x, y} waiting for the next flush
    this.redraw = true; // the next flush must redraw everything
    this.decorate = false; // ... or the annotations (text: costly to lay out) and shapes
    this.reshape = false; // ... or only the shapes (cheap: alarm periods growing with time)
    this.lastUpdate = 0;
    this.labelRanges = ""; // the axis ranges the limit labels were spread for
    this.drawn = false;
    this.alarms = []; // alarms (the feed's shape: raised_device, ended_device …), for the shaded periods
    this.marks = [];
    this.limitRules = []; // the session's settings.limits
    this.baseline = null; // the session's settings.baseline
    this.watermark = "";
    this.now = () => Date.now() / 1000;
  }

  /** The newest time of any numeric trace (where a backfill starts), or null. */
  get lastT() {
    let last = null;
    for (const p of NUMERIC_TRACES) {
      const ts = this.series[p].t;
      if (ts.length && (last === null || ts[ts.length - 1] > last)) last = ts[ts.length - 1];
    }
    return last;
  }

  /** Add one point; merged by time (a point already there at the same time is replaced). */
  add(name, t, y) {
    const s = this.series[name];
    if (!s) return;
    const value = y ?? null;
    const n = s.t.length;
    if (n === 0 || t > s.t[n - 1]) {
      s.t.push(t);
      s.y.push(value);
      if (!this.redraw && this.drawn) {
        const i = TRACE[name];
        if (!this.appends.has(i)) this.appends.set(i, { x: [], y: [] });
        const a = this.appends.get(i);
        a.x.push(timeLabel(t));
        a.y.push(value);
      }
    } else {
      const i = lowerBound(s.t, t);
      if (s.t[i] === t) {
        if (s.y[i] === value) return;
        s.y[i] = value;
      } else {
        s.t.splice(i, 0, t);
        s.y.splice(i, 0, value);
      }
      this.redraw = true;
    }
    if (s.t.length > MAX_POINTS + TRIM_SLACK) {
      s.t.splice(0, s.t.length - MAX_POINTS);
      s.y.splice(0, s.y.length - MAX_POINTS);
      this.redraw = true;
    }
  }

  /** Numerics and cuff readings as the REST API returns them. */
  addReadings(readings) {
    for (const r of readings.numerics || []) {
      if (r.param in TRACE && NUMERIC_TRACES.includes(r.param)) this.add(r.param, r.t, r.value);
    }
    for (const r of readings.nibp || []) this.addNibp(r);
  }

  addNibp(r) {
    if (r.status !== "ok") return;
    this.add("SBP", r.t, r.sys);
    this.add("DBP", r.t, r.dia);
    this.add("MAP", r.t, r.map);
  }

  setAlarms(alarms) {
    this.alarms = alarms;
    this.reshape = true;
  }

  /** The alarm periods still active grow with time: redraw the shapes on the next flush. */
  grow() {
    this.reshape = true;
  }

  setMarks(marks) {
    this.marks = marks;
    this.decorate = true;
  }

  /** The limit lines: the session's `settings.limits` and `settings.baseline`. */
  setLimits(limits, baseline) {
    this.limitRules = limits || [];
    this.baseline = baseline ?? null;
    this.decorate = true;
  }

  setWatermark(text) {
    if (text !== this.watermark) {
      this.watermark = text;
      this.decorate = true;
    }
  }

  /** Draw what changed since the last flush. */
  flush() {
    if (!window.Plotly) return;
    const Plotly = window.Plotly;
    const t = performance.now();
    // A full redraw (first draw, points merged out of order, trimming) at most once a second:
    // a monitor resending minutes of readings must not redraw the chart ten times a second.
    if (!this.drawn || (this.redraw && t - this.lastUpdate >= REDRAW_MS)) {
      this.redraw = this.decorate = this.reshape = false;
      this.appends.clear();
      Plotly.react(this.node, this.data(), this.layout(), this.config());
      if (this.onPick && !this.picking) {
        this.picking = true;
        this.node.on("plotly_click", (ev) => {
          const x = ev.points?.[0]?.x;
          if (x !== undefined) this.onPick(labelTime(x));
        });
      }
      this.drawn = true;
      this.lastUpdate = t;
      return;
    }
    if (this.redraw) return;
    // Each Plotly call below redraws the whole chart (20–40 ms on a slow machine): at most one
    // per flush, and new points and growing alarm periods at most every UPDATE_MS (a 90-min
    // trend moves about a pixel in 4 s; the current values beside it are updated every second).
    if (!this.decorate && t - this.lastUpdate < UPDATE_MS) return;
    this.lastUpdate = t;
    // The limit labels are spread by the axes' ranges: lay them out again when those change
    // (after the first drawing, and when autorange follows new data).
    const ranges = this.rangesKey();
    if (ranges !== this.labelRanges) {
      this.labelRanges = ranges;
      this.decorate = true;
    }
    if (this.decorate) {
      this.decorate = this.reshape = false;
      this.node.layout.shapes = this.shapes();
      this.node.layout.annotations = this.annotations();
      if (!this.appends.size) {
        Plotly.relayout(this.node, { shapes: this.node.layout.shapes, annotations: this.node.layout.annotations });
        return;
      }
    } else if (this.reshape) {
      this.reshape = false;
      this.node.layout.shapes = this.shapes(); // drawn by the redraw of extendTraces, or:
      if (!this.appends.size) {
        Plotly.relayout(this.node, { shapes: this.node.layout.shapes });
        return;
      }
    }
    if (this.appends.size) {
      const indices = [...this.appends.keys()];
      const batch = [...this.appends.values()];
      this.appends.clear();
      Plotly.extendTraces(this.node, { x: batch.map((b) => b.x), y: batch.map((b) => b.y) }, indices, MAX_POINTS);
    }
  }

  data() {
    const xy = (name) => ({ x: this.series[name].t.map(timeLabel), y: [...this.series[name].y] });
    const line = (name, width = 2) => ({
      name: PARAMS[name]?.label ?? name,
      type: "scatter",
      mode: "lines",
      ...xy(name),
      yaxis: AXIS[name],
      connectgaps: false,
      line: { color: COLOURS[name], width },
      hovertemplate: `%{y:.0f} ${PARAMS[name]?.unit ?? "mmHg"}<extra>${name}</extra>`,
    });
    const marker = (name, symbol, size) => ({
      name, type: "scatter", mode: "markers", ...xy(name), yaxis: "y",
      marker: { symbol, size, color: COLOURS[name], line: { width: 0 } },
      hovertemplate: `%{y:.0f} mmHg<extra>${name}</extra>`,
    });
    return [
      line("HR", 2.5),
      marker("SBP", "triangle-down", 12),
      marker("DBP", "triangle-up", 12),
      marker("MAP", "circle", 7),
      line("SpO2", 2.5),
      line("RR"),
      line("EtCO2"),
    ];
  }

  layout() {
    const axis = (domain, title, extra = {}) => ({
      domain, title: { text: title, font: { size: 13, color: "#8494a4" } }, gridcolor: "#1b242d", zeroline: false,
      tickfont: { size: 13 }, fixedrange: true, ...extra,
    });
    return {
      paper_bgcolor: "#0b1117",
      plot_bgcolor: "#0b1117",
      font: { color: "#c9d3dc", family: "Liberation Sans, DejaVu Sans, Arial, sans-serif", size: 13 },
      margin: { l: 64, r: 150, t: 12, b: 34 },
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 0.985, yanchor: "bottom", font: { size: 13 }, bgcolor: "rgba(0,0,0,0)" },
      hovermode: "x unified",
      xaxis: { type: "date", gridcolor: "#1b242d", tickfont: { size: 13 }, anchor: "y3", showspikes: true, spikecolor: "#5b6b7b" },
      yaxis: axis(DOMAINS.y, "HR /min · BP mmHg", { rangemode: "tozero", autorangeoptions: { include: [0, 160] } }),
      yaxis2: axis(DOMAINS.y2, "SpO₂ %", { autorangeoptions: { include: [90, 100] } }),
      yaxis3: axis(DOMAINS.y3, "RR /min · EtCO₂", { rangemode: "tozero", autorangeoptions: { include: [0, 20] } }),
      shapes: this.shapes(),
      annotations: this.annotations(),
      uirevision: "keep", // zoom and pan survive live updates
    };
  }

  config() {
    return { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"] };
  }

  /** The moment line at `t` (a chart made with `cursor`), moved without redrawing the rest. */
  setCursor(t) {
    if (!this.cursor) return;
    this.cursor.t = t;
    if (!this.drawn || !window.Plotly) return;
    const x = timeLabel(t);
    window.Plotly.relayout(this.node, { "shapes[0].x0": x, "shapes[0].x1": x });
  }

  /** Alarm periods (strip), limit lines and event marks; the moment line first (setCursor
   * moves shapes[0] alone). */
  shapes() {
    const tNow = this.now();
    const cursor = this.cursor ? [{
      type: "line", xref: "x", yref: "paper", y0: 0, y1: 1, line: { color: "#ff9f1a", width: 2 },
      x0: timeLabel(this.cursor.t ?? tNow), x1: timeLabel(this.cursor.t ?? tNow),
    }] : [];
    const shapes = this.alarms.map((a) => {
      const [y0, y1] = STRIP[a.priority];
      const inset = a.kind === "technical" ? (y1 - y0) * 0.3 : 0;
      return {
        type: "rect", xref: "x", yref: "paper", line: { width: 0 }, layer: "above",
        x0: timeLabel(a.raised_device),
        x1: timeLabel(a.ended_device ?? (a.state === "cleared" ? a.updated_device : tNow)),
        y0: y0 + inset, y1: y1 - inset, fillcolor: PRIORITY_COLOUR[a.priority], opacity: 0.9,
      };
    });
    shapes.unshift(...cursor);
    for (const l of this.limits()) {
      shapes.push({
        type: "line", xref: "paper", x0: 0, x1: 1, yref: AXIS[l.param], y0: l.value, y1: l.value,
        line: { color: PRIORITY_COLOUR[l.priority], width: 1, dash: l.relative ? "dot" : "dash" },
        opacity: 0.75, layer: "below",
      });
    }
    for (const m of this.marks) {
      shapes.push({
        type: "line", xref: "x", x0: timeLabel(m.t), x1: timeLabel(m.t), yref: "paper", y0: 0, y1: DOMAINS.y[1],
        line: { color: m.what === "dose" ? "#ffffff" : "#c9a0ff", width: m.what === "dose" ? 2 : 1.2, dash: "dot" },
      });
    }
    return shapes;
  }

  annotations() {
    const notes = [{
      text: "ALARMS", xref: "paper", yref: "paper", x: 0, y: (STRIP.low[0] + STRIP.high[1]) / 2,
      xanchor: "right", yanchor: "middle", xshift: -6, showarrow: false, font: { size: 11, color: "#8494a4" },
    }];
    // A limit label is built from a parsed limit (a parameter, an operator, a number): never
    // markup, so it goes to Plotly as it is.
    for (const l of this.spreadLabels(this.limits())) {
      notes.push({
        text: l.label, xref: "paper", x: 1, xanchor: "left", xshift: 4, yref: AXIS[l.param], y: l.value,
        yanchor: "middle", yshift: l.yshift, showarrow: false, font: { size: 11, color: PRIORITY_COLOUR[l.priority] },
      });
    }
    // Labels of marks close together are stacked, not drawn over each other.
    const hr = this.series.HR.t;
    const span = hr.length > 1 ? hr[hr.length - 1] - hr[0] : 3600;
    let previous = -Infinity;
    let level = 0;
    for (const m of this.marks) {
      level = m.t - previous < span * 0.15 ? (level + 1) % 4 : 0;
      previous = m.t;
      const label = MARK_LABEL[m.what] ?? m.what.toUpperCase();
      // Shortened before escaping, so an entity is never cut in half.
      const short = m.text ? `${label}: ${m.text.length > 22 ? `${m.text.slice(0, 21)}…` : m.text}` : label;
      notes.push({
        text: plotlyText(short),
        hovertext: plotlyText(`${label}${m.text ? ` — ${m.text}` : ""}${m.by ? ` (${m.by})` : ""}`),
        xref: "x", x: timeLabel(m.t), yref: "paper", y: DOMAINS.y[1], xanchor: "left", yanchor: "top",
        xshift: 3, yshift: -2 - 17 * level, showarrow: false,
        font: { size: 12, color: m.what === "dose" ? "#ffffff" : "#c9a0ff" },
        bgcolor: "rgba(11,17,23,0.8)",
      });
    }
    if (this.watermark) {
      notes.push({
        text: this.watermark, xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, textangle: -14,
        font: { size: 150, color: "rgba(255,176,255,0.07)", family: "Liberation Sans, DejaVu Sans, sans-serif" },
        captureevents: false,
      });
    }
    return notes;
  }

  rangesKey() {
    const full = this.node._fullLayout;
    if (!full) return "";
    return ["yaxis", "yaxis2", "yaxis3"].map((a) => (full[a]?.range ?? []).map((v) => Math.round(v)).join(",")).join(";")
      + `;${this.node.clientHeight}`;
  }

  /**
   * Limit labels nudged apart vertically where lines are closer than a label's height (the
   * lines stay where they are), using the axis ranges of the last drawing.
   */
  spreadLabels(lines) {
    const full = this.node._fullLayout;
    const height = this.node.clientHeight;
    const out = lines.map((l) => ({ ...l, yshift: 0 }));
    if (!full || !height) return out;
    const plotH = height - full.margin.t - full.margin.b;
    for (const axis of ["y", "y2", "y3"]) {
      const ax = full[axis === "y" ? "yaxis" : `yaxis${axis.slice(1)}`];
      if (!ax || !ax.range) continue;
      const pxPerUnit = (plotH * (ax.domain[1] - ax.domain[0])) / (ax.range[1] - ax.range[0]);
      const onAxis = out.filter((l) => AXIS[l.param] === axis).sort((a, b) => b.value - a.value);
      let lastPx = -Infinity; // screen position (down from the top) of the label above
      for (const l of onAxis) {
        const px = -l.value * pxPerUnit;
        const placed = Math.max(px, lastPx + LABEL_PX);
        l.yshift = -(placed - px);
        lastPx = placed;
      }
    }
    return out;
  }

  limits() {
    const lines = limitLines(this.limitRules, this.baseline);
    // EtCO2 limits only for a monitor that measures EtCO2.
    return lines.filter((l) => l.param !== "EtCO2" || this.series.EtCO2.t.length > 0);
  }
}
