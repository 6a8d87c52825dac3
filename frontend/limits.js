// Alarm limits as lines on a trend: the session's effective rules (the room's `settings.limits`
// in the live feed: rule, priority, condition text, parameter) parsed into horizontal limits per
// parameter, absolute ones always and baseline-relative ones
// (BL.SpO2 - 4, BL.SBP + 40, BL.SBP * 0.7) once the session has a baseline.
//
// Only the plain comparisons of the rules language are understood (`PARAM OP NUMBER`,
// `PARAM OP BL.PARAM [+-*] NUMBER`); anything else is left off the chart, never guessed.

import { priorityMarker } from "./alarm-ui.js";

// The rules drawn: heart rate, SpO2, respiration, blood pressure and EtCO2 limits. Pre-dose gates
// and technical rules are not limits on the trend.
export const LIMIT_RULES = ["H1", "H2", "H3", "O1", "O2", "O3", "R1", "B1", "B3", "C1"];
// Rules whose only limits are relative to the baseline (drawn once a baseline exists).
export const RELATIVE_RULES = ["B2", "B6"];

// HRbest (the engine's best heart-rate source: ECG, else pulse rate) is drawn on the HR trend.
const TERM = /^\s*(HRbest|HR|PR|SpO2|RR|EtCO2|SBP|DBP|MAP)\s*(<=|>=|<|>)\s*(.+?)\s*$/;
const RELATIVE = /^BL\.(\w+)\s*(?:([+\-*])\s*(\d+(?:\.\d+)?))?$/;
const OP_TEXT = { "<=": "≤", ">=": "≥", "<": "<", ">": ">" };

/** The limits in a `when` text: [{param, op, value, relative, text}]; `baseline` may be null. */
export function parseLimits(when, baseline) {
  if (!when) return [];
  const out = [];
  for (const part of when.split(/\s+(?:or|and)\s+/)) {
    const m = TERM.exec(part);
    if (!m) continue;
    const [, name, op, rhs] = m;
    const param = name === "HRbest" ? "HR" : name;
    if (/^\d+(\.\d+)?$/.test(rhs)) {
      out.push({ param, op, value: Number(rhs), relative: false, text: `${param} ${OP_TEXT[op]} ${rhs}` });
      continue;
    }
    const r = RELATIVE.exec(rhs);
    if (!r || !baseline || baseline[r[1]] == null) continue;
    const base = baseline[r[1]];
    const n = r[3] === undefined ? 0 : Number(r[3]);
    const value = r[2] === "+" ? base + n : r[2] === "-" ? base - n : r[2] === "*" ? base * n : base;
    out.push({
      param, op, value, relative: true,
      text: `${param} ${OP_TEXT[op]} ${Math.round(value)} (BL${r[2] ? `${r[2] === "*" ? "×" : r[2]}${r[3]}` : ""})`,
    });
  }
  return out;
}

/**
 * Every limit line for the trend: [{rule, priority, param, value, relative, label}], from
 * `limits` (settings.limits) and `baseline` (settings.baseline, may be null).
 */
export function limitLines(limits, baseline) {
  const lines = [];
  const byRule = new Map((limits || []).map((l) => [l.rule, l]));
  for (const id of [...LIMIT_RULES, ...RELATIVE_RULES]) {
    const rule = byRule.get(id);
    if (!rule || rule.enabled === false || !rule.when) continue;
    for (const lim of parseLimits(rule.when, baseline)) {
      if (RELATIVE_RULES.includes(id) && !lim.relative) continue;
      lines.push({
        rule: id, priority: rule.priority, param: lim.param, value: lim.value, relative: lim.relative,
        label: `${priorityMarker(rule.priority)} ${lim.text}`,
      });
    }
  }
  return lines;
}
