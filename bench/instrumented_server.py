"""``vitalwatch serve`` with timers around storage and on the event loop, for ``latency.py --instrument``.

It runs the unchanged server (``app.cli.main``) after wrapping, at run time, the calls on the live
path that touch the disk: ``Store.flush``, which writes and commits a group of messages in one
SQLite transaction before their acks, and ``Store.store_message`` when commits are not grouped (one
transaction per message). For every commit it notes the wall time and how it was spent, from the thread's
``/proc`` scheduler statistics: on the CPU, waiting for a CPU (the machine is busy: other work, not
vitalwatch), or neither, i.e. blocked in the kernel (disk I/O: the WAL writes and the fsyncs of a
checkpoint). A second task measures how late the event loop wakes up, which is how long every
connection, ingest and dashboards alike, was held up, and splits each late wake-up the same way.

When the server exits it writes a JSON summary to the file named by ``VITALWATCH_INSTRUMENT_OUT``.

To show that the benchmark fails when the server is made worse (``latency.py --no-group-commits``,
``--slow-commit MS``): ``VITALWATCH_BENCH_GROUP_COMMITS=0`` turns grouped commits off, and
``VITALWATCH_BENCH_SLOW_COMMIT_MS`` holds the event loop that long in every commit, as a slow disk
would.

    cd CHECKOUT && VITALWATCH_INSTRUMENT_OUT=/tmp/x.json python PATH/TO/bench/instrumented_server.py \
        serve --port 8000 --data-dir /tmp/d
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

# The code measured is the checkout this runs in (latency.py sets the working directory).
sys.path.insert(0, os.getcwd())

from app import cli, server
from app.store import Store

SLOW_S = 0.002  # storage calls longer than this are listed one by one
LAG_TICK_S = 0.005
LAG_SLOW_S = 0.020  # loop wake-ups later than this are listed one by one
KEEP = 2000


def _sched() -> tuple[float, float]:
    """(seconds on the CPU, seconds waiting for a CPU) of the calling thread so far."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            run, wait, _ = f.read().split()
        return int(run) / 1e9, int(wait) / 1e9
    except (OSError, ValueError):
        return time.thread_time(), 0.0


class Totals:
    def __init__(self) -> None:
        self.calls = 0
        self.wall = self.cpu = self.runqueue = self.blocked = 0.0
        self.durations: list[float] = []
        self.slow: list[dict[str, float]] = []

    def add(self, t: float, wall: float, cpu: float, runqueue: float, idle: float = 0.0) -> None:
        """``idle``: part of the interval the thread may have spent waiting for work, not blocked."""
        self.calls += 1
        self.wall += wall
        self.cpu += cpu
        self.runqueue += runqueue
        self.blocked += max(0.0, wall + idle - cpu - runqueue)
        self.durations.append(wall)
        if wall > self.slow_threshold and len(self.slow) < KEEP:
            self.slow.append({"t": round(t, 3), "ms": round(wall * 1000, 2), "cpu_ms": round(cpu * 1000, 2),
                              "runqueue_ms": round(runqueue * 1000, 2),
                              "blocked_ms": round(max(0.0, wall + idle - cpu - runqueue) * 1000, 2)})

    slow_threshold = SLOW_S

    def summary(self) -> dict[str, Any]:
        d = sorted(self.durations)

        def q(p: float) -> float | None:
            return round(d[min(len(d) - 1, int(p * len(d)))] * 1000, 3) if d else None

        return {"calls": self.calls, "wall_s": round(self.wall, 3), "cpu_s": round(self.cpu, 3),
                "runqueue_s": round(self.runqueue, 3),
                "blocked_s": round(self.blocked, 3),
                "p50_ms": q(0.5), "p99_ms": q(0.99), "p999_ms": q(0.999),
                "max_ms": round(d[-1] * 1000, 2) if d else None,
                "over_threshold": sum(1 for x in d if x > self.slow_threshold),
                "over_threshold_totals_ms": {k: round(sum(e[k] for e in self.slow), 1)
                                             for k in ("ms", "cpu_ms", "runqueue_ms", "blocked_ms")},
                "slow": self.slow}


store_totals = Totals()
lag_totals = Totals()
lag_totals.slow_threshold = LAG_SLOW_S


SLOW_COMMIT_S = float(os.environ.get("VITALWATCH_BENCH_SLOW_COMMIT_MS") or 0) / 1000
messages = [0]


def _commit(t0: float, run0: float, wait0: float, n: int) -> None:
    if SLOW_COMMIT_S:
        time.sleep(SLOW_COMMIT_S)
    t1, (run1, wait1) = time.perf_counter(), _sched()
    store_totals.add(time.time(), t1 - t0, run1 - run0, wait1 - wait0)
    messages[0] += n


def _timed_flush(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(self: Store) -> None:
        n = len(self._queue)
        if not n:
            return fn(self)
        t0, (run0, wait0) = time.perf_counter(), _sched()
        try:
            return fn(self)
        finally:
            _commit(t0, run0, wait0, n)
    return wrapper


def _timed_store(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        if self.group_commits:  # only queued: timed in flush
            return fn(self, *args, **kwargs)
        t0, (run0, wait0) = time.perf_counter(), _sched()
        try:
            return fn(self, *args, **kwargs)
        finally:
            _commit(t0, run0, wait0, 1)
    return wrapper


async def _watch_loop() -> None:
    loop = asyncio.get_running_loop()
    while True:
        t0, (run0, wait0) = loop.time(), _sched()
        await asyncio.sleep(LAG_TICK_S)
        t1, (run1, wait1) = loop.time(), _sched()
        late = t1 - t0 - LAG_TICK_S
        if late > 0:
            # What the loop thread did meanwhile: ran callbacks (CPU), waited for a CPU, or was
            # blocked in a system call made by a callback ("blocked" includes up to one tick of
            # epoll's own idle wait).
            lag_totals.add(time.time(), late, run1 - run0, wait1 - wait0, idle=LAG_TICK_S)


def _dump() -> None:
    out = os.environ.get("VITALWATCH_INSTRUMENT_OUT")
    if out:
        lag = lag_totals.summary()
        for key in ("p50_ms", "cpu_s", "runqueue_s", "blocked_s"):  # only meaningful for late wake-ups
            lag.pop(key, None)
        commit = {**store_totals.summary(), "messages": messages[0], "grouped": Store.group_commits,
                  "slow_commit_ms": SLOW_COMMIT_S * 1000}
        Path(out).write_text(json.dumps({"commit": commit, "loop_lag": lag}))


def main() -> int:
    if os.environ.get("VITALWATCH_BENCH_GROUP_COMMITS") == "0":
        Store.group_commits = False
    if hasattr(Store, "flush"):  # a checkout from before grouped commits has none
        Store.flush = _timed_flush(Store.flush)  # type: ignore[method-assign]
    else:
        Store.group_commits = False
    Store.store_message = _timed_store(Store.store_message)  # type: ignore[method-assign]
    original_supervise = server._supervise

    async def supervise_and_watch(pipeline: Any) -> None:
        watcher = asyncio.create_task(_watch_loop())
        try:
            await original_supervise(pipeline)
        finally:
            watcher.cancel()

    server._supervise = supervise_and_watch  # type: ignore[assignment]
    atexit.register(_dump)
    # uvicorn shuts down gracefully on SIGTERM and then raises it again with the handler it found:
    # make that one an ordinary exit, so that the summary gets written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
