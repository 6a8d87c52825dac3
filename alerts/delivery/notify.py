"""The notification-service channel: each notice through one apprise URL (ntfy, e-mail, an SMS
gateway, Pushover, Matrix, Teams, Slack, ...; docs/delivery-channels.md).

What leaves the server is the notice's title (priority, room, the data mode when not live) and a
body of the alarm's text and, when there is one, the link to acknowledge it: never a user's or a
patient's name, since these services are not the clinic's.

Priority travels two ways. Every service gets apprise's notification type (``failure`` for a high
alarm, ``warning`` medium, ``info`` low, ``success`` when an alarm is acknowledged or cleared),
which some show as a colour or an icon. Services with a priority of their own (ntfy, Pushover,
Gotify) get it set per notice through the URL's ``priority`` parameter, from ``PRIORITY`` below;
an acknowledged or cleared alarm goes at the lowest of them, as nothing is left to do. A URL of
those services that sets ``priority`` itself is refused: it would send every alarm alike.

apprise answers only "sent" or "not": why is in what it logged during the call, which it keeps
per call (``AppriseResult.logs``) and this module puts in ``Outcome.detail``. A failure is always
worth retrying: apprise does not tell a refused token from a service that is down, and a retry
too many costs less than an alarm lost.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import urlsplit

import apprise
from apprise.plugins import url_to_dict

from alerts.delivery.config import Channels, NotifyTarget
from alerts.delivery.wire import Channel, Notice, Outcome, Priority, State

# The service's own word for each alarm priority, by URL scheme (each apprise plugin's values).
PRIORITY: Final[dict[str, dict[Priority, str]]] = {
    # ntfy: default (3) sounds and vibrates; high (4) also pops up; max (5) long bursts.
    "ntfy": {"low": "default", "medium": "high", "high": "max"},
    # Pushover: high (1) bypasses quiet hours; emergency (2) repeats until acknowledged in its app.
    "pover": {"low": "normal", "medium": "high", "high": "emergency"},
    "gotify": {"low": "normal", "medium": "high", "high": "emergency"},
}
PRIORITY["ntfys"] = PRIORITY["ntfy"]
PRIORITY["gotifys"] = PRIORITY["gotify"]

KIND: Final[dict[Priority, apprise.NotifyType]] = {
    "high": apprise.NotifyType.FAILURE, "medium": apprise.NotifyType.WARNING,
    "low": apprise.NotifyType.INFO}
SETTLED: Final = ("acknowledged", "cleared")
# How much of apprise's log goes into the delivery log.
DETAIL_CHARS: Final = 300
# Notices through one URL at once; more wait their turn (within their attempt's timeout).
THREADS: Final = 4


class NotifyError(ValueError):
    """apprise cannot use an entry's URL: the message names the entry, never the URL."""


class NotifySender:
    """Sends notices through one apprise URL to ``to`` (``"site"`` or a user name).

    ``timeout_s`` bounds one attempt: apprise's connect and read timeouts are each half of it and
    the call as a whole is cut off at it, well under the rules' ``send_timeout_s``."""

    channel: Channel = Channel.notify

    def __init__(self, target: NotifyTarget, timeout_s: float) -> None:
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise NotifyError(f"timeout_s: {timeout_s} is not a positive number of seconds")
        self.to = target.to
        self._timeout_s = timeout_s
        # Threads of its own, not asyncio's shared default pool: a service that hangs must not
        # hold up other destinations or the server's other blocking work (password hashing),
        # nor be held up by them.
        self._threads = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="notify")
        scheme = target.url.partition("://")[0].lower()
        with _loading(target.url) as said:
            parsed = url_to_dict(target.url)  # type: ignore[no-untyped-call]
            if not parsed:
                raise NotifyError(f"url: apprise cannot use this {scheme}:// URL (unknown service, "
                                  "or a part missing: see the service's page in apprise's docs)")
            levels = PRIORITY.get(scheme)
            if levels and parsed.get("priority"):
                raise NotifyError("url: priority= is set per alarm from its priority; remove it")
            # One service per priority: apprise fixes a URL's parameters when it loads it.
            self._services: dict[Priority, apprise.Apprise] = {}
            private = ""
            for priority in KIND:
                args = dict(parsed, priority=levels[priority]) if levels else parsed
                service = self._service(args)
                if service is None:
                    why = "; ".join(said()) or "see the service's page in apprise's docs"
                    raise NotifyError(f"url: apprise refused this {scheme}:// URL: {why}")
                self._services[priority], private = service
        # Without the query: the service and where it goes is enough for the delivery log.
        self.destination = f"notify {private.partition('?')[0]}"
        self._secrets = _secrets(target.url, private)

    def _service(self, args: dict[str, Any]) -> tuple[apprise.Apprise, str] | None:
        """A service of one plugin loaded from ``args``, and its URL without secrets; None if
        the plugin refuses them."""
        # No images: the default would make phones fetch icons from the internet, which a clinic
        # network may not reach (and need not tell whom it alerts).
        asset = apprise.AppriseAsset(app_id="vitalwatch", app_desc="vitalwatch alarms",
                                     image_url_mask="", image_url_logo="", async_mode=False)
        plugin = apprise.Apprise.instantiate(args, asset=asset)
        if plugin is None:
            return None
        # One attempt per send, each phase bounded: the delivery service owns retries.
        plugin.socket_connect_timeout = self._timeout_s / 2
        plugin.socket_read_timeout = self._timeout_s / 2
        # apprise pauses between two sends through one URL (5.5 s for most services), a courtesy
        # an alarm cannot afford: it would eat the attempt's timeout. A service that does limit
        # its rate answers so (429), and the delivery service retries with backoff.
        plugin.request_rate_per_sec = 0
        service = apprise.Apprise(asset=asset)
        service.add(plugin)
        return service, str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]

    def message(self, notice: Notice) -> tuple[str, str]:
        """The title and body ``notice`` is sent as."""
        body = notice.text()
        if notice.ack_url:
            body += f"\nAcknowledge: {notice.ack_url}"
        return notice.title(), body

    async def send(self, notice: Notice) -> Outcome:
        """One attempt through apprise, in one of the sender's threads (apprise blocks); never
        raises for the service's failure. ``sent``: the service took it, not that a phone showed it."""
        settled = notice.event in SETTLED
        tier: Priority = "low" if settled else notice.priority
        kind = apprise.NotifyType.SUCCESS if settled else KIND[notice.priority]
        title, body = self.message(notice)
        service = self._services[tier]
        call = functools.partial(service.notify, body=body, title=title, notify_type=kind,
                                 body_format=apprise.NotifyFormat.TEXT, timeout=self._timeout_s)
        try:
            result = await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(self._threads, call), self._timeout_s)
        except TimeoutError:
            # The thread cannot be stopped; its sockets time out on their own shortly after.
            return Outcome(state=State.failed, retry=True,
                           detail=f"no answer within {self._timeout_s:g} s")
        except Exception as e:  # noqa: BLE001 - apprise's plugins are many: a bug in one must not stop delivery
            return Outcome(state=State.failed, retry=True,
                           detail=self._scrub(f"apprise: {type(e).__name__}: {e}"))
        if result:
            return Outcome(state=State.sent)
        why = "; ".join(entry.message for entry in result.logs())
        # apprise's warning says "connection error" alike for a refusal and a silent service;
        # the reason it logs is at a level the server does not record.
        if (result.status is apprise.AppriseResultStatus.TIMEOUT
                or result.elapsed >= 0.9 * self._timeout_s / 2):
            why = f"no answer within {self._timeout_s / 2:g} s" + (f"; {why}" if why else "")
        return Outcome(state=State.failed, retry=True,
                       detail=self._scrub(why or f"apprise: {result.status.name.lower()}")[:DETAIL_CHARS])

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "****")
        return text

    async def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        for service in self._services.values():
            service.clear()


@contextmanager
def _loading(url: str) -> Iterator[Any]:
    """Keep what apprise logs while loading ``url`` out of the server's log (its messages quote
    the URL's parts, passwords included), and yield a function returning its warnings with every
    part of the URL but the scheme and host masked. Only for start-up: the logger is the process's."""
    log = logging.getLogger("apprise")
    handler = _Kept(logging.WARNING)
    propagate, log.propagate = log.propagate, False
    log.addHandler(handler)
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # a malformed address: apprise says so below
        host = ""
    hidden = [p for p in _parts(url) if p not in (host, url.partition("://")[0])]
    hidden.sort(key=len, reverse=True)

    def said() -> list[str]:
        out = []
        for record in handler.records:
            if record.levelno == logging.WARNING:
                text = record.getMessage()
                for part in hidden:
                    text = text.replace(part, "****")
                out.append(text)
        return out[:2]

    try:
        yield said
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


class _Kept(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _parts(url: str) -> set[str]:
    return {p for p in re.split(r"[/:@?&=#,]+", url) if len(p) >= 4}


def _secrets(url: str, private: str) -> list[str]:
    """The parts of ``url`` that its private form hides (passwords, tokens, keys), longest
    first: a plugin's log line may quote them, and the delivery log must not."""
    return sorted(_parts(url) - _parts(private), key=len, reverse=True)


def senders(channels: Channels, timeout_s: float) -> list[NotifySender]:
    """One sender per configured apprise URL. Raises ``NotifyError`` naming the entry and why
    when apprise cannot use a URL (the message never quotes the URL: it may hold a password)."""
    out = []
    for i, target in enumerate(channels.notify):
        try:
            out.append(NotifySender(target, timeout_s))
        except NotifyError as e:
            raise NotifyError(f"notify.{i}.{e}") from None
    return out
