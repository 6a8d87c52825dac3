// What the room view and the nurse view share about an alarm's signal: its inactivation state as
// text (IEC 60601-1-8 asks each state to be visibly indicated, never by colour alone), the audio
// pause countdown, and the buttons people act on it with.
//
// Buttons are shown only to roles whose permissions allow the action (`/api/me`); the server
// checks again, and a refused or impossible action (someone else acted first) is said next to
// the buttons, never silently dropped.

import { post } from "./live.js";
import { mmss } from "./session.js";
import { el } from "./vitals.js";

// Alarms of these rules are on the server's clock (feed, delivery and cluster supervision); the
// rest on the device's.
export const SERVER_CLOCK_RULES = new Set(["T4", "D1", "D2", "D3", "N1"]);

const MARKER = { high: "***", medium: "**", low: "*" };

/** The priority marker a page draws before an alarm's text (IEC 60601-1-8): "***", "**", "*". */
export function priorityMarker(priority) {
  return MARKER[priority] ?? "";
}

/** An alarm's text as shown: its priority marker and its message ("** HR 134 > 120"). */
export function alarmText(alarm) {
  return `${priorityMarker(alarm.priority)} ${alarm.message}`;
}

/**
 * Seconds of audio pause left for an audio-paused alarm, given `now` on the alarm's clock and
 * `pauseS`, the session's audio pause (settings.signals.audio_pause_s).
 */
export function pauseLeft(alarm, now, pauseS) {
  if (alarm.state !== "audio_paused" || !Number.isFinite(pauseS)) return null;
  return Math.max(0, alarm.updated_device + pauseS - now);
}

/**
 * The state as a short label: "", "AUDIO PAUSED 1:42", "✓ ACKNOWLEDGED", "LATCHED"; `pauseS` as
 * for pauseLeft (without it a paused alarm shows no countdown).
 */
export function stateLabel(alarm, now, pauseS) {
  switch (alarm.state) {
    case "audio_paused": {
      const left = pauseLeft(alarm, now, pauseS);
      return left === null ? "AUDIO PAUSED" : `AUDIO PAUSED ${mmss(left)}`;
    }
    case "acknowledged":
      return "✓ ACKNOWLEDGED";
    case "latched":
      return "LATCHED";
    default:
      return "";
  }
}

/** Whether the alarm has been escalated: to the nurse tier, or raised in priority (`escalated`:
 * the store's ids of alarms escalated while the page watched). */
export function isEscalated(alarm, escalated = null) {
  return alarm.tier === "nurse" || Boolean(escalated && escalated.has(alarm.id));
}

const ACTIONS = [
  // [action path, label, permission, states it applies to]
  ["acknowledge", "Acknowledge", "acknowledge", ["active", "audio_paused"]],
  ["pause-audio", "Pause audio", "pause_audio", ["active"]],
  ["reset", "Reset", "acknowledge", ["latched"]],
];

/**
 * Fill `box` with the action buttons for an alarm that `permissions` allow in its state; `onError`
 * gets the reason an action failed. The buttons are rebuilt only when the state changes, so a
 * list that refreshes every second keeps a button's keyboard focus. Buttons are real <button>s:
 * focusable, and Enter and Space press them.
 */
export function syncActions(box, alarm, permissions, onError = () => {}) {
  const key = `${alarm.id}:${alarm.state}:${permissions.length}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const hadFocus = box.contains(document.activeElement);
  box.replaceChildren();
  // Another instance's alarm (a negative alias, docs/cluster.md): this server cannot act on it.
  if (alarm.id < 0) {
    box.append(el("span", "alarm-remote", "act at its room's own server"));
    return;
  }
  for (const [action, label, permission, states] of ACTIONS) {
    if (!permissions.includes(permission) || !states.includes(alarm.state)) continue;
    const button = el("button", `alarm-action action-${action}`, label);
    button.type = "button";
    button.dataset.action = action;
    button.dataset.alarmId = alarm.id;
    button.setAttribute("aria-label", `${label}: ${alarmText(alarm)}`);
    button.addEventListener("click", async (event) => {
      event.preventDefault();
      event.stopPropagation();
      // Busy, not disabled: a disabled button would lose the keyboard focus.
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("aria-busy", "true");
      try {
        const r = await post(`/api/alarms/${alarm.id}/${action}`);
        if (!r.ok) {
          const body = await r.json().catch(() => ({}));
          onError(`${label} failed: ${body.detail || `HTTP ${r.status}`}`);
        }
      } catch (err) {
        onError(`${label} failed: ${err.message}`);
      } finally {
        button.removeAttribute("aria-busy");
      }
    });
    box.append(button);
  }
  box.hidden = box.childElementCount === 0;
  // Keyboard users keep their place: focus moves to the next button, or to the alarm itself.
  if (hadFocus) (box.querySelector("button") || box.closest("[tabindex]"))?.focus();
}

/**
 * Put `nodes` into `list` in this order, moving only those out of place: moving a node (even to
 * where it already is) takes the keyboard focus away from anything inside it.
 */
export function placeInOrder(list, nodes) {
  let cursor = list.firstElementChild;
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextElementSibling;
    } else {
      list.insertBefore(node, cursor);
    }
  }
}
