"""Keeping the cyclic garbage collector out of the live path's tail latency.

CPython's automatic full collections walk every object the collector tracks. With a few hundred
rooms' alarm state, queues and sockets that is tens of milliseconds in which the event loop
delivers nothing: measured on the latency benchmark at 256 rooms, the 99th percentile went from
8.9 ms with the defaults to 2.5 ms with the collector off. Switching it off is not an option (a
closed websocket's compression state is freed only by the cyclic collector), so instead:

- every ``FREEZE_EVERY_S`` the objects that have survived so far are moved to the permanent
  generation (``gc.freeze``): automatic collections then walk only what is new, which is short;
- every ``THAW_EVERY_S`` they are handed back (``gc.unfreeze``) and collected once in full, so
  that garbage cycles among them are still freed, at the price of one long pause that often;
- the youngest generation is collected after ``THRESHOLDS[0]`` net allocations rather than 700:
  fewer, slightly longer young collections (a few MB of young objects at most between two).

With the three, the same benchmark's 99th percentile at 256 rooms was 2.9-3.6 ms (docs/performance.md).

The supervisor calls ``tend`` once a second with the server's clock.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

FREEZE_EVERY_S = 10.0
THAW_EVERY_S = 600.0
THRESHOLDS = (100_000, 50, 1000)  # gc.set_threshold: young, middle and old generations


@dataclass
class Heap:
    """The collector's policy for a running server (see the module docstring)."""

    frozen_at: float | None = None
    thawed_at: float | None = None

    def tend(self, now: float) -> None:
        if self.thawed_at is None:
            self.thawed_at = now
            gc.set_threshold(*THRESHOLDS)
        if now - self.thawed_at >= THAW_EVERY_S:
            gc.unfreeze()
            gc.collect()
            self.thawed_at = now
        if self.frozen_at is None or now - self.frozen_at >= FREEZE_EVERY_S:
            gc.freeze()
            self.frozen_at = now
