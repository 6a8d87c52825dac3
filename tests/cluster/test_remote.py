"""The other instances' rooms as an instance keeps them (app/remote.py), and what its bus does
with an envelope (app/bus.py, ``Bus.receive``): messages in, what its dashboards get out."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from alerts.rules import load
from app import feed
from app.bus import Bus
from app.hub import Hub
from app.pipeline import Pipeline
from app.remote import INSTANCE_SILENCE_S, RemoteRooms
from app.store import Store

NOW = 1_800_000_000.0


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    """A real pipeline on a real store: where remote rooms are shown."""
    return Pipeline(Store(tmp_path / "vitalwatch.sqlite3"), Hub(), load(None), NOW)


def view_of(tmp_path: Path, room: str) -> dict[str, Any]:
    """A room's view as another instance (its own store) sends it, as JSON."""
    other = Pipeline(Store(tmp_path / f"other-{room}.sqlite3"), Hub(), load(None), NOW)
    return other.room_view(other.start_session(room, "test", NOW)).model_dump(mode="json")


def envelope(instance: str, seq: int, *messages: dict[str, Any], boot: str = "b1") -> bytes:
    return json.dumps({"instance": instance, "boot": boot, "seq": seq, "t_server": NOW,
                       "messages": list(messages)}, separators=(",", ":")).encode()


def snapshot(*views: dict[str, Any]) -> dict[str, Any]:
    return {"type": "snapshot", "version": 1, "t_server": NOW, "subscription": {"type": "subscribe"},
            "rooms": list(views)}


def numerics(session_id: int, hr: float) -> dict[str, Any]:
    return {"type": "numerics", "room": "Room A", "session_id": session_id, "t_server": NOW,
            "readings": {"HR": {"value": hr, "t_device": NOW}}}


class Listener:
    """A dashboard's queue, read back as the messages the hub offered it."""

    def __init__(self, hub: Hub) -> None:
        self.client = hub.connect()

    def messages(self) -> list[dict[str, Any]]:
        out = []
        while not self.client.queue.empty():
            out.append(json.loads(self.client.queue.get_nowait().text))
        return out


def test_ids_are_aliased_negative_distinct_per_instance_and_stable() -> None:
    """Session, alarm and log ids of two instances (both with a session 1) become negative
    aliases, the same for the same id, different across instances, never a local id."""
    rooms = RemoteRooms()
    a, b = rooms.instance("A"), rooms.instance("B")
    msg = {"type": "alarm", "session_id": 1, "log_id": 7, "alarm": {"id": 3, "session_id": 1}}
    on_a, on_b = rooms.aliased(a.slot, json.loads(json.dumps(msg))), rooms.aliased(b.slot, dict(msg, alarm=dict(msg["alarm"])))
    assert on_a["session_id"] < 0 and on_a["alarm"]["id"] < 0 and on_a["log_id"] < 0
    assert on_a["session_id"] == on_a["alarm"]["session_id"] != on_b["session_id"]
    assert rooms.aliased(a.slot, {"session_id": 1})["session_id"] == on_a["session_id"]


def test_a_remote_room_follows_its_messages_and_is_in_the_snapshot(pipeline: Pipeline, tmp_path: Path) -> None:
    """A's snapshot brings its room to B's dashboards (session_started) and B's own snapshot;
    A's numerics after it reach the dashboards and update the room B's snapshot shows."""
    bus, dash = Bus("redis://127.0.0.1:1/0", "B", pipeline), Listener(pipeline.hub)
    bus.receive(envelope("A", 0, snapshot(view_of(tmp_path, "Room A"))), NOW)
    started = dash.messages()
    assert [m["type"] for m in started] == ["session_started"]
    sid = started[0]["room"]["session_id"]
    bus.receive(envelope("A", 1, numerics(1, 88)), NOW)
    assert [(m["type"], m["session_id"], m["readings"]["HR"]["value"]) for m in dash.messages()] == [
        ("numerics", sid, 88)]
    rooms = pipeline.snapshot(NOW).rooms
    assert [(r.room, r.session_id, r.latest["HR"].value) for r in rooms] == [("Room A", sid, 88)]
    assert pipeline.snapshot(NOW, local_only=True).rooms == []  # what B itself publishes


def test_a_gap_shows_the_room_not_live_until_the_next_snapshot(pipeline: Pipeline, tmp_path: Path) -> None:
    """An envelope of A missing (seq 1 never came): A's room goes not live on B's dashboards at
    once, A's messages are ignored until its next snapshot, which sends the room whole."""
    bus, dash = Bus("redis://127.0.0.1:1/0", "B", pipeline), Listener(pipeline.hub)
    view = view_of(tmp_path, "Room A")
    view["monitors"] = []
    bus.receive(envelope("A", 0, snapshot(view)), NOW)
    dash.messages()
    bus.receive(envelope("A", 2, numerics(1, 90)), NOW)
    out = dash.messages()
    assert [(m["type"], m["room"]["live"]) for m in out] == [("room", False)]
    assert bus.remote.ignored == 1
    bus.receive(envelope("A", 3, snapshot(view), numerics(1, 91)), NOW)
    assert [m["type"] for m in dash.messages()] == ["session_started", "numerics"]


def test_a_silent_instance_and_a_lost_bus_make_remote_rooms_not_live(tmp_path: Path) -> None:
    """No envelope from A for INSTANCE_SILENCE_S, or the bus lost: A's rooms are sent not live."""
    rooms = RemoteRooms()
    inst, _ = rooms.envelope("A", "b1", 0, NOW)
    rooms.apply(inst, feed.Snapshot.model_validate(rooms.aliased(inst.slot, snapshot(view_of(tmp_path, "Room A")))))
    assert rooms.expire(NOW + INSTANCE_SILENCE_S - 1) == []
    gone = rooms.expire(NOW + INSTANCE_SILENCE_S + 1)
    assert [(type(m).__name__, m.room.live) for m in gone] == [("RoomChanged", False)]  # type: ignore[attr-defined]
    assert [v.live for v in rooms.views(feed.Subscribe())] == [False]
    rooms.apply(inst, feed.Snapshot.model_validate(rooms.aliased(inst.slot, snapshot(view_of(tmp_path, "Room A")))))
    assert [type(m).__name__ for m in rooms.lost()] == ["RoomChanged"]


def test_bad_and_own_envelopes(pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    """What is no envelope is refused, counted and logged with the field, never a crash and
    never shown; this instance's own envelopes are ignored; another process using its name is
    counted as a conflict."""
    bus, dash = Bus("redis://127.0.0.1:1/0", "B", pipeline), Listener(pipeline.hub)
    bus.receive(b"not json", NOW)
    bus.receive(envelope("A", 0, {"type": "numerics", "room": "Room A", "session_id": 1}), NOW)
    bus.receive(json.dumps({"instance": "A", "boot": "b1", "seq": -1}).encode(), NOW)
    assert bus.refused == 3 and dash.messages() == []
    assert "messages.0.numerics.t_server: Field required" in caplog.text
    assert "seq: Input should be greater than or equal to 0" in caplog.text
    received = bus.received
    bus.receive(bus._payload([feed.Heartbeat(t_server=time.time())]).encode(), NOW)
    assert bus.received == received and bus.conflicts == 0
    bus.receive(envelope("B", 0, numerics(1, 1), boot="someone-else"), NOW)
    bus.receive(json.dumps({"instance": "B", "boot": "x", "seq": 0, "messages": []}).encode(), NOW)
    assert bus.conflicts == 2 and dash.messages() == []


def test_a_full_outbox_drops_waveforms_and_breaks_the_link_for_anything_else(pipeline: Pipeline) -> None:
    """The outbox full (Redis not keeping up): a waveform frame is dropped and counted; a value
    or an alarm is never dropped silently: the link is declared broken (reconnected, the others
    resync from the snapshot). While the bus is lost nothing is queued, only counted."""
    bus = Bus("redis://127.0.0.1:1/0", "B", pipeline)
    wave = feed.WaveformMessage(room="R", session_id=1, wave="Pleth", rate=100, t_device=NOW, samples=[1.0])
    values = feed.NumericsMessage(room="R", session_id=1, t_server=NOW, readings={})
    pipeline.hub.publish(values)
    assert bus.outbox.empty() and bus.not_sent == 1
    bus.connected = True
    while not bus.outbox.full():
        pipeline.hub.publish(wave)
    pipeline.hub.publish(wave)
    assert bus.dropped_waveforms == 1 and not bus.broken.is_set()
    pipeline.hub.publish(values)
    assert bus.overflows == 1 and bus.broken.is_set()
    pipeline.hub.publish(feed.Heartbeat(t_server=NOW))  # never on the bus
    assert bus.overflows == 1
