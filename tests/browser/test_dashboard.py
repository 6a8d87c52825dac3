"""The dashboards in a real browser, against a real server and simulated monitors."""

from __future__ import annotations

import re
import signal
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.conftest import Server, seconds, wait_for

pytestmark = pytest.mark.browser


def ms(n: float) -> float:
    """A timeout of ``n`` seconds, scaled, in the milliseconds Playwright takes."""
    return seconds(n) * 1000

# Sample an element's computed background colour every animation frame for `duration` ms; the
# result is the list of (time ms, colour) changes, so a flash shows as several entries.
SAMPLE_COLOURS = """
async ([selector, duration]) => {
  const el = document.querySelector(selector);
  const out = [];
  const t0 = performance.now();
  while (performance.now() - t0 < duration) {
    const c = getComputedStyle(el).backgroundColor;
    if (!out.length || out[out.length - 1][1] !== c) out.push([performance.now() - t0, c]);
    await new Promise(requestAnimationFrame);
  }
  return out;
}
"""


def rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return r, g, b


def is_yellow(css: str) -> bool:
    r, g, b = rgb(css)
    return r >= 200 and g >= 170 and b <= 80


def is_red(css: str) -> bool:
    r, g, b = rgb(css)
    return r >= 180 and g <= 60 and b <= 60


def wait_live(page: Page, server: Server) -> None:
    login(page, server)
    page.goto(f"{server.http}/")
    expect(page.locator("body")).to_have_attribute("data-live", "true", timeout=ms(10))


def session_id(server: Server, room: str) -> int:
    def find() -> int | None:
        return next((s["id"] for s in server.get("/api/sessions", active=True) if s["room"] == room), None)

    return int(wait_for(find, timeout=15, what=f"a session in {room}"))


def test_tachycardia_alarm_flashes_room_tile_yellow(server: Server, sim, page: Page) -> None:
    """A simulated tachycardia raises H1 and Room 1's tile shows "** HR … > 120" on a yellow band flashing at ~0.45 Hz."""
    sim(server, "Room 1", profile="tachycardia", mode="test", ramp=1, speed=1)
    wait_live(page, server)
    tile = page.locator('.tile[data-room="Room 1"]')
    expect(tile.locator(".watermark")).to_have_text("TEST")
    expect(tile.locator('[data-param="HR"] .value')).to_have_text(re.compile(r"^1[2-4]\d$"), timeout=ms(10))

    expect(tile).to_have_attribute("data-priority", "medium", timeout=ms(25))  # H1 delay is 10 s
    expect(tile.locator(".alarm-text")).to_have_text(re.compile(r"^\*\* HR 1\d\d > 120"))
    expect(tile).to_have_attribute("data-kind", "physiological")
    expect(tile.locator(".tech-tag")).to_be_hidden()
    assert is_yellow(tile.evaluate("el => getComputedStyle(el).borderTopColor"))

    band = '.tile[data-room="Room 1"] .alarm-band'
    changes = page.evaluate(SAMPLE_COLOURS, [band, 2600])
    colours = [c for _, c in changes]
    assert any(is_yellow(c) for c in colours), colours
    assert any(not is_yellow(c) for c in colours), f"the band does not flash: {colours}"
    duration = page.locator(band).evaluate("el => parseFloat(getComputedStyle(el).animationDuration)")
    assert 0.4 <= 1 / duration <= 0.8, f"medium flashes at 0.4–0.8 Hz, not {1 / duration:.2f} Hz"


def test_server_loss_shows_not_live_banner_within_3_s(server: Server, sim, page: Page) -> None:
    """When the server dies, the full-width red NOT LIVE banner appears within 3 s and the values turn grey."""
    sim(server, "Room 1")
    wait_live(page, server)
    hr = page.locator('.tile[data-room="Room 1"] [data-param="HR"] .value')
    expect(hr).to_have_text(re.compile(r"^\d+$"), timeout=ms(10))
    live_colour = hr.evaluate("el => getComputedStyle(el).color")
    banner = page.locator("#not-live-banner")
    expect(banner).to_be_hidden()

    server.kill()
    killed = time.monotonic()
    expect(banner).to_be_visible(timeout=3000)
    assert time.monotonic() - killed < 3.0
    expect(banner).to_have_text(re.compile(r"^NOT LIVE — connection to server lost since \d\d:\d\d:\d\d$"))
    assert is_red(banner.evaluate("el => getComputedStyle(el).backgroundColor"))
    assert banner.evaluate("el => el.getBoundingClientRect().width") >= 1900
    assert hr.evaluate("el => getComputedStyle(el).color") != live_colour
    r, g, b = rgb(hr.evaluate("el => getComputedStyle(el).color"))
    assert max(r, g, b) - min(r, g, b) < 40, "values are greyed while not live"


def test_silent_server_is_not_live_until_it_answers_again(server: Server, page: Page) -> None:
    """A server that stops talking without closing the socket is flagged NOT LIVE by the heartbeat watchdog, and the view returns to live after it resumes."""
    wait_live(page, server)
    banner = page.locator("#not-live-banner")
    server.proc.send_signal(signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        expect(banner).to_be_visible(timeout=ms(5))
        assert time.monotonic() - stopped < seconds(4.5)  # 3 s of silence after the last heartbeat
    finally:
        server.proc.send_signal(signal.SIGCONT)
    expect(banner).to_be_hidden(timeout=ms(12))
    expect(page.locator("body")).to_have_attribute("data-live", "true")


def test_offline_monitor_hides_values(server: Server, sim, page: Page) -> None:
    """A room whose monitor disconnects says MONITOR OFFLINE with the time of its last data instead of showing old values."""
    proc = sim(server, "Room 2")
    wait_live(page, server)
    tile = page.locator('.tile[data-room="Room 2"]')
    expect(tile.locator('[data-param="HR"] .value')).to_have_text(re.compile(r"^\d+$"), timeout=ms(10))
    proc.kill()
    expect(tile).to_have_attribute("data-live", "false", timeout=ms(6))
    expect(tile.locator(".offline")).to_have_text(re.compile(r"^MONITOR OFFLINE — last data \d\d:\d\d:\d\d$"))
    expect(tile.locator(".values")).to_be_hidden()
    expect(tile.locator('[data-param="HR"] .value')).to_have_text("---")


def test_sixteen_rooms_fit_one_screen(server: Server, page: Page) -> None:
    """Sixteen rooms fit a 1920×1080 screen without scrolling, with heart rates in digits at least 72 px high."""
    for i in range(1, 17):
        server.post("/api/sessions", json={"room": f"Room {i}", "mode": "demo"}).raise_for_status()
    wait_live(page, server)
    tiles = page.locator(".tile")
    expect(tiles).to_have_count(16)
    assert tiles.nth(1).get_attribute("data-room") == "Room 2"  # natural order, not "Room 10"
    boxes = [tiles.nth(i).bounding_box() for i in range(16)]
    for box in boxes:
        assert box["x"] >= 0 and box["y"] >= 0
        assert box["x"] + box["width"] <= 1920 and box["y"] + box["height"] <= 1080
    assert page.evaluate("document.documentElement.scrollHeight") <= 1080
    font = tiles.first.locator('[data-param="HR"] .value').evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert font >= 72
    expect(tiles.first.locator(".watermark")).to_have_text("DEMO")
    expect(tiles.first.locator(".offline")).to_have_text("NO MONITOR CONNECTED")
    expect(page.locator(".page-head")).to_contain_text("Not a certified medical device")


def test_room_view_draws_live_trend(server: Server, sim, page: Page) -> None:
    """The room view draws the session's stored HR trend with Plotly and extends it as readings arrive."""
    sim(server, "Room 3")
    sid = session_id(server, "Room 3")
    wait_for(lambda: len(server.get(f"/api/sessions/{sid}/readings", params="HR")["numerics"]) >= 3,
             timeout=10, what="three stored heart rates")

    login(page, server)
    page.goto(f"{server.http}/room/{sid}")
    expect(page.locator("body")).to_have_attribute("data-live", "true", timeout=ms(10))
    count = "() => document.getElementById('trend').data?.[0]?.x.length ?? 0"
    page.wait_for_function(f"() => ({count})() >= 3", timeout=ms(10))
    first = page.evaluate(count)
    path = page.locator("#trend .scatterlayer .trace").first.locator("path.js-line")
    assert len(re.findall(r"[ML]", path.get_attribute("d"))) >= 3
    page.wait_for_function(f"() => ({count})() > {first}", timeout=ms(5))
    expect(page.locator('#current [data-param="HR"] .value')).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("#mode-badge")).to_have_text("TEST")
    expect(page.locator("#room-name")).to_have_text("Room 3")
