"""The nurse view as an installed app with Web Push: its service worker, what it says when push
cannot be set up, and what the service worker does with a push message — shown, receipted,
acknowledged — in Debian's headless Chromium against a real server."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Worker, expect

from alerts.delivery.push import payload
from alerts.delivery.wire import Notice
from tests.alerts.test_delivery_push import Browser as PushKeys
from tests.alerts.test_delivery_push import PushService
from tests.app.test_push_devices import HEARTBEAT_S, quick_push_server
from tests.browser.conftest import login, watched_page
from tests.browser.feeder import Feeder, active_alarm
from tests.browser.test_dashboard import ms
from tests.conftest import Server, free_port, wait_for

pytestmark = pytest.mark.browser

NOTIFICATIONS = """() => navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) =>
  ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction,
                   silent: n.silent, actions: n.actions.map((a) => a.action), data: n.data })))"""


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A phone-sized page that has granted notifications (so the page tries to subscribe at
    once, as it does for a nurse who allowed them before), failing on JS errors or CSP
    violations."""
    with watched_page(browser, viewport={"width": 360, "height": 740}, has_touch=True,
                      permissions=["notifications"]) as page:
        yield page


def notifications(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(NOTIFICATIONS)  # type: ignore[no-any-return]


def service_worker(page: Page) -> Worker:
    return wait_for(lambda: next((w for w in page.context.service_workers if w.url.endswith("/sw.js")), None),
                    what="the nurse view's service worker")


def registration_id(page: Page, server: Server) -> tuple[Any, str]:
    """A DevTools session and the service worker registration of the server's origin."""
    cdp = page.context.new_cdp_session(page)
    found: dict[str, str] = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: found.update(
        {r["scopeURL"]: r["registrationId"] for r in e["registrations"] if not r["isDeleted"]}))
    cdp.send("ServiceWorker.enable")
    scope = f"{server.http}/"
    # Playwright hands over DevTools events only while it runs: wait in the page, not in sleep.
    wait_for(lambda: scope in found or page.wait_for_timeout(50), what="the service worker registration")
    return cdp, found[scope]


def deliver(cdp: Any, server: Server, reg: str, data: dict[str, Any]) -> None:
    cdp.send("ServiceWorker.deliverPushMessage", {"origin": server.http, "registrationId": reg,
                                                  "data": json.dumps(data)})


def test_no_push_service_says_so_and_the_page_still_alarms(server: Server, phone: Page) -> None:
    """Offline, the browser cannot subscribe at its push service: the page registers its service
    worker, says "Alarms on this phone: push service unreachable" with a loud banner saying
    the open page still alarms, and still shows a new alarm; the manifest and icons load."""
    feed = Feeder(server, "Room 1", HR=80, SpO2=97, RR=14).start()
    try:
        login(phone, server, "nurse")
        phone.goto(f"{server.http}/nurse")
        expect(phone.locator("body")).to_have_attribute("data-live", "true", timeout=ms(10))
        assert service_worker(phone).url == f"{server.http}/sw.js"
        state = phone.locator("#push-state")
        expect(state).to_have_attribute("data-state", "unreachable", timeout=ms(20))
        expect(state).to_have_text("Alarms on this phone: push service unreachable")
        banner = phone.locator("#push-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Alarms will NOT reach this phone when it is locked")
        expect(banner).to_contain_text("This page still shows and sounds alarms while it is open")
        expect(phone.locator("#push-enable")).to_have_text("Try again: enable alarms on this phone")

        # A cuff reading of 186/98: B3, a medium alarm at once (no delay to wait for).
        feed.send({"type": "nibp", "t": time.time(), "status": "ok", "sys": 186, "dia": 98, "map": 127})
        alarm = active_alarm(server, "B3")
        expect(phone.locator(f'.nurse-alarm[data-alarm-id="{alarm["id"]}"]')).to_be_visible(timeout=ms(3))

        manifest = phone.evaluate("""async () => {
          const m = await (await fetch(document.querySelector("link[rel=manifest]").href)).json();
          const icons = await Promise.all(m.icons.map(async (i) => (await fetch(i.src)).ok));
          return { start_url: m.start_url, display: m.display, icons };
        }""")
        assert manifest == {"start_url": "/nurse", "display": "standalone", "icons": [True, True, True]}
    finally:
        feed.stop()


def test_push_shows_receipts_and_acknowledge_reaches_server(server: Server, phone: Page) -> None:
    """A Web Push message handed to the service worker (DevTools' deliverPushMessage) with a real
    notice's payload shows one notification tagged by alarm, requiring interaction, with
    Acknowledge and Open, and receipts it to the server with the device secret; a heartbeat push
    shows one quiet status notification; the Acknowledge action — a synthetic
    ``notificationclick`` dispatched in the service worker, since headless Chromium has no
    notification UI to click — POSTs the notice's ack_url to the server. The link here is made
    up (the shape app/ack_link.py makes, not signed by this server), so the server refuses it,
    and the service worker must say NOT acknowledged with the server's reason (a genuine link
    acknowledging: tests/browser/test_phone_delivery.py)."""
    login(phone, server, "nurse")
    phone.goto(f"{server.http}/nurse")
    expect(phone.locator("#push-state")).to_have_attribute("data-state", "unreachable", timeout=ms(20))
    # This phone's registration, as the page makes it once subscribed (no push service here, so
    # a subscription to nowhere), and its secret put where the page keeps it for the worker.
    sub = PushKeys().subscription(f"http://127.0.0.1:{free_port()}/push/1")
    r = server.post("/api/push/devices", role="nurse", json={"subscription": sub, "label": "test phone"})
    assert r.status_code == 201, r.text
    device = r.json()
    phone.evaluate("""(d) => caches.open("vitalwatch-device").then((c) => c.put("/push-device",
      new Response(JSON.stringify(d))))""", {"id": device["id"], "secret": device["secret"]})
    receipts = lambda: next(d for d in server.get("/api/push/devices", role="nurse")  # noqa: E731
                            if d["id"] == device["id"])["receipts"]

    notice = Notice(delivery_id=11, alarm_id=77, log_id=5, event="raised", session_id=1, room="Room 4",
                    rule="O3", param="SpO2", priority="high", kind="physiological",
                    message="SpO2 84 <= 85", value=84, limit=85, mode="live", step="primary",
                    recipient="user-nurse", decided_server=time.time(),
                    ack_url=f"{server.http}/api/ack/vwa_{'x' * 43}")
    cdp, reg = registration_id(phone, server)
    deliver(cdp, server, reg, payload(notice))
    shown = wait_for(lambda: [n for n in notifications(phone) if n["tag"] == "vitalwatch-alarm-77"],
                     what="the alarm notification")
    assert shown == [{"title": "HIGH alarm · Room 4", "body": "SpO2 84 <= 85", "tag": "vitalwatch-alarm-77",
                      "requireInteraction": True, "silent": False, "actions": ["acknowledge", "open"],
                      "data": {"alarm_id": 77, "delivery_id": 11, "ack_url": notice.ack_url,
                               "room": "Room 4", "priority": "high"}}], shown
    wait_for(lambda: receipts() == 1, what="the delivered receipt")

    deliver(cdp, server, reg, {"type": "heartbeat", "rooms": 2, "t": time.time()})
    status = wait_for(lambda: [n for n in notifications(phone) if n["tag"] == "vitalwatch-status"],
                      what="the status notification")
    assert [(n["title"], n["silent"]) for n in status] == [("vitalwatch: connected · 2 rooms", True)]
    wait_for(lambda: receipts() == 2, what="the heartbeat receipt")

    service_worker(phone).evaluate("""async () => {
      const [n] = await self.registration.getNotifications({ tag: "vitalwatch-alarm-77" });
      self.dispatchEvent(new NotificationEvent("notificationclick", { notification: n, action: "acknowledge" }));
    }""")
    refused = wait_for(lambda: [n for n in notifications(phone) if n["title"].startswith("NOT acknowledged")],
                       what="the answer to the acknowledge")
    assert refused[0]["title"] == "NOT acknowledged · Room 4" and refused[0]["tag"] == "vitalwatch-alarm-77"
    assert re.match(r"^this acknowledge link is not genuine .*Open the nurse view", refused[0]["body"]), refused
    assert receipts() == 3, "the tap was receipted as seen"

    deliver(cdp, server, reg, payload(notice.model_copy(update={"event": "cleared", "delivery_id": 12})))
    wait_for(lambda: not [n for n in notifications(phone) if n["tag"] == "vitalwatch-alarm-77"],
             what="the cleared alarm's notification to close")


# The browser's side of a subscription at a push service, which offline Chromium cannot reach:
# PushManager's subscribe/getSubscription answer a subscription to the test's stand-in push
# service, with keys the test made (the one edge stood in for; everything else is real).
STAND_IN_SUBSCRIPTION = """
(() => {
  const sub = JSON.parse(%s);
  let current = null;
  window.__subscribedWith = null;
  PushManager.prototype.subscribe = async function (options) {
    window.__subscribedWith = options.applicationServerKey;
    current = { endpoint: sub.endpoint, toJSON: () => sub,
                unsubscribe: async () => { current = null; return true; } };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""


def test_enabled_phone_registers_beats_and_turns_off(tmp_path: Path, browser: Browser) -> None:
    """With a push service to subscribe at, the page subscribes with the server's key, registers
    the phone, says "Alarms on this phone: on" with no banner, and beats so the server hears it;
    with the page gone, the server's heartbeat push, handed to the service worker, shows the
    quiet "connected" notification and is receipted; "Turn off" removes the phone."""
    service = PushService().start()
    server = quick_push_server(tmp_path).start()
    sub_keys = PushKeys()
    sub = sub_keys.subscription(f"{service.url}/push/phone")
    try:
        with watched_page(browser, STAND_IN_SUBSCRIPTION % json.dumps(json.dumps(sub)),
                          viewport={"width": 360, "height": 740}, permissions=["notifications"]) as phone:
            login(phone, server, "nurse")
            phone.goto(f"{server.http}/nurse")
            state = phone.locator("#push-state")
            expect(state).to_have_attribute("data-state", "on", timeout=ms(10))
            expect(state).to_have_text("Alarms on this phone: on")
            expect(phone.locator("#push-banner")).to_be_hidden()
            assert phone.evaluate("window.__subscribedWith") == server.get("/api/push/key", role="nurse")["key"]  # type: ignore[index]
            (device,) = server.get("/api/push/devices", role="nurse")  # type: ignore[misc]
            assert device["state"] == "on" and device["label"]
            first = device["last_heard"]
            wait_for(lambda: server.get("/api/push/devices", role="nurse")[0]["last_heard"] > first,  # type: ignore[index]
                     timeout=HEARTBEAT_S * 2, what="the page's beat")
            assert phone.evaluate("""caches.open("vitalwatch-device").then((c) => c.match("/push-device"))
              .then((r) => r.json()).then((d) => d.id)""") == device["id"]

            # The page gone (the phone locked, say): the server pings, and the service worker
            # answers the very message the push service was handed, decrypted as a browser would.
            phone.goto(f"{server.http}/")
            ping = wait_for(lambda: service.requests, timeout=HEARTBEAT_S * 2, what="a heartbeat push")[-1]
            cdp, reg = registration_id(phone, server)
            deliver(cdp, server, reg, sub_keys.decrypt(ping["body"]))
            status = wait_for(lambda: [n for n in notifications(phone) if n["tag"] == "vitalwatch-status"],
                              what="the status notification")
            assert status[0]["title"] == "vitalwatch: connected · 0 rooms", status
            wait_for(lambda: server.get("/api/push/devices", role="nurse")[0]["receipts"] == 1,  # type: ignore[index]
                     what="the service worker's heartbeat receipt")

            phone.goto(f"{server.http}/nurse")
            expect(state).to_have_attribute("data-state", "on", timeout=ms(10))
            phone.locator("#push-disable").click()
            expect(state).to_have_attribute("data-state", "off", timeout=ms(5))
            expect(phone.locator("#push-enable")).to_have_text("Enable alarms on this phone")
            assert server.get("/api/push/devices", role="nurse") == []
    finally:
        server.kill(signal.SIGTERM)
        service.stop()
