"""Alarm delivery tried as a new user would: a nurse's installed, locked phone gets the alarm of
an assigned room; unacknowledged, the backup and then the clinician are told on schedule; a
receiver that is down is a technical alarm on the central station; the nurse acknowledges from
the notification; every step shows per recipient. Real server, real channels (Web Push through a
stand-in push service — the only part stood in for — apprise's JSON notifications to a real HTTP
receiver, a signed webhook to a port nobody listens on) and headless Chromium."""

from __future__ import annotations

import base64
import json
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, expect

from app.roster import Roster
from app.store import Store
from tests.alerts.receivers import HttpReceiver, http_receiver
from tests.alerts.test_delivery_push import Browser as PushKeys
from tests.alerts.test_delivery_push import PushService
from tests.app.delivery_helpers import ROOM, delivery_rules, raise_h1
from tests.app.helpers import Dashboard
from tests.browser.conftest import login, watched_page
from tests.browser.test_dashboard import ms
from tests.browser.test_nurse_push import STAND_IN_SUBSCRIPTION, deliver, registration_id, service_worker
from tests.conftest import Server, free_port, seconds, wait_for

pytestmark = pytest.mark.browser

SW_NOTIFICATIONS = """() => self.registration.getNotifications().then((ns) =>
  ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => a.action) })))"""


@pytest.fixture
def inbox() -> Iterator[HttpReceiver]:
    """A notification service's receiving end (apprise ``json://`` POSTs a JSON title and message
    to one path per person), answering 200."""
    with http_receiver(lambda request: (200, b"")) as receiver:
        yield receiver


def told(inbox: HttpReceiver, who: str) -> list[tuple[float, dict[str, Any]]]:
    """What ``who`` was sent, with when it came."""
    return [(r.t, json.loads(r.body)) for r in inbox.requests if r.path.strip("/") == who]


def test_locked_phone_alarm_escalates_to_backup_then_clinician_and_a_down_receiver_alarms(
        tmp_path: Path, browser: Browser, inbox: HttpReceiver) -> None:
    """A nurse installs the nurse view on a phone-sized browser (manifest, service worker, alarms
    on) and locks it; an alarm in the room the roster gives her reaches the push service
    encrypted for that phone and, handed over, shows a notification with Acknowledge. Nobody
    acknowledges: the backup (bob) is told after the rules' backup delay and the clinician (clara)
    after hers. The site's webhook receiver is down: D2 (channel down) is on the central station
    within seconds. The nurse taps Acknowledge on the lock screen: the central station shows the
    alarm acknowledged by her via the notification, the audit trail has it, and the alarm's
    deliveries list every recipient with its state."""
    backup_s, clinician_s = seconds(5), seconds(10)
    steps = {"primary": 0, "backup": backup_s, "clinician": clinician_s, "everyone": 3600}
    rules = delivery_rules(tmp_path / "rules.yaml", steps={"high": steps, "medium": steps, "low": {"primary": 0}},
                           retries=1, retry_backoff_s=0.5, send_timeout_s=seconds(2))
    secret = tmp_path / "webhook.secret"
    secret.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode() + "\n")
    channels = tmp_path / "channels.yaml"
    channels.write_text(yaml.safe_dump({
        "push": {"subject": "mailto:it@clinic.example"},
        "notify": [{"url": f"json{inbox.url.removeprefix('http')}/{who}", "to": who} for who in ("bob", "clara")],
        "webhooks": [{"url": f"http://127.0.0.1:{free_port()}/alarms", "secret_file": str(secret)}],
    }), encoding="utf-8")
    service = PushService().start()
    server = Server(free_port(), tmp_path / "data",
                    args=("--rules", str(rules), "--channels", str(channels))).start()
    store = Store(server.data_dir / "vitalwatch.sqlite3")
    Roster(store.db).add_shift("day", time.time() - 60, time.time() + 3600, "clara",
                               {ROOM: ("user-nurse", "bob")}, by="test", now=time.time())
    store.db.close()
    keys = PushKeys()
    subscription = keys.subscription(f"{service.url}/push/phone")
    try:
        with watched_page(browser, STAND_IN_SUBSCRIPTION % json.dumps(json.dumps(subscription)),
                          viewport={"width": 360, "height": 740}, has_touch=True,
                          permissions=["notifications"]) as phone:
            login(phone, server, "nurse")
            phone.goto(f"{server.http}/nurse")
            expect(phone.locator("#push-state")).to_have_attribute("data-state", "on", timeout=ms(15))
            assert phone.evaluate("document.querySelector('link[rel=manifest]').href").endswith(".webmanifest")
            expect(phone.locator("#roster-note")).to_contain_text(ROOM, timeout=ms(10))
            worker = service_worker(phone)
            cdp, registration = registration_id(phone, server)
            # Locked: the page is frozen (no script runs in it); only the service worker answers.
            cdp.send("Page.setWebLifecycleState", {"state": "frozen"})

            central = Dashboard(server)
            raise_h1(server)
            raised = central.wait(lambda m: m["type"] == "alarm" and m["event"] == "raised"
                                  and m["alarm"]["rule"] == "H1")
            alarm_id, t_raised = raised["alarm"]["id"], time.time()

            def pushed() -> list[dict[str, Any]]:
                return [m for r in service.requests if (m := keys.decrypt(r["body"])).get("alarm_id") == alarm_id]

            (message,) = wait_for(pushed, timeout=seconds(10), what="the alarm at the push service")
            assert (message["event"], message["room"], message["priority"]) == ("raised", ROOM, "medium")
            assert "user-nurse" not in json.dumps(message), "a push crosses the push service: no names"
            deliver(cdp, server, registration, message)
            shown = wait_for(lambda: [n for n in worker.evaluate(SW_NOTIFICATIONS)
                                      if n["tag"] == f"vitalwatch-alarm-{alarm_id}"], what="the lock-screen notification")
            assert ROOM in shown[0]["title"] and "acknowledge" in shown[0]["actions"]

            # Unacknowledged: the backup, then the clinician, each on the rules' schedule.
            bob = wait_for(lambda: told(inbox, "bob"), timeout=backup_s + seconds(10), what="the backup")
            assert bob[0][0] - t_raised >= backup_s - 1 and ROOM in bob[0][1]["title"]
            assert told(inbox, "clara") == [], "the clinician is told only after her own delay"
            clara = wait_for(lambda: told(inbox, "clara"), timeout=clinician_s + seconds(10), what="the clinician")
            assert clara[0][0] - t_raised >= clinician_s - 1
            assert "Acknowledge: " in clara[0][1]["message"], "a link to acknowledge from her phone"

            # The site's webhook has nobody listening: a technical alarm on the central station.
            down = central.wait(lambda m: m["type"] == "alarm" and m["event"] == "raised"
                                and m["alarm"]["rule"] == "D2", timeout=20)
            assert down["room"] == ROOM

            # The nurse taps Acknowledge (headless Chromium has no notification UI: the tap is a
            # notificationclick dispatched in the service worker, which is what the tap fires).
            worker.evaluate("""async (tag) => {
              const [n] = await self.registration.getNotifications({ tag });
              self.dispatchEvent(new NotificationEvent("notificationclick", { notification: n, action: "acknowledge" }));
            }""", f"vitalwatch-alarm-{alarm_id}")
            try:
                acked = central.wait(lambda m: m["type"] == "alarm" and m["event"] == "acknowledged"
                                     and m["alarm"]["id"] == alarm_id, timeout=20)
            except AssertionError:
                raise AssertionError(worker.evaluate(SW_NOTIFICATIONS)) from None
            assert acked["by"] == "user-nurse (via notification)"
            audit = [e for e in server.get("/api/audit", role="admin") if e["action"] == "alarm_acknowledge"]
            assert [(e["user"], e["target"]) for e in audit] == [("user-nurse", f"alarm {alarm_id}")]

            def steps_of() -> dict[tuple[str, str, str], str]:
                return {(d["step"], d["recipient"], d["channel"]): d["state"]
                        for d in server.get(f"/api/alarms/{alarm_id}/deliveries") if d["event"] == "raised"}

            wait_for(lambda: steps_of().get(("site", "", "webhook")) == "failed", what="the webhook's failure")
            states = steps_of()
            assert states[("primary", "user-nurse", "push")] == "acknowledged", states
            assert states[("backup", "bob", "notify")] == "sent", states
            assert states[("clinician", "clara", "notify")] == "sent", states
    finally:
        server.kill(signal.SIGTERM)
        service.stop()
