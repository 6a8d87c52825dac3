// The room view's session record panel: check-in, the baseline protocol's step, the pre-dose
// gate and its sign-off, doses (mg/kg shown as typed), interventions, observations on the rules
// file's scales, discharge confirmations, the discharge checklist, and ending the session.
//
// Everything it shows comes from the room as the live feed has it (RoomState: check_in,
// baseline_protocol, dose_gate, dosing, discharge; Settings: scales, confirmable); everything it
// records goes to POST /api/sessions/{id}/record as one entry (app/record.py). Times are the
// session's (device) clock: the page's `deviceNow()`.

import { getJSON } from "./account.js";
import { clock, post } from "./live.js";

const $ = (id) => document.getElementById(id);
const ENTRY_TEXT = {
  observation: (e) => `${e.scale} ${e.score}${e.note ? ` (${e.note})` : ""}`,
  intervention: (e) => [e.what, e.drug, e.dose_mg != null ? `${e.dose_mg} mg` : "",
    e.oxygen_l_min != null ? `${e.oxygen_l_min} L/min` : "", e.detail].filter(Boolean).join(" "),
  concomitant: (e) => `${e.drug_class}: ${e.drug}${e.dose_mg != null ? ` ${e.dose_mg} mg` : ""}`,
  sign_off: (e) => `signed off ${e.what.replace(/_/g, " ")}: ${e.reason}`,
};
const STEP = {
  resting: "resting", first_reading: "first reading", second_reading: "second reading", captured: "captured",
};

function values(form) {
  return Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, typeof v === "string" ? v.trim() : v]));
}

function why(body, status) {
  const d = body?.detail;
  if (typeof d === "string") return d;
  if (d?.message) return d.message;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  return `HTTP ${status}`;
}

/** Mount the panel. `room()`: the live room (or null); `deviceNow()`: the session's clock;
 * `canRecord()`: whether the user may record (mark_event). */
export function mountRecord({ sessionId, room, deviceNow, canRecord }) {
  const error = $("record-error");
  const showError = (text) => { error.textContent = text; error.hidden = !text; };

  async function record(entry) {
    showError("");
    const r = await post(`/api/sessions/${sessionId}/record`, { t_device: deviceNow(), ...entry });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) showError(`Not recorded: ${why(body, r.status)}`);
    if (r.ok) listEntries().catch(() => {});
    return r.ok ? body : null;
  }

  // What was recorded, as the server stored it: the person who records an observation or an
  // intervention sees it taken (doses and notes are in the events list already).
  async function listEntries() {
    const list = $("record-entries");
    const shown = (await getJSON(`/api/sessions/${sessionId}/record`))
      .map((s) => [s, ENTRY_TEXT[s.entry.kind]?.(s.entry)]).filter(([, text]) => text);
    list.replaceChildren(...shown.map(([s, text]) => {
      const li = document.createElement("li");
      li.dataset.kind = s.entry.kind;
      li.textContent = `${clock(s.entry.t_device)} ${text} — ${s.by}`;
      return li;
    }));
    list.hidden = !shown.length;
  }
  listEntries().catch(() => {});

  $("checkin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = values(event.target);
    await record({ kind: "check_in", label: v.label, weight_kg: Number(v.weight_kg), drug: v.drug, route: v.route });
  });

  $("signoff-open").addEventListener("click", () => $("signoff-dialog").showModal());
  $("signoff-cancel").addEventListener("click", () => $("signoff-dialog").close());
  $("signoff-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = values(event.target).reason;
    if (await record({ kind: "sign_off", what: "pre_dose_bp", reason })) {
      $("signoff-dialog").close();
      event.target.reset();
    }
  });

  const doseForm = $("dose-form");
  doseForm.addEventListener("input", render);
  doseForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const c = room()?.check_in;
    if (!c) return;
    const v = values(event.target);
    const entry = { kind: "dose", drug: c.drug, route: c.route, dose_mg: Number(v.dose_mg) };
    if (c.drug === "esketamine") entry.device = Number(v.device || 1);
    if (c.route === "iv" && v.infusion_min) entry.infusion_min = Number(v.infusion_min);
    if (await record(entry)) event.target.reset();
  });

  $("intervention-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = values(event.target);
    if (await record({ kind: "intervention", what: v.what, detail: v.detail })) event.target.reset();
  });
  $("observation-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = values(event.target);
    if (await record({ kind: "observation", scale: v.scale, score: Number(v.score) })) event.target.reset();
  });
  $("confirmations").addEventListener("change", (event) => {
    const box = event.target.closest("input[type=checkbox]");
    if (box) record({ kind: "confirmation", criterion: box.name, met: box.checked });
  });

  $("end-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const reason = values(event.target).reason;
    const d = room()?.discharge;
    if (d && !d.ready) {
      if (!reason) {
        showError("Discharge criteria are unmet: give the reason to end the session anyway.");
        return;
      }
      if (!(await record({ kind: "sign_off", what: "discharge_unmet", reason }))) return;
    }
    const r = await post(`/api/sessions/${sessionId}/end`);
    if (!r.ok) showError(`Not ended: ${why(await r.json().catch(() => ({})), r.status)}`);
  });

  function render() {
    const info = room();
    const may = canRecord() && Boolean(info);
    $("record-panel").hidden = !info;
    if (!info) return;
    const c = info.check_in;
    $("checkin-form").hidden = !may || Boolean(c);
    $("checkin-summary").hidden = !c;
    if (c) $("checkin-summary").textContent = `${c.label} · ${c.weight_kg} kg · ${c.drug} ${c.route}`;

    const b = info.baseline_protocol;
    $("baseline-status").hidden = !b;
    if (b) {
      const step = b.step === "resting" ? `resting until ${clock(b.rest_ends_device)}` : STEP[b.step];
      const status = b.status === "captured" ? "captured" : b.status === "implausible" ? `implausible — ${b.why}` : "missing";
      $("baseline-status").textContent = `Baseline: ${step} (${b.readings}/${b.needed}) — ${status}`;
      $("baseline-status").dataset.step = b.step;
      $("baseline-status").dataset.status = b.status;
    }

    const gate = info.dose_gate;
    const uncovered = gate ? gate.active.filter((r) => !gate.signed_off.includes(r)) : [];
    const dosed = info.dose_device != null;
    $("gate").hidden = !c || dosed || !gate || !gate.active.length;
    if (gate && gate.active.length) {
      $("gate-text").textContent = uncovered.length
        ? `Pre-dose gate active: ${uncovered.join(", ")} — a clinician signs off before dosing`
        : `Pre-dose gate ${gate.active.join(", ")} signed off`;
      $("signoff-open").hidden = !may || !uncovered.length;
      $("signoff-what").textContent = `Sign off the pre-dose blood pressure (${uncovered.join(", ")})`;
    }

    $("dose-form").hidden = !may || !c;
    if (c) {
      for (const label of doseForm.querySelectorAll("label[data-for]")) {
        label.hidden = label.dataset.for !== c.drug && label.dataset.for !== c.route;
      }
      const mg = Number(doseForm.elements.dose_mg.value);
      $("dose-mgkg").textContent = mg > 0 ? `${(mg / c.weight_kg).toFixed(2)} mg/kg` : "";
    }
    const dosing = info.dosing;
    $("dosing-summary").hidden = !dosing;
    if (dosing) {
      const next = dosing.next_device_device ? ` · next device at ${clock(dosing.next_device_device)}` : "";
      const devices = dosing.devices.length ? ` · devices ${dosing.devices.join(", ")}` : "";
      $("dosing-summary").textContent = `Given: ${dosing.total_mg} mg (${dosing.mg_per_kg} mg/kg)${devices}${next}`;
    }
    $("intervention-form").hidden = !may || !c;
    $("observation-form").hidden = !may || !c;
    const scales = info.settings?.scales || [];
    const select = $("observation-form").elements.scale;
    if (select.options.length !== scales.length) {
      select.replaceChildren(...scales.map((s) => new Option(`${s.label} ${s.min}–${s.max}`, s.name)));
    }

    const d = info.discharge;
    const confirmations = $("confirmations");
    confirmations.hidden = !may || !c;
    const confirmable = info.settings?.confirmable || [];
    if (confirmations.children.length !== confirmable.length) {
      confirmations.replaceChildren(...confirmable.map((k) => {
        const label = document.createElement("label");
        const box = Object.assign(document.createElement("input"), { type: "checkbox", name: k.key });
        label.append(box, ` ${k.label}`);
        return label;
      }));
    }
    for (const box of confirmations.querySelectorAll("input")) {
      const criterion = d?.criteria.find((x) => x.key === box.name);
      if (criterion && document.activeElement !== box) box.checked = criterion.status === "met";
    }
    $("checklist").replaceChildren(...(d?.criteria || []).map((x) => {
      const li = document.createElement("li");
      li.dataset.status = x.status;
      li.dataset.key = x.key;
      li.textContent = `${x.label}: ${x.why}`;
      return li;
    }));
    $("checklist").dataset.ready = d?.ready ? "true" : "false";
    $("end-form").hidden = !canRecord() || !c;
  }

  return { render };
}
