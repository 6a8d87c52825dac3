"""The replay view (/replay/{id}) in a real browser: a stored session on a timeline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.conftest import Server, seconds
from tests.recording.helpers import replay, surge_recording

pytestmark = pytest.mark.browser


def ms(n: float) -> float:
    return seconds(n) * 1000


def as_it_was(readings: dict, log: list[dict], t: float) -> dict:
    """What the session showed at ``t``, worked out from the REST data independently."""
    hr = [r for r in readings["numerics"] if r["param"] == "HR" and r["t"] <= t][-1]
    cuff = [r for r in readings["nibp"] if r["status"] == "ok" and r["t"] <= t][-1]
    latest: dict[int, dict] = {}
    for e in sorted(log, key=lambda e: e["t"]):
        if e["t"] <= t:
            latest[e["alarm_id"]] = e
    active = {(e["rule"], e["state"]) for e in latest.values() if e["state"] != "cleared"}
    return {"HR": str(round(hr["value"])), "NIBP": f"{round(cuff['sys'])}/{round(cuff['dia'])}", "alarms": active}


def shown(page: Page) -> dict:
    items = page.locator("#active-alarms .alarm-item")
    return {
        "HR": page.locator('#current [data-param="HR"] .value').inner_text(),
        "NIBP": page.locator("#current .nibp").inner_text(),
        "alarms": {(items.nth(i).get_attribute("data-rule"), items.nth(i).get_attribute("data-state"))
                   for i in range(items.count())},
    }


def test_replay_view_plays_and_jumps_to_alarms_as_they_were(server: Server, page: Page, tmp_path: Path) -> None:
    """From the room view's Replay link, the timeline plays at 60×, pauses, and jumps to the next
    and previous alarm, showing the values, the last cuff reading and the alarms of that moment."""
    assert replay(server, surge_recording(tmp_path / "surge.jsonl")).returncode == 0
    sid = server.get("/api/sessions")[0]["id"]
    readings = server.get(f"/api/sessions/{sid}/readings")
    log = [e for e in server.get(f"/api/sessions/{sid}/alarm-log") if e["rule"] != "T4"]
    raises = sorted(e["t"] for e in log if e["event"] == "raised")

    login(page, server)
    page.goto(f"{server.http}/room/{sid}")
    page.click("#replay-link")
    page.wait_for_url(f"**/replay/{sid}")
    body = page.locator("body")
    expect(body).to_have_attribute("data-ready", "true", timeout=ms(10))
    expect(page.locator(".review-badge")).to_have_text("REVIEW — NOT LIVE")
    expect(page.locator("#mode-badge")).to_have_text("REPLAY")
    start = float(body.get_attribute("data-t"))
    assert start == readings["numerics"][0]["t"]

    page.click('[data-speed="60"]')
    page.click("#play")
    expect(page.locator("#play")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(f"() => Number(document.body.dataset.t) > {start + 20}", timeout=ms(5))
    page.click("#play")
    expect(page.locator("#play")).to_have_attribute("aria-pressed", "false")
    paused = float(body.get_attribute("data-t"))
    assert int(page.locator("#slider").input_value()) == round(paused - start)

    page.click("#next-alarm")
    expected_t = next(t for t in raises if t > paused + 0.5)
    page.wait_for_function(f"() => Number(document.body.dataset.t) === {expected_t}", timeout=ms(5))
    assert shown(page) == as_it_was(readings, log, expected_t)
    page.click("#next-alarm")
    later = next(t for t in raises if t > expected_t + 0.5)
    page.wait_for_function(f"() => Number(document.body.dataset.t) === {later}", timeout=ms(5))
    now = shown(page)
    assert now == as_it_was(readings, log, later) and len(now["alarms"]) >= 2
    expect(page.locator("#current .nibp-age")).to_have_text(re.compile(r"<1 min ago|\d+ min ago"))
    page.click("#prev-alarm")
    page.wait_for_function(f"() => Number(document.body.dataset.t) === {expected_t}", timeout=ms(5))
    assert shown(page) == as_it_was(readings, log, expected_t)
    expect(page.locator("#waves")).to_have_attribute("data-waves", "PLETH", timeout=ms(5))
    assert page.locator("#alarm-log li[data-future='false']").count() >= 1
