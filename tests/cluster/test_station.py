"""The central station on one instance shows a room streaming into another, live, and not live
once the bus is lost (Debian's Chromium through Playwright, as tests/browser/)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import browser, page  # noqa: F401 - the fixtures
from tests.browser.feeder import Feeder
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
