"""Web Push (RFC 8030, RFC 8291 encryption, RFC 8292 VAPID) to an installed nurse view.

A ``PushSender`` is one browser subscription: it hands a notice to that browser's push service
(the phone maker's, not the clinic's), which wakes the phone and runs the nurse view's service
worker (``frontend/sw.js``) even when the phone is locked and the page frozen. The push service
only stores and forwards: it answers 201 when it has taken the message, which is ``sent``;
whether the phone showed it comes later, as the service worker's receipt.

What crosses the push service is end-to-end encrypted to the browser's key, and still kept to
what a nurse needs to act (room, priority, alarm text, the acknowledge link): no names.

pywebpush speaks HTTP through requests, which blocks: each send runs in a worker thread and is
bounded by ``timeout_s`` both there (requests' own timeout, so the thread ends) and here (so the
caller hears ``failed`` on time even if the thread does not).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import requests
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from alerts.delivery.wire import Channel, Notice, Outcome, Priority, State

# RFC 8030 section 5.3: "high" may wake a device from power saving at once; "normal" may wait
# for the device's next wake-up. Every alarm a nurse must answer goes "high"; news that an
# alarm was acknowledged or cleared only tidies the lock screen and can wait.
URGENCY: Final[dict[Priority, str]] = {"high": "high", "medium": "high", "low": "normal"}
QUIET_EVENTS: Final = frozenset({"acknowledged", "cleared"})
# A push message must stay under 4096 bytes once encrypted (RFC 8291 section 4); alarm texts
# are short, but a text cut here is better than a message the push service refuses.
MAX_TEXT: Final = 1000
# The VAPID token's lifetime: RFC 8292 allows at most 24 h; push services refuse tokens that
# expire too far ahead, so 12 h, renewed well before.
VAPID_TOKEN_S: Final = 12 * 3600
VAPID_RENEW_S: Final = 3600

Kind = Literal["alarm", "heartbeat"]


def payload(notice: Notice) -> dict[str, Any]:
    """What the service worker receives for ``notice``: enough to show, replace, acknowledge
    and report on the notification, and nothing that names a person."""
    return {
        "type": "alarm",
        "v": notice.version,
        "delivery_id": notice.delivery_id,
        "alarm_id": notice.alarm_id,
        "event": notice.event,
        "priority": notice.priority,
        "kind": notice.kind,
        "mode": notice.mode,
        "room": notice.room,
        "title": notice.title(),
        "body": notice.text()[:MAX_TEXT],
        "ack_url": notice.ack_url,
        "t": notice.decided_server,
    }


def topic(alarm_id: int) -> str:
    """The RFC 8030 Topic of an alarm's messages: a message not yet delivered is replaced at the
    push service by a newer one of the same alarm (an escalation, then its acknowledgement)."""
    return f"alarm-{alarm_id}"  # Topic: at most 32 characters of the URL-safe base64 alphabet


def outcome_of(status: int, reason: str = "") -> Outcome:
    """The push service's answer (RFC 8030 section 5, 8.3) as an Outcome."""
    detail = f"push service answered {status}{f' {reason}' if reason else ''}"
    if status in (200, 201, 202):
        return Outcome(state=State.sent, detail=detail)
    if status in (404, 410):
        # The subscription has expired or was withdrawn: the phone must subscribe again.
        return Outcome(state=State.failed, detail=detail + ": subscription gone", gone=True)
    if status == 429 or status >= 500:
        return Outcome(state=State.failed, detail=detail, retry=True)
    return Outcome(state=State.failed, detail=detail)


class PushSender:
    """One subscribed browser (``subscription``: the PushSubscription's JSON, ``endpoint`` and
    ``keys.p256dh``/``keys.auth``). ``vapid_private_key``: the server's VAPID key (PEM, or
    base64url DER as py-vapid reads it); ``subject``: its RFC 8292 contact; ``ttl_s``: how long
    the push service may hold an undelivered message, per priority (the rules file's
    ``delivery.push_ttl_s``); ``label``: who and which device, for the delivery log."""

    channel = Channel.push

    def __init__(self, subscription: Mapping[str, Any], vapid_private_key: str, subject: str,
                 timeout_s: float, label: str, ttl_s: Mapping[Priority, int],
                 device: int | None = None, clock: Callable[[], float] = time.time) -> None:
        """``clock``: when the VAPID token is signed and expires (the push service checks it
        against its own clock)."""
        self.clock = clock
        self.subscription = {"endpoint": subscription["endpoint"],
                             "keys": dict(subscription["keys"])}
        self.vapid = Vapid.from_pem(vapid_private_key.encode()) if "-----BEGIN" in vapid_private_key \
            else Vapid.from_string(vapid_private_key)
        self.subject, self.timeout_s, self.ttl_s = subject, timeout_s, dict(ttl_s)
        self.device = device
        # Never the endpoint itself: its path is the subscription's capability.
        self.destination = f"push {label}"
        parts = urlsplit(self.subscription["endpoint"])
        self._audience = f"{parts.scheme}://{parts.netloc}"
        self._session = requests.Session()
        self._auth: tuple[float, dict[str, str]] | None = None

    def _vapid_headers(self, now: float) -> dict[str, str]:
        if self._auth is None or now > self._auth[0] - VAPID_RENEW_S:
            exp = int(now) + VAPID_TOKEN_S
            headers = self.vapid.sign({"sub": self.subject, "aud": self._audience, "exp": exp})
            self._auth = (float(exp), {k: str(v) for k, v in headers.items()})
        return dict(self._auth[1])

    async def send(self, notice: Notice) -> Outcome:
        quiet = notice.event in QUIET_EVENTS
        return await self.push(payload(notice), ttl_s=self.ttl_s[notice.priority],
                               urgency="normal" if quiet else URGENCY[notice.priority],
                               topic=topic(notice.alarm_id))

    async def push(self, data: Mapping[str, Any], ttl_s: int, urgency: str, topic: str) -> Outcome:
        """Encrypt ``data`` (as JSON) to the browser and hand it to its push service, within
        ``timeout_s``. Never raises for the push service's failure: answers an Outcome."""
        body = json.dumps(data, separators=(",", ":"))
        headers = {**self._vapid_headers(self.clock()), "Urgency": urgency, "Topic": topic}

        def post() -> requests.Response:
            pusher = WebPusher(self.subscription, requests_session=self._session)
            return pusher.send(body, headers, ttl=ttl_s, content_encoding="aes128gcm",  # type: ignore[no-any-return]
                               timeout=self.timeout_s)

        try:
            response = await asyncio.wait_for(asyncio.to_thread(post), self.timeout_s)
        except (TimeoutError, requests.Timeout):
            return Outcome(state=State.failed, retry=True,
                           detail=f"push service did not answer within {self.timeout_s:g} s")
        except requests.RequestException as e:
            # No details of the URL: its path is the subscription's secret.
            return Outcome(state=State.failed, retry=True,
                           detail=f"push service unreachable: {type(e).__name__}")
        except (WebPushException, ValueError, TypeError) as e:  # keys the encryption cannot use
            return Outcome(state=State.failed, detail=f"subscription unusable: {e}")
        return outcome_of(response.status_code, response.reason or "")

    async def close(self) -> None:
        self._session.close()
