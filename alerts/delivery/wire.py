"""What travels between the server's alarm delivery and each notification channel.

These models are the one definition of that wire, as ``monitors/protocol.py`` is of the monitor
protocol and ``app/feed.py`` of the dashboards' feed; ``docs/delivery.schema.json`` is exported
from them (``make schema``) and a test fails when the two drift.

Theory of operation. When the alarm system raises, escalates, re-sounds, acknowledges or clears an
alarm, the server works out who is to be told (``alerts.delivery.chain``: the room's primary nurse,
then the backup, the supervising clinician, everyone on duty, each after its delay in the rules
file) and makes one ``Notice`` per recipient and destination — a nurse's installed phone app, a
notification-service URL, the hospital's alarm communication manager, a webhook. Every ``Notice``
is a delivery with its own id and moves through the ``State`` table below; every move is stored
and shown per recipient in the alarm log. A channel's ``Sender.send`` answers with an ``Outcome``;
what a channel learns later (the manager's PCD-05 status, the phone's "seen" and "acknowledge")
comes back as a ``StatusReport``.

    QUEUED ─send─▶ SENT ─receiver confirms─▶ DELIVERED ─shown─▶ SEEN ─acknowledged─▶ ACKNOWLEDGED
       └──────────────┴───────────── timeout / refused / gone ─────────────▶ FAILED

A state only moves right (a late "delivered" after "seen" changes nothing); FAILED is final for
that delivery, and the escalation moves on at once to the next step.

What a notice carries is kept to the minimum a nurse needs to act — room, priority, alarm text,
and the single-use link to acknowledge — never a patient's or a user's name: it crosses systems
(push services, SMS gateways) that are not the clinic's.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

DELIVERY_VERSION: Final = 1

ServerTime = Annotated[float, Field(description="seconds since the epoch, on the server's clock",
                                    json_schema_extra={"x-clock": "server"})]
Priority = Literal["low", "medium", "high"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Channel(str, Enum):
    """How a notice leaves the server."""

    push = "push"  # Web Push to an installed nurse view (a phone, locked or not)
    notify = "notify"  # a notification service by apprise URL (ntfy, e-mail, SMS gateway, ...)
    pcd04 = "pcd04"  # HL7 v2 IHE PCD-04 ORU^R40 over MLLP to an alarm communication manager
    webhook = "webhook"  # a signed HTTP POST


class Step(str, Enum):
    """The escalation chain of one alarm, in order. ``site`` is not a step: destinations that
    take every alarm of the site (an alarm manager, a webhook, a ward channel) get it at once."""

    primary = "primary"
    backup = "backup"
    clinician = "clinician"
    everyone = "everyone"
    site = "site"


CHAIN: Final = (Step.primary, Step.backup, Step.clinician, Step.everyone)


class State(str, Enum):
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    seen = "seen"
    acknowledged = "acknowledged"
    failed = "failed"


# How far along each state is: a delivery only ever moves to a higher rank (FAILED is final).
RANK: Final = {State.queued: 0, State.sent: 1, State.delivered: 2, State.seen: 3,
               State.acknowledged: 4, State.failed: 5}


def advances(current: State, new: State) -> bool:
    """Whether ``new`` moves a delivery in ``current`` on (the only moves the table allows)."""
    return current is not State.failed and current is not State.acknowledged and (
        new is State.failed or RANK[new] > RANK[current])


Event = Literal["raised", "escalated", "reminder", "acknowledged", "cleared"]


class Notice(_Model):
    """One alarm change for one recipient at one destination: what a channel is handed."""

    version: Literal[1] = DELIVERY_VERSION
    delivery_id: int = Field(ge=1)
    alarm_id: int = Field(ge=1)
    log_id: int = Field(ge=1, description="the alarm-log entry this notice tells of")
    event: Event
    session_id: int = Field(ge=1)
    room: str
    rule: str
    param: str | None = None
    priority: Priority
    kind: Literal["physiological", "technical"]
    message: str = Field(description="the alarm's plain text, as on the central station")
    value: float | None = None
    limit: float | None = None
    mode: str = Field(description="the session's data mode: live, demo, replay, test")
    step: Step
    recipient: str = Field(default="", description="the user told; '' for a site destination")
    decided_server: ServerTime = Field(description="when the server decided the alarm change")
    ack_url: str | None = Field(default=None, description="single-use signed acknowledge link")

    def title(self) -> str:
        """A short headline for a notification: priority and room, with the data mode when it
        is not a live session (a DEMO alarm must never look like a real one)."""
        mode = "" if self.mode == "live" else f"[{self.mode.upper()}] "
        what = {"raised": "", "escalated": " (escalated)", "reminder": " (reminder)",
                "acknowledged": " acknowledged", "cleared": " cleared"}[self.event]
        return f"{mode}{self.priority.upper()} alarm{what} · {self.room}"

    def text(self) -> str:
        return self.message


class Outcome(_Model):
    """What a channel's ``send`` found: ``sent`` (handed over, no word yet of arrival),
    ``delivered`` (the receiver confirmed it: an MLLP commit ACK, an HTTP 2xx from the webhook),
    or ``failed`` with why. ``retry``: worth trying again (a timeout, a 5xx); ``gone``: the
    endpoint no longer exists (a lapsed push subscription) and must not be tried again."""

    state: Literal[State.sent, State.delivered, State.failed]
    detail: str = ""
    retry: bool = False
    gone: bool = False


class StatusReport(_Model):
    """A delivery's progress learnt after the send: from an alarm manager (PCD-05), from a
    nurse's phone (shown, acknowledged), or from a receiver calling back."""

    delivery_id: int = Field(ge=1)
    state: Literal[State.delivered, State.seen, State.acknowledged, State.failed]
    t_server: ServerTime
    by: str = ""
    detail: str = ""


class Sender(Protocol):
    """A channel's sending side. ``send`` never raises for a receiver's failure: it answers an
    ``Outcome``; the caller bounds it with the rules' send timeout and retries."""

    channel: Channel
    # Where it sends, for the delivery log: "webhook https://host/path", "push ann #3"; never a
    # secret (no passwords of URLs, no keys).
    destination: str

    async def send(self, notice: Notice) -> Outcome: ...

    async def close(self) -> None: ...


notice_adapter: TypeAdapter[Notice] = TypeAdapter(Notice)


def json_schema() -> dict[str, Any]:
    """The delivery wire as JSON Schema (``docs/delivery.schema.json``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "vitalwatch alarm delivery",
        "version": DELIVERY_VERSION,
        "$defs": {m.__name__: m.model_json_schema() for m in (Notice, Outcome, StatusReport)},
    }
