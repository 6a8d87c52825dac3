// Live waveforms on a canvas, swept left to right like a bedside monitor: ECG II, pleth,
// respiration and CO2, each in its own lane, the last WINDOW_S seconds.
//
// Memory is bounded: each wave keeps a ring buffer of WINDOW_S × rate samples, indexed by the
// sample's absolute number (time × rate), so a chunk that arrives late or twice lands in its own
// slots and a missing chunk shows as a gap, never as a line drawn across it.
//
// Chunks arrive a few times a second; to sweep smoothly the drawing runs PLAYOUT_S behind the
// newest sample, on a playout clock that follows the device's clock (it slows down rather than
// run past the data, and jumps ahead if it falls more than MAX_LAG_S behind). Drawing is one
// path per lane per animation frame; `stats` keeps the cost of the last frames.

export const WINDOW_S = 10;
const PLAYOUT_S = 0.6;
const MAX_LAG_S = 2.5;
const ERASE_S = 0.25; // the blank bar ahead of the sweep
const ORDER = ["ECG_II", "PLETH", "RESP", "CO2"];
const STYLE = {
  ECG_II: { label: "ECG II", colour: "#36e27c" },
  PLETH: { label: "Pleth", colour: "#52c7ff" },
  RESP: { label: "Resp", colour: "#f2f2f2" },
  CO2: { label: "CO₂", colour: "#d9b8ff", unit: "mmHg" },
};

class Ring {
  constructor(rate) {
    this.rate = rate;
    this.size = Math.ceil(rate * (WINDOW_S + MAX_LAG_S + 1));
    this.values = new Float32Array(this.size).fill(NaN);
    this.index = new Float64Array(this.size).fill(-1); // which sample number each slot holds
    this.newest = -Infinity; // newest sample number
    this.lo = Infinity; // slowly adapting vertical scale
    this.hi = -Infinity;
  }

  add(t, samples) {
    const first = Math.round(t * this.rate);
    for (let j = 0; j < samples.length; j += 1) {
      const n = first + j;
      const slot = ((n % this.size) + this.size) % this.size;
      this.index[slot] = n;
      const v = samples[j];
      this.values[slot] = v === null || v === undefined ? NaN : v;
    }
    if (first + samples.length - 1 > this.newest) this.newest = first + samples.length - 1;
  }

  value(n) {
    const slot = ((n % this.size) + this.size) % this.size;
    return this.index[slot] === n ? this.values[slot] : NaN;
  }
}

export class WaveView {
  /** `box`: the element to draw in; `onFirst`: called when the first waveform arrives. */
  constructor(box, { onFirst = () => {} } = {}) {
    this.box = box;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "wave-canvas";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "Live waveforms");
    box.append(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    this.rings = new Map();
    this.playoutOffset = null; // device time minus performance.now()/1000
    this.watermark = "";
    this.live = true;
    this.onFirst = onFirst;
    this.stats = { frames: 0, drawMs: [], samples: 0 };
    this.frame = this.frame.bind(this);
    requestAnimationFrame(this.frame);
  }

  /** A `waveform` message from the live stream. */
  add(msg) {
    if (!msg.samples || !msg.rate) return;
    let ring = this.rings.get(msg.wave);
    if (!ring || ring.rate !== msg.rate) {
      ring = new Ring(msg.rate);
      this.rings.set(msg.wave, ring);
      if (this.rings.size === 1) this.onFirst();
    }
    ring.add(msg.t, msg.samples);
    this.stats.samples += msg.samples.length;
    const newestT = msg.t + (msg.samples.length - 1) / msg.rate;
    const perfS = performance.now() / 1000;
    if (this.playoutOffset === null) this.playoutOffset = newestT - PLAYOUT_S - perfS;
    const head = perfS + this.playoutOffset;
    if (newestT - head > MAX_LAG_S) this.playoutOffset = newestT - PLAYOUT_S - perfS; // fell behind
  }

  /** Forget everything (a new session, or the connection was lost and the waves are stale). */
  clear() {
    this.rings.clear();
    this.playoutOffset = null;
  }

  resize() {
    const r = this.box.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width * dpr));
    const h = Math.max(1, Math.round(r.height * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    return dpr;
  }

  frame() {
    requestAnimationFrame(this.frame);
    const t0 = performance.now();
    const dpr = this.resize();
    const { ctx, canvas } = this;
    const W = canvas.width;
    const H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    const waves = ORDER.filter((w) => this.rings.has(w));
    if (this.watermark) {
      ctx.save();
      ctx.translate(W / 2, H / 2);
      ctx.rotate((-8 * Math.PI) / 180);
      ctx.font = `900 ${Math.round(H * 0.42)}px sans-serif`;
      ctx.fillStyle = "rgba(255, 176, 255, 0.07)";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(this.watermark, 0, 0);
      ctx.restore();
    }
    if (!waves.length || this.playoutOffset === null) return;

    // The playout head, held back if it would run past every wave's newest sample.
    let head = t0 / 1000 + this.playoutOffset;
    const newest = Math.max(...waves.map((w) => this.rings.get(w).newest / this.rings.get(w).rate));
    if (head > newest) {
      this.playoutOffset -= head - newest;
      head = newest;
    }

    const laneH = H / waves.length;
    const labelW = 70 * dpr;
    const plotW = W - labelW;
    const sweepX = labelW + ((head % WINDOW_S) / WINDOW_S) * plotW;
    ctx.lineJoin = "round";
    waves.forEach((name, lane) => {
      const ring = this.rings.get(name);
      const style = STYLE[name] || { label: name, colour: "#ccc" };
      const top = lane * laneH;
      const pad = laneH * 0.12;
      // Scale on the window's range, widening at once and narrowing slowly (no jumpy trace).
      const nHead = Math.floor(head * ring.rate);
      const nStart = Math.ceil((head - WINDOW_S + ERASE_S) * ring.rate);
      let lo = Infinity;
      let hi = -Infinity;
      for (let n = nStart; n <= nHead; n += 1) {
        const v = ring.value(n);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (lo <= hi) {
        ring.lo = Math.min(lo, Number.isFinite(ring.lo) ? ring.lo + (lo - ring.lo) * 0.02 : lo);
        ring.hi = Math.max(hi, Number.isFinite(ring.hi) ? ring.hi + (hi - ring.hi) * 0.02 : hi);
      }
      const span = Math.max(ring.hi - ring.lo, 1e-6);
      const yOf = (v) => top + laneH - pad - ((v - ring.lo) / span) * (laneH - 2 * pad);

      ctx.fillStyle = style.colour;
      ctx.font = `700 ${Math.round(14 * dpr)}px sans-serif`;
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      ctx.fillText(style.label, 8 * dpr, top + 6 * dpr);
      if (lane > 0) {
        ctx.strokeStyle = "#1b242d";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(0, top + 0.5);
        ctx.lineTo(W, top + 0.5);
        ctx.stroke();
      }

      ctx.strokeStyle = style.colour;
      ctx.lineWidth = 1.6 * dpr;
      ctx.beginPath();
      let pen = false;
      let prevX = -1;
      for (let n = nStart; n <= nHead; n += 1) {
        const v = ring.value(n);
        const t = n / ring.rate;
        const x = labelW + ((t % WINDOW_S) / WINDOW_S) * plotW;
        if (Number.isNaN(v) || x < prevX) {
          pen = false; // a gap, or the sweep wrapping to the left edge
          if (Number.isNaN(v)) {
            prevX = x;
            continue;
          }
        }
        const y = yOf(v);
        if (pen) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        pen = true;
        prevX = x;
      }
      ctx.stroke();
    });
    // The sweep's leading edge.
    ctx.fillStyle = "rgba(255, 255, 255, 0.25)";
    ctx.fillRect(sweepX, 0, 2 * dpr, H);

    const ms = performance.now() - t0;
    this.stats.frames += 1;
    this.stats.drawMs.push(ms);
    if (this.stats.drawMs.length > 600) this.stats.drawMs.splice(0, 300);
  }
}
