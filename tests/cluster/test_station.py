"""The central station on one instance shows a room streaming into another, live, and not live
once the bus is lost (Debian's Chromium through Playwright, as tests/browser/)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import browser, page  # noqa: F401 - the fixtures
from tests.browser.feeder import Feeder
from tests.browser.test_nurse import open_nurse
from tests.browser.test_station import open_central
from tests.cluster.conftest import Redis
from tests.conftest import Server, seconds


def ms(s: float) -> float:
    return seconds(s) * 1000


def test_the_central_station_on_b_shows_a_room_of_a_live_then_not_live(
        cluster: tuple[Server, Server], redis: Redis, page: Page) -> None:  # noqa: F811
    """B's central station draws Room A's tile with the HR streaming into A and follows its
    changes; with Redis killed the tile says it is not live and shows no value as current."""
    a, b = cluster
    feed = Feeder(a, "Room A", HR=66, SpO2=98, RR=12).start()
    try:
        open_central(page, b)
        tile = page.locator('.tile[data-room="Room A"]')
        hr = tile.locator('[data-param="HR"] .value')
        expect(hr).to_have_text("66", timeout=ms(10))
        feed.values["HR"] = 81
        expect(hr).to_have_text("81", timeout=ms(5))
        expect(tile).to_have_attribute("data-live", "true")
        redis.kill()
        expect(tile).to_have_attribute("data-live", "false", timeout=ms(5))
        expect(hr).not_to_have_text("81", timeout=ms(5))
    finally:
        feed.stop()


def test_the_nurse_view_on_b_shows_a_remote_alarm_to_act_on_at_its_own_server(
        cluster: tuple[Server, Server], page: Page) -> None:  # noqa: F811
    """An alarm raised on A (O3, SpO2 84) appears on the nurse view of B with its room and text,
    and instead of action buttons, which B cannot honour, says where to act on it."""
    a, b = cluster
    feed = Feeder(a, "Room A", HR=80, SpO2=97, RR=14).start()
    try:
        open_nurse(page, b)
        feed.values["SpO2"] = 84
        card = page.locator(".nurse-alarm").first
        expect(card).to_have_attribute("data-priority", "high", timeout=ms(15))
        expect(card.locator(".n-room")).to_have_text("Room A")
        expect(card.locator(".alarm-remote")).to_have_text("act at its room's own server")
        expect(card.locator(".alarm-action")).to_have_count(0)
    finally:
        feed.stop()
