"""The roster page: a clinician creates a shift through the form, sees a refused field marked
with its reason, and edits and ends the shift from the list."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.browser.test_dashboard import ms
from tests.conftest import Server

pytestmark = pytest.mark.browser


def test_clinician_creates_edits_and_ends_a_shift(server: Server, page: Page) -> None:
    """On /roster a clinician fills the form (people offered per slot from the server); a nurse
    chosen as their own backup is marked on the backup field with the server's reason; once
    fixed the shift is created and listed as running, its room is given to another nurse, and
    it is ended early; the roster as the API gives it matches at each step."""
    login(page, server, "clinician")
    page.goto(f"{server.http}/roster")
    expect(page.locator("#shifts-body .empty-row")).to_be_visible(timeout=ms(5))
    page.fill("#shift-name", "Day")
    page.fill("#shift-starts", "2020-01-01T07:00")
    page.fill("#shift-ends", "2099-01-01T19:00")
    page.select_option("#shift-clinician", "user-clinician")
    row = page.locator(".room-row").first
    row.locator(".room-name").fill("Room 1")
    row.locator(".room-nurse").select_option("user-nurse")
    row.locator(".room-backup").select_option("user-nurse")
    assert sorted(o.get_attribute("value") or "" for o in row.locator(".room-nurse option").all()) == [
        "", "user-clinician", "user-nurse"]
    page.click("#shift-submit")
    backup = row.locator(".room-backup")
    expect(backup).to_have_attribute("aria-invalid", "true", timeout=ms(3))
    expect(row.locator(".field-error")).to_have_text("a nurse cannot be their own backup")
    expect(page.locator("#shift-message")).to_have_attribute("data-kind", "error")

    backup.select_option("user-clinician")
    page.click("#shift-submit")
    listed = page.locator("#shifts-body tr[data-status='running']")
    expect(listed).to_have_count(1, timeout=ms(3))
    expect(listed.locator(".rooms-cell")).to_have_text("Room 1: user-nurse / user-clinician")
    shift = server.get("/api/roster/shifts", current="true")[0]  # type: ignore[index]
    assert shift["rooms"] == {"Room 1": {"nurse": "user-nurse", "backup": "user-clinician"}}

    listed.get_by_role("button", name="Edit").click()
    expect(page.locator("#editor-title")).to_have_text("Edit shift Day")
    page.locator(".room-row").first.locator(".room-nurse").select_option("user-clinician")
    page.locator(".room-row").first.locator(".room-backup").select_option("user-nurse")
    page.click("#shift-submit")
    expect(listed.locator(".rooms-cell")).to_have_text("Room 1: user-clinician / user-nurse", timeout=ms(3))

    page.once("dialog", lambda d: d.accept())
    listed.get_by_role("button", name="End now").click()
    expect(page.locator("#shifts-body tr[data-status='ended']")).to_have_count(1, timeout=ms(3))
    assert server.get("/api/roster/shifts", current="true") == []
