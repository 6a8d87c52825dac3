"""A monitor's mark text is shown as text on the room view's trend, never read as HTML by Plotly."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.browser.feeder import Feeder, session_of
from tests.conftest import Server, seconds

pytestmark = pytest.mark.browser

# Short enough (22 characters) to be drawn whole on the chart, not shortened.
SHORT_LINK = '<a href="//x.y">go</a>'
LONG_LINK = '<a href="http://evil">click</a>'
OTHER_MARKUP = "<b>x</b> &amp; <br>y"

# Every <a> element under the trend, HTML or SVG: Plotly draws its links as SVG <a>.
LINKS = """() => [...document.querySelectorAll('#trend *')]
  .filter((n) => n.localName === 'a').map((n) => n.outerHTML)"""


def ms(n: float) -> float:
    return seconds(n) * 1000


def test_mark_text_with_markup_is_literal_text_on_the_trend(server: Server, page: Page) -> None:
    """Marks whose text holds a link or other Plotly markup are drawn and hovered as exactly
    that text, and the trend contains no <a> element."""
    feed = Feeder(server, "Room 1", HR=72, SpO2=98).start()
    try:
        sid = session_of(server, "Room 1")
        now = time.time()
        assert feed.send({"type": "mark", "t": now - 2, "what": "note", "text": SHORT_LINK})["type"] == "ack"
        login(page, server)
        page.goto(f"{server.http}/room/{sid}")
        # One mark arrives with the page's first load, the others live over its websocket.
        for what, text in (("treatment", LONG_LINK), ("intervention", OTHER_MARKUP)):
            assert feed.send({"type": "mark", "t": time.time(), "what": what, "text": text})["type"] == "ack"
        shown = page.locator("#trend .annotation-text")
        expect(shown.filter(has_text="NOTE: ")).to_have_text(f"NOTE: {SHORT_LINK}", timeout=ms(15))
        expect(shown.filter(has_text="TREATMENT: ")).to_have_text(f"TREATMENT: {LONG_LINK[:21]}…")
        expect(shown.filter(has_text="INTERVENTION: ")).to_have_text(f"INTERVENTION: {OTHER_MARKUP}")
        assert page.evaluate(LINKS) == []
        # The full text is in the annotation's hover label: literal there too.
        page.locator("#trend .annotation").filter(has_text="TREATMENT: ").hover()
        hover = page.locator("#trend .hoverlayer .hovertext")
        expect(hover).to_have_text(f"TREATMENT — {LONG_LINK} (monitor:{feed.monitor.monitor_id})",
                                   timeout=ms(5))
        assert page.evaluate(LINKS) == []
    finally:
        feed.stop()
