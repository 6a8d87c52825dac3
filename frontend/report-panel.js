// The room view's session report: the draft on demand while the session runs, and once it has
// ended, signing it (POST /api/sessions/{id}/report/sign: its PDF and model are then stored and
// never change; app/report/api.py) and the signed versions with who signed and when. The links
// always open the latest signed version, else a draft marked "DRAFT — not signed".

import { dateTime, getJSON } from "./account.js";
import { post } from "./live.js";

const $ = (id) => document.getElementById(id);

/** Mount the panel. `ended()`: whether the session has ended; `canSign()`: whether the user
 * may sign (manage_sessions). */
export function mountReport({ sessionId, ended, canSign }) {
  let versions = [];
  const error = $("report-error");
  const showError = (text) => { error.textContent = text; error.hidden = !text; };
  $("report-pdf").href = `/api/sessions/${sessionId}/report.pdf`;
  $("report-html").href = `/api/sessions/${sessionId}/report.html`;

  async function refresh() {
    versions = await getJSON(`/api/sessions/${sessionId}/reports`);
    render();
  }

  $("report-sign").addEventListener("click", async () => {
    showError("");
    const r = await post(`/api/sessions/${sessionId}/report/sign`, {});
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      showError(`Not signed: ${typeof body.detail === "string" ? body.detail : `HTTP ${r.status}`}`);
    }
    await refresh().catch((e) => showError(String(e)));
  });

  function render() {
    const latest = versions[versions.length - 1];
    const status = $("report-status");
    status.dataset.signed = latest ? "true" : "false";
    status.textContent = latest
      ? `Signed: version ${latest.version} by ${latest.signed_by}, ${dateTime(latest.signed_at)}`
      : ended() ? "Not signed yet" : "Draft — the session is still running";
    $("report-sign").hidden = Boolean(latest) || !ended() || !canSign();
  }

  return { render, refresh };
}
