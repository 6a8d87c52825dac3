"""The room view's session record in a real browser: check-in, the baseline protocol, the
pre-dose gate's sign-off, a dose with its mg/kg, the discharge checklist turning green, and
ending the session."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from alerts.rules import DEFAULT_RULES, load
from tests.browser.conftest import login
from tests.browser.feeder import Feeder, session_of
from tests.browser.room_record import check_in, ms, sign_off_and_dose
from tests.conftest import Server, free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def quick_server(tmp_path: Path) -> Iterator[Server]:
    """A server whose rules shorten the session: no rest before the baseline readings, and an
    IM session's discharge window 6 s after the dose."""
    data = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    data["baseline"]["rest_min"] = 0
    data["timeline"]["routes"]["im"] = {
        "phases": [{"key": "dosing", "label": "DOSING", "from_min": 0}], "discharge_after_dose_min": 0.1}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load(path)
    srv = Server(free_port(), tmp_path / "data", args=("--rules", str(path))).start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def cuff(feed: Feeder, sys: float, dia: float) -> None:
    sent = feed.send({"type": "nibp", "t": time.time(), "status": "ok", "sys": sys, "dia": dia,
                      "map": round((sys + 2 * dia) / 3)})
    assert sent["type"] == "ack", sent


def test_check_in_to_discharge_on_the_room_view(quick_server: Server, page: Page) -> None:
    """A clinician checks in, the baseline is captured from two readings, the dose is refused
    while G1 is active, signed off, given (0.50 mg/kg shown), the checklist turns green once the
    criteria are met, and the session ends."""
    server = quick_server
    feed = Feeder(server, "Room 1", HR=72, SpO2=98, RR=14).start()
    try:
        sid = session_of(server, "Room 1")
        login(page, server)
        page.goto(f"{server.http}/room/{sid}")
        check_in(page, "P-42", "im")
        status = page.locator("#baseline-status")
        expect(status).to_have_attribute("data-status", "missing", timeout=ms(10))
        cuff(feed, 150, 92)
        cuff(feed, 148, 90)
        expect(status).to_have_attribute("data-status", "captured", timeout=ms(10))
        expect(page.locator("#gate-text")).to_contain_text("G1", timeout=ms(10))
        sign_off_and_dose(page, 40, "0.50", "white-coat reading; usual 135/85")

        cuff(feed, 140, 88)
        checklist = page.locator("#checklist")
        expect(checklist.locator("[data-key=bp]")).to_have_attribute("data-status", "met", timeout=ms(10))
        expect(checklist).to_have_attribute("data-ready", "false")
        for key in ("alert_oriented", "nausea_minimal"):
            page.locator(f"#confirmations input[name={key}]").check()
        expect(checklist).to_have_attribute("data-ready", "true", timeout=ms(20))
        expect(checklist.locator("[data-status=met]")).to_have_count(6)
        page.locator("#end-form button[type=submit]").click()
        expect(page.locator("#end-form")).to_be_hidden(timeout=ms(10))
        assert server.get(f"/api/sessions/{sid}")["ended"] is not None  # type: ignore[index]
    finally:
        feed.stop()
