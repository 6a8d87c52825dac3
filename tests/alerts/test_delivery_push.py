"""Web Push sending (alerts/delivery/push.py) against a real HTTP server standing in for a push
service: the VAPID signature it checks, the encrypted body it decrypts as the browser would,
and what each of its answers becomes."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid, Vapid02

from alerts.delivery.push import PushSender, payload
from alerts.delivery.wire import Notice, State
from alerts.rules import load
from tests.conftest import free_port, seconds

TTL = load(None).delivery.push_ttl_s


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class PushService:
    """A push service on loopback: records each request, answers ``status`` (None: never)."""

    status: int | None = 201
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> PushService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                service.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if service.status is None:
                    service.release.wait(seconds(10))  # a push service that never answers
                    return
                self.send_response(service.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def service() -> Iterator[PushService]:
    svc = PushService().start()
    try:
        yield svc
    finally:
        svc.stop()


@dataclass
class Browser:
    """A subscription's key pair and auth secret, made as a browser makes them."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: bytes(range(16)))

    def subscription(self, endpoint: str) -> dict[str, Any]:
        public = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": endpoint, "keys": {"p256dh": b64(public), "auth": b64(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth,  # type: ignore[no-any-return]
                                           version="aes128gcm"))


def notice(**changes: Any) -> Notice:
    fields: dict[str, Any] = {
        "delivery_id": 7, "alarm_id": 42, "log_id": 3, "event": "raised", "session_id": 5,
        "room": "Room 1", "rule": "O3", "param": "SpO2", "priority": "high", "kind": "physiological",
        "message": "SpO2 84 <= 85", "value": 84.0, "limit": 85.0, "mode": "live", "step": "primary",
        "recipient": "nurse-ann", "decided_server": 1_800_000_000.0,
        "ack_url": "https://vw.clinic.example/api/ack/tok"}
    return Notice(**{**fields, **changes})


def server_key() -> tuple[str, bytes]:
    vapid = Vapid()
    vapid.generate_keys()
    public = vapid.public_key.public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    return vapid.private_pem().decode(), public


def send(sender: PushSender, n: Notice) -> Any:
    async def go() -> Any:
        try:
            return await sender.send(n)
        finally:
            await sender.close()
    return asyncio.run(go())


def test_notice_reaches_push_service_signed_and_encrypted(service: PushService) -> None:
    """The push service receives a VAPID token signed with the server's key for its own origin,
    TTL/Urgency/Topic by priority and alarm, and a body that the subscription's private key
    decrypts to the notice's payload — with no person's name in it."""
    pem, public = server_key()
    browser = Browser()
    sender = PushSender(browser.subscription(f"{service.url}/push/abc"), pem, "mailto:it@clinic.example",
                        timeout_s=seconds(5), label="nurse-ann #1 (phone)", ttl_s=TTL)
    outcome = send(sender, notice())
    assert outcome.state is State.sent, outcome
    assert sender.destination == "push nurse-ann #1 (phone)" and "abc" not in sender.destination

    (req,) = service.requests
    assert req["path"] == "/push/abc"
    headers = {k.lower(): v for k, v in req["headers"].items()}
    auth = headers["authorization"]
    assert Vapid02.verify(auth), "the VAPID token's signature verifies"
    params = dict(p.split("=", 1) for p in auth.split(" ", 1)[1].split(","))
    assert unb64(params["k"]) == public, "signed with this server's key"
    claims = json.loads(unb64(params["t"].split(".")[1]))
    assert claims["aud"] == service.url and claims["sub"] == "mailto:it@clinic.example"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["ttl"] == str(TTL["high"]) and headers["urgency"] == "high"
    assert headers["topic"] == "alarm-42"

    data = browser.decrypt(req["body"])
    assert data == payload(notice())
    assert data["title"] == "HIGH alarm · Room 1" and data["body"] == "SpO2 84 <= 85"
    assert data["ack_url"] == "https://vw.clinic.example/api/ack/tok" and data["delivery_id"] == 7
    assert "nurse-ann" not in json.dumps(data)


def test_cleared_low_notice_is_normal_urgency(service: PushService) -> None:
    """A clearing, and any low alarm, go at normal urgency (they need not wake a phone) with the
    low TTL."""
    pem, _ = server_key()
    sender = PushSender(Browser().subscription(f"{service.url}/p"), pem, "mailto:a@b.example",
                        timeout_s=seconds(5), label="x", ttl_s=TTL)
    assert send(sender, notice(event="cleared", priority="low")).state is State.sent
    headers = {k.lower(): v for k, v in service.requests[0]["headers"].items()}
    assert headers["urgency"] == "normal" and headers["ttl"] == str(TTL["low"])


@pytest.mark.parametrize(("status", "gone", "retry"), [(410, True, False), (404, True, False),
                                                       (500, False, True), (429, False, True),
                                                       (400, False, False)])
def test_push_service_answers_become_outcomes(service: PushService, status: int, gone: bool,
                                              retry: bool) -> None:
    """410/404: the subscription is gone (never try again); 5xx/429: failed, worth a retry;
    another 4xx: failed for good."""
    service.status = status
    pem, _ = server_key()
    sender = PushSender(Browser().subscription(f"{service.url}/p"), pem, "mailto:a@b.example",
                        timeout_s=seconds(5), label="x", ttl_s=TTL)
    outcome = send(sender, notice())
    assert (outcome.state, outcome.gone, outcome.retry) == (State.failed, gone, retry), outcome
    assert str(status) in outcome.detail


def test_silent_push_service_fails_within_timeout(service: PushService) -> None:
    """A push service that takes the request and never answers: failed (retry) once the timeout
    has passed, not later."""
    service.status = None
    pem, _ = server_key()
    timeout = seconds(0.5)
    sender = PushSender(Browser().subscription(f"{service.url}/p"), pem, "mailto:a@b.example",
                        timeout_s=timeout, label="x", ttl_s=TTL)
    start = time.monotonic()
    outcome = send(sender, notice())
    took = time.monotonic() - start
    assert outcome.state is State.failed and outcome.retry, outcome
    assert "did not answer" in outcome.detail
    assert timeout <= took < timeout + seconds(1), took


def test_unreachable_service_and_unusable_keys_fail_without_raising() -> None:
    """Nothing listening: failed, worth a retry, the URL's secret path not in the detail; a
    subscription whose key is no P-256 point: failed for good. Neither raises."""
    pem, _ = server_key()
    endpoint = f"http://127.0.0.1:{free_port()}/secret-path"
    sender = PushSender(Browser().subscription(endpoint), pem, "mailto:a@b.example",
                        timeout_s=seconds(5), label="x", ttl_s=TTL)
    outcome = send(sender, notice())
    assert (outcome.state, outcome.retry) == (State.failed, True), outcome
    assert "unreachable" in outcome.detail and "secret-path" not in outcome.detail
    broken = Browser().subscription(endpoint)
    broken["keys"]["p256dh"] = "BAAA"
    sender = PushSender(broken, pem, "mailto:a@b.example", timeout_s=seconds(5), label="x", ttl_s=TTL)
    outcome = send(sender, notice())
    assert (outcome.state, outcome.retry, outcome.gone) == (State.failed, False, False), outcome
    assert "subscription unusable" in outcome.detail
