"""The webhook channel: each notice as a signed HTTP POST, and the check a receiver makes.

The signature follows the Standard Webhooks specification (standardwebhooks.com) exactly, so a
receiver can use any of its libraries as well as ``verify`` below. Each POST carries::

    content-type:       application/json
    webhook-id:         the delivery id (``Notice.delivery_id``), the same on every retry
    webhook-timestamp:  whole seconds since the epoch when this attempt was signed
    webhook-signature:  v1,<base64 of HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>

and the body is ``notice.model_dump_json()``: the bytes signed are the bytes sent. The key is the
secret file's line: ``whsec_<base64>`` (the specification's form, which its libraries expect) is
base64-decoded; any other line is used as its UTF-8 bytes. The timestamp is signed with the body so
a captured request cannot be replayed later: ``verify`` refuses one older (or further ahead) than
its tolerance.

One ``send`` is one attempt (the delivery service retries): 2xx is ``delivered``; a 5xx, a 408 or
429, a timeout or a refused connection is ``failed`` worth retrying; any other answer (4xx, a
redirect, which is not followed) is ``failed`` for good, since the same request would get the same.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import httpx

from alerts.delivery.config import Channels, WebhookTarget
from alerts.delivery.wire import Channel, Notice, Outcome, State

SCHEME: Final = "v1"
SECRET_PREFIX: Final = "whsec_"
# Shorter keys than this make the signature guessable offline; the specification asks 24-64.
MIN_KEY_BYTES: Final = 16
# HTTP answers that say "not now" rather than "never": worth the service's next attempt.
TRANSIENT: Final = frozenset({408, 425, 429})
# How much of a refusing receiver's answer goes into the delivery log.
DETAIL_CHARS: Final = 200


class SecretError(ValueError):
    """A webhook's signing key is missing or unusable: the message names the webhook."""


class Refused(ValueError):
    """``verify`` found the request not to be what this server sent; the message says why."""


def key(line: str) -> bytes:
    """The HMAC key a secret file's line stands for (see the module's docstring)."""
    line = line.strip()
    if line.startswith(SECRET_PREFIX):
        try:
            raw = base64.b64decode(line[len(SECRET_PREFIX):], validate=True)
        except binascii.Error:
            raise SecretError(f"{SECRET_PREFIX}... is not valid base64") from None
    else:
        raw = line.encode()
    if len(raw) < MIN_KEY_BYTES:
        raise SecretError(f"the key is {len(raw)} bytes; at least {MIN_KEY_BYTES} are needed")
    return raw


def sign(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of ``body`` sent as ``msg_id`` at ``timestamp``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return f"{SCHEME},{base64.b64encode(digest).decode()}"


def verify(secret: bytes, headers: Mapping[str, str], body: bytes, now: float,
           tolerance_s: float = 300) -> None:
    """Check a received POST: ``headers`` (any case), the raw ``body`` bytes, ``now`` the
    receiver's clock. Raises ``Refused`` naming the header and why; returns if the request was
    signed with ``secret`` and its timestamp is within ``tolerance_s`` of ``now``.

    Of a ``webhook-signature`` holding several space-separated signatures (the specification's
    way to rotate keys) one matching is enough. A receiver should also drop a ``webhook-id`` it
    has already handled: a retry of a delivery it took carries the same id."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    signatures = lower.get("webhook-signature", "")
    if not msg_id:
        raise Refused("webhook-id: missing")
    if not stamp.isascii() or not stamp.isdigit():
        raise Refused(f"webhook-timestamp: {stamp[:20]!r} is not whole seconds since the epoch")
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_s:
        raise Refused(f"webhook-timestamp: {timestamp} is {now - timestamp:+.0f} s from now, "
                      f"outside ±{tolerance_s:g} s (an old request replayed, or a clock off)")
    expected = sign(secret, msg_id, timestamp, body)
    offered = signatures.split()
    if not offered:
        raise Refused("webhook-signature: missing")
    if not any(hmac.compare_digest(expected, s) for s in offered):
        raise Refused("webhook-signature: no signature matches the body with this secret")


class WebhookSender:
    """Sends every notice to one URL (a site destination: ``to`` is ``"site"``).

    ``timeout_s`` bounds one attempt as a whole, connecting and waiting for the answer; it is to be
    well under the rules' ``send_timeout_s`` so the answer, not the service's timeout, tells why."""

    channel: Channel = Channel.webhook

    def __init__(self, target: WebhookTarget, secret: bytes, timeout_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        """``clock``: the signing time's source (the wall clock: a receiver compares it with its
        own)."""
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s: {timeout_s} is not a positive number of seconds")
        self.url = target.url
        self.to = "site"
        # For the delivery log: the URL without its user, password and query, which may carry a
        # token (the signing key is in its file, never logged).
        shown = httpx.URL(target.url).copy_with(username=None, password=None, query=None)
        self.destination = f"webhook {shown}"
        self._secret = secret
        self._timeout_s = timeout_s
        self.clock = clock
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=timeout_s / 2), follow_redirects=False,
            headers={"user-agent": "vitalwatch-webhook/1"})

    async def send(self, notice: Notice, now: float | None = None) -> Outcome:
        """One signed POST of ``notice``; never raises for the receiver's failure. ``now``: the
        signing time, when not the clock's."""
        body = notice.model_dump_json().encode()
        msg_id = str(notice.delivery_id)
        timestamp = int(self.clock() if now is None else now)
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(self._secret, msg_id, timestamp, body)}
        try:
            async with asyncio.timeout(self._timeout_s):
                r = await self._client.post(self.url, content=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(state=State.failed, retry=True,
                           detail=f"no answer within {self._timeout_s:g} s")
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as e:
            # Refused, reset, name not resolved, TLS failure: the network's, or the receiver is
            # restarting; the next attempt may find it back.
            return Outcome(state=State.failed, retry=True,
                           detail=f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        return _outcome(r)

    async def close(self) -> None:
        await self._client.aclose()


def _outcome(r: httpx.Response) -> Outcome:
    if r.is_success:
        return Outcome(state=State.delivered, detail=f"HTTP {r.status_code}")
    answer = f"HTTP {r.status_code} {r.reason_phrase}".rstrip()
    if r.is_redirect:
        answer += f" to {r.headers.get('location', '?')} (not followed)"
    text = r.text.strip()[:DETAIL_CHARS]
    if text:
        answer += f": {text}"
    return Outcome(state=State.failed, detail=answer,
                   retry=r.status_code >= 500 or r.status_code in TRANSIENT)


def senders(channels: Channels, timeout_s: float) -> list[WebhookSender]:
    """One sender per configured webhook, each with the key of its secret file. Raises
    ``SecretError`` naming the webhook and why when a key is unusable."""
    secrets = []
    for i, hook in enumerate(channels.webhooks):  # every key first: no client is left open
        path: Path = channels.resolve(hook.secret_file)
        try:
            secrets.append(key(path.read_text()))
        except OSError as e:
            raise SecretError(f"webhooks.{i}.secret_file: {path}: {e.strerror}") from None
        except SecretError as e:
            raise SecretError(f"webhooks.{i}.secret_file: {path}: {e}") from None
    return [WebhookSender(hook, secret, timeout_s) for hook, secret in zip(channels.webhooks, secrets)]
