"""The report's pages in Debian's Chromium: the course view of a label and the report page."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, expect

from app.record import CheckIn, Dose, Record
from app.store import Store
from tests.browser.conftest import login, watched_page
from tests.conftest import Server, seconds

pytestmark = pytest.mark.browser


def _session(server: Server, room: str, label: str, dose_mg: float) -> int:
    r = server.post("/api/sessions", json={"room": room, "mode": "test", "label": label})
    assert r.status_code == 201, r.text
    sid = int(r.json()["id"])
    store = Store(server.data_dir / "vitalwatch.sqlite3")
    record = Record(store.db)
    now = time.time()
    record.add(sid, CheckIn(t_device=now, label=label, weight_kg=80, drug="ketamine", route="im"),
               "user-nurse", now)
    record.add(sid, Dose(t_device=now, drug="ketamine", route="im", dose_mg=dose_mg), "user-clinician", now)
    store.db.close()
    assert server.post(f"/api/sessions/{sid}/end").status_code == 200
    return sid


def test_course_page_and_report_page(server: Server, browser: Browser) -> None:
    """The sessions page links each session to its report and its label's course; the course page
    shows one column per session of the label with its dose and links to its report; the report
    page of a test session shows the TEST watermark, rotated, over the page."""
    first = _session(server, "Room A", "K-7", 40)
    second = _session(server, "Room B", "K-7", 45)
    _session(server, "Room C", "other", 50)
    with watched_page(browser, viewport={"width": 1280, "height": 900}) as page:
        login(page, server, "reviewer")
        page.goto(f"{server.http}/sessions")  # each session links to its report and its course
        expect(page.locator(f'a[href="/api/sessions/{first}/report.pdf"]')).to_have_count(1)
        page.locator('a[href="/course/K-7"]').first.click()
        page.wait_for_url(f"{server.http}/course/K-7")
        doses = page.locator('tr[data-row="Doses"] td')
        expect(doses).to_have_count(2, timeout=seconds(10) * 1000)
        expect(doses.nth(0)).to_have_text("ketamine 40 mg im")
        expect(doses.nth(1)).to_have_text("ketamine 45 mg im")
        expect(page.locator('tr[data-row="Session"] td')).to_have_text([str(first), str(second)])
        page.click(f'a[href="/api/sessions/{second}/report.html"]')
        mark = page.locator('[data-watermark="TEST"]')
        expect(mark).to_be_visible(timeout=seconds(10) * 1000)
        matrix = mark.evaluate("e => getComputedStyle(e).transform")  # matrix(a, b, c, d, e, f)
        assert matrix.startswith("matrix("), matrix
        assert float(matrix[7:-1].split(",")[1]) < -0.3, matrix  # b = sin(angle): turned, not flat
        expect(page.locator(".status.draft")).to_have_text("DRAFT — not signed")
