// A tile's small trend: the last 30 min of HR and SpO2 as 10-s means, drawn as an SVG sparkline
// (HR above, SpO2 below, each scaled to its own range).
//
// Readings go into fixed 10-s buckets keyed by time, so readings that arrive late (a backfill
// after a reconnect, a monitor resending after the server restarted) fall into their place, and
// the number of points is bounded (WINDOW_S / BUCKET_S per line) however long the session runs.

const SVG = "http://www.w3.org/2000/svg";
export const WINDOW_S = 30 * 60;
export const BUCKET_S = 10;
// Each line has its own band (HR above, SpO2 below), scaled to its range over the window but
// never narrower than MIN_SPAN, so a steady 72 stays a flat line and a fall of 5 % shows.
const BANDS = { HR: [3, 29], SpO2: [35, 57] };
const MIN_SPAN = { HR: 30, SpO2: 8 };
const CEILING = { SpO2: 100 };
// A hole longer than this (no readings) breaks the line instead of joining across it.
const MAX_JOIN_S = 45;
const W = 300;
const H = 60;

export class BucketSeries {
  constructor() {
    this.buckets = new Map(); // bucket index -> [sum, count]
    this.last = -Infinity; // newest reading time added
  }

  add(t, value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    const k = Math.floor(t / BUCKET_S);
    const b = this.buckets.get(k);
    if (b) {
      b[0] += value;
      b[1] += 1;
    } else {
      this.buckets.set(k, [value, 1]);
    }
    if (t > this.last) this.last = t;
  }

  /** Drop buckets older than the window before `now`. */
  prune(now) {
    const oldest = Math.floor((now - WINDOW_S) / BUCKET_S);
    for (const k of this.buckets.keys()) if (k < oldest) this.buckets.delete(k);
  }

  /** [t, mean] pairs, oldest first. */
  points() {
    return [...this.buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([k, [sum, n]]) => [(k + 0.5) * BUCKET_S, sum / n]);
  }

  get size() {
    return this.buckets.size;
  }
}

/** An SVG path for `points` ending at `now`, in the parameter's band. */
function pathFor(points, param, now) {
  const visible = points.filter(([t]) => t >= now - WINDOW_S);
  if (!visible.length) return "";
  let lo = Math.min(...visible.map((p) => p[1]));
  let hi = Math.max(...visible.map((p) => p[1]));
  if (hi - lo < MIN_SPAN[param]) {
    const mid = (hi + lo) / 2;
    lo = mid - MIN_SPAN[param] / 2;
    hi = mid + MIN_SPAN[param] / 2;
    if (CEILING[param] !== undefined && hi > CEILING[param]) {
      hi = CEILING[param];
      lo = hi - MIN_SPAN[param];
    }
  }
  const [top, bottom] = BANDS[param];
  let d = "";
  let prevT = null;
  for (const [t, v] of visible) {
    const x = ((t - (now - WINDOW_S)) / WINDOW_S) * W;
    const y = bottom - ((v - lo) / (hi - lo)) * (bottom - top);
    d += `${prevT === null || t - prevT > MAX_JOIN_S ? "M" : "L"}${x.toFixed(1)} ${y.toFixed(1)}`;
    prevT = t;
  }
  return d;
}

/** A sparkline element with `update(series, now)`; series: {HR: BucketSeries, SpO2: …}. */
export function sparkline() {
  const box = document.createElement("div");
  box.className = "spark";
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const paths = {};
  for (const p of ["SpO2", "HR"]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("class", `spark-${p}`);
    path.setAttribute("vector-effect", "non-scaling-stroke");
    path.setAttribute("fill", "none");
    svg.append(path);
    paths[p] = path;
  }
  const labels = [["spark-label spark-label-HR", "HR"], ["spark-label spark-label-SpO2", "SpO₂"],
    ["spark-label spark-label-span", "30 min"]].map(([cls, text]) => {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    return span;
  });
  box.append(svg, ...labels);
  box.update = (series, now) => {
    for (const p of ["HR", "SpO2"]) {
      const s = series[p];
      s.prune(now);
      const d = pathFor(s.points(), p, now);
      if (paths[p].getAttribute("d") !== d) paths[p].setAttribute("d", d);
      paths[p].dataset.points = String(s.size);
    }
  };
  return box;
}
