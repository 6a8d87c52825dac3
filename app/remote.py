"""The other instances' rooms, as heard on the bus: what this instance's dashboards see of them.

Theory of operation. Every instance on the bus (``app/bus.py``) publishes the feed messages it
produces for its own rooms, and every two seconds a ``feed.Snapshot`` of them. This module keeps,
per remote instance, the latest ``feed.RoomView`` of each of its rooms, by applying each message
as a dashboard's store does (``frontend/store.js``), and says what this instance's hub must
publish for it. It does no I/O and reads no clock: time is an argument.

An instance is *in step* from its snapshot on, as long as its messages come in order (its
envelopes' ``seq`` one after the other, from the same ``boot``) and keep coming (at least its
snapshot every ``SNAPSHOT_EVERY_S``). Anything else (a gap, a restart of that instance, its
silence for ``INSTANCE_SILENCE_S``, the bus lost) puts it *out of step*: its rooms are published
as not live at once (a ``room`` message: live false, every monitor silent), its messages are
ignored until its next snapshot, and that snapshot replaces its rooms whole (a
``session_started`` for each room, a ``session_ended`` for each room gone). A room is never
shown live from values this instance cannot vouch for.

Ids. Each instance has its own store, so a session id or an alarm id of another instance may
well be one of this instance's: a dashboard (which keys rooms by session id) would mix two
rooms, and an acknowledgement sent here for a remote alarm would act on a local one. So every
id of a remote message is replaced by an alias, ``-(id * MAX_INSTANCES + slot)``: negative,
never an id of this instance's store (the API refuses it as no such session or alarm), unique per
remote instance, and the same for the same id, without any table that grows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel

from app import feed

SNAPSHOT_EVERY_S: Final = 2.0
# Three snapshots missed: that instance (or the path to it) is gone.
INSTANCE_SILENCE_S: Final = 3 * SNAPSHOT_EVERY_S
MAX_INSTANCES: Final = 1024  # remote instances one instance can tell apart (alias slots)


@dataclass
class Instance:
    """One remote instance, as heard."""

    name: str
    slot: int
    boot: str = ""
    seq: int = -1
    heard: float = 0.0
    in_step: bool = False
    rooms: dict[int, feed.RoomView] = field(default_factory=dict)  # by aliased session id
    resyncs: int = 0  # how often it fell out of step (a gap, a restart, silence, the bus lost)


def _not_live(view: feed.RoomView) -> None:
    view.live = view.partial = False
    view.silent = [m.monitor_id for m in view.monitors]
    for m in view.monitors:
        m.live = False


def _state(view: feed.RoomView) -> feed.RoomState:
    return feed.RoomState.model_validate(view.model_dump(include=set(feed.RoomState.model_fields)))


class RemoteRooms:
    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self.ignored = 0  # messages of an out-of-step instance, before its snapshot

    # Ids ---------------------------------------------------------------------------------

    def instance(self, name: str) -> Instance:
        if name not in self.instances:
            if len(self.instances) >= MAX_INSTANCES - 1:
                raise ValueError(f"instance: more than {MAX_INSTANCES - 1} instances on the bus")
            self.instances[name] = Instance(name, slot=len(self.instances) + 1)
        return self.instances[name]

    @staticmethod
    def alias(slot: int, id_: int) -> int:
        return -(id_ * MAX_INSTANCES + slot)

    def aliased(self, slot: int, message: dict[str, Any]) -> dict[str, Any]:
        """``message`` (a feed message as JSON) with every session, alarm and log id aliased."""
        def walk(obj: Any, in_alarm: bool = False) -> None:
            if isinstance(obj, dict):
                for k, v in obj.items():
                    is_id = isinstance(v, int) and not isinstance(v, bool)
                    if is_id and (k in ("session_id", "log_id") or (k == "id" and in_alarm)):
                        obj[k] = self.alias(slot, v)
                    else:  # an "alarm" (AlarmMessage) or the "alarms" of a RoomView
                        walk(v, k in ("alarm", "alarms"))
            elif isinstance(obj, list):
                for item in obj:
                    walk(item, in_alarm)

        walk(message)
        return message

    # Messages ----------------------------------------------------------------------------

    def envelope(self, name: str, boot: str, seq: int, now: float) -> tuple[Instance, list[BaseModel]]:
        """An envelope of ``name`` came in: out of step unless it follows the last one (then its
        rooms are published not live until its snapshot)."""
        inst = self.instance(name)
        inst.heard = now
        out = [] if boot == inst.boot and seq == inst.seq + 1 else self.out_of_step(inst)
        inst.boot, inst.seq = boot, seq
        return inst, out

    def apply(self, inst: Instance, message: BaseModel) -> list[BaseModel]:
        """Apply one of ``inst``'s messages (ids aliased already); returns what the hub publishes."""
        if isinstance(message, feed.Snapshot):
            return self._snapshot(inst, message)
        if not inst.in_step:
            self.ignored += 1
            return []
        if isinstance(message, feed.SessionStarted):
            inst.rooms[message.room.session_id] = message.room
        elif isinstance(message, feed.SessionEnded):
            inst.rooms.pop(message.session_id, None)
        elif isinstance(message, feed.RoomChanged):
            view = inst.rooms.get(message.room.session_id)
            if view is None:
                return []
            for name in feed.RoomState.model_fields:
                setattr(view, name, getattr(message.room, name))
        elif isinstance(message, (feed.Heartbeat, feed.Refused)):
            return []  # each instance beats for its own dashboards
        else:
            view = inst.rooms.get(getattr(message, "session_id", 0))
            if view is None:
                return []  # of a session not (yet) known: the next snapshot brings it
            self._update(view, message)
        return [message]

    @staticmethod
    def _update(view: feed.RoomView, message: BaseModel) -> None:
        if isinstance(message, feed.NumericsMessage):
            view.latest.update(message.readings)
            newest = max((r.t_device for r in message.readings.values()), default=None)
            if newest is not None:
                view.device_clock_offset = newest - message.t_server
        elif isinstance(message, feed.NibpMessage):
            view.nibp_last_attempt = message.nibp
            if message.nibp.status == "ok":
                view.nibp = message.nibp
        elif isinstance(message, feed.StatusMessage):
            view.statuses = [s for s in view.statuses if s.code != message.status.code]
            if message.status.active:
                view.statuses.append(message.status)
        elif isinstance(message, feed.AlarmMessage):
            alarm = message.alarm
            view.alarms = [a for a in view.alarms if a.id != alarm.id]
            if message.event != "cleared" and alarm.state != feed.AlarmState.cleared:
                view.alarms.append(alarm)
        elif isinstance(message, feed.SettingsMessage):
            view.settings = message.settings
        # marks and waveforms: no part of a room's view

    def _snapshot(self, inst: Instance, snapshot: feed.Snapshot) -> list[BaseModel]:
        """``inst``'s rooms as they stand: replace what was kept. In step, nothing changes for
        the dashboards (they had every message since); out of step, each room is sent whole."""
        was_in_step, old = inst.in_step, inst.rooms
        inst.rooms = {v.session_id: v for v in snapshot.rooms}
        inst.in_step = True
        out: list[BaseModel] = []
        for sid, view in old.items():
            if sid not in inst.rooms:
                out.append(feed.SessionEnded(room=view.room, session_id=sid))
        for sid, view in inst.rooms.items():
            if not was_in_step or sid not in old:
                out.append(feed.SessionStarted(room=view))
        # A room now served by this instance is no longer another's, silent one's.
        rooms = {v.room for v in inst.rooms.values()}
        for other in self.instances.values():
            if other is inst or other.in_step:
                continue
            for sid, view in list(other.rooms.items()):
                if view.room in rooms:
                    del other.rooms[sid]
                    out.append(feed.SessionEnded(room=view.room, session_id=sid))
        return out

    def forget_room(self, room: str) -> list[BaseModel]:
        """This instance runs ``room``'s session now (it took it over, or started it): whatever
        another instance last said of that room is no longer shown here."""
        out: list[BaseModel] = []
        for inst in self.instances.values():
            for sid, view in list(inst.rooms.items()):
                if view.room == room:
                    del inst.rooms[sid]
                    out.append(feed.SessionEnded(room=view.room, session_id=sid))
        return out

    # Time and loss -----------------------------------------------------------------------

    def expire(self, now: float) -> list[BaseModel]:
        """Instances silent for ``INSTANCE_SILENCE_S``: their rooms not live."""
        return [m for inst in self.instances.values()
                if inst.in_step and now - inst.heard > INSTANCE_SILENCE_S
                for m in self.out_of_step(inst)]

    def lost(self) -> list[BaseModel]:
        """The bus is lost: every remote room not live."""
        return [m for inst in self.instances.values() if inst.in_step for m in self.out_of_step(inst)]

    def out_of_step(self, inst: Instance) -> list[BaseModel]:
        if inst.in_step:
            inst.resyncs += 1
        inst.in_step = False
        out: list[BaseModel] = []
        for view in inst.rooms.values():
            _not_live(view)
            out.append(feed.RoomChanged(room=_state(view)))
        return out

    # Views -------------------------------------------------------------------------------

    def views(self, subscription: feed.Subscribe) -> list[feed.RoomView]:
        """The remote rooms ``subscription`` selects, for a snapshot: in step or not (then not
        live), by room name."""
        return sorted((v for v in self._rooms()
                       if subscription.rooms is None or v.room in subscription.rooms),
                      key=lambda v: v.room)

    def _rooms(self) -> Iterator[feed.RoomView]:
        for inst in self.instances.values():
            yield from inst.rooms.values()
