"""Session leases (app/lease.py) on a real store, two instances' holders side by side: who may
take a lease, when it expires, what renewing finds lost, and the fence a stalled holder meets."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.lease import TTL_S, Fenced, Leases
from app.store import Store

T0 = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "vitalwatch.sqlite3")


def pair(store: Store) -> tuple[Leases, Leases]:
    return Leases(store.db, "A/boot1"), Leases(store.db, "B/boot1")


def test_a_lease_is_one_holders_until_it_is_taken_and_the_loser_is_fenced(store: Store) -> None:
    """A takes a free lease (epoch 1); B may not take it while it is live, but may take it over
    (a monitor moved to B): epoch 2, from A. A's renewal then finds it lost, and a write A would
    fence is refused; B's passes."""
    a, b = pair(store)
    sid = store.start_session("Room 1", "test", T0)["id"]
    first = a.take(sid, T0)
    assert first is not None and (first.epoch, first.previous) == (1, None)
    assert b.take(sid, T0 + 1) is None
    a.fence([sid])  # A holds it: nothing raised
    moved = b.take(sid, T0 + 1, steal=True)
    assert moved is not None and (moved.epoch, moved.previous, moved.expired) == (2, "A/boot1", False)
    with pytest.raises(Fenced) as e:
        a.fence([sid])
    assert e.value.session_ids == [sid]
    b.fence([sid])
    assert a.renew(T0 + 2) == [sid] and sid not in a.held
    with pytest.raises(Fenced):
        a.fence([sid])  # known lost: refused without asking the store
    assert b.renew(T0 + 2) == []


def test_an_unrenewed_lease_expires_and_its_session_is_an_orphan_to_take(store: Store) -> None:
    """A lease A stops renewing (A died) is free for B after TTL_S: listed among the orphans,
    with sessions that never had a lease; ended sessions and B's own are not."""
    a, b = pair(store)
    held = store.start_session("Room 1", "test", T0)["id"]
    never = store.start_session("Room 2", "test", T0)["id"]
    ended = store.start_session("Room 3", "test", T0)["id"]
    store.end_session(ended, T0 + 1)
    assert a.take(held, T0) is not None
    assert b.orphans(T0 + 1) == [never]
    assert a.renew(T0 + 3) == []  # renewed at T0 + 3: live until T0 + 3 + TTL_S
    assert b.take(held, T0 + 3 + TTL_S - 0.1) is None
    assert b.orphans(T0 + 3 + TTL_S + 0.1) == [held, never]
    taken = b.take(held, T0 + 3 + TTL_S + 0.1)
    assert taken is not None and (taken.epoch, taken.previous, taken.expired) == (2, "A/boot1", True)
    assert b.orphans(T0 + 3 + TTL_S + 0.2) == [never]
    assert b.holder_of(held, T0 + 3 + TTL_S + 0.2) == "B/boot1"


def test_renewing_its_own_lease_keeps_the_epoch_and_a_release_frees_it_at_once(store: Store) -> None:
    """Taking a lease it holds again is a renewal (same epoch: its writes in flight stay valid);
    a released lease is free at once and its epoch goes on growing."""
    a, b = pair(store)
    sid = store.start_session("Room 1", "test", T0)["id"]
    assert a.take(sid, T0).epoch == 1  # type: ignore[union-attr]
    assert a.take(sid, T0 + 1).epoch == 1  # type: ignore[union-attr]
    a.release(sid)
    assert a.held == {} and b.holder_of(sid, T0 + 1) is None
    again = b.take(sid, T0 + 1)
    assert again is not None and again.epoch == 2


def test_two_instances_racing_for_a_new_lease_get_one_winner(tmp_path: Path, store: Store) -> None:
    """Two connections to one store insert the same new lease: one wins, the other gets None
    (the store's unique key decides), and the winner's fence holds."""
    other = Store(tmp_path / "vitalwatch.sqlite3")
    a = Leases(store.db, "A/boot1")
    sid = store.start_session("Room 1", "test", T0)["id"]
    assert a.take(sid, T0) is not None
    # B read "no lease" just before A inserted it: its insert meets A's row.
    b_insert = Leases(other.db, "B/boot1")
    real = b_insert.db.execute

    class Blind:
        """B's connection as it was a moment earlier: the lease row not there yet."""

        def execute(self, sql: str, params: tuple = ()):
            if sql.startswith("SELECT holder, epoch, expires FROM session_leases"):
                return real("SELECT holder FROM session_leases WHERE 0")
            return real(sql, params)

    b_insert.db = Blind()
    assert b_insert.take(sid, T0) is None
    a.fence([sid])
