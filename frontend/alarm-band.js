// A tile's alarm band: the top alarm's text with its priority prefix, a TECH tag for equipment
// alarms, its signal state (audio paused with the time left, acknowledged, latched) and how many
// more alarms there are. Colour and flashing come from the CSS, keyed on data-priority, data-kind
// and data-state: active and latched alarms flash, an audio-paused one keeps flashing (only its
// sound is paused), an acknowledged one is steady.

import { SERVER_CLOCK_RULES, alarmText, stateLabel } from "./alarm-ui.js";
import { el, setData, setHidden, setText, syncFlash } from "./vitals.js";

export function alarmBand() {
  const band = el("div", "alarm-band");
  const tech = el("span", "tech-tag", "TECH");
  const text = el("span", "alarm-text");
  const state = el("span", "alarm-state");
  const more = el("span", "alarm-more");
  band.append(tech, text, state, more);
  band.dataset.priority = "none";

  /** Show `top` (or nothing); `count` alarms in all; clocks and the session's audio pause
   * (settings.signals.audio_pause_s) for the pause countdown. */
  band.show = (top, count, deviceNow, serverNow, pauseS) => {
    const priority = top ? top.priority : "none";
    if (band.dataset.priority !== priority) {
      band.dataset.priority = priority;
      syncFlash(band, priority);
    }
    setData(band, "kind", top ? top.kind : "");
    setData(band, "state", top ? top.state : "");
    setText(text, top ? alarmText(top) : "");
    setHidden(tech, !top || top.kind !== "technical");
    const label = top ? stateLabel(top, SERVER_CLOCK_RULES.has(top.rule) ? serverNow : deviceNow, pauseS) : "";
    setText(state, label);
    setHidden(state, !label);
    setText(more, count > 1 ? `+${count - 1} more` : "");
  };
  return band;
}
