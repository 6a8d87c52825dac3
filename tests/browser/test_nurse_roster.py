"""The nurse view follows the roster: with no ``?rooms=`` it shows the rooms assigned to the
nurse now, says so, and receives only those rooms' alarms."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.feeder import Feeder, session_of
from tests.browser.test_dashboard import ms
from tests.browser.test_nurse import open_nurse, phone  # noqa: F401 - the phone fixture
from tests.conftest import SSL_CONTEXT, Server, seconds, wait_for

pytestmark = pytest.mark.browser


def test_nurse_view_shows_the_assigned_rooms_and_only_their_alarms(server: Server, phone: Page) -> None:  # noqa: F811
    """Unassigned, the nurse view says it shows all rooms; once a shift assigns Room 1 to the
    nurse, the page (no ?rooms= in its address) says "Your rooms: Room 1 (shift … until HH:MM)",
    and of two rooms in high alarm shows, notifies and holds only Room 1's."""
    room1 = Feeder(server, "Room 1", HR=80, SpO2=97, RR=14).start()
    room2 = Feeder(server, "Room 2", HR=80, SpO2=97, RR=14).start()
    try:
        open_nurse(phone, server)
        note = phone.locator("#roster-note")
        expect(note).to_have_text("No rooms assigned to you — showing all rooms")
        expect(phone.locator("#rooms li")).to_have_count(2, timeout=ms(5))

        ends = time.time() + 3600
        r = httpx.post(f"{server.http}/api/roster/shifts", headers=server.headers("clinician"),
                       timeout=seconds(10), verify=SSL_CONTEXT, json={
                           "name": "Early", "starts": time.time() - 60, "ends": ends,
                           "clinician": "user-clinician",
                           "rooms": [{"room": "Room 1", "nurse": "user-nurse"},
                                     {"room": "Room 2", "nurse": "user-clinician"}]})
        assert r.status_code == 201, r.text
        phone.reload()
        expect(phone.locator("body")).to_have_attribute("data-live", "true", timeout=ms(10))
        until = phone.evaluate("(t) => new Date(t * 1000).toLocaleTimeString('en-GB', {hour12: false}).slice(0, 5)", ends)
        expect(note).to_have_text(f"Your rooms: Room 1  (shift Early until {until})")
        expect(note).to_have_attribute("data-state", "assigned")
        expect(phone.locator("#rooms li")).to_have_count(1)
        expect(phone.locator("#rooms li .n-room-link")).to_have_text("Room 1")

        room1.values["SpO2"] = 84
        room2.values["SpO2"] = 83
        both = wait_for(lambda: len(o3 := [a for a in server.get("/api/alarms", active="true")
                                           if a["rule"] == "O3"]) == 2 and o3, timeout=15,
                        what="an O3 alarm in each room")
        cards = phone.locator(".nurse-alarm")
        expect(cards.filter(has_text=re.compile(r"SpO2 84"))).to_have_count(1, timeout=ms(5))
        # A heartbeat sent after both alarms were raised: had Room 2's alarm been sent to this
        # page, it would have arrived before it (one websocket keeps its order).
        phone.wait_for_function("(t) => window.__vwStore.tServer > t", arg=time.time() + 1, timeout=ms(5))
        assert {a["session_id"] for a in both} == {session_of(server, "Room 1"), session_of(server, "Room 2")}
        assert [c.get_attribute("data-room") for c in cards.all()] == ["Room 1"] * cards.count()
        assert phone.evaluate("[...window.__vwStore.rooms.values()].map((r) => r.room)") == ["Room 1"]
        assert phone.evaluate("window.__vwStore.subscription.rooms") == ["Room 1"]
        notified = phone.evaluate("window.__vwNotified.map((n) => n.title)")
        assert notified and all(t.startswith("Room 1:") for t in notified), notified
    finally:
        room1.stop()
        room2.stop()

