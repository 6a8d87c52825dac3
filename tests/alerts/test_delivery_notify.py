"""The notification-service channel (alerts/delivery/notify.py) through apprise to real receivers
on loopback: a ntfy-style HTTP server and an SMTP server."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path

import pytest

from alerts.delivery.config import Channels, NotifyTarget
from alerts.delivery.notify import NotifyError, NotifySender, senders
from alerts.delivery.wire import Notice, Outcome, State
from tests.alerts.receivers import http_receiver, notice, smtp_receiver
from tests.conftest import free_port, seconds

DOCS = Path(__file__).resolve().parents[2] / "docs" / "delivery-channels.md"
NAMES = ("nurse-ann",)  # the notice's recipient: a user's name must never leave the server


def send_all(url: str, notices: list[Notice], timeout_s: float = seconds(2),
             to: str = "site") -> list[Outcome]:
    async def run() -> list[Outcome]:
        sender = NotifySender(NotifyTarget(url=url, to=to), timeout_s)
        try:
            return [await sender.send(n) for n in notices]
        finally:
            await sender.close()
    return asyncio.run(run())


def ntfy_url(base: str, topic: str = "ward-3") -> str:
    return base.replace("http://", "ntfy://") + f"/{topic}"


def test_ntfy_gets_title_body_and_the_priority_of_each_alarm() -> None:
    """A ntfy server gets the notice's title, its alarm text with the acknowledge link, and a
    priority that follows the alarm's: max for high, high for medium, the default for low and
    for a cleared alarm (nothing left to do)."""
    sent = [notice(), notice(priority="medium"), notice(priority="low", ack_url=None),
            notice(event="cleared")]
    with http_receiver(lambda r: (200, b'{"id": "x"}')) as receiver:
        outcomes = send_all(ntfy_url(receiver.url), sent)
        got = receiver.requests
    assert [o.state for o in outcomes] == [State.sent] * 4, outcomes
    payloads = [json.loads(r.body) for r in got]
    assert [p["topic"] for p in payloads] == ["ward-3"] * 4
    assert payloads[0]["title"] == "HIGH alarm · Room 3"
    assert payloads[0]["message"] == "SpO2 86 % below 90 %\nAcknowledge: https://vw.clinic.example/ack/Zm9vYmFy"
    assert payloads[2]["message"] == "SpO2 86 % below 90 %"
    assert payloads[3]["title"] == "HIGH alarm cleared · Room 3"
    assert [r.headers.get("x-priority") for r in got] == ["max", "high", None, None]
    assert "x-icon" not in got[0].headers  # no icon for phones to fetch from the internet
    for request in got:
        assert not any(name.encode() in request.body for name in NAMES)


def test_gotify_gets_the_priority_of_each_alarm() -> None:
    """A Gotify server gets each alarm at its own priority: 10 (emergency) for high, 8 for
    medium, 5 (normal) for low, with the application token it was given."""
    with http_receiver(lambda r: (200, b"{}")) as receiver:
        url = receiver.url.replace("http://", "gotify://") + "/AbCdEfGhIjKlMnO"
        outcomes = send_all(url, [notice(priority=p) for p in ("high", "medium", "low")])
        got = receiver.requests
    assert [o.state for o in outcomes] == [State.sent] * 3, outcomes
    assert [json.loads(r.body)["priority"] for r in got] == [10, 8, 5]
    assert {(r.path, r.headers["x-gotify-key"]) for r in got} == {("/message", "AbCdEfGhIjKlMnO")}


def test_a_demo_alarm_says_so_in_its_title() -> None:
    """A notice from a demo session is titled [DEMO], so it cannot pass for a real alarm."""
    with http_receiver(lambda r: (200, b"{}")) as receiver:
        (outcome,) = send_all(ntfy_url(receiver.url), [notice(mode="demo")])
        (got,) = receiver.requests
    assert outcome.state is State.sent
    assert json.loads(got.body)["title"] == "[DEMO] HIGH alarm · Room 3"


def test_ntfy_answering_500_fails_with_the_reason_and_no_password() -> None:
    """A ntfy server answering 500 is a failed delivery worth retrying whose detail says what
    apprise found; neither the detail nor the destination shows the URL's password, even when
    the service quotes it back."""
    answer = b'{"code": 50001, "error": "cache full for ops:Tops3cretPw"}'
    with http_receiver(lambda r: (500, answer)) as receiver:
        url = ntfy_url(receiver.url).replace("ntfy://", "ntfy://ops:Tops3cretPw@")
        sender = NotifySender(NotifyTarget(url=url, to="site"), seconds(2))
        (outcome,) = send_all(url, [notice()])
        assert len(receiver.requests) == 1
        assert receiver.requests[0].headers["authorization"].startswith("Basic ")
    assert outcome.state is State.failed and outcome.retry, outcome
    assert "cache full" in outcome.detail and "ward-3" in outcome.detail, outcome.detail
    assert "Tops3cretPw" not in outcome.detail
    assert sender.destination.startswith("notify ntfy://ops:****@127.0.0.1:")
    assert "Tops3cretPw" not in sender.destination


def test_a_service_that_never_answers_fails_within_the_timeout() -> None:
    """A service that takes the request and never answers fails the delivery within the
    sender's timeout, worth a retry."""
    timeout_s = seconds(0.5)
    with http_receiver(lambda r: None) as receiver:
        start = time.monotonic()
        (outcome,) = send_all(ntfy_url(receiver.url), [notice()], timeout_s=timeout_s)
        took = time.monotonic() - start
    assert outcome.state is State.failed and outcome.retry, outcome
    assert "no answer within" in outcome.detail, outcome.detail
    assert took < timeout_s + seconds(0.5), took


def test_email_carries_title_and_text_and_no_name() -> None:
    """An apprise mailto:// URL to a plain SMTP server sends one message: subject the notice's
    title, body its text and acknowledge link, to the address of the URL, with no user's name."""
    with smtp_receiver() as (port, mailbox):
        url = (f"mailto://127.0.0.1:{port}?mode=insecure&from=alarms@clinic.example"
               "&to=ward3@clinic.example")
        (outcome,) = send_all(url, [notice()], to="nurse-ann")
    assert outcome.state is State.sent, outcome
    (message,) = mailbox.messages
    assert message["Subject"] == "HIGH alarm · Room 3"
    assert mailbox.envelopes == [("alarms@clinic.example", ["ward3@clinic.example"])]
    text = message.get_body(("plain",)).get_content()
    assert "SpO2 86 % below 90 %" in text
    assert "Acknowledge: https://vw.clinic.example/ack/Zm9vYmFy" in text
    whole = message.as_string()
    assert not any(name in whole for name in NAMES)


def test_email_to_no_server_fails_with_the_reason() -> None:
    """With no SMTP server listening the delivery fails, worth a retry, saying it could not
    connect."""
    url = f"mailto://127.0.0.1:{free_port()}?mode=insecure&from=a@clinic.example&to=b@clinic.example"
    (outcome,) = send_all(url, [notice()])
    assert outcome.state is State.failed and outcome.retry, outcome
    assert "Connection error" in outcome.detail, outcome.detail


def test_the_factory_makes_one_sender_per_url_and_refuses_unusable_ones() -> None:
    """``senders`` makes one sender per apprise URL with its ``to``, and refuses a URL apprise
    cannot use, or a priority the alarm's would override, naming the entry and never its password."""
    channels = Channels.model_validate({"notify": [
        {"url": "ntfys://ntfy.clinic.example/ward-3", "to": "site"},
        {"url": "pover://userkey0123456789abcdefghijkl@apptoken0123456789abcdefghij", "to": "nurse-ann"}]})
    made = senders(channels, timeout_s=1)
    assert [(s.to, s.destination.split("://")[0]) for s in made] == [
        ("site", "notify ntfys"), ("nurse-ann", "notify pover")]
    assert "apptoken0123456789abcdefghij" not in made[1].destination
    for sender in made:
        asyncio.run(sender.close())
    unknown = Channels.model_validate({"notify": [
        {"url": "ntfy://a/b", "to": "site"}, {"url": "nosuch://user:Pw12345@host", "to": "site"}]})
    with pytest.raises(NotifyError, match=r"^notify\.1\.url: apprise cannot use this nosuch:// URL") as e:
        senders(unknown, timeout_s=1)
    assert "Pw12345" not in str(e.value)
    fixed = Channels.model_validate({"notify": [{"url": "ntfy://host/topic?priority=min", "to": "site"}]})
    with pytest.raises(NotifyError, match=r"^notify\.0\.url: priority= is set per alarm"):
        senders(fixed, timeout_s=1)


def test_every_example_url_in_the_docs_is_one_apprise_takes() -> None:
    """Each URL of docs/delivery-channels.md's examples makes a sender (apprise parses it and has
    the service), and none shows its password or token in ``destination``."""
    text = DOCS.read_text()
    table = text.split("Some of the URLs a clinic uses:")[1].split("\n\n")[1]
    urls = re.findall(r"^\| [^|]+ \| `([^`]+)` \|$", table, flags=re.MULTILINE)
    yaml_urls = re.findall(r'\{url: "([^"]+)", to: ', text)
    assert len(urls) == 11 and len(yaml_urls) == 2, (urls, yaml_urls)
    for url in [*urls, *yaml_urls]:
        sender = NotifySender(NotifyTarget(url=url, to="site"), timeout_s=1)
        for secret in ("PASSWORD", "AUTHTOKEN", "KODuebWbDGYFr0z0eu", "azGDORePK8gMaC0QOYAMyEEuzJnyUi"):
            assert secret not in sender.destination, (url, sender.destination)
        asyncio.run(sender.close())


def test_a_url_apprise_refuses_says_why_without_its_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """A URL apprise's plugin refuses stops the factory with apprise's reason, its parts masked,
    and none of apprise's messages about it (which quote the password) reach the server's log."""
    bad = Channels.model_validate({"notify": [
        {"url": "twilio://NOTASID99:AuthTok3n99@+15551230000/+15559870000", "to": "site"}]})
    with caplog.at_level(logging.DEBUG), pytest.raises(NotifyError) as e:
        senders(bad, timeout_s=1)
    assert str(e.value) == ("notify.0.url: apprise refused this twilio:// URL: "
                            "An invalid Twilio Account SID (****) was specified.")
    assert not [r for r in caplog.records if "AuthTok3n99" in r.getMessage()]
    assert not [r for r in caplog.records if r.name.startswith("apprise")]


def test_a_hanging_service_does_not_hold_up_another_destination() -> None:
    """While eight notices hang on one service, three sent at once through another arrive at
    once, each with its own priority: each destination has threads of its own."""
    timeout_s = seconds(1)

    async def run(hung: str, working: str) -> tuple[list[Outcome], float, list[Outcome]]:
        stuck = NotifySender(NotifyTarget(url=hung, to="site"), timeout_s)
        other = NotifySender(NotifyTarget(url=working, to="site"), timeout_s)
        try:
            waiting = asyncio.gather(*[stuck.send(notice(delivery_id=i + 1)) for i in range(8)])
            await asyncio.sleep(seconds(0.05))
            start = time.monotonic()
            quick = await asyncio.gather(*[other.send(notice(priority=p)) for p in ("low", "medium", "high")])
            took = time.monotonic() - start
            return quick, took, await waiting
        finally:
            await stuck.close()
            await other.close()

    with http_receiver(lambda r: None) as hanging, http_receiver(lambda r: (200, b"{}")) as receiver:
        quick, took, stuck = asyncio.run(run(ntfy_url(hanging.url), ntfy_url(receiver.url)))
        priorities = sorted(str(r.headers.get("x-priority")) for r in receiver.requests)
    assert [o.state for o in quick] == [State.sent] * 3, quick
    assert took < timeout_s / 3, took  # sharing threads, they would wait for the sockets to time out
    assert priorities == ["None", "high", "max"]
    assert all(o.state is State.failed and o.retry for o in stuck), stuck
