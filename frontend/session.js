// The ketamine session's timeline, as the dashboards show it: the phase since the dose, the NIBP
// schedule (when the next cuff reading is due and whether it is overdue), and each room's
// device clock.
//
// The phases follow the clinical basis (section 1); the NIBP schedule mirrors the rules file's
// `schedule` (rule T3 raises the alarm; the tiles only show the age going stale before it does).

// The rules file's default schedule: every 5 min to 60 min after the dose, then every 15; a
// reading is overdue once the interval plus the grace has passed. A server that sends its own
// schedule (the session rules' `schedule`) overrides this.
export const DEFAULT_SCHEDULE = {
  nibp: [{ every_min: 5, until_min: 60 }, { every_min: 15 }],
  overdue_grace_min: 3,
};

// Audio pause length (rules file `signals.audio_pause_s`), for the countdown shown while paused.
export const DEFAULT_AUDIO_PAUSE_S = 120;

// Session phases by minutes from the dose (clinical basis section 1). Dosing runs from the dose
// to the peak; the peak is 30–45 min; the discharge window opens 60 min after the end of an IV
// infusion (when one is marked), else 120 min after the dose (the esketamine minimum).
export const PHASES = {
  "pre-dose": "PRE-DOSE",
  dosing: "DOSING",
  peak: "PEAK",
  recovery: "RECOVERY",
  discharge: "DISCHARGE WINDOW",
};
const PEAK_FROM_MIN = 30;
const RECOVERY_FROM_MIN = 45;
const DISCHARGE_AFTER_INFUSION_MIN = 60;
const DISCHARGE_AFTER_DOSE_MIN = 120;

/**
 * The session's phase at `now` (seconds, device clock): {key, label, minutes} where minutes is
 * the whole minutes since the dose (null before it).
 */
export function phaseAt(doseT, infusionEndT, now) {
  if (doseT === null || doseT === undefined) return { key: "pre-dose", label: PHASES["pre-dose"], minutes: null };
  const minutes = Math.max(0, (now - doseT) / 60);
  let key;
  if (minutes < PEAK_FROM_MIN) key = "dosing";
  else if (minutes < RECOVERY_FROM_MIN) key = "peak";
  else if (infusionEndT != null ? now >= infusionEndT + DISCHARGE_AFTER_INFUSION_MIN * 60
    : minutes >= DISCHARGE_AFTER_DOSE_MIN) key = "discharge";
  else key = "recovery";
  return { key, label: PHASES[key], minutes: Math.floor(minutes) };
}

/** The schedule's interval (s) at `minutesAfterDose`, as the rules engine computes it. */
export function nibpIntervalS(schedule, minutesAfterDose) {
  for (const cycle of schedule.nibp) {
    if (cycle.until_min == null || minutesAfterDose < cycle.until_min) return cycle.every_min * 60;
  }
  return schedule.nibp[schedule.nibp.length - 1].every_min * 60;
}

/**
 * Whether the last valid cuff reading is overdue at `now` (device clock): {overdue, dueAt,
 * intervalMin}. Before the dose there is no schedule (null).
 */
export function nibpDue(schedule, doseT, lastOkT, now) {
  if (doseT == null || now < doseT) return null;
  const since = Math.max(lastOkT ?? doseT, doseT);
  const interval = nibpIntervalS(schedule, (since - doseT) / 60);
  const dueAt = since + interval + schedule.overdue_grace_min * 60;
  return { overdue: now > dueAt, dueAt, intervalMin: interval / 60 };
}

/**
 * A room's device clock, estimated from the timestamps of its messages: times the device stamps
 * (readings, the dose mark, alarm changes) are compared with it, not with the server's clock,
 * so a monitor whose clock is off (or a simulator running faster than real time) still shows
 * the right ages.
 */
export class DeviceClock {
  constructor() {
    this.offset = null; // device time minus server time
  }

  /** A message stamped `deviceT` by the device arrived at `serverNow`. */
  observe(deviceT, serverNow) {
    if (Number.isFinite(deviceT)) this.offset = deviceT - serverNow;
  }

  now(serverNow) {
    return this.offset === null ? serverNow : serverNow + this.offset;
  }
}

/** "12:34" → minutes and seconds for a countdown in seconds ("1:05"). */
export function mmss(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The dose time and the end of an infusion from a session's marks (the first of each). */
export function doseFromMarks(marks) {
  const dose = marks.find((m) => m.what === "dose");
  const infusionEnd = marks.find((m) => m.what === "infusion end");
  return { dose: dose ? dose.t : null, infusionEnd: infusionEnd ? infusionEnd.t : null };
}
