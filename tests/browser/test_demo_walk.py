"""The demo walked through as a new user would: `vitalwatch demo` with its check-in room, a
clinician who checks a patient in, captures the baseline, signs off the borderline pre-dose BP,
records an IV dose and observations, watches the discharge checklist turn green, ends the session,
signs the report and downloads it; the PDF's REMS fields are all filled from the data."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pypdf
import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.browser.room_record import check_in, ms, sign_off_and_dose
from tests.conftest import ROOT, free_port, seconds

pytestmark = pytest.mark.browser


# Shorter still than the demo's own timings (app/demo-timings.yaml): no rest before the baseline,
# the discharge minimum 30 s after an IV dose, 12 s without a medium or high alarm, the REMS
# form's "~40 min" reading 0-36 s after the dose; the check-in room's cuff every 6 s.
TIMINGS = {
    "baseline": {"rest_min": 0},
    "discharge": {"quiet_min": 0.2},
    "schedule": {"required_reading": {"at_min": 0.3, "window_min": 0.3}},
    "timeline": {"routes": {"iv": {
        "phases": [{"key": "dosing", "label": "DOSING", "from_min": 0},
                   {"key": "peak", "label": "PEAK", "from_min": 0.1},
                   {"key": "recovery", "label": "RECOVERY", "from_min": 0.2}],
        "discharge_after_dose_min": 0.5, "discharge_after_infusion_min": 0.4}}},
}
CUFF_EVERY_S = 6


@dataclass
class Demo:
    """A ``vitalwatch demo`` subprocess and the demo accounts it printed."""

    port: int
    proc: subprocess.Popen
    passwords: dict[str, str]

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/livez", timeout=seconds(2)).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    timings = tmp_path / "timings.yaml"
    timings.write_text(yaml.safe_dump(TIMINGS), encoding="utf-8")
    port = free_port()
    out = tmp_path / "demo.log"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--data-dir",
             str(tmp_path / "data"), "--timings", str(timings), "--cuff-every", str(CUFF_EVERY_S)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + seconds(30)
        passwords: dict[str, str] = {}
        while "demo-kiosk" not in passwords:
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, f"the demo did not print its accounts: {out.read_text()}"
            passwords = dict(re.findall(r"^  (demo-\w+) +(\S+)$", out.read_text(), re.MULTILINE))
            time.sleep(0.1)
        while not _up(port):
            assert time.monotonic() < deadline, out.read_text()
        yield Demo(port, proc, passwords)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=seconds(10))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pdf_text(body: bytes) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(body)).pages)


def bp(cuff: dict) -> str:
    return f"{cuff['sys']:g}/{cuff['dia']:g}"


def test_a_new_user_walks_a_demo_session_from_check_in_to_the_signed_report(demo: Demo, page: Page) -> None:
    """In the demo, the check-in room's patient (BL about 146/92) is checked in by demo-clinician,
    the baseline is captured from two cuff readings, the dose is refused while G1 is active, the
    borderline BP is signed off with a reason, an IV dose is recorded (0.5 mg/kg shown) with a
    sedation and a dissociation score, the checklist turns green once the criteria are met and the
    person-confirmed ones are ticked, the session is ended and its report signed in the room view;
    the downloaded PDF is the signed version, watermarked DEMO, and every REMS field of the
    report's model is filled and printed."""
    page.goto(f"{demo.http}/login")
    page.fill("#name", "demo-clinician")
    page.fill("#password", demo.passwords["demo-clinician"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{demo.http}/")
    tile = page.locator('[data-room="Room 5"]')
    expect(tile).to_have_attribute("href", re.compile(r"^/room/\d+$"), timeout=ms(20))
    tile.click()
    page.wait_for_url(re.compile(r"/room/\d+$"))
    sid = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#mode-badge")).to_have_text("DEMO")

    check_in(page, "P-17", "iv")
    status = page.locator("#baseline-status")
    expect(status).to_have_attribute("data-status", "captured", timeout=ms(6 * CUFF_EVERY_S))
    expect(page.locator("#gate-text")).to_contain_text("G1", timeout=ms(4 * CUFF_EVERY_S))
    sign_off_and_dose(page, 40, "0.50", "anxious at check-in; usual BP 138/86")
    expect(page.locator("#record-entries")).to_contain_text("signed off pre dose bp: anxious")

    observe = page.locator("#observation-form")
    for scale, score in (("MOAA/S", "4"), ("CADSS-6", "7")):
        observe.locator("[name=scale]").select_option(scale)
        observe.locator("[name=score]").fill(score)
        observe.locator("button[type=submit]").click()
        expect(page.locator("#record-entries")).to_contain_text(f"{scale} {score} — demo-clinician",
                                                                timeout=ms(10))

    checklist = page.locator("#checklist")
    expect(checklist.locator("[data-key=bp]")).to_have_attribute("data-status", "met", timeout=ms(4 * CUFF_EVERY_S))
    for key in ("alert_oriented", "nausea_minimal"):
        page.locator(f"#confirmations input[name={key}]").check()
    # The discharge minimum (30 s after the dose) and 12 s without a medium or high alarm.
    expect(checklist).to_have_attribute("data-ready", "true", timeout=ms(60))
    expect(checklist.locator("[data-status=met]")).to_have_count(6)
    page.locator("#end-form button[type=submit]").click()
    expect(page.locator("#end-form")).to_be_hidden(timeout=ms(10))

    expect(page.locator("#report-status")).to_have_text("Not signed yet", timeout=ms(10))
    page.locator("#report-sign").click()
    expect(page.locator("#report-status")).to_have_attribute("data-signed", "true", timeout=ms(30))
    expect(page.locator("#report-status")).to_contain_text("version 1 by demo-clinician")
    with page.expect_download(timeout=ms(30)) as download:
        page.locator("#report-pdf").click()
    body = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == f"session-{sid}-report-v1.pdf"

    report = page.request.get(f"{demo.http}/api/sessions/{sid}/report.json").json()
    rems = report["rems"]
    for field in ("pre_dose_bp", "bp_40_min", "end_bp"):
        assert rems[field]["value"] is not None, (field, rems[field]["source"])
    assert rems["pre_dose_acceptable"]["acceptable"] is False  # G1 held: the reading was signed off
    assert rems["pre_dose_acceptable"]["held"][0].startswith("G1 "), rems["pre_dose_acceptable"]
    assert rems["end_acceptable"]["acceptable"] is not None, rems["end_acceptable"]
    assert rems["total_minutes"]["value"] is not None and rems["total_minutes"]["value"] > 0
    kinds = {(e["kind"], e["text"].split()[0]) for e in rems["events"]}
    assert {("observation", "MOAA/S"), ("observation", "CADSS-6")} <= kinds, rems["events"]

    text = pdf_text(body)
    assert "DEMO" in text
    for field in ("pre_dose_bp", "bp_40_min", "end_bp"):
        assert bp(rems[field]["value"]) in text, (field, rems[field])
    assert "P-17" in text and "demo-clinician" in text
    assert "anxious at check-in" in text  # the sign-off's reason
