// The ketamine session's timeline, as the dashboards show it: the phase since the dose and the
// NIBP schedule (when the next cuff reading is due and whether it is overdue; rule T3 raises the
// alarm, the tiles only show the age going stale at the same point).
//
// The phases, the NIBP schedule and the audio pause are the session's rules (the room's
// `settings` in the live feed: `timeline`, `nibp_schedule`, `signals`): every function here takes
// them as an argument, so a clinic's own rules file is what the pages show.

/**
 * The session's phase at `now` (seconds, device clock) on `timeline` (settings.timeline):
 * {key, label, minutes} where minutes is the whole minutes since the dose (null before it). The
 * discharge window opens `discharge_after_infusion_min` after the end of an infusion when one is
 * marked, else `discharge_after_dose_min` after the dose. Without a timeline (not yet known) the
 * key is "unknown" and the label empty.
 */
export function phaseAt(timeline, doseT, infusionEndT, now) {
  if (!timeline) return { key: "unknown", label: "", minutes: null };
  if (doseT === null || doseT === undefined) return { key: "pre-dose", label: timeline.pre_dose_label, minutes: null };
  const minutes = Math.max(0, (now - doseT) / 60);
  const discharge = infusionEndT != null
    ? now >= infusionEndT + timeline.discharge_after_infusion_min * 60
    : minutes >= timeline.discharge_after_dose_min;
  let phase = timeline.phases[0];
  for (const p of timeline.phases) if (minutes >= p.from_min) phase = p;
  if (discharge) phase = { key: "discharge", label: timeline.discharge_label };
  return { key: phase.key, label: phase.label, minutes: Math.floor(minutes) };
}

/** The schedule's interval (s) at `minutesAfterDose`, as the rules engine computes it. */
export function nibpIntervalS(schedule, minutesAfterDose) {
  for (const cycle of schedule.nibp) {
    if (cycle.until_min == null || minutesAfterDose < cycle.until_min) return cycle.every_min * 60;
  }
  return schedule.nibp[schedule.nibp.length - 1].every_min * 60;
}

/**
 * Whether the last valid cuff reading is overdue at `now` (device clock) on `schedule`
 * (settings.nibp_schedule): {overdue, dueAt, intervalMin}. Before the dose, or without a
 * schedule, there is none (null).
 */
export function nibpDue(schedule, doseT, lastOkT, now) {
  if (!schedule || doseT == null || now < doseT) return null;
  const since = Math.max(lastOkT ?? doseT, doseT);
  const interval = nibpIntervalS(schedule, (since - doseT) / 60);
  const dueAt = since + interval + schedule.overdue_grace_min * 60;
  return { overdue: now > dueAt, dueAt, intervalMin: interval / 60 };
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
