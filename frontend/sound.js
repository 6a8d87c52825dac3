// Alarm sound: IEC 60601-1-8 auditory alarm signals, made with WebAudio.
//
// Theory of operation. A page tells the sound which priority should be heard now (`set`): the
// highest-priority alarm it shows that is in a sounding state (active or latched — not
// acknowledged, not audio paused), or a technical alarm of its own such as its lost connection.
// The sound repeats that priority's burst until told otherwise; a change of priority stops the
// bursts already scheduled and starts the new pattern at once.
//
// Bursts are scheduled on the audio clock, up to LOOKAHEAD_S ahead, by a pump that runs every
// PUMP_MS. Browsers throttle timers in background tabs (to once a second, or once a minute after
// a while), but the audio clock is not throttled, so a burst due while the tab is hidden still
// sounds on time.
//
// Browsers refuse to start audio before the user has interacted with the page, so the sound is
// OFF until someone clicks the prompt that `soundButton` draws; until then the page says so
// loudly. The page never pretends to be sounding when it cannot.
//
// Each burst scheduled is logged in `window.__vwSound.log` (priority, pulse count, audio time,
// wall-clock time) so tests and audits can read what was played.

// Pulse timing (seconds), within IEC 60601-1-8 table 3: pulse duration td (high/medium
// 75–200 ms, low 125–250 ms), pulse spacing ts (high 50–125 ms, medium/low 125–250 ms), the
// high burst's 3 + 2 pulses twice with 0.35–1.3 s between the halves, and the interval from the
// end of one burst to the next (high 2.5–15 s, medium 2.5–30 s, low > 15 s). The short ends of
// those ranges are used for high and medium: they are the most urgent the standard allows.
const PATTERNS = {
  high: { f0: 660, td: 0.15, ts: 0.08, groups: [3, 2, 0.5, 3, 2], interval: 3.0 },
  medium: { f0: 523, td: 0.18, ts: 0.18, groups: [3], interval: 3.2 },
  low: { f0: 440, td: 0.2, ts: 0.2, groups: [2], interval: 16.0 },
};
// The fundamental and four harmonics (all within 300–4000 Hz for these fundamentals, and within
// 10 dB of each other: the standard asks for at least four within ±15 dB), so the tone is easy
// to locate and cuts through room noise, unlike a pure sine.
const HARMONICS = [0, 1, 0.7, 0.55, 0.45, 0.35];
const ATTACK_S = 0.012;
const RELEASE_S = 0.025;
const VOLUME = 0.25;
const LOOKAHEAD_S = 8;
const PUMP_MS = 250;
const LOG_MAX = 100;

/** Pulse start times (s from the burst's start) of a pattern, and its length. */
export function pulseTimes(priority) {
  const p = PATTERNS[priority];
  const starts = [];
  let t = 0;
  let previousGroup = false;
  for (const g of p.groups) {
    if (!Number.isInteger(g)) {
      t += g; // a pause between the halves of the high burst
      previousGroup = false;
      continue;
    }
    // Between the 3 and the 2 of a high burst the gap is one pulse plus two spacings.
    if (previousGroup) t += p.td + 2 * p.ts;
    for (let i = 0; i < g; i += 1) {
      starts.push(t);
      t += p.td + p.ts;
    }
    t -= p.ts;
    previousGroup = true;
  }
  return { starts, length: t };
}

class AlarmSound {
  constructor() {
    this.ctx = null;
    this.enabled = false;
    this.priority = null; // what should be heard now
    this.reason = "";
    this.nextBurstAt = null; // audio time of the next burst not yet scheduled
    this.scheduled = []; // {osc, end}: bursts scheduled and not yet over
    this.log = [];
    this.listeners = new Set();
    this.pump = null;
    this.wave = null;
  }

  /** Start the audio (must run inside a user gesture). Resolves to whether sound is now on. */
  async enable() {
    if (!this.ctx) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return false;
      this.ctx = new Ctx();
      this.wave = this.ctx.createPeriodicWave(new Float32Array(HARMONICS.length), Float32Array.from(HARMONICS));
      this.master = this.ctx.createGain();
      this.master.gain.value = VOLUME;
      this.master.connect(this.ctx.destination);
      this.ctx.addEventListener("statechange", () => this.changed());
    }
    try {
      await this.ctx.resume();
    } catch {
      // resume() refuses outside a gesture; the state below says so
    }
    this.enabled = this.ctx.state === "running";
    if (this.enabled) this.start();
    this.changed();
    return this.enabled;
  }

  /** Turn the sound off by hand (AUDIO OFF): the prompt to turn it on shows again. */
  disable() {
    this.enabled = false;
    this.stopBursts();
    this.ctx?.suspend();
    this.changed();
  }

  /** Whether the browser lets this page make sound now. */
  get on() {
    return this.enabled && this.ctx !== null && this.ctx.state === "running";
  }

  /** What should be heard: "high", "medium", "low" or null, and why (for the log). */
  set(priority, reason = "") {
    const p = priority && PATTERNS[priority] ? priority : null;
    this.reason = reason;
    if (p === this.priority) return;
    this.priority = p;
    this.stopBursts();
    if (p && this.on) this.start();
    this.changed();
  }

  start() {
    this.stopBursts();
    if (!this.priority) return;
    this.nextBurstAt = this.ctx.currentTime + 0.05;
    this.fill();
    if (this.pump === null) this.pump = setInterval(() => this.fill(), PUMP_MS);
  }

  /** Schedule every burst due within the lookahead. */
  fill() {
    if (!this.on || !this.priority || this.nextBurstAt === null) return;
    const now = this.ctx.currentTime;
    this.scheduled = this.scheduled.filter((b) => b.end > now);
    if (this.nextBurstAt < now) this.nextBurstAt = now + 0.05; // the tab slept: do not catch up
    while (this.nextBurstAt < now + LOOKAHEAD_S) {
      const { length } = this.burst(this.priority, this.nextBurstAt);
      this.nextBurstAt += length + PATTERNS[this.priority].interval;
    }
  }

  burst(priority, at) {
    const p = PATTERNS[priority];
    const { starts, length } = pulseTimes(priority);
    const osc = this.ctx.createOscillator();
    osc.setPeriodicWave(this.wave);
    osc.frequency.value = p.f0;
    const gain = this.ctx.createGain();
    gain.gain.setValueAtTime(0, at);
    for (const s of starts) {
      const t0 = at + s;
      gain.gain.setValueAtTime(0, t0);
      gain.gain.linearRampToValueAtTime(1, t0 + ATTACK_S);
      gain.gain.setValueAtTime(1, t0 + p.td - RELEASE_S);
      gain.gain.linearRampToValueAtTime(0, t0 + p.td);
    }
    osc.connect(gain).connect(this.master);
    osc.start(at);
    osc.stop(at + length + 0.01);
    this.scheduled.push({ osc, end: at + length });
    const wall = Date.now() + (at - this.ctx.currentTime) * 1000;
    this.log.push({ priority, pulses: starts.length, at, wall, reason: this.reason });
    if (this.log.length > LOG_MAX) this.log.splice(0, this.log.length - LOG_MAX);
    return { length };
  }

  stopBursts() {
    const now = this.ctx ? this.ctx.currentTime : 0;
    for (const b of this.scheduled) {
      try {
        b.osc.stop(now);
      } catch {
        // already stopped
      }
    }
    this.scheduled = [];
    this.nextBurstAt = null;
    // Forget the log entries of bursts that will now never play.
    this.log = this.log.filter((e) => e.at <= now);
    if (this.pump !== null) {
      clearInterval(this.pump);
      this.pump = null;
    }
  }

  /** Bursts scheduled and not yet over (0 when silent). */
  get pending() {
    const now = this.ctx ? this.ctx.currentTime : 0;
    return this.scheduled.filter((b) => b.end > now).length;
  }

  changed() {
    for (const fn of this.listeners) fn(this);
  }
}

/** The page's one alarm sound. */
export const sound = new AlarmSound();
window.__vwSound = sound; // for tests and for inspection from the console

const SVG = "http://www.w3.org/2000/svg";

/** A small speaker icon, on (with sound waves) or off (crossed out), as inline SVG. */
export function speakerIcon(on) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const body = document.createElementNS(SVG, "path");
  body.setAttribute("d", "M3 9v6h4l5 4V5L7 9H3z");
  body.setAttribute("fill", "currentColor");
  const marks = document.createElementNS(SVG, "path");
  marks.setAttribute("d", on ? "M15.5 8.5a5 5 0 0 1 0 7M18.5 5.5a9 9 0 0 1 0 13" : "M16 9l6 6M22 9l-6 6");
  marks.setAttribute("fill", "none");
  marks.setAttribute("stroke", "currentColor");
  marks.setAttribute("stroke-width", "2.2");
  marks.setAttribute("stroke-linecap", "round");
  svg.append(body, marks);
  return svg;
}

/**
 * The sound prompt: a button that says loudly "SOUND IS OFF — click to enable" until the user
 * turns the sound on, then shows what is sounding. `onEnable` runs inside the click (for other
 * permissions a page wants from the same gesture, such as notifications).
 */
export function soundButton(onEnable = () => {}) {
  const button = document.createElement("button");
  button.type = "button";
  button.id = "sound-toggle";
  button.className = "sound-toggle";
  const text = document.createElement("span");
  let shownOn = null;
  const render = () => {
    const on = sound.on;
    if (shownOn !== on) {
      button.replaceChildren(speakerIcon(on), text);
      shownOn = on;
    }
    button.dataset.sound = on ? "on" : "off";
    button.setAttribute("aria-pressed", on ? "true" : "false");
    if (!on) {
      text.textContent = "SOUND IS OFF — click to enable";
      button.title = "Alarm sounds are off on this screen. Click to turn them on.";
    } else if (sound.priority) {
      const prefix = { high: "***", medium: "**", low: "*" }[sound.priority];
      text.textContent = `SOUNDING ${prefix} ${sound.priority.toUpperCase()}`;
      button.title = "Alarm sounds are on. Click to turn them off on this screen (AUDIO OFF).";
    } else {
      text.textContent = "Sound on";
      button.title = "Alarm sounds are on. Click to turn them off on this screen (AUDIO OFF).";
    }
    button.dataset.priority = on && sound.priority ? sound.priority : "none";
  };
  button.addEventListener("click", () => {
    if (sound.on) {
      sound.disable();
    } else {
      onEnable();
      sound.enable();
    }
  });
  sound.listeners.add(render);
  render();
  return button;
}

/** The priority to sound for a list of alarms: the highest in a sounding state, or null. */
export function soundingPriority(alarms) {
  const rank = { low: 1, medium: 2, high: 3 };
  let best = null;
  for (const a of alarms) {
    if (a.state !== "active" && a.state !== "latched") continue;
    if (!best || rank[a.priority] > rank[best]) best = a.priority;
  }
  return best;
}
