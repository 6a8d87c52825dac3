"""Alarm delivery in the browser: who was told, per recipient, in the room view's alarm log, and
acknowledging from a notification's link page."""

from __future__ import annotations

import signal
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.app.delivery_helpers import ROOM, Receiver, delivery_rules, raise_h1, start
from tests.browser.conftest import login
from tests.conftest import seconds, wait_for


def ms(n: float) -> float:
    return seconds(n) * 1000


def test_room_view_shows_each_recipient_and_an_ack_link_page_acknowledges(
        tmp_path: Path, page: Page) -> None:
    """The room view's alarm log shows, under the raise, one line per recipient with its state
    (the primary's delivered, the backup's failed with why); the primary's acknowledge link opens
    a page naming the room whose button acknowledges the alarm, which the log then shows."""
    with Receiver() as receiver:
        receiver.down.add("bob")
        rules = delivery_rules(tmp_path / "rules.yaml", retries=0, steps={
            "high": {"primary": 0, "backup": 0.5}, "medium": {"primary": 0, "backup": 0.5},
            "low": {"primary": 0}})
        notify = [{"url": f"{receiver.url}/{u}", "to": u} for u in ("ann", "bob")]
        srv = start(tmp_path, rules, notify, rooms={ROOM: ("ann", "bob")})
        try:
            mon = raise_h1(srv)
            sid = mon.welcome["session_id"]
            wait_for(lambda: receiver.of("ann"), 5, what="the primary's notice")
            login(page, srv)
            page.goto(f"{srv.http}/room/{sid}")
            raised = page.locator("#alarm-history > li[data-event=raised]").filter(has_text="HR 134")
            lines = raised.locator("ul.deliveries li")
            expect(lines.filter(has_text="ann (primary)")).to_contain_text("delivered", timeout=ms(10))
            expect(lines.filter(has_text="bob (backup)")).to_contain_text("failed (HTTP 503)",
                                                                          timeout=ms(10))
            link = receiver.of("ann")[0]["ack_url"]
            page.goto(link)
            expect(page.locator("body")).to_contain_text(ROOM)
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Acknowledged", timeout=ms(5))
            page.goto(f"{srv.http}/room/{sid}")
            expect(page.locator("#alarm-history")).to_contain_text(
                "acknowledged by ann (via notification)", timeout=ms(10))
            expect(lines.filter(has_text="ann (primary)")).to_contain_text(
                "acknowledged", timeout=ms(10))
        finally:
            srv.kill(signal.SIGTERM)
