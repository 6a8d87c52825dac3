"""The central station with sites, in a real browser: a user granted two sites sees the tiles
grouped under a header per site; a user granted one site sees that site's rooms only, with no
header, as before sites; a site whose monitors all fall silent gets its SITE LINK LOST banner."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.app.helpers import RawMonitor, numerics
from tests.conftest import Server, free_port, seconds

pytestmark = pytest.mark.browser

T0 = 1_800_000_000.0
PASSWORD = "a site password"


def feed_room(server: Server, monitor_id: str, room: str, site: str | None) -> RawMonitor:
    server.device_token(monitor_id, site=site)
    mon = RawMonitor(server, monitor_id=monitor_id, room=room)
    mon.send(numerics(1, T0, HR=72, SpO2=98))
    return mon


def login_as(page: Page, server: Server, name: str, sites: tuple[str, ...]) -> None:
    accounts = server._accounts()
    try:
        accounts.add_user(name, "nurse", PASSWORD, time.time(), granted=sites)
    finally:
        accounts.db.close()
    page.goto(f"{server.http}/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def test_two_sites_are_grouped_under_a_header_each(server: Server, page: Page) -> None:
    """Granted north and south: a header "north" above N-1 and N-2, one "south" above S-1, in that
    order; C-1 (the default site, not granted) is not on the page."""
    mons = [feed_room(server, "mon-n1", "N-1", "north"), feed_room(server, "mon-n2", "N-2", "north"),
            feed_room(server, "mon-s1", "S-1", "south"), feed_room(server, "mon-c1", "C-1", None)]
    login_as(page, server, "nurse-two", ("north", "south"))
    page.goto(f"{server.http}/")
    expect(page.locator(".site-head")).to_have_count(2, timeout=seconds(10) * 1000)
    expect(page.locator(".site-head")).to_have_text(["north", "south"])
    order = page.eval_on_selector_all(
        "#grid > *", "nodes => nodes.map(n => n.classList.contains('site-head') ? 'head:' + n.dataset.site"
        " : n.dataset.room)")
    assert order == ["head:north", "N-1", "N-2", "head:south", "S-1"]
    expect(page.locator(".tile[data-room='C-1']")).to_have_count(0)
    for mon in mons:
        mon.close()


def test_one_site_shows_only_its_rooms_without_headers(server: Server, page: Page) -> None:
    """Granted south only: S-1's tile and nothing of north or the default site, and no site
    header (the grid as it looks without sites)."""
    mons = [feed_room(server, "mon-n1", "N-1", "north"), feed_room(server, "mon-s1", "S-1", "south"),
            feed_room(server, "mon-c1", "C-1", None)]
    login_as(page, server, "nurse-south", ("south",))
    page.goto(f"{server.http}/")
    expect(page.locator(".tile[data-room='S-1']")).to_have_count(1, timeout=seconds(10) * 1000)
    expect(page.locator(".tile")).to_have_count(1)
    expect(page.locator(".site-head")).to_have_count(0)
    assert page.locator("#grid").get_attribute("data-grouped") == "false"
    for mon in mons:
        mon.close()


def test_a_silent_site_shows_its_site_link_lost_banner(tmp_path: Path, page: Page) -> None:
    """With the site-link rule's delay at 2 s in the rules file: when north's only monitor
    disconnects, the central view shows "SITE LINK LOST: north — no monitor heard for N s";
    when it is back, the banner goes."""
    from tests.app.helpers import rules_with

    rules = rules_with(tmp_path / "rules.yaml", N2=2)
    srv = Server(free_port(), tmp_path / "data", args=("--rules", str(rules))).start()
    try:
        mon = feed_room(srv, "mon-n1", "N-1", "north")
        login_as(page, srv, "nurse-north", ("north",))
        page.goto(f"{srv.http}/")
        expect(page.locator(".tile[data-room='N-1']")).to_have_count(1, timeout=seconds(10) * 1000)
        mon.close()
        banner = page.locator(".site-link-lost[data-site='north']")
        expect(banner).to_contain_text("SITE LINK LOST: north — no monitor heard for",
                                       timeout=seconds(15) * 1000)
        back = RawMonitor(srv, monitor_id="mon-n1", room="N-1")
        back.send(numerics(1, T0 + 5, HR=73))
        expect(banner).to_have_count(0, timeout=seconds(10) * 1000)
        back.close()
    finally:
        srv.kill()


def test_the_admin_page_grants_sites_and_registers_a_device_at_a_site(server: Server, page: Page) -> None:
    """On the admin page an admin adds a user with sites "north, south" and a device at site
    north: the users table shows the user's sites, the devices table the device's site, and the
    server stored both."""
    from tests.browser.conftest import login

    login(page, server, "admin")
    page.goto(f"{server.http}/admin")
    page.fill("#user-name", "nurse-admin-made")
    page.select_option("#user-role", "nurse")
    page.fill("#user-sites", "north, south")
    page.fill("#user-password", PASSWORD)
    page.click("#user-form button[type=submit]")
    row = page.locator("#users-body tr[data-user='nurse-admin-made'] td.sites")
    expect(row).to_have_text("north, south", timeout=seconds(10) * 1000)
    page.fill("#device-name", "mon-admin-made")
    page.fill("#device-rooms", "N-9")
    page.fill("#device-site", "north")
    page.click("#device-form button[type=submit]")
    expect(page.locator("#devices-body tr[data-device='mon-admin-made'] td.site")).to_have_text(
        "north", timeout=seconds(10) * 1000)
    accounts = server._accounts()
    try:
        assert accounts.user_sites("nurse-admin-made") == ("north", "south")
        assert accounts.device_site("mon-admin-made") == "north"
    finally:
        accounts.db.close()
