"""The pages' one feed store in a real browser, against a clinic's own rules file: what a page
shows of the NIBP schedule and the audio pause comes from the session's settings, and each page
gets only the kinds it subscribed to."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import login, watched_page
from tests.browser.feeder import Feeder, session_of
from tests.browser.test_dashboard import ms
from tests.conftest import ROOT, Server, free_port, password, wait_for

pytestmark = pytest.mark.browser

DEFAULT_SCHEDULE = """    - {every_min: 5, until_min: 60}
    - {every_min: 15}
  overdue_grace_min: 3
"""
DEFAULT_PAUSE = "  audio_pause_s: 120\n"

# Resolves with Date.now() at the first animation frame where the tile's NIBP is OVERDUE.
WAIT_OVERDUE = """
async (selector) => {
  for (;;) {
    if (document.querySelector(selector)?.dataset.overdue === "true") return Date.now();
    await new Promise(requestAnimationFrame);
  }
}
"""


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on a clinic's edited rules: the cuff every 2 min with 1 min grace, audio pause 60 s."""
    rules = (ROOT / "alerts" / "default-rules.yaml").read_text()
    assert DEFAULT_SCHEDULE in rules and DEFAULT_PAUSE in rules, "the default rules changed shape"
    rules = rules.replace(DEFAULT_SCHEDULE, "    - {every_min: 2}\n  overdue_grace_min: 1\n")
    rules = rules.replace(DEFAULT_PAUSE, "  audio_pause_s: 60\n")
    directory = tmp_path_factory.mktemp("clinic")
    path: Path = directory / "clinic-rules.yaml"
    path.write_text(rules)
    srv = Server(free_port(), directory / "data", args=("--rules", str(path))).start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def messages_of(frame: dict) -> list[dict]:
    """The messages of one feed frame: a batch's, in order, or the frame itself."""
    return frame["messages"] if frame["type"] == "batch" else [frame]


def room_alarm(server: Server, room: str, rule: str, timeout: float = 15) -> dict:
    """Wait for an active alarm of ``rule`` in ``room``'s session (the module's server keeps the
    other tests' rooms and their alarms) and return its row."""
    sid = session_of(server, room)

    def find() -> dict | None:
        return next((a for a in server.get("/api/alarms", active="true")
                     if a["rule"] == rule and a["session_id"] == sid), None)

    return wait_for(find, timeout=timeout, what=f"an active {rule} alarm in {room}")


def open_central(page: Page, server: Server) -> None:
    login(page, server)
    page.goto(f"{server.http}/")
    expect(page.locator("body")).to_have_attribute("data-live", "true", timeout=ms(10))


def test_clinic_schedule_turns_tile_overdue_when_t3_fires(clinic: Server, page: Page) -> None:
    """On a clinic's schedule of a cuff every 2 min with 1 min grace, a reading 2 min 45 s old is not yet overdue on the tile, and the tile turns OVERDUE when rule T3 raises its alarm on the same session (not at the default 5 + 3 min)."""
    feed = Feeder(clinic, "Room 1", HR=70, SpO2=97, RR=14)
    now = time.time()
    feed.send({"type": "mark", "t": now - 10 * 60, "what": "dose", "text": "IV 0.5 mg/kg"})
    feed.send({"type": "nibp", "t": now - 165, "status": "ok", "sys": 124, "dia": 80, "map": 95})
    feed.start()
    try:
        open_central(page, clinic)
        row = '.tile[data-room="Room 1"] .nibp-row'
        expect(page.locator(row)).to_have_attribute("title", re.compile(r"^cuff every 2 min"), timeout=ms(5))
        assert page.locator(row).get_attribute("data-overdue") == "false"
        sid = session_of(clinic, "Room 1")
        assert not [a for a in clinic.get("/api/alarms", active="true") if a["rule"] == "T3" and a["session_id"] == sid]
        page.evaluate(f"(selector) => {{ window.__overdueAt = ({WAIT_OVERDUE})(selector); }}", row)
        t3 = room_alarm(clinic, "Room 1", "T3", timeout=30)
        expect(page.locator(row)).to_have_attribute("data-overdue", "true", timeout=ms(3))
        overdue_at = page.evaluate("window.__overdueAt") / 1000
        # Both judge the reading's age on the device's clock against the same schedule: 3 min.
        assert abs(overdue_at - t3["decided"]) < 2.5, f"tile {overdue_at - t3['decided']:+.2f} s from T3"
        assert overdue_at - (now - 165) < 3 * 60 + 5
        expect(page.locator(f'{row} .nibp-due')).to_have_text("OVERDUE")
    finally:
        feed.stop()


def test_audio_pause_countdown_starts_at_the_clinic_pause(clinic: Server, page: Page) -> None:
    """With the clinic's audio_pause_s of 60, pausing an alarm's audio makes the tile's countdown start at 1:00 (not the default 2:00)."""
    feed = Feeder(clinic, "Room 2", HR=80, SpO2=97, RR=14).start()
    try:
        open_central(page, clinic)
        feed.values["SpO2"] = 84
        alarm = room_alarm(clinic, "Room 2", "O3")
        state = page.locator('.tile[data-room="Room 2"] .alarm-state')
        assert clinic.post(f"/api/alarms/{alarm['id']}/pause-audio", role="nurse").status_code == 200
        expect(state).to_have_text(re.compile(r"^AUDIO PAUSED (1:00|0:5\d)$"), timeout=ms(3))
    finally:
        feed.stop()


def test_nurse_view_gets_alarms_but_no_waveform(clinic: Server, browser: Browser) -> None:
    """The nurse view subscribes (in its websocket URL) to alarms and numerics without waveforms: from its first frame on, its websocket receives no waveform frame while the room streams pleth, and the room's alarm still arrives and shows."""
    feed = Feeder(clinic, "Room 3", HR=80, SpO2=97, RR=14).start()
    received: list[dict] = []
    sockets: list[str] = []

    def watch(ws) -> None:
        sockets.append(ws.url)
        ws.on("framereceived", lambda payload: received.extend(messages_of(json.loads(payload))))

    with watched_page(browser, viewport={"width": 360, "height": 740}) as phone:
        phone.on("websocket", watch)
        try:
            # Straight to the nurse view: no other page's socket on the record.
            phone.goto(f"{clinic.http}/login?next=/nurse")
            phone.fill("#name", "user-nurse")
            phone.fill("#password", password("nurse"))
            phone.click("button[type=submit]")
            phone.wait_for_url("**/nurse")
            expect(phone.locator("body")).to_have_attribute("data-live", "true", timeout=ms(10))
            start = time.time()
            for i in range(25):  # 10 s of pleth, while SpO2 falls far enough for O3
                samples = [50 + 30 * ((j % 25) / 25) for j in range(50)]
                feed.send({"type": "waveform", "t": start + i * 0.4, "wave": "PLETH", "rate": 125, "samples": samples})
            feed.values["SpO2"] = 84
            alarm = room_alarm(clinic, "Room 3", "O3")
            card = phone.locator(f'.nurse-alarm[data-alarm-id="{alarm["id"]}"]')
            expect(card).to_be_visible(timeout=ms(3))
            for i in range(25, 30):
                feed.send({"type": "waveform", "t": start + i * 0.4, "wave": "PLETH", "rate": 125, "samples": [50] * 50})
            time.sleep(0.5)
        finally:
            feed.stop()
        assert len(sockets) == 1, sockets
        query = parse_qs(urlsplit(sockets[0]).query)
        subscribe = json.loads(query["subscribe"][0])
        assert subscribe["type"] == "subscribe" and "waveform" not in subscribe["kinds"], subscribe
        # The subscription rides in the URL: the very first snapshot answers it, and not one
        # waveform frame ever reaches the phone, not even before that snapshot.
        assert received and received[0]["type"] == "snapshot", received[:1]
        assert set(received[0]["subscription"]["kinds"]) == set(subscribe["kinds"]), received[0]["subscription"]
        after = [m["type"] for m in received]
        assert "waveform" not in after, sorted(set(after))
        # The alarm arrives as its own message (or, had the page reconnected, in the new snapshot).
        heard = [m["type"] for m in received
                 if (m["type"] == "alarm" and m["alarm"]["id"] == alarm["id"])
                 or (m["type"] == "snapshot" and any(a["id"] == alarm["id"] for r in m["rooms"] for a in r["alarms"]))]
        assert heard, (len(sockets), [t for t in after if t not in ("numerics", "heartbeat")])
        assert "numerics" in after


def test_the_page_store_applies_a_batch_in_order(clinic: Server, page: Page) -> None:
    """The central station's feed store applies a batch frame's messages one by one, in order,
    as if each had come alone: two numerics of one room leave the second's HR, and the heartbeat
    inside moves the store's server clock."""
    feed = Feeder(clinic, "Room 4", HR=70, SpO2=97, RR=14).start()
    try:
        sid = session_of(clinic, "Room 4")
        open_central(page, clinic)
        page.wait_for_function(f"() => window.__vwStore.room({sid}) !== undefined", timeout=ms(10))
        t = time.time() + 3600  # applied synchronously: no message of the feeder can come between
        applied = page.evaluate("""([sid, t]) => {
          const store = window.__vwStore;
          const reading = (hr) => ({type: "numerics", room: "Room 4", session_id: sid, t_server: t,
                                     readings: {HR: {value: hr, t_device: t}}});
          const seen = [];
          const stop = store.subscribe((change) => seen.push(change.part));
          store.apply({type: "batch", messages: [reading(101), {type: "heartbeat", t_server: t},
                                                 reading(102)]});
          stop();
          return {hr: store.room(sid).latest.HR.value, tServer: store.tServer, seen};
        }""", [sid, t])
        assert applied == {"hr": 102, "tServer": t, "seen": ["numerics", "heartbeat", "numerics"]}
    finally:
        feed.stop()
