"""The roster store: who an alarm's chain step reaches at any moment, hand-over included, the
rooms each nurse covers, and changes that keep what has happened as it happened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.roster import NoShift, Roster, RosterError, ShiftState
from app.store import Store

H = 3600.0
T0 = 1_800_000_000.0  # a day shift 07:00-19:00 starts here; the night shift at 18:30


@pytest.fixture
def roster(tmp_path: Path) -> Iterator[Roster]:
    store = Store(tmp_path / "vitalwatch.sqlite3")
    try:
        yield Roster(store.db)
    finally:
        store.close()


def day_and_night(roster: Roster) -> tuple[int, int]:
    """A day shift and a night shift overlapping by 30 min (the hand-over)."""
    day = roster.add_shift("Day", T0, T0 + 12 * H, "dr-day",
                           {"Room 1": ("ann", "bea"), "Room 2": ("bea", None)}, by="t", now=T0 - H)
    night = roster.add_shift("Night", T0 + 11.5 * H, T0 + 24 * H, "dr-night",
                             {"Room 1": ("cem", None), "Room 3": ("dan", "cem")}, by="t", now=T0 - H)
    return day, night


def test_recipients_within_one_shift(roster: Roster) -> None:
    """Mid-shift each step reaches that shift's people: the room's nurse, its backup, the
    clinician, and everyone on duty; a room without a backup reaches nobody at that step."""
    day_and_night(roster)
    t = T0 + 2 * H
    assert roster.recipients("Room 1", "primary", t) == ["ann"]
    assert roster.recipients("Room 1", "backup", t) == ["bea"]
    assert roster.recipients("Room 2", "backup", t) == []
    assert roster.recipients("Room 1", "clinician", t) == ["dr-day"]
    assert roster.recipients("Room 1", "everyone", t) == ["ann", "bea", "dr-day"]


def test_recipients_at_hand_over_reach_both_shifts(roster: Roster) -> None:
    """While two shifts overlap, a room's step reaches the nurses of both and everyone on duty is
    everyone in either; a room only one shift covers has only that shift's nurse; after the
    overlap only the new shift's people remain."""
    day_and_night(roster)
    t = T0 + 11.75 * H
    assert roster.recipients("Room 1", "primary", t) == ["ann", "cem"]
    assert roster.recipients("Room 2", "primary", t) == ["bea"]
    assert roster.recipients("Room 3", "backup", t) == ["cem"]
    assert roster.recipients("Room 3", "clinician", t) == ["dr-day", "dr-night"]
    assert roster.recipients("Room 1", "everyone", t) == ["ann", "bea", "cem", "dan", "dr-day", "dr-night"]
    after = T0 + 12 * H  # the day shift's end is exclusive
    assert roster.recipients("Room 1", "primary", after) == ["cem"]
    assert roster.recipients("Room 2", "primary", after) == []
    assert roster.recipients("Room 2", "clinician", after) == ["dr-night"]
    assert roster.recipients("Room 1", "everyone", T0 + 30 * H) == []


def test_rooms_of_a_nurse_follow_the_shifts(roster: Roster) -> None:
    """rooms_of gives the rooms a user covers as nurse or backup at that moment, both shifts'
    during the hand-over, and none outside any shift or for a clinician."""
    day_and_night(roster)
    assert roster.rooms_of("bea", T0 + H) == ["Room 1", "Room 2"]
    assert roster.rooms_of("cem", T0 + H) == []
    assert roster.rooms_of("cem", T0 + 11.75 * H) == ["Room 1", "Room 3"]
    assert roster.rooms_of("ann", T0 + 12 * H) == []
    assert roster.rooms_of("dr-day", T0 + H) == []
    assert [s["name"] for s in roster.shifts_of("cem", T0 + 11.75 * H)] == ["Night"]


def test_edit_end_and_delete_keep_history(roster: Roster) -> None:
    """A running shift's rooms and clinician can be changed and it can be ended early (then it
    reaches nobody); a shift that has ended cannot be changed, one that has started cannot be
    deleted, one that has not started can be; each change returns the shift before and after."""
    day, night = day_and_night(roster)
    old, new = roster.update_shift(day, T0 + H, clinician="dr-other", rooms={"Room 1": ("bea", "ann")})
    assert old["clinician"] == "dr-day" and old["rooms"]["Room 2"] == {"nurse": "bea", "backup": None}
    assert new["clinician"] == "dr-other" and list(new["rooms"]) == ["Room 1"]
    assert roster.recipients("Room 1", "primary", T0 + 2 * H) == ["bea"]

    _, ended = roster.end_shift(day, T0 + 3 * H)
    assert ended["ends"] == T0 + 3 * H
    assert roster.recipients("Room 1", "primary", T0 + 4 * H) == []
    assert roster.recipients("Room 1", "primary", T0 + 2 * H) == ["bea"]  # the past stays
    with pytest.raises(ShiftState, match="has ended"):
        roster.update_shift(day, T0 + 4 * H, name="Rewritten")
    with pytest.raises(ShiftState, match="has ended"):
        roster.end_shift(day, T0 + 4 * H)
    with pytest.raises(ShiftState, match="has started; end it early"):
        roster.delete_shift(day, T0 + 4 * H)
    with pytest.raises(ShiftState, match="not started; delete it"):
        roster.end_shift(night, T0 + 4 * H)
    assert roster.delete_shift(night, T0 + 4 * H)["name"] == "Night"
    with pytest.raises(NoShift):
        roster.shift(night)
    assert [s["id"] for s in roster.shifts()] == [day]


def test_the_store_refuses_what_it_can_see(roster: Roster) -> None:
    """An empty or reversed shift and a nurse as their own backup are refused, naming the field."""
    with pytest.raises(RosterError) as e:
        roster.add_shift("X", T0, T0, "dr", {}, by="t", now=T0)
    assert e.value.field == "ends"
    with pytest.raises(RosterError) as e:
        roster.add_shift("X", T0, T0 + H, "dr", {"Room 1": ("ann", "ann")}, by="t", now=T0)
    assert e.value.field == "rooms.Room 1.backup"
    assert roster.shifts() == []


def test_demo_shift_covers_every_demo_room_now(roster: Roster) -> None:
    """The demo's shift runs from start-up with demo-nurse on every demo room, demo-clinician as
    backup and clinician; a second start ends the first one's shift rather than doubling it."""
    from app.demo import ROOM_NAMES, demo_shift

    demo_shift(roster, T0)
    for room in ROOM_NAMES:
        assert roster.recipients(room, "primary", T0 + 60) == ["demo-nurse"]
        assert roster.recipients(room, "backup", T0 + 60) == ["demo-clinician"]
        assert roster.recipients(room, "clinician", T0 + 60) == ["demo-clinician"]
    demo_shift(roster, T0 + 600)
    assert len(roster.shifts(at=T0 + 700)) == 1
    assert len(roster.shifts()) == 2
