"""The live feed (``/ws/live``): what the server sends to dashboards and what they may ask of it.

These models are the single definition of the feed, as ``monitors/protocol.py`` is of the monitor
protocol: the server builds every message from them, the browser's store (``frontend/store.js``)
applies exactly these shapes, and ``docs/feed.schema.json`` is exported from them (a test fails
when the two drift).

Theory of operation. On connect the server sends a ``snapshot``: every room the dashboard
subscribes to, each as a ``RoomView`` holding the same models the live messages carry (the latest
``Reading`` of each parameter, the last ``Cuff`` reading, the active ``Alarm`` list, the session's
``Settings``). Every later message changes one part of one room, and the browser applies it to its
snapshot in place (a ``batch`` carries several such messages in one frame, applied in order); a dashboard that misses anything reconnects and gets a new snapshot, never a
replay. A dashboard may send ``subscribe`` at any time; the server answers with a snapshot of the
new selection, and from then on sends only messages of the rooms and kinds it asked for.

Clocks. Two clocks meet here, and every time field names its own in its suffix: ``*_device`` is
the monitor's clock (a reading's own time: what alarm delays and the NIBP schedule are judged on),
``*_server`` is the server's (when something was heard, decided or started). Both are seconds
since the Unix epoch. The browser shows "last seen" on the server's clock and ages of readings on
the device's (``RoomView.device_clock`` gives the device clock's offset).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Final, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.sites import Name as SiteName

FEED_VERSION: Final = 1

DeviceTime = Annotated[float, Field(description="seconds since the epoch, on the monitor's clock",
                                    json_schema_extra={"x-clock": "device"})]
ServerTime = Annotated[float, Field(description="seconds since the epoch, on the server's clock",
                                    json_schema_extra={"x-clock": "server"})]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# Parts -------------------------------------------------------------------------------------------


class Kind(str, Enum):
    """What a dashboard can subscribe to. ``room``, ``session`` and ``heartbeat`` messages are
    always sent: without them a view cannot know what it is looking at, or that it is live."""

    numerics = "numerics"
    nibp = "nibp"
    waveform = "waveform"
    status = "status"
    alarm = "alarm"
    mark = "mark"
    settings = "settings"


class Reading(_Model):
    """One parameter's latest value (None: the device sends "no value")."""

    value: float | None
    t_device: DeviceTime


class Cuff(_Model):
    """One NIBP measurement attempt: ``status`` "ok" with its pressures, or why it failed."""

    status: str
    sys: float | None = None
    dia: float | None = None
    map: float | None = None
    reason: str = ""
    t_device: DeviceTime


class DeviceStatus(_Model):
    code: str
    active: bool
    text: str = ""
    t_device: DeviceTime


class Mark(_Model):
    session_id: int
    t_device: DeviceTime
    what: str
    text: str = ""
    by: str = ""


class AlarmState(str, Enum):
    """The alarm signal's state (IEC 60601-1-8); the same names as ``alerts.signal``."""

    active = "active"
    audio_paused = "audio_paused"
    acknowledged = "acknowledged"
    latched = "latched"
    cleared = "cleared"


class Alarm(_Model):
    """One alarm as it stands now. ``message`` is plain text (no priority markers): the priority
    is a field, and every page draws its own marker from it."""

    id: int
    session_id: int
    monitor_id: str = ""  # the monitor a per-monitor alarm (lost feed) is about, else ""
    rule: str
    param: str | None  # the parameter the rule watches (HR, SpO2, SBP …); None for technical rules
    kind: Literal["physiological", "technical"]
    priority: Literal["low", "medium", "high"]
    tier: str = ""  # "nurse" once an unacknowledged medium alarm has gone to the nurse tier
    state: AlarmState
    title: str
    message: str
    value: float | None
    limit: float | None
    delay_s: float
    onset_device: DeviceTime  # when the condition began
    raised_device: DeviceTime  # when it was signalled (onset + the rule's delay)
    ended_device: DeviceTime | None  # when the condition ended (None: it holds)
    updated_device: DeviceTime
    decided_server: ServerTime  # when the server decided to raise it
    acknowledged_by: str | None = None


class MonitorLink(_Model):
    """One monitor of a room's session, and its link."""

    monitor_id: str
    room: str
    session_id: int | None
    mode: str
    vendor: str = ""
    model: str = ""
    connected: bool
    live: bool  # connected and heard from within the silence limit
    last_heard_server: ServerTime
    accepted: int
    duplicates: int
    refused: int
    refused_by: dict[str, int]
    last_error: dict[str, Any] | None


class Cycle(_Model):
    every_min: float
    until_min: float | None = None


class NibpSchedule(_Model):
    """The cuff cycle once the dose is given, as rule T3 judges it (the rules file's ``schedule``)."""

    nibp: list[Cycle]
    overdue_grace_min: float


class Escalation(_Model):
    nurse_after_s: float
    high_after_s: float
    high_kinds: list[str]


class SignalPolicy(_Model):
    audio_pause_s: float
    reminder_s: float
    latching_priorities: list[str]
    escalation: Escalation


class Phase(_Model):
    """A phase of the session timeline: from ``from_min`` minutes after the dose."""

    key: str
    label: str
    from_min: float


class Timeline(_Model):
    """The rules file's ``timeline``: the phases by minutes after the dose, and when the discharge
    window opens (after the dose, or after an infusion's end when one is marked)."""

    phases: list[Phase]  # in order; "pre-dose" before the dose is implied
    pre_dose_label: str
    discharge_label: str
    discharge_after_dose_min: float
    discharge_after_infusion_min: float


class Limit(_Model):
    """A rule as a trend draws it: its id, priority and condition text (``HR < 40``)."""

    rule: str
    priority: Literal["low", "medium", "high"]
    when: str
    param: str | None
    enabled: bool


class Scale(_Model):
    """A scale observations are scored on (the rules file's ``documentation.scales``)."""

    name: str
    label: str
    kind: str
    min: float
    max: float
    step: float


class Confirmable(_Model):
    """A discharge criterion a person confirms (the rules file's ``discharge.confirmed``)."""

    key: str
    label: str


class Settings(_Model):
    """The rules in force for one session: the clinic's rules file with the session's own
    changes. No page keeps its own copy of any of this."""

    rules_source: str
    nibp_schedule: NibpSchedule
    signals: SignalPolicy
    timeline: Timeline
    limits: list[Limit]
    baseline: dict[str, float | None] | None
    scales: list[Scale] = Field(default_factory=list)
    confirmable: list[Confirmable] = Field(default_factory=list)


class CheckIn(_Model):
    """The session's check-in as it stands (the record's latest ``check_in``)."""

    label: str
    weight_kg: float
    drug: str
    route: str
    t_device: DeviceTime


class BaselineProtocol(_Model):
    """Where the baseline protocol is (``alerts.baseline``): ``step`` resting, first_reading,
    second_reading or captured; ``status`` missing (not captured yet), implausible (the latest
    reading is no resting reference: ``why``) or captured. ``readings``: those counted so far,
    of ``needed``."""

    step: Literal["resting", "first_reading", "second_reading", "captured"]
    status: Literal["missing", "implausible", "captured"]
    rest_ends_device: DeviceTime
    readings: int
    needed: int
    why: str = ""


class DoseGate(_Model):
    """The pre-dose gates (the rules file's ``documentation.dose_gates``): those active now, and
    those a sign-off covers. A dose is refused while an active one is not covered."""

    active: list[str]
    signed_off: list[str]


class Dosing(_Model):
    """The doses recorded so far: the total, per kilogram of the check-in weight, and for
    esketamine the nasal devices given and when the next is due (``next_device_device``)."""

    doses: int
    total_mg: float
    mg_per_kg: float | None
    devices: list[int]
    next_device_device: DeviceTime | None = None


class Criterion(_Model):
    key: str
    label: str
    status: Literal["met", "unmet", "unknown"]
    why: str


class Discharge(_Model):
    """Discharge readiness now (``alerts.discharge``): each criterion, how many are met, and
    ``ready`` only when all are and no medium or high alarm is signalled (``blocked_by``)."""

    criteria: list[Criterion]
    met: int
    total: int
    ready: bool
    blocked_by: list[str]
    phase: str  # the route's timeline phase key at the time judged ("pre-dose", "discharge" …)


class RoomState(_Model):
    """A room's session and the link state of its monitors. ``live``: every monitor the session
    expects is connected and heard from; ``partial``: some are; ``silent`` names those that are not."""

    session_id: int
    room: str
    # The site the room belongs to (app/sites.py): the site of the device that started the
    # session. A dashboard only ever gets rooms of the sites its user sees.
    site: SiteName
    mode: str
    label: str = ""
    started_server: ServerTime
    monitors: list[MonitorLink]
    live: bool
    partial: bool
    silent: list[str]
    dose_device: DeviceTime | None
    # The end of an IV infusion, when one is marked: the discharge window counts from it.
    infusion_end_device: DeviceTime | None = None
    last_heard_server: ServerTime
    statuses: list[DeviceStatus]
    # The session record's live side (docs/session-record.md): None before a check-in.
    check_in: CheckIn | None = None
    baseline_protocol: BaselineProtocol | None = None
    dose_gate: DoseGate | None = None
    dosing: Dosing | None = None
    discharge: Discharge | None = None


class RoomView(RoomState):
    """A room as the snapshot gives it: its state and everything a page renders from."""

    latest: dict[str, Reading]
    nibp: Cuff | None  # the last valid cuff reading
    nibp_last_attempt: Cuff | None
    alarms: list[Alarm]  # those still signalled
    settings: Settings
    # The device clock minus the server clock (seconds) as last seen in this room: how a page
    # shows "now" on the device's clock between readings. None until the room has sent a reading.
    device_clock_offset: float | None


class SiteLink(_Model):
    """A site's link as this instance supervises it (app/site_link.py, the rules file's
    ``site_link_lost`` rule): ``lost`` once every monitor of the site streaming here has been
    silent or disconnected for ``delay_s``; ``last_heard_server``: when one was last heard."""

    site: SiteName
    lost: bool
    last_heard_server: ServerTime
    delay_s: float
    title: str  # the rule's title, as the rules file names it


# Server -> dashboard ------------------------------------------------------------------------------


class Snapshot(_Model):
    type: Literal["snapshot"] = "snapshot"
    version: Literal[1] = FEED_VERSION
    t_server: ServerTime
    subscription: Subscribe
    rooms: list[RoomView]
    # The sites whose link is lost now, of those the dashboard's user sees.
    site_links: list[SiteLink] = Field(default_factory=list)


class SiteLinkMessage(SiteLink):
    """A site's link was lost, or a monitor of it was heard again (``lost`` false)."""

    type: Literal["site_link"] = "site_link"


class Heartbeat(_Model):
    type: Literal["heartbeat"] = "heartbeat"
    t_server: ServerTime


class SessionStarted(_Model):
    type: Literal["session_started"] = "session_started"
    room: RoomView


class SessionEnded(_Model):
    type: Literal["session_ended"] = "session_ended"
    room: str
    session_id: int


class RoomChanged(_Model):
    type: Literal["room"] = "room"
    room: RoomState


class _RoomMessage(_Model):
    room: str
    session_id: int


class NumericsMessage(_RoomMessage):
    type: Literal["numerics"] = "numerics"
    t_server: ServerTime
    readings: dict[str, Reading]


class NibpMessage(_RoomMessage):
    type: Literal["nibp"] = "nibp"
    nibp: Cuff


class WaveformMessage(_RoomMessage):
    type: Literal["waveform"] = "waveform"
    wave: str
    rate: float
    t_device: DeviceTime  # the first sample's time
    samples: list[float | None]


class StatusMessage(_RoomMessage):
    type: Literal["status"] = "status"
    status: DeviceStatus


class AlarmMessage(_RoomMessage):
    type: Literal["alarm"] = "alarm"
    event: str  # raised escalated acknowledged audio_paused audio_resumed reminder latched cleared reset
    log_id: int
    by: str = ""
    alarm: Alarm


class MarkMessage(_RoomMessage):
    type: Literal["mark"] = "mark"
    mark: Mark


class SettingsMessage(_RoomMessage):
    """The rules in force for a session changed (a limit changed, the baseline captured)."""

    type: Literal["settings"] = "settings"
    settings: Settings


class Refused(_Model):
    """The server could not take what the dashboard sent (a malformed ``subscribe``)."""

    type: Literal["refused"] = "refused"
    field: str
    reason: str


# The most messages one batch holds: a frame stays small enough to be applied between two
# animation frames of the page, and a slow reader's queue is emptied a bounded bite at a time.
MAX_BATCH: Final = 64

# What a batch may hold: every message but a snapshot (always a frame of its own, so that a page
# replaces its state at a frame's start) and a batch.
BatchedMessage = Annotated[
    Heartbeat | SessionStarted | SessionEnded | RoomChanged | NumericsMessage | NibpMessage
    | WaveformMessage | StatusMessage | AlarmMessage | MarkMessage | SettingsMessage | SiteLinkMessage
    | Refused,
    Field(discriminator="type"),
]


class Batch(_Model):
    """Several messages in one frame, to be applied in order exactly as if each had come in a
    frame of its own. The server sends one when a dashboard's queue already holds several
    messages (it never waits to fill one); at most ``MAX_BATCH`` messages."""

    type: Literal["batch"] = "batch"
    messages: list[BatchedMessage] = Field(min_length=1, max_length=MAX_BATCH)


ServerMessage = Annotated[
    Snapshot | Heartbeat | SessionStarted | SessionEnded | RoomChanged | NumericsMessage
    | NibpMessage | WaveformMessage | StatusMessage | AlarmMessage | MarkMessage | SettingsMessage
    | SiteLinkMessage | Refused | Batch,
    Field(discriminator="type"),
]
server_message = TypeAdapter(ServerMessage)

# The kind each room message is subscribed by.
KIND_OF: dict[str, Kind] = {
    "numerics": Kind.numerics, "nibp": Kind.nibp, "waveform": Kind.waveform, "status": Kind.status,
    "alarm": Kind.alarm, "mark": Kind.mark, "settings": Kind.settings,
}


# Dashboard -> server ------------------------------------------------------------------------------


class Subscribe(_Model):
    """What a dashboard wants. ``rooms`` None: every room, including those that start later.
    ``waveforms``: the waves wanted per room (``"*"`` for every room), sent only if ``waveform`` is
    among the kinds; an empty mapping with the waveform kind means every wave of every room.
    The central station asks for one wave per tile, the room view for everything of one room,
    the nurse view for alarms and numerics of its rooms."""

    type: Literal["subscribe"] = "subscribe"
    rooms: list[str] | None = None
    kinds: list[Kind] = Field(default_factory=lambda: list(Kind))
    waveforms: dict[str, list[str]] = Field(default_factory=dict)

    def wants(self, room: str, kind: str, wave: str | None = None) -> bool:
        if self.rooms is not None and room not in self.rooms:
            return False
        if kind not in KIND_OF:
            return True  # room, session and heartbeat messages
        if KIND_OF[kind] not in self.kinds:
            return False
        if kind == "waveform" and self.waveforms:
            waves = self.waveforms.get(room, self.waveforms.get("*", []))
            return wave in waves
        return True


Snapshot.model_rebuild()

# A union of one for now: the discriminator makes a message of an unknown type a precise error,
# and the next dashboard message is added here.
ClientMessage = Annotated[Union[Subscribe], Field(discriminator="type")]  # noqa: UP007 - a union of one
client_message = TypeAdapter(ClientMessage)


def json_schema() -> dict[str, Any]:
    """The feed's JSON Schema: every server message and every dashboard message."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "vitalwatch live feed",
        "version": FEED_VERSION,
        "server_message": server_message.json_schema(),
        "client_message": client_message.json_schema(),
    }
