"""The webhook channel (alerts/delivery/webhook.py) against a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from http.server import HTTPServer
from pathlib import Path

import pytest

from alerts.delivery.config import Channels, WebhookTarget
from alerts.delivery.webhook import Refused, SecretError, WebhookSender, key, senders, sign, verify
from alerts.delivery.wire import Notice, Outcome, State
from tests.alerts.receivers import Request, http_receiver, notice
from tests.conftest import free_port, seconds

DOCS = Path(__file__).resolve().parents[2] / "docs" / "delivery-channels.md"
SECRET = b"0123456789abcdef-webhook-key"
TOLERANCE_S = 300


def checked(request: Request) -> tuple[int, bytes]:
    """A receiver as the docs show it: 204 if ``verify`` accepts the request, 400 if not."""
    try:
        verify(SECRET, request.headers, request.body, now=time.time(), tolerance_s=TOLERANCE_S)
    except Refused as e:
        return 400, json.dumps({"refused": str(e)}).encode()
    return 204, b""


def send(url: str, sent: Notice, timeout_s: float = seconds(2), now: float | None = None,
         secret: bytes = SECRET) -> Outcome:
    async def run() -> Outcome:
        sender = WebhookSender(WebhookTarget(url=url, secret_file=Path("unused")), secret, timeout_s)
        try:
            return await sender.send(sent, now=now)
        finally:
            await sender.close()
    return asyncio.run(run())


def test_a_signed_notice_is_delivered_and_verified_by_the_receiver() -> None:
    """A receiver verifying with ``verify`` takes the POST: the body is the notice's JSON, the
    id is the delivery id, and a 2xx answer is ``delivered``."""
    with http_receiver(checked) as receiver:
        outcome = send(f"{receiver.url}/alarms", notice())
        assert outcome.state is State.delivered and not outcome.retry, outcome
        (got,) = receiver.requests
    assert got.path == "/alarms"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == "41"
    assert Notice.model_validate_json(got.body) == notice()
    assert got.headers["webhook-signature"].startswith("v1,")


def test_verify_refuses_a_tampered_body_a_wrong_secret_and_an_old_timestamp() -> None:
    """What a receiver got is refused once anything signed is changed, with the header and why."""
    with http_receiver(lambda r: (204, b"")) as receiver:
        send(receiver.url, notice())
        (got,) = receiver.requests
    now = int(got.headers["webhook-timestamp"])
    verify(SECRET, got.headers, got.body, now=now, tolerance_s=TOLERANCE_S)  # the original passes
    tampered = got.body.replace(b"Room 3", b"Room 4")
    with pytest.raises(Refused, match="webhook-signature: no signature matches"):
        verify(SECRET, got.headers, tampered, now=now, tolerance_s=TOLERANCE_S)
    with pytest.raises(Refused, match="webhook-signature"):
        verify(b"another-secret-of-16-bytes", got.headers, got.body, now=now, tolerance_s=TOLERANCE_S)
    with pytest.raises(Refused, match="webhook-signature"):  # the id is signed too
        verify(SECRET, {**got.headers, "webhook-id": "42"}, got.body, now=now, tolerance_s=TOLERANCE_S)
    with pytest.raises(Refused, match=r"webhook-timestamp: .* replayed"):
        verify(SECRET, got.headers, got.body, now=now + TOLERANCE_S + 1, tolerance_s=TOLERANCE_S)
    with pytest.raises(Refused, match="webhook-timestamp: .* outside"):  # from the future
        verify(SECRET, got.headers, got.body, now=now - TOLERANCE_S - 1, tolerance_s=TOLERANCE_S)
    with pytest.raises(Refused, match="webhook-signature: missing"):
        verify(SECRET, {**got.headers, "webhook-signature": ""}, got.body, now=now)


def test_a_receiver_refuses_a_notice_signed_too_long_ago() -> None:
    """A request signed more than the tolerance ago (a replay) is refused by a verifying
    receiver, and its 400 is a failure not worth retrying."""
    with http_receiver(checked) as receiver:
        outcome = send(receiver.url, notice(), now=time.time() - TOLERANCE_S - 60)
    assert outcome.state is State.failed and not outcome.retry, outcome
    assert "HTTP 400" in outcome.detail and "webhook-timestamp" in outcome.detail


def test_the_signature_is_standard_webhooks() -> None:
    """The published Standard Webhooks test vector signs to its published signature, and a
    ``whsec_`` secret is base64-decoded into the key as its libraries do."""
    secret = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert secret == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    headers = {"Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "Webhook-Timestamp": "1614265330",
               "Webhook-Signature": f"v1,bm9wZQ== {expected}"}  # a rotated-out key's beside it
    verify(secret, headers, body, now=1614265330 + 10)


@pytest.mark.parametrize(("status", "retry"), [(500, True), (503, True), (429, True),
                                               (404, False), (401, False)])
def test_a_refusing_receiver_fails_the_delivery_retrying_only_what_may_pass(status: int,
                                                                             retry: bool) -> None:
    """A 5xx (or 429) is a failure worth retrying; any other 4xx is not: the same request would
    be refused again. The detail carries the status and the receiver's answer."""
    with http_receiver(lambda r: (status, b'{"error": "nope"}')) as receiver:
        outcome = send(receiver.url, notice())
    assert outcome.state is State.failed and outcome.retry is retry, outcome
    assert f"HTTP {status}" in outcome.detail and "nope" in outcome.detail


def test_a_receiver_that_never_answers_fails_within_the_timeout() -> None:
    """A receiver that takes the request and never answers costs one timeout, not more, and is
    worth a retry."""
    timeout_s = seconds(0.5)
    with http_receiver(lambda r: None) as receiver:
        start = time.monotonic()
        outcome = send(receiver.url, notice(), timeout_s=timeout_s)
        took = time.monotonic() - start
        assert len(receiver.requests) == 1
    assert outcome.state is State.failed and outcome.retry, outcome
    assert "no answer within" in outcome.detail
    assert timeout_s * 0.9 <= took < timeout_s + seconds(0.5), took


def test_nothing_listening_fails_at_once_worth_a_retry() -> None:
    """A refused connection (the receiver restarting) is a failure worth retrying, known well
    before the timeout."""
    start = time.monotonic()
    outcome = send(f"http://127.0.0.1:{free_port()}/alarms", notice(), timeout_s=seconds(2))
    assert outcome.state is State.failed and outcome.retry, outcome
    assert "ConnectError" in outcome.detail
    assert time.monotonic() - start < seconds(1)


def test_the_factory_reads_each_webhooks_key_and_refuses_an_unusable_one(tmp_path: Path) -> None:
    """``senders`` makes one site sender per webhook with its secret file's key, shows no secret
    in ``destination``, and refuses a short or broken key naming the webhook."""
    (tmp_path / "good.secret").write_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
    (tmp_path / "short.secret").write_text("s3cret\n")
    hooks = [{"url": "https://ops:pw@hooks.example/alarms?token=t0k", "secret_file": "good.secret"}]
    channels = Channels.model_validate({"webhooks": hooks, "source": tmp_path / "channels.yaml"})
    (sender,) = senders(channels, timeout_s=1)
    assert sender.to == "site" and sender.destination == "webhook https://hooks.example/alarms"
    short = {"webhooks": [*hooks, {"url": "https://b.example/", "secret_file": "short.secret"}],
             "source": tmp_path / "channels.yaml"}
    with pytest.raises(SecretError, match=r"webhooks\.1\.secret_file: .*short\.secret: the key is 6 bytes"):
        senders(Channels.model_validate(short), timeout_s=1)
    asyncio.run(sender.close())


def test_a_notice_goes_out_signed_with_the_key_the_receiver_holds(tmp_path: Path) -> None:
    """A receiver holding the ``whsec_`` secret verifies what a sender made by ``senders`` signs."""
    line = "whsec_" + base64.b64encode(b"k" * 32).decode()
    (tmp_path / "hook.secret").write_text(line + "\n")

    def respond(request: Request) -> tuple[int, bytes]:
        verify(key(line), request.headers, request.body, now=time.time())
        return 200, b"{}"

    with http_receiver(respond) as receiver:
        channels = Channels.model_validate({"webhooks": [{"url": receiver.url, "secret_file": "hook.secret"}],
                                            "source": tmp_path / "channels.yaml"})

        async def run() -> Outcome:
            (sender,) = senders(channels, timeout_s=seconds(2))
            try:
                return await sender.send(notice())
            finally:
                await sender.close()

        assert asyncio.run(run()).state is State.delivered
        assert len(receiver.requests) == 1


def docs_receiver() -> dict[str, object]:
    """The receiver example of docs/delivery-channels.md, loaded as a module (not run as main)."""
    text = DOCS.read_text()
    code = text.split("<!-- webhook-receiver-example")[1].split("```python\n")[1].split("```")[0]
    namespace: dict[str, object] = {"__name__": "docs_receiver"}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - the docs' own example, run as written
    return namespace


def test_the_documented_receiver_takes_what_the_sender_signs(capsys: pytest.CaptureFixture[str]) -> None:
    """The stdlib-only receiver of the docs, serving on loopback, takes a signed notice once
    (a retry with the same id is answered but not acted on again) and refuses one signed with
    another secret or too long ago."""
    receiver = docs_receiver()
    line = "whsec_" + base64.b64encode(b"r" * 32).decode()
    receiver["SECRET"] = line
    server = HTTPServer(("127.0.0.1", 0), receiver["Receiver"])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        first, again = send(url, notice(), secret=key(line)), send(url, notice(), secret=key(line))
        wrong = send(url, notice(delivery_id=42), secret=SECRET)
        old = send(url, notice(delivery_id=43), secret=key(line), now=time.time() - 400)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(seconds(5))
    assert first.state is State.delivered and again.state is State.delivered, (first, again)
    assert receiver["seen"] == {41}
    assert capsys.readouterr().out == "high Room 3 SpO2 86 % below 90 %\n"
    assert wrong.state is State.failed and not wrong.retry and "does not match" in wrong.detail
    assert old.state is State.failed and not old.retry and "too old" in old.detail
