"""The alarm delivery service: every alarm change to the people and systems that must hear of it,
and knowing who did.

    Pipeline._alarms ─on_alarm─▶ inbox ─▶ worker: chain (alerts.delivery.chain) ─▶ roster
                                            │  one Notice per recipient and destination
                                            ▼
                       deliveries table ◀─ send task (timeout, retries) ─▶ Sender ─▶ channel
                                            │
                            D1 / D2 / D3 ◀──┘ supervision, through Pipeline.delivery_signal

The pipeline's hook only takes note of a change (the hot path never waits for a channel); one
worker task opens and advances the chains, writes the deliveries and starts a task per send.
Raised, escalated and re-sounded alarms go down the escalation chain; an acknowledged or cleared
one goes to those already told, so a phone can drop its notification. Site destinations (an
alarm manager, a webhook, a ward channel) get every change at once.

Supervision: D1 (delivery_failed) is on in a session while one of its alarms, not yet
acknowledged, has a notice a recipient could not be given and no recipient has been given one
yet, or has reached nobody at all (once
the site uses delivery: a channels file or a roster with shifts); D2 (channel_down) is on in
every session while some destination's last send failed; D3 (nurse_device_lapsed) is on in the
sessions of the rooms whose nurse has a device that ``Devices.lapsed`` names.

Senders are built by the factories in ``SENDER_FACTORIES``, one per channel, which the channel
modules fill and the server completes at start-up; a channel the channels file sets up with no
factory stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from alerts.delivery.chain import Chain, Move, Phase
from alerts.delivery.config import Channels, ChannelsError
from alerts.delivery.wire import (
    Channel,
    Event,
    Notice,
    Outcome,
    Sender,
    State,
    StatusReport,
    Step,
)
from alerts.rules import PRIORITY_RANK, DeliveryPolicy
from alerts.system import Change
from app.ack_link import AckLinks
from app.delivery_log import DeliveryLog
from app.pipeline import Pipeline, SessionState
from app.roster import Roster

log = logging.getLogger("vitalwatch.delivery")


class Devices(Protocol):
    """The nurses' installed views (``app/push.py``): their push senders, and those gone quiet."""

    def senders_for(self, user: str) -> Sequence[Sender]: ...

    def lapsed(self, now: float) -> list[tuple[str, str]]:
        """(user, device label) of each device not heard from in ``device_heartbeat_s``."""
        ...

    def gone(self, device: int, now: float) -> None:
        """The push service disowned a device's subscription: never send to it again."""
        ...


@dataclass
class SenderContext:
    """What a channel's factory is given to build its senders."""

    channels: Channels
    policy: DeliveryPolicy
    data_dir: Path
    report: Callable[[StatusReport], None]  # a delivery's later progress (PCD-05, a phone)


# An alarm change to tell: the change, its alarm-log entry, when the server decided it.
News = tuple[Change, int, float]
# ("site" or the user a destination reaches, its sender)
Addressed = tuple[str, Sender]
SenderFactory = Callable[[SenderContext], list[Addressed]]
SENDER_FACTORIES: dict[Channel, SenderFactory] = {}
SITE = "site"

# The channels file's list for each channel built by a factory (push is reached through Devices).
CONFIGURED: dict[Channel, Callable[[Channels], list[Any]]] = {
    Channel.notify: lambda c: c.notify, Channel.webhook: lambda c: c.webhooks,
    Channel.pcd04: lambda c: c.pcd04,
}
FILE_KEYS = {Channel.notify: "notify", Channel.webhook: "webhooks", Channel.pcd04: "pcd04"}

# Alarm-log events and what they are to the chain (others, e.g. an audio pause, change nothing).
MOVES: dict[str, Move] = {"escalated": Move.ESCALATE, "reminder": Move.REMINDER,
                          "acknowledged": Move.ACKNOWLEDGE, "cleared": Move.CLEAR,
                          "reset": Move.CLEAR}
EVENTS: dict[str, Event] = {"raised": "raised", "escalated": "escalated", "reminder": "reminder",
                            "acknowledged": "acknowledged", "cleared": "cleared", "reset": "cleared"}
# Events that ask someone to act: their notices carry an acknowledge link, and their failures
# are D1's business.
CALLS = {"raised", "escalated", "reminder"}


def build_senders(channels: Channels, context: SenderContext) -> list[Addressed]:
    """Every sender the channels file sets up. Raises ChannelsError for a channel with no
    factory, or whose factory refuses its settings."""
    out: list[Addressed] = []
    for channel, listed in CONFIGURED.items():
        if not listed(channels):
            continue
        factory = SENDER_FACTORIES.get(channel)
        if factory is None:
            raise ChannelsError(f"{channels.source}: {FILE_KEYS[channel]}: no {channel.value} "
                                f"sender in this installation")
        try:
            out += factory(context)
        except ValueError as e:
            raise ChannelsError(f"{channels.source}: {FILE_KEYS[channel]}: {e}") from None
    return out


@dataclass
class Tracked:
    """One signalled alarm being delivered."""

    chain: Chain
    session_id: int
    room: str
    alarm: dict[str, Any]  # the alarm row as it last stood
    # The change the steps tell of (the raise, a reminder, an escalation to a higher priority),
    # its alarm-log entry and when it was decided.
    change: Change
    log_id: int
    decided: float
    # Who has been told, to hear of what follows: (recipient, destination) -> (step, sender)
    told: dict[tuple[str, str], tuple[Step, Sender]] = field(default_factory=dict)
    step_deliveries: dict[Step, set[int]] = field(default_factory=dict)  # this round's
    failed: bool = False  # a recipient could not be given a notice (this round)
    reached: bool = False  # a recipient was given one (sent, or further)
    nobody: bool = False  # no recipient at any step could be reached

    @property
    def undelivered(self) -> bool:
        """D1's condition: unacknowledged, and a notice failed with none given yet, or the
        chain has run out with nobody reached."""
        return self.chain.phase is Phase.OPEN and ((self.failed and not self.reached) or self.nobody)


class DeliveryService:
    def __init__(self, pipeline: Pipeline, channels: Channels, data_dir: Path, public_url: str,
                 links: AckLinks, devices: Devices | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.pipeline = pipeline
        self.policy: DeliveryPolicy = pipeline.rules.delivery
        self.channels = channels
        self.data_dir = Path(data_dir)
        self.public_url = public_url.rstrip("/")
        self.links = links
        self.devices = devices
        self.clock = clock
        self.roster = Roster(pipeline.store.db)
        self.log = DeliveryLog(pipeline.store.db)
        self.site: list[Sender] = []
        self.by_user: dict[str, list[Sender]] = {}
        self.tracked: dict[int, Tracked] = {}  # alarm id -> its delivery
        self.failures: dict[str, int] = {}  # destination -> consecutive failed sends
        self.counts = {"notices": 0, "failed": 0, "reached_nobody": 0}
        self._inbox: deque[tuple[SessionState, Change, dict[str, Any], int, float]] = deque()
        self._wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_probe = 0.0
        self._lapsed_at, self._lapsed = float("-inf"), set[str]()  # _lapsed_rooms' last look
        self._worker: asyncio.Task[None] | None = None
        self._on: dict[tuple[int, str], bool] = {}  # the supervision signals as last set
        self._owner: dict[int, tuple[Tracked, Step]] = {}  # delivery id -> its alarm and step
        pipeline.on_alarm = self.changed
        context = SenderContext(channels, self.policy, self.data_dir, self.report)
        for to, sender in build_senders(channels, context):
            (self.site if to == SITE else self.by_user.setdefault(to, [])).append(sender)

    # Life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        # Senders with a listener of their own (an alarm manager's status port) open it now.
        for sender in self.site + [s for ss in self.by_user.values() for s in ss]:
            if (start := getattr(sender, "start", None)) is not None:
                await start()
        self._recover(self.clock())
        self._wake = asyncio.Event()
        self._worker = asyncio.create_task(self._work())

    def _recover(self, now: float) -> None:
        """After a restart, take up the alarms still signalled where their delivery stood: the
        steps told in the current round stay told (from the deliveries table), the others fall
        due on their old times; the supervision alarms restored by the pipeline are known to be
        on; a destination whose last send failed is still down until a send to it passes."""
        db = self.pipeline.store.db
        for session in self.pipeline.sessions.values():
            if session.delivery is not None:
                for rule in ("D1", "D2", "D3"):
                    self._on[(session.id, rule)] = rule in session.delivery.signals
            for alarm in self.pipeline.alarm_log.alarms(session.id, active_only=True):
                start = db.execute(
                    "SELECT * FROM alarm_log WHERE alarm_id=? AND event IN ('raised', 'reminder')"
                    " ORDER BY id DESC LIMIT 1", (alarm["id"],)).fetchone()
                if start is not None:
                    self.tracked[alarm["id"]] = self._restored(session, alarm, start)
        senders = {s.destination for s in [*self.site, *(x for xs in self.by_user.values() for x in xs)]}
        for row in db.execute("SELECT destination, state FROM deliveries WHERE id IN"
                              " (SELECT MAX(id) FROM deliveries GROUP BY destination)"):
            if row["destination"] in senders and row["state"] == State.failed.value:
                self.failures[row["destination"]] = 1

    def _restored(self, session: SessionState, alarm: dict[str, Any], start: dict[str, Any]) -> Tracked:
        """The delivery of one alarm as the log holds it; ``start``: the alarm-log entry that
        began its current round (its raise, or its last reminder)."""
        change = Change(
            t=start["t"], rule=alarm["rule"], event=start["event"], state=alarm["state"],
            priority=alarm["priority"], kind=alarm["kind"], title=alarm["title"],
            message=alarm["message"], onset=alarm["onset"], delay_s=alarm["delay_s"],
            value=alarm["value"], limit=alarm["limit_value"], tier=alarm["tier"], param=alarm["param"])
        chain = Chain(alarm["priority"], start["decided"], self.policy.steps)
        tracked = Tracked(chain, session.id, session.room, alarm, change, start["id"], start["decided"])
        rows = [r for r in self.log.of_alarm(alarm["id"]) if r["recipient"]]
        senders = {(u, s.destination): s for u in {r["recipient"] for r in rows}
                   for s in self._senders_of(u)}
        for r in rows:
            step = Step(r["step"])
            if (sender := senders.get((r["recipient"], r["destination"]))) is not None:
                tracked.told[(r["recipient"], r["destination"])] = (step, sender)
            if r["log_id"] < start["id"] or r["event"] not in CALLS:
                continue  # a notice of an earlier round, or of an acknowledgement
            tracked.step_deliveries.setdefault(step, set()).add(r["id"])
            self._owner[r["id"]] = (tracked, step)
            tracked.failed = tracked.failed or r["state"] == State.failed.value
            tracked.reached = tracked.reached or r["state"] not in (State.queued.value, State.failed.value)
        states = {r["id"]: r["state"] for r in rows}
        for step, ids in tracked.step_deliveries.items():
            chain.told(step, start["decided"], reachable=True)
            if all(states[i] == State.failed.value for i in ids):
                chain.failed(step, start["decided"])
        if alarm["state"] == "acknowledged":
            chain.apply(Move.ACKNOWLEDGE, start["decided"])
        return tracked

    async def close(self) -> None:
        for task in [self._worker, *self._tasks]:
            if task is not None:
                task.cancel()
        for task in [self._worker, *self._tasks]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for sender in [*self.site, *(s for ss in self.by_user.values() for s in ss)]:
            with contextlib.suppress(Exception):
                await sender.close()

    def status(self) -> dict[str, Any]:
        """For /api/health: counts, and the destinations whose last send failed."""
        return {**self.counts, "tracked": len(self.tracked), "in_flight": len(self._tasks),
                "channels_down": sorted(d for d, n in self.failures.items() if n)}

    # Inputs --------------------------------------------------------------------------------

    def changed(self, session: SessionState, change: Change, alarm: dict[str, Any], log_id: int,
                now: float) -> None:
        """The pipeline's hook: note the change; the worker acts on it."""
        self._inbox.append((session, change, alarm, log_id, now))
        if self._wake is not None:
            self._wake.set()

    def report(self, status: StatusReport) -> None:
        """A channel's news of a delivery after its send (handed to the channel factories)."""
        row = self.log.get(status.delivery_id)
        if row is None:
            log.warning("status report for unknown delivery %s", status.delivery_id)
            return
        if self.log.move(status.delivery_id, State(status.state.value), status.t_server,
                         status.detail, status.by) and status.state is State.failed:
            self._delivery_failed(status.delivery_id, row["destination"], status.t_server)

    def on_receipt(self, status: StatusReport) -> None:
        """A nurse's phone saying it showed a notice (``app/push.py``). Any registered phone could
        name any delivery id: only a push delivery to that phone's own user is moved."""
        row = self.log.get(status.delivery_id)
        if row is None or row["channel"] != Channel.push.value or row["recipient"] != status.by:
            log.warning("push receipt refused: delivery %s was not sent to that phone's user",
                        status.delivery_id)
            return
        self.report(status)

    # The worker ----------------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            now = self.clock()
            try:
                while self._inbox:
                    self._handle(*self._inbox.popleft())
                self._advance(now)
                self._probe(now)
                self._supervise(now)
            except Exception:  # one bad alarm must not stop every other delivery
                log.exception("alarm delivery failed")
            due = [w for t in self.tracked.values() if (w := t.chain.next_at()) is not None]
            wait = min([1.0, *(max(0.0, w - self.clock()) for w in due)])
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the wake-up that
            # came with a cancellation and drops the cancellation, and close() would wait for
            # this loop for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    def _probe(self, now: float) -> None:
        """Every ``probe_s``, check the site channels that can be checked between alarms (an
        alarm manager's link): a failed check counts as the destination failing (D2), a passed
        one clears it, as a send would."""
        if now < self._next_probe:
            return
        self._next_probe = now + self.policy.probe_s
        for sender in self.site:
            if (probe := getattr(sender, "probe", None)) is not None:
                task = asyncio.create_task(self._probed(sender.destination, probe))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _probed(self, destination: str, probe: Callable[[], Awaitable[Outcome]]) -> None:
        outcome = await probe()
        if outcome.state is State.failed:
            if not self.failures.get(destination):
                log.warning("a site channel is unreachable: %s", outcome.detail)
            self.failures[destination] = self.failures.get(destination, 0) + 1
        elif outcome.state is State.delivered:
            self.failures[destination] = 0
        self._wake_up()

    def _handle(self, session: SessionState, change: Change, alarm: dict[str, Any], log_id: int,
                now: float) -> None:
        alarm_id = int(alarm["id"])
        tracked = self.tracked.get(alarm_id)
        if change.event not in EVENTS:
            return
        if tracked is None:
            if change.event != "raised":
                return  # an alarm raised before this server started: nobody was told of it
            tracked = self.tracked[alarm_id] = Tracked(
                Chain(change.priority, now, self.policy.steps), session.id, session.room, alarm, change, log_id, now)
        else:
            self._move(tracked, change, alarm, log_id, now)
        news = (change, log_id, now)
        for sender in self.site:
            self._deliver(tracked, Step.site, SITE, sender, now, news)
        if tracked.chain.phase is Phase.CLEARED:
            self._drop(alarm_id)

    def _move(self, tracked: Tracked, change: Change, alarm: dict[str, Any], log_id: int,
              now: float) -> None:
        """A later change of a tracked alarm moves its chain, and tells those told if need be."""
        rose = PRIORITY_RANK[change.priority] > PRIORITY_RANK[tracked.chain.priority]
        move = MOVES.get(change.event, Move.REMINDER)  # raised again: a latch's condition returned
        before, since = tracked.chain.phase, tracked.chain.since
        tracked.alarm = alarm
        if move is Move.ESCALATE and not rose and before is Phase.OPEN:
            return  # the nurse tier of the alarm system: the chain has its own timing
        if move in (Move.ESCALATE, Move.REMINDER):  # what the steps from now on tell of
            tracked.change, tracked.log_id, tracked.decided = change, log_id, now
        tracked.chain.apply(move, now, change.priority if rose else None)
        if tracked.chain.since != since:  # started over: a new round of steps
            tracked.step_deliveries, tracked.failed, tracked.reached, tracked.nobody = {}, False, False, False
        if (move is Move.ESCALATE and before is Phase.OPEN) or move in (Move.ACKNOWLEDGE, Move.CLEAR):
            self._tell_again(tracked, now, (change, log_id, now))

    def _advance(self, now: float) -> None:
        """Tell every step that has fallen due; a step with nobody makes the next one due."""
        in_use: bool | None = None  # asked of the database at most once a round
        for alarm_id, tracked in list(self.tracked.items()):
            if tracked.session_id not in self.pipeline.sessions:  # the session has ended
                self._drop(alarm_id)
                continue
            while steps := tracked.chain.due(now):
                for step in steps:
                    room = tracked.room
                    pairs = [(user, sender) for user in self.roster.recipients(room, step.value, now)
                             for sender in self._senders_of(user)]
                    tracked.step_deliveries[step] = set()
                    tracked.chain.told(step, now, reachable=bool(pairs))
                    for user, sender in pairs:
                        self._deliver(tracked, step, user, sender, now)
            if tracked.chain.reached_nobody and not tracked.nobody:
                in_use = self._in_use() if in_use is None else in_use
                if in_use:
                    tracked.nobody = True
                    self.counts["reached_nobody"] += 1
                    log.warning("alarm %s reached nobody", tracked.alarm["id"])

    def _drop(self, alarm_id: int) -> None:
        """An alarm that is over: its late news (a failure reported after) moves nothing."""
        tracked = self.tracked.pop(alarm_id)
        self._owner = {k: v for k, v in self._owner.items() if v[0] is not tracked}

    def _supervise(self, now: float) -> None:
        sessions = list(self.pipeline.sessions.values())
        down = any(self.failures.values())
        lapsed_rooms = self._lapsed_rooms(now)
        for s in sessions:
            # D1's own notices do not hold it: it would never clear while they failed.
            undelivered = any(t.undelivered and t.session_id == s.id and t.change.rule != "D1"
                              for t in self.tracked.values())
            self._set(s.id, "D1", undelivered, now)
            self._set(s.id, "D2", down, now)
            self._set(s.id, "D3", s.room in lapsed_rooms, now)
        live = {s.id for s in sessions}
        self._on = {k: v for k, v in self._on.items() if k[0] in live}

    def _lapsed_rooms(self, now: float) -> set[str]:
        """The rooms of nurses whose phones have lapsed (D3). The worker wakes at every alarm
        change and send, but a phone lapses on a heartbeat of tens of seconds: the devices and
        the roster are read at most once a second."""
        if now >= self._lapsed_at + 1.0:
            self._lapsed_at, self._lapsed = now, set()
            for user, _label in self.devices.lapsed(now) if self.devices is not None else []:
                self._lapsed.update(self.roster.rooms_of(user, now))
        return self._lapsed

    def _set(self, session_id: int, rule: str, on: bool, now: float) -> None:
        if self._on.get((session_id, rule), False) != on:
            self._on[(session_id, rule)] = on
            self.pipeline.delivery_signal(session_id, rule, on, now)

    # Deliveries ----------------------------------------------------------------------------

    def _senders_of(self, user: str) -> list[Sender]:
        devices = self.devices.senders_for(user) if self.devices is not None else []
        return [*devices, *self.by_user.get(user, [])]

    def _tell_again(self, tracked: Tracked, now: float, news: News) -> None:
        """Those already told hear of an acknowledgement, a clearing or a higher priority."""
        for (user, _), (step, sender) in list(tracked.told.items()):
            self._deliver(tracked, step, user, sender, now, news)

    def _deliver(self, tracked: Tracked, step: Step, recipient: str, sender: Sender, now: float,
                 news: News | None = None) -> None:
        """One notice: of the change the steps tell of, or of ``news`` (to a site destination,
        or to someone told already)."""
        change, log_id, decided = news or (tracked.change, tracked.log_id, tracked.decided)
        alarm, again = tracked.alarm, news is not None
        session = self.pipeline.sessions.get(tracked.session_id)
        delivery_id = self.log.add(
            alarm_id=alarm["id"], log_id=log_id, session_id=tracked.session_id,
            event=EVENTS[change.event], step=step.value, recipient="" if recipient == SITE else recipient,
            channel=sender.channel.value, destination=sender.destination, t=now)
        calls = change.event in CALLS
        ack_url = None
        if calls and recipient != SITE:
            token = self.links.make(delivery_id, alarm["id"], recipient, now + self.policy.ack_link_ttl_s)
            ack_url = f"{self.public_url}/ack/{token}"
        try:
            notice = Notice(
                delivery_id=delivery_id, alarm_id=alarm["id"], log_id=log_id,
                event=EVENTS[change.event], session_id=tracked.session_id, room=tracked.room,
                rule=change.rule, param=change.param, priority=change.priority,
                kind=change.kind, message=change.message, value=change.value, limit=change.limit,
                mode=session.mode if session is not None else "live", step=step,
                recipient="" if recipient == SITE else recipient, decided_server=decided,
                ack_url=ack_url)
        except ValueError as e:  # a notice the wire refuses is a failed delivery, never a silent one
            self.log.move(delivery_id, State.failed, now, f"notice refused: {e}")
            self._delivery_failed(delivery_id, sender.destination, now)
            return
        self.counts["notices"] += 1
        if recipient != SITE and not again:  # a step's notice: its outcome moves the chain
            tracked.told[(recipient, sender.destination)] = (step, sender)
            tracked.step_deliveries.setdefault(step, set()).add(delivery_id)
            self._owner[delivery_id] = (tracked, step)
        task = asyncio.create_task(self._send(sender, notice))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, sender: Sender, notice: Notice) -> None:
        """One notice, bounded by the send timeout, retried with doubling backoff while the
        channel says a failure may pass."""
        policy, delivery_id = self.policy, notice.delivery_id
        backoff = policy.retry_backoff_s
        outcome = Outcome(state=State.failed, detail="not sent")
        for attempt in range(policy.retries + 1):
            self.log.attempted(delivery_id)
            try:
                outcome = await asyncio.wait_for(sender.send(notice), policy.send_timeout_s)
            except TimeoutError:
                outcome = Outcome(state=State.failed, retry=True,
                                  detail=f"no answer in {policy.send_timeout_s:g} s")
            except Exception as e:  # noqa: BLE001 - a sender that raises breaks its contract: still a failure
                # The log names the channel and the kind of error, never the destination or the
                # error's text (either may name a person); the delivery keeps the text.
                log.error("a %s sender raised %s instead of answering an Outcome",
                          sender.channel.value, type(e).__name__)
                outcome = Outcome(state=State.failed, retry=True, detail=f"{type(e).__name__}: {e}")
            if outcome.state is not State.failed:
                break
            if outcome.gone and self.devices is not None and (device := getattr(sender, "device", None)):
                self.devices.gone(device, self.clock())  # D3 says so from the next look on
            if not outcome.retry or outcome.gone or attempt == policy.retries:
                break
            self.log.note(delivery_id, f"retrying: {outcome.detail}")
            await asyncio.sleep(backoff)
            backoff *= 2
        now = self.clock()
        if outcome.state is State.failed:
            if self.log.move(delivery_id, State.failed, now, outcome.detail or "failed"):
                self._delivery_failed(delivery_id, sender.destination, now)
        else:
            self.log.move(delivery_id, State.sent, now, outcome.detail)
            if outcome.state is State.delivered:
                self.log.move(delivery_id, State.delivered, now, outcome.detail)
            self.failures[sender.destination] = 0
            owner = self._owner.get(delivery_id)
            if owner is not None and notice.event in CALLS:
                owner[0].reached = True
        self._wake_up()

    def _delivery_failed(self, delivery_id: int, destination: str, now: float) -> None:
        self.counts["failed"] += 1
        self.failures[destination] = self.failures.get(destination, 0) + 1
        owner = self._owner.get(delivery_id)
        if owner is not None:
            tracked, step = owner
            row = self.log.get(delivery_id)
            if row is not None and row["event"] in CALLS:
                tracked.failed = True
            ids = tracked.step_deliveries.get(step, set())
            if delivery_id in ids and all(
                    (r := self.log.get(i)) is not None and r["state"] == State.failed.value for i in ids):
                tracked.chain.failed(step, now)  # the next step is due at once
        self._wake_up()

    def _in_use(self) -> bool:
        """Whether the site delivers alarms at all: a channels file, or a roster with shifts.
        A server with neither (a demo, a bench) has no one to reach and says so nowhere."""
        return self.channels.source is not None or self.pipeline.store.db.execute(
            "SELECT 1 FROM shifts LIMIT 1").fetchone() is not None

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

