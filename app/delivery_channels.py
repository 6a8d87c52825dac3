"""The channel modules' senders, as the delivery service builds them (``SENDER_FACTORIES``).

Each factory turns the channels file's entries of one channel into senders, each with whom it
reaches ("site", or a user); a setting a channel refuses (a webhook's short key, a URL apprise
cannot use) raises ValueError naming the entry, which stops the server at start-up. Web Push is
not here: the nurses' phones register themselves (``app/push.py``).
"""

from __future__ import annotations

from alerts.delivery import notify, pcd04, webhook
from alerts.delivery.wire import Channel
from app.delivery import Addressed, SenderContext, SenderFactory


def _webhooks(context: SenderContext) -> list[Addressed]:
    return [(s.to, s) for s in webhook.senders(context.channels, context.policy.send_timeout_s)]


def _notify(context: SenderContext) -> list[Addressed]:
    return [(s.to, s) for s in notify.senders(context.channels, context.policy.send_timeout_s)]


def _alarm_managers(context: SenderContext) -> list[Addressed]:
    # An alarm manager takes every alarm of the site and routes it itself (IHE ACM).
    return [("site", s) for s in pcd04.senders(context.channels, context.policy.send_timeout_s,
                                               context.report)]


CHANNEL_FACTORIES: dict[Channel, SenderFactory] = {
    Channel.webhook: _webhooks, Channel.notify: _notify, Channel.pcd04: _alarm_managers,
}
