"""The nurse view's phones (app/push.py): registration, the heartbeat push and its receipt,
lapsing, a push service's "gone", receipts handed to the delivery, and refusals of bad input."""

from __future__ import annotations

import json
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alerts.delivery.wire import State, StatusReport
from alerts.rules import DEFAULT_RULES, load
from app.push import Devices, Receipt, Registration, vapid_key
from app.storage import IntegrityError
from app.store import Store
from tests.alerts.test_delivery_push import Browser, PushService, unb64
from tests.conftest import SSL_CONTEXT, Server, free_port, seconds, wait_for

HEARTBEAT_S = 3.0  # a phone silent 1 s is pinged, one silent 3 s has lapsed
SUBJECT = "mailto:it@clinic.example"


@pytest.fixture
def service() -> Iterator[PushService]:
    svc = PushService().start()
    try:
        yield svc
    finally:
        svc.stop()


def quick_push_server(tmp_path: Path) -> Server:
    """A server whose rules lapse a phone after HEARTBEAT_S (the default is 90 s), with a
    channels file naming the VAPID contact; not yet started."""
    data = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    data["delivery"]["device_heartbeat_s"] = HEARTBEAT_S
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    channels = tmp_path / "channels.yaml"
    channels.write_text(f"push: {{subject: '{SUBJECT}'}}\n", encoding="utf-8")
    return Server(free_port(), tmp_path / "data", args=("--rules", str(rules), "--channels", str(channels)))


@pytest.fixture
def quick_server(tmp_path: Path) -> Iterator[Server]:
    srv = quick_push_server(tmp_path).start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def register(server: Server, endpoint: str, browser: Browser | None = None) -> dict[str, Any]:
    sub = (browser or Browser()).subscription(endpoint)
    r = server.post("/api/push/devices", role="nurse", json={"subscription": sub, "label": "ward phone"})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def receipt(server: Server, secret: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.http}/api/push/receipts", json=body, timeout=seconds(5), verify=SSL_CONTEXT,
                      headers={"Authorization": f"Bearer {secret}"})


def state_of(server: Server, device: int) -> str:
    return next(d for d in server.get("/api/push/devices", role="nurse") if d["id"] == device)["state"]  # type: ignore[attr-defined]


def test_heartbeat_push_answered_keeps_phone_on_and_silence_lapses_it(quick_server: Server,
                                                                       service: PushService) -> None:
    """A registered phone not heard from is sent an encrypted, high-urgency heartbeat push,
    signed for the channels file's contact; its service worker's receipt keeps it "on"; once
    nothing answers for device_heartbeat_s, it has lapsed; the VAPID key file is the server's
    alone (0600)."""
    browser = Browser()
    device = register(quick_server, f"{service.url}/push/hb", browser)
    assert device["secret"].startswith("vwp_")
    ping = wait_for(lambda: service.requests, timeout=HEARTBEAT_S * 2, what="a heartbeat push")[0]
    headers = {k.lower(): v for k, v in ping["headers"].items()}
    assert headers["urgency"] == "high" and headers["topic"] == "heartbeat"
    token = dict(p.split("=", 1) for p in headers["authorization"].split(" ", 1)[1].split(","))["t"]
    assert json.loads(unb64(token.split(".")[1]))["sub"] == SUBJECT
    data = browser.decrypt(ping["body"])
    assert data["type"] == "heartbeat" and data["rooms"] == 0

    assert receipt(quick_server, device["secret"], {"state": "heartbeat"}).status_code == 202
    assert state_of(quick_server, device["id"]) == "on"
    wait_for(lambda: state_of(quick_server, device["id"]) == "lapsed", timeout=HEARTBEAT_S * 3,
             what="the silent phone to lapse")
    health = quick_server.get("/api/health")["push"]  # type: ignore[index]
    assert health == {"devices": 1, "lapsed": 1, "receipts": 1, "receipts_unrouted": 0}, health
    # Heard from again (the page's beat): on again.
    assert quick_server.post(f"/api/push/devices/{device['id']}/heartbeat", role="nurse").status_code == 200
    assert state_of(quick_server, device["id"]) == "on"
    key = quick_server.data_dir / "vapid-private.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_push_service_gone_makes_the_device_gone(quick_server: Server, service: PushService) -> None:
    """A 410 from the push service to the heartbeat push: the device is gone (shown so, its
    receipts refused with 410), until the phone registers again."""
    service.status = 410
    device = register(quick_server, f"{service.url}/push/old")
    wait_for(lambda: state_of(quick_server, device["id"]) == "gone", timeout=HEARTBEAT_S * 2,
             what="the device to be gone")
    assert receipt(quick_server, device["secret"], {"state": "heartbeat"}).status_code == 410
    service.status = 201
    again = register(quick_server, f"{service.url}/push/old")
    assert again["id"] == device["id"] and state_of(quick_server, device["id"]) == "on"


def test_bad_registrations_and_receipts_are_refused_with_the_field(server: Server) -> None:
    """A subscription with a wrong key, a non-HTTPS endpoint elsewhere, a receipt without its
    delivery, a wrong secret, another user's device: each refused, naming the field or why."""
    good = Browser().subscription("https://push.example/p/1")
    bad_key = {**good, "keys": {**good["keys"], "p256dh": "AAAA"}}
    r = server.post("/api/push/devices", role="nurse", json={"subscription": bad_key, "label": "x"})
    assert r.status_code == 422 and "p256dh" in r.text and "P-256" in r.text, r.text
    r = server.post("/api/push/devices", role="nurse",
                    json={"subscription": {**good, "endpoint": "http://push.example/p"}, "label": "x"})
    assert r.status_code == 422 and "endpoint" in r.text and "https" in r.text, r.text
    device = register(server, "https://push.example/p/2")
    r = receipt(server, device["secret"], {"state": "delivered"})
    assert r.status_code == 422 and "delivery_id" in r.text, r.text
    assert receipt(server, "vwp_wrong", {"state": "heartbeat"}).status_code == 401
    assert httpx.post(f"{server.http}/api/push/receipts", json={"state": "heartbeat"},
                      timeout=seconds(5), verify=SSL_CONTEXT).status_code == 401
    r = server.post(f"/api/push/devices/{device['id']}/heartbeat", role="clinician")
    assert r.status_code == 404, "a clinician cannot beat for the nurse's phone"


class Sink:
    def __init__(self) -> None:
        self.reports: list[StatusReport] = []

    def on_receipt(self, report: StatusReport) -> None:
        self.reports.append(report)


def test_devices_lapse_by_time_and_route_receipts(tmp_path: Path, database: str | None) -> None:
    """With time as an argument: a device is due a ping after a third of the heartbeat, lapsed
    after all of it (and when gone), gives a sender until gone, and its receipts reach the
    delivery as StatusReports by its user. On SQLite and on PostgreSQL."""
    store = Store(database or tmp_path / "db.sqlite3")
    try:
        policy = load(None).delivery.model_copy(update={"device_heartbeat_s": 90})
        sink = Sink()
        devices = Devices(store.db, vapid_key(tmp_path), "mailto:a@b.example", policy, sink)
        reg = Registration.model_validate({"subscription": Browser().subscription("https://push.example/1"),
                                           "label": "ann's phone"})
        dev, secret = devices.register("ann", reg, now=1000.0)
        assert [s.destination for s in devices.senders_for("ann")] == [f"push ann #{dev} (ann's phone)"]
        assert devices.due(1029.0) == [] and [u for u, _ in devices.due(1030.0)] == ["ann"]
        devices.pinged(dev, 1030.0)
        assert devices.due(1031.0) == [], "pinged: not again before another third"
        assert devices.lapsed(1089.0) == [] and devices.lapsed(1090.0) == [("ann", "ann's phone")]
        found = devices.by_secret(secret)
        assert found is not None
        devices.receipt(found, Receipt(state="seen", delivery_id=9), now=1100.0)
        assert devices.lapsed(1100.0) == []
        (report,) = sink.reports
        assert (report.delivery_id, report.state, report.by, report.t_server) == (9, State.seen, "ann", 1100.0)
        devices.gone(dev, 1200.0)
        assert devices.senders_for("ann") == [] and devices.lapsed(1200.0) == [("ann", "ann's phone")]
        with pytest.raises(IntegrityError):  # one row per endpoint
            store.db.execute("INSERT INTO push_devices(user, label, subscription, endpoint, secret_hash,"
                             " created, last_heard) VALUES ('b','l','{}',?, 'h', 0, 0)",
                             (json.loads(reg.subscription.model_dump_json())["endpoint"],))
    finally:
        store.close()
