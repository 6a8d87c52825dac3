"""Logging in and out in a real browser, what each role is shown, and the admin and sessions
pages working under the server's Content-Security-Policy."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.conftest import Server, password, seconds

pytestmark = pytest.mark.browser


def ms(n: float) -> float:
    return seconds(n) * 1000


@pytest.fixture(scope="module")
def active_session(shared: Server) -> int:
    r = shared.post("/api/sessions", json={"room": "Room Browser", "mode": "test", "label": "P-17"})
    assert r.status_code == 201
    return int(r.json()["id"])


def test_login_page_logs_in_and_shows_a_wrong_password(page: Page, shared: Server) -> None:
    """A wrong password shows the error on the login page and logs nobody in; the right one goes
    to the central station."""
    page.goto(f"{shared.http}/login")
    page.fill("#name", "user-clinician")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong name or password.", timeout=ms(10))
    assert page.url.endswith("/login")
    assert not [c for c in page.context.cookies() if c["name"] == "vw_session"]
    page.fill("#password", password("clinician"))
    page.click("button[type=submit]")
    page.wait_for_url(f"{shared.http}/", timeout=ms(10))
    expect(page.locator("body.central")).to_be_visible()
    session = next(c for c in page.context.cookies() if c["name"] == "vw_session")
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("vw_session") == -1  # the page cannot read it


def test_nurse_sees_the_central_station_but_no_admin_and_no_session_controls(
        page: Page, shared: Server, active_session: int) -> None:
    """A nurse gets the central station and the sessions list, a 403 for /admin, and neither the
    form to start a session nor an End button on the active one."""
    login(page, shared, "nurse")
    assert page.goto(f"{shared.http}/").status == 200
    expect(page.locator("body")).to_have_attribute("data-live", "true", timeout=ms(10))
    expect(page.locator("#logout")).to_be_visible()
    assert page.goto(f"{shared.http}/admin").status == 403
    assert page.goto(f"{shared.http}/sessions").status == 200
    row = page.locator(f"tr[data-session-id='{active_session}']")
    expect(row).to_be_visible(timeout=ms(10))
    expect(row.locator(f"a[href='/room/{active_session}']")).to_be_visible()
    expect(page.locator("#nav a")).to_have_text(["Central station", "Sessions"])
    expect(page.locator("#start-form")).to_be_hidden()
    assert page.locator("[data-action=end-session]").count() == 0
    assert page.get_by_role("button", name=re.compile("start|end", re.IGNORECASE)).count() == 0


def test_clinician_gets_the_session_controls(page: Page, shared: Server, active_session: int) -> None:
    """The same sessions page gives a clinician the start form and an End button, which ends the
    session through the API (CSRF token and all)."""
    login(page, shared, "clinician")
    page.goto(f"{shared.http}/sessions")
    expect(page.locator("#start-form")).to_be_visible(timeout=ms(10))
    page.fill("#start-room", "Room Started In Browser")
    page.click("#start-form button[type=submit]")
    started = page.locator("#active-body tr", has_text="Room Started In Browser")
    expect(started).to_be_visible(timeout=ms(10))
    page.once("dialog", lambda d: d.accept())
    started.locator("[data-action=end-session]").click()
    expect(page.locator("#past-body tr", has_text="Room Started In Browser")).to_be_visible(timeout=ms(10))
    row = page.locator(f"tr[data-session-id='{active_session}']")
    expect(row.locator("[data-action=end-session]")).to_be_visible()
    expect(row.locator(f"a[href='/replay/{active_session}']")).to_be_visible()


def test_after_logout_the_dashboard_sends_to_the_login_page(page: Page, shared: Server) -> None:
    """The logout button ends the login: the browser lands on /login and the dashboard, asked for
    again, redirects there."""
    login(page, shared, "clinician")
    page.goto(f"{shared.http}/")
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login$"), timeout=ms(10))
    page.goto(f"{shared.http}/")
    assert page.url == f"{shared.http}/login?next=/"
    assert not [c for c in page.context.cookies() if c["name"] == "vw_session"]


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "/%5Cevil.example/",
                                    "https://evil.example/"])
def test_login_never_redirects_to_another_site(page: Page, shared: Server, target: str) -> None:
    """A `next` that a browser would resolve to another site sends the user to / instead."""
    page.route(lambda url: urlsplit(url).hostname == "evil.example", lambda route: route.abort())
    page.goto(f"{shared.http}/login?next={target}")
    page.fill("#name", "user-nurse")
    page.fill("#password", password("nurse"))
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url, timeout=ms(10))
    assert page.url.startswith(shared.http), page.url


def test_reviewer_lands_on_sessions(page: Page, shared: Server, active_session: int) -> None:
    """A reviewer is taken to the sessions list (no central station for that role) and sees
    each session with its room, mode, label and duration."""
    page.goto(f"{shared.http}/login")
    page.fill("#name", "user-reviewer")
    page.fill("#password", password("reviewer"))
    page.click("button[type=submit]")
    page.wait_for_url(f"{shared.http}/sessions", timeout=ms(10))
    row = page.locator(f"tr[data-session-id='{active_session}']")
    expect(row).to_contain_text("Room Browser", timeout=ms(10))
    expect(row).to_contain_text("P-17")
    expect(row.locator("td.num")).to_have_text(re.compile(r"^\d+:\d\d:\d\d$"))
    expect(page.locator("#nav a")).to_have_text(["Sessions"])


def test_admin_manages_users_devices_and_reads_the_audit_trail(page: Page, shared: Server) -> None:
    """On /admin an admin adds a device bound to a room and sees its token once (copyable, gone
    after Done), changes its rooms, revokes it, adds and disables a user, and finds all of it in the audit trail, filterable,
    with a CSV export link."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=shared.http)
    page.goto(f"{shared.http}/login")
    page.fill("#name", "user-admin")
    page.fill("#password", password("admin"))
    page.click("button[type=submit]")
    page.wait_for_url(f"{shared.http}/admin", timeout=ms(10))
    expect(page.locator("#users-body tr[data-user='user-nurse']")).to_be_visible(timeout=ms(10))

    page.fill("#device-name", "browser-mon")
    page.fill("#device-rooms", "Room 1")
    page.click("#device-form button[type=submit]")
    expect(page.locator("#token-box")).to_be_visible(timeout=ms(10))
    token = page.locator("#token-value").text_content() or ""
    assert token.startswith("vwd_") and len(token) > 40
    expect(page.locator("#token-box")).to_contain_text("shown only once")
    page.click("#token-copy")
    expect(page.locator("#token-copied")).not_to_be_empty()
    if "Copied" in (page.locator("#token-copied").text_content() or ""):
        assert page.evaluate("navigator.clipboard.readText()") == token
    page.click("#token-done")
    expect(page.locator("#token-box")).to_be_hidden()
    assert token not in page.content()
    device = page.locator("#devices-body tr[data-device='browser-mon']")
    expect(device).to_have_attribute("data-state", "active")
    expect(device.locator("td.rooms")).to_have_text("Room 1")
    page.once("dialog", lambda d: d.accept("Room 2, Room 3"))
    device.locator("[data-action=device-rooms]").click()
    expect(device.locator("td.rooms")).to_have_text("Room 2, Room 3", timeout=ms(10))
    page.once("dialog", lambda d: d.accept())
    device.locator("[data-action=revoke-device]").click()
    expect(device).to_have_attribute("data-state", "revoked", timeout=ms(10))

    page.fill("#user-name", "browser-nurse")
    page.select_option("#user-role", "nurse")
    page.fill("#user-password", "short")
    page.click("#user-form button[type=submit]")  # the browser's own check refuses it
    expect(page.locator("#users-body tr[data-user='browser-nurse']")).to_have_count(0)
    page.fill("#user-password", "a-long-enough-password")
    page.click("#user-form button[type=submit]")
    user = page.locator("#users-body tr[data-user='browser-nurse']")
    expect(user).to_have_attribute("data-state", "active", timeout=ms(10))
    page.once("dialog", lambda d: d.accept())
    user.locator("[data-action=disable-user]").click()
    expect(user).to_have_attribute("data-state", "disabled", timeout=ms(10))

    for action in ("device_added", "device_rooms_changed", "device_revoked", "user_added", "user_disabled"):
        expect(page.locator(f"#audit-body tr[data-action='{action}']").first).to_be_visible(timeout=ms(10))
    page.select_option("#audit-action", "device_revoked")
    expect(page.locator("#audit-body tr")).to_have_count(1, timeout=ms(10))
    expect(page.locator("#audit-body tr")).to_contain_text("browser-mon")
    assert page.get_attribute("#audit-csv", "href") == "/api/audit.csv"
    with page.expect_download() as download:
        page.click("#audit-csv")
    assert download.value.suggested_filename == "vitalwatch-audit.csv"


def test_markup_in_data_is_shown_as_text(page: Page, shared: Server) -> None:
    """A room name and a failed-login name full of HTML show up as text on the sessions and admin
    pages; nothing in them runs (the page fixture fails on any script error)."""
    evil = '<img src=x onerror="window.__pwned=1">'
    assert shared.post("/api/sessions", json={"room": evil, "mode": "test"}).status_code == 201
    login(page, shared, "clinician")
    page.goto(f"{shared.http}/sessions")
    expect(page.locator("#active-body")).to_contain_text(evil, timeout=ms(10))
    assert page.locator("#active-body img").count() == 0
    assert page.evaluate("window.__pwned") is None
