"""The nurse view on a phone-sized screen: alarms across rooms, acknowledged from the phone and
seen as acknowledged everywhere, notifications, and operation by keyboard alone."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import login, watched_page
from tests.browser.feeder import Feeder, active_alarm
from tests.browser.test_dashboard import ms
from tests.conftest import Server

pytestmark = pytest.mark.browser

# A browser that has granted notifications, recording each one shown.
FAKE_NOTIFICATIONS = """
window.__shown = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options = {}) { window.__shown.push({ title, ...options }); }
  close() {}
};
"""


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A 360×740 page (a phone), failing the test on JavaScript errors or CSP violations."""
    with watched_page(browser, FAKE_NOTIFICATIONS, viewport={"width": 360, "height": 740},
                      has_touch=True) as page:
        yield page


def open_nurse(phone: Page, server: Server) -> None:
    login(phone, server, "nurse")
    phone.goto(f"{server.http}/nurse")
    expect(phone.locator("body")).to_have_attribute("data-live", "true", timeout=ms(10))


def test_acknowledge_on_nurse_view_shows_on_central_station_and_in_log(server: Server, page: Page,
                                                                         phone: Page) -> None:
    """A high alarm appears on the nurse's phone (notified, with room, message, age and state) above a medium one; the nurse acknowledges it there, and the clinician's central station shows it acknowledged and the alarm log records it by user-nurse."""
    desat = Feeder(server, "Room 1", HR=80, SpO2=97, RR=14).start()
    cuff = Feeder(server, "Room 2", HR=80, SpO2=97, RR=14).start()
    try:
        open_nurse(phone, server)
        expect(phone.locator(".n-empty").first).to_have_text("No active alarms")
        login(page, server, "clinician")
        page.goto(f"{server.http}/")
        expect(page.locator("body")).to_have_attribute("data-live", "true", timeout=ms(10))

        phone.locator("#sound-toggle").click()  # sound and notifications from one tap
        desat.values["SpO2"] = 84
        cuff.send({"type": "nibp", "t": time.time(), "status": "ok", "sys": 186, "dia": 98, "map": 127})
        active_alarm(server, "B3")  # medium, at once (with B1, low)
        o3 = active_alarm(server, "O3")
        cards = phone.locator(".nurse-alarm")
        expect(cards).to_have_count(3, timeout=ms(5))
        first = cards.first
        expect(first).to_have_attribute("data-priority", "high")  # the high alarm first
        expect(first.locator(".n-room")).to_have_text("Room 1")
        expect(first.locator(".n-text")).to_have_text(re.compile(r"^SpO2 84 <= 85"))
        expect(first.locator(".n-prio")).to_have_text("*** HIGH")
        expect(first.locator(".n-age")).to_have_text(re.compile(r"^\d+ s$"))
        expect(first.locator(".n-state")).to_have_text("ACTIVE — NOT ACKNOWLEDGED")
        expect(cards.nth(1)).to_have_attribute("data-priority", "medium")
        expect(cards.nth(2)).to_have_attribute("data-priority", "low")
        shown = phone.evaluate("window.__shown")
        assert any(n["title"] == "Room 1: HIGH alarm" and n["body"].startswith("*** SpO2 84") for n in shown), shown
        assert any(n["title"] == "Room 2: MEDIUM alarm" for n in shown), shown
        phone.wait_for_function("() => window.__vwSound.priority === 'high'", timeout=ms(3))

        first.get_by_role("button", name=re.compile("^Acknowledge")).click()
        expect(first).to_have_attribute("data-state", "acknowledged", timeout=ms(3))
        expect(first.locator(".n-state")).to_have_text("✓ ACKNOWLEDGED by user-nurse")

        tile = page.locator('.tile[data-room="Room 1"]')
        expect(tile).to_have_attribute("data-state", "acknowledged", timeout=ms(3))
        expect(tile.locator(".alarm-state")).to_have_text("✓ ACKNOWLEDGED")
        assert tile.locator(".alarm-band").evaluate("el => getComputedStyle(el).animationName") == "none"

        log = server.get(f"/api/sessions/{o3['session_id']}/alarm-log")
        acks = [(e["rule"], e["by"]) for e in log if e["event"] == "acknowledged"]
        assert acks == [("O3", "user-nurse")]
        # Still sounding for the medium alarm nobody has acknowledged.
        phone.wait_for_function("() => window.__vwSound.priority === 'medium'", timeout=ms(3))
    finally:
        desat.stop()
        cuff.stop()


def test_keyboard_alone_pauses_audio_and_acknowledges(server: Server, phone: Page) -> None:
    """With the keyboard alone: Tab reaches an alarm's Pause audio button (focus visible), Space pauses the audio (a countdown shows), focus moves to Acknowledge, and Enter acknowledges."""
    feed = Feeder(server, "Room 3", HR=80, SpO2=97, RR=14).start()
    try:
        open_nurse(phone, server)
        feed.values["SpO2"] = 84
        alarm = active_alarm(server, "O3")
        card = phone.locator(f'.nurse-alarm[data-alarm-id="{alarm["id"]}"]')
        expect(card).to_be_visible(timeout=ms(3))

        for _ in range(10):
            phone.keyboard.press("Tab")
            if phone.evaluate("document.activeElement.dataset.action") == "pause-audio":
                break
        else:
            pytest.fail("Tab never reached the Pause audio button")
        outline = phone.evaluate("parseFloat(getComputedStyle(document.activeElement).outlineWidth)")
        assert outline >= 2, "the focused button shows a visible focus ring"

        phone.keyboard.press("Space")
        expect(card).to_have_attribute("data-state", "audio_paused", timeout=ms(3))
        expect(card.locator(".n-state")).to_have_text(re.compile(r"^AUDIO PAUSED [12]:\d\d$"))
        phone.wait_for_function("() => document.activeElement.dataset.action === 'acknowledge'", timeout=ms(3))

        phone.keyboard.press("Enter")
        expect(card).to_have_attribute("data-state", "acknowledged", timeout=ms(3))
        states = [e["event"] for e in server.get(f"/api/sessions/{alarm['session_id']}/alarm-log") if e["rule"] == "O3"]
        assert states == ["raised", "audio_paused", "acknowledged"]
    finally:
        feed.stop()
