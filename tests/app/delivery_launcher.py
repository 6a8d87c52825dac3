"""``vitalwatch serve`` with the tests' own notification channel: each ``notify`` URL of the
channels file is reached by an HTTP POST of the notice's JSON (``HttpSender``), so that tests of
the delivery run against a real receiver through a real sender, whatever channel modules this
installation has. Run as ``python -m tests.app.delivery_launcher serve ...``."""

from __future__ import annotations

import sys

import httpx

from alerts.delivery.wire import Channel, Notice, Outcome, State
from app import cli, delivery


class HttpSender:
    """POSTs each notice to one URL: 2xx delivered; 5xx or no connection failed, worth a retry;
    another status failed for good."""

    channel = Channel.notify

    def __init__(self, url: str) -> None:
        self.url = url
        self.destination = f"test-http {url}"
        self.client = httpx.AsyncClient(timeout=5)

    async def send(self, notice: Notice) -> Outcome:
        try:
            r = await self.client.post(self.url, content=notice.model_dump_json(),
                                       headers={"content-type": "application/json"})
        except httpx.HTTPError as e:
            return Outcome(state=State.failed, detail=f"{type(e).__name__}: {e}", retry=True)
        if r.is_success:
            return Outcome(state=State.delivered, detail=f"HTTP {r.status_code}")
        return Outcome(state=State.failed, detail=f"HTTP {r.status_code}", retry=r.status_code >= 500)

    async def close(self) -> None:
        await self.client.aclose()


def factory(context: delivery.SenderContext) -> list[delivery.Addressed]:
    return [(target.to, HttpSender(target.url)) for target in context.channels.notify]


if __name__ == "__main__":
    delivery.SENDER_FACTORIES[Channel.notify] = factory
    sys.exit(cli.main())
