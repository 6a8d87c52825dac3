// A stored session as it was at any moment: the replay view's model, without the DOM.
//
// Built once from what the REST API returns (readings, alarm log, alarms, marks), it answers
// `at(t)`: each parameter's last value at or before t (and how old it was), the last cuff
// measurement and the last attempt, every alarm's state after its last change at or before t,
// and the marks so far. Lookups are binary searches, so a timeline can ask sixty times a second.

/** The index of the last element of sorted `ts` that is <= t, or -1. */
export function lastAtOrBefore(ts, t) {
  let lo = 0;
  let hi = ts.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ts[mid] <= t) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

function series(rows) {
  const sorted = [...rows].sort((a, b) => a.t - b.t);
  return { ts: sorted.map((r) => r.t), rows: sorted };
}

export class Moments {
  /**
   * readings: {numerics: [{t, param, value}], nibp: [{t, status, sys, dia, map, reason}]};
   * log: alarm-log entries [{id, alarm_id, t, rule, event, state, priority, message, by}];
   * alarms: alarm rows [{id, kind, title, raised, ...}] (for what the log does not repeat);
   * marks: [{t, what, text, by}]; statuses: device statuses [{t, code, active, text}].
   */
  constructor(readings, log, alarms, marks, statuses = []) {
    const byParam = new Map();
    for (const r of readings.numerics) {
      if (!byParam.has(r.param)) byParam.set(r.param, []);
      byParam.get(r.param).push(r);
    }
    this.params = new Map([...byParam].map(([p, rows]) => [p, series(rows)]));
    this.nibpAll = series(readings.nibp);
    this.nibpOk = series(readings.nibp.filter((r) => r.status === "ok"));
    this.log = series(log);
    this.alarmInfo = new Map(alarms.map((a) => [a.id, a]));
    this.marks = series(marks);
    this.statuses = series(statuses);
    // When each alarm was first raised, from the log itself (the alarm row keeps its last raise).
    this.firstRaised = new Map();
    for (const e of this.log.rows) {
      if (e.event === "raised" && !this.firstRaised.has(e.alarm_id)) this.firstRaised.set(e.alarm_id, e.t);
    }
    this.raises = this.log.rows.filter((e) => e.event === "raised");
    const times = [
      ...readings.numerics.map((r) => r.t),
      ...readings.nibp.map((r) => r.t),
      ...marks.map((m) => m.t),
    ];
    // The timeline spans the readings and marks. Alarm times are left out: feed supervision (T4)
    // runs on the server's clock, which a fast replay leaves far behind the device's.
    const [lo, hi] = minMax(times);
    this.start = times.length ? lo : null;
    this.end = times.length ? hi : null;
  }

  /** The session as it was at time t (seconds since the epoch, device time). */
  at(t) {
    const values = {};
    for (const [p, s] of this.params) {
      const i = lastAtOrBefore(s.ts, t);
      if (i >= 0) values[p] = { value: s.rows[i].value, t: s.rows[i].t };
    }
    const ok = lastAtOrBefore(this.nibpOk.ts, t);
    const any = lastAtOrBefore(this.nibpAll.ts, t);
    const latest = new Map(); // alarm id -> its last log entry at or before t
    const n = lastAtOrBefore(this.log.ts, t);
    for (let i = 0; i <= n; i += 1) latest.set(this.log.rows[i].alarm_id, this.log.rows[i]);
    const alarms = [];
    for (const [id, e] of latest) {
      if (e.state === "cleared") continue;
      const info = this.alarmInfo.get(id) || {};
      alarms.push({
        id, rule: e.rule, state: e.state, priority: e.priority, message: e.message, by: e.by,
        kind: info.kind || "physiological", title: info.title || e.rule, param: info.param ?? null,
        raised_device: this.firstRaised.get(id) ?? e.t, changed: e.t,
      });
    }
    const m = lastAtOrBefore(this.marks.ts, t);
    const conditions = new Map(); // device status code -> its last report at or before t
    const k = lastAtOrBefore(this.statuses.ts, t);
    for (let i = 0; i <= k; i += 1) conditions.set(this.statuses.rows[i].code, this.statuses.rows[i]);
    return {
      t,
      values,
      nibp: ok >= 0 ? this.nibpOk.rows[ok] : null,
      attempt: any >= 0 ? this.nibpAll.rows[any] : null,
      alarms,
      marks: this.marks.rows.slice(0, m + 1),
      statuses: [...conditions.values()].filter((c) => c.active),
    };
  }

  /** The time of the next alarm raised after t (or null); `previous` the one before t. */
  nextAlarm(t) {
    const e = this.raises.find((r) => r.t > t + 0.5);
    return e ? e.t : null;
  }

  previousAlarm(t) {
    const before = this.raises.filter((r) => r.t < t - 0.5);
    return before.length ? before[before.length - 1].t : null;
  }
}

function minMax(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}
