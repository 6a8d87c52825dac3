"""The server's garbage-collector policy (app/heap.py): survivors frozen on a schedule, handed back
and collected in full on a longer one, so cycles are still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.heap import FREEZE_EVERY_S, THAW_EVERY_S, THRESHOLDS, Heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_survivors_are_frozen_on_schedule_and_thawed_cycles_are_collected(restored_gc: None) -> None:
    """The first tend sets the thresholds and freezes; the next freeze comes only after
    FREEZE_EVERY_S; a garbage cycle frozen then survives collections until THAW_EVERY_S, when it
    is handed back and collected."""
    heap = Heap()
    gc.unfreeze()
    heap.tend(0.0)
    assert gc.get_threshold() == THRESHOLDS
    frozen = gc.get_freeze_count()
    assert frozen > 0
    cycles = [Cycle() for _ in range(100)]
    heap.tend(FREEZE_EVERY_S / 2)
    assert gc.get_freeze_count() == frozen  # not yet
    heap.tend(FREEZE_EVERY_S)
    assert gc.get_freeze_count() >= frozen + 100  # the survivors, the cycles among them
    alive = weakref.ref(cycles[0])
    del cycles
    gc.collect()
    assert alive() is not None  # frozen garbage: no collection sees it
    heap.tend(THAW_EVERY_S)
    assert alive() is None
