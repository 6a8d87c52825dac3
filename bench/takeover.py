"""Takeover: one instance of a cluster killed (SIGKILL) mid-session. How long until each of its
rooms streams into another instance and that instance runs the session's alarm system, and
whether any acknowledged reading was lost or stored twice.

The cluster is ``bench/scale.py``'s: Debian's PostgreSQL (one database), Redis, K instances behind
HAProxy. N rooms stream numerics at 1 Hz through HAProxy, each through the adapters' own uplink
(``monitors/uplink.py``: it holds every message until it is acknowledged and resends the rest
after a reconnect). After ``--warmup`` seconds the instance running the most rooms is killed.
For each of its rooms:

- **reconnected**: from the kill until the room's uplink is welcomed again, on a survivor;
- **taken over**: from the kill until a survivor lists the session as its own (``/api/rooms``:
  it holds the lease and runs the alarm system, its state replayed from the store).

The rooms stream on for ``--after`` seconds, then every uplink drains (each message settled).
Then the database must hold, for every room, every message the uplink sent exactly once, in
the one session the room had from the start: a loss, a duplicate or a second session fails the
run (exit status 1), as does a room not taken over within ``--limit`` seconds.

    .venv/bin/python bench/takeover.py                     # 64 rooms, 3 instances
    .venv/bin/python bench/takeover.py --rooms 256 --instances 2
    .venv/bin/python bench/takeover.py --freeze --limit 3  # worse: the instance is frozen, not
                                                           # killed (exits 1: see below)

``--freeze`` stops the instance with SIGSTOP instead (a frozen VM, a stalled process): its
connections stay open, so its monitors notice only when their websocket pings go unanswered
(``monitors/uplink.py``: 5 s + 10 s), and its sessions are taken over only when their leases
expire (``app/lease.py``: 5 s) by an instance their monitors are not streaming into yet. With
``--limit 3`` the run fails. The instance is thawed (SIGCONT) after the takeover: it must then
find its writes fenced off and store nothing twice.

Prints a Markdown row and writes the numbers to ``bench/results/takeover-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import latency  # noqa: E402 - after the sys.path change above
import scale  # noqa: E402

from app import storage  # noqa: E402
from monitors.adapter import Identity  # noqa: E402
from monitors.uplink import Uplink  # noqa: E402


class Numerics:
    """A room's monitor: HR, SpO2 and RR once a second, device time = this machine's, until
    ``stop`` is set; counts what it produced."""

    def __init__(self, i: int, stop: asyncio.Event) -> None:
        self.identity = Identity(monitor_id=latency.monitor_id(i), room=latency.room(i), mode="test")
        self.stop = stop
        self.produced: list[float] = []

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while not self.stop.is_set():
            t = round(time.time(), 3)
            self.produced.append(t)
            yield {"type": "numerics", "t": t, "values": {"HR": {"value": 72.0, "unit": "/min"},
                                                          "SpO2": {"value": 98.0, "unit": "%"},
                                                          "RR": {"value": 14.0, "unit": "/min"}}}
            await asyncio.sleep(1.0)


def own_rooms(http: str, headers: dict[str, str]) -> set[str]:
    """The rooms whose sessions the instance at ``http`` runs itself (not those seen on the bus)."""
    try:
        r = httpx.get(http + "/api/rooms", headers=headers, timeout=5)
        return {x["room"] for x in r.json() if x["session_id"] > 0} if r.status_code == 200 else set()
    except httpx.HTTPError:
        return set()


async def measure(cluster: scale.Cluster, rooms: int, args: argparse.Namespace) -> dict[str, Any]:
    assert cluster.tokens is not None
    stop = asyncio.Event()
    sources = [Numerics(i, stop) for i in range(rooms)]
    uplinks = [Uplink(cluster.ws, src, token=cluster.tokens[i]) for i, src in enumerate(sources)]
    tasks = [asyncio.create_task(u.run(until_drained=True)) for u in uplinks]
    headers = {k: cluster.instances[k].login_headers() or {} for k in range(len(cluster.instances))}

    def owners() -> dict[int, set[str]]:
        return {k: own_rooms(s.http, headers[k]) for k, s in enumerate(cluster.instances)}

    deadline = time.monotonic() + 60
    while (streaming := sum(len(r) for r in (await asyncio.to_thread(owners)).values())) < rooms:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {streaming} of {rooms} rooms streaming after 60 s")
        await asyncio.sleep(0.2)
    await asyncio.sleep(args.warmup)
    held = await asyncio.to_thread(owners)
    victim = max(held, key=lambda k: len(held[k]))
    moved = sorted(held[victim])
    by_room = {u.identity.room: u for u in uplinks}
    connections = {room: by_room[room].connections for room in moved}
    proc = cluster.instances[victim].proc
    assert proc is not None
    proc.send_signal(signal.SIGSTOP if args.freeze else signal.SIGKILL)
    killed, killed_wall = time.monotonic(), time.time()
    reconnected: dict[str, float] = {}
    taken: dict[str, float] = {}
    survivors = [k for k in held if k != victim]

    async def watch_reconnects() -> None:  # in-process, so looked at far more often than HTTP allows
        while len(reconnected) < len(moved) and time.monotonic() - killed < args.limit:
            for room in moved:
                u = by_room[room]
                if room not in reconnected and u.connections > connections[room] and u.session_id is not None:
                    reconnected[room] = time.monotonic() - killed
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch_reconnects())
    while len(taken) < len(moved) and time.monotonic() - killed < args.limit:
        now_held = await asyncio.to_thread(lambda: {k: own_rooms(cluster.instances[k].http, headers[k])
                                                    for k in survivors})
        t = time.monotonic() - killed
        for room in moved:
            if room not in taken and any(room in r for r in now_held.values()):
                taken[room] = t
        await asyncio.sleep(0.05)
    await watcher
    thawed_wall = None
    if args.freeze:
        proc.send_signal(signal.SIGCONT)
        thawed_wall = time.time()
    await asyncio.sleep(args.after)
    stop.set()
    _, pending = await asyncio.wait(tasks, timeout=60)
    for task in pending:
        task.cancel()
    return {"victim": f"i{victim}", "killed_at": killed_wall, "thawed_at": thawed_wall, "rooms_moved": len(moved), "reconnected_s": reconnected, "taken_over_s": taken,
            "undrained": len(pending), "given_up": sum(u.given_up for u in uplinks),
            "refused": sum(len(u.errors) for u in uplinks), "errors": [e for u in uplinks for e in u.errors][:3],
            "produced": {s.identity.room: s.produced for s in sources}}


def check_store(database: str, produced: dict[str, list[float]]) -> dict[str, Any]:
    """Per room: its sessions, and its HR readings' device times against what was produced."""
    db = storage.connect(database)
    try:
        sessions: dict[str, list[int]] = {}
        for row in db.execute("SELECT id, room FROM sessions ORDER BY id"):
            sessions.setdefault(row["room"], []).append(row["id"])
        lost = duplicated = 0
        twice: list[dict[str, Any]] = []  # for each reading stored twice: when each copy was stored
        for room, times in produced.items():
            rows = [r for sid in sessions.get(room, [])
                    for r in db.execute("SELECT t, received FROM numerics WHERE session_id=? AND param='HR'", (sid,))]
            stored = [r["t"] for r in rows]
            lost += len(set(times) - set(stored))
            duplicated += len(stored) - len(set(stored))
            for t in {t for t in stored if stored.count(t) > 1}:
                twice.append({"room": room, "t": t, "received": sorted(r["received"] for r in rows if r["t"] == t)})
        split = sorted(room for room, ids in sessions.items() if len(ids) > 1)
        return {"lost": lost, "duplicated": duplicated, "stored_twice": twice[:20], "rooms_with_two_sessions": split,
                "stored": sum(len(t) for t in produced.values()) - lost}
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="An instance killed mid-session: takeover time and integrity.")
    p.add_argument("--rooms", type=int, default=64, help="rooms streaming numerics at 1 Hz (default 64)")
    p.add_argument("--instances", type=int, default=3, help="instances behind HAProxy, at least 2 (default 3)")
    p.add_argument("--warmup", type=float, default=5, help="seconds of streaming before the kill (default 5)")
    p.add_argument("--after", type=float, default=5, help="seconds of streaming after the takeover (default 5)")
    p.add_argument("--limit", type=float, default=30, help="a room not taken over by then fails the run (default 30)")
    p.add_argument("--freeze", action="store_true",
                   help="a worse failure, to show that the run can fail: SIGSTOP instead of SIGKILL (thawed "
                        "after the takeover): taken over only when the leases expire")
    p.add_argument("--json", type=Path, help="default bench/results/takeover-<time>.json")
    p.add_argument("--keep", action="store_true", help="keep the run's directory (the instances' logs) and say where")
    args = p.parse_args(argv)
    if args.instances < 2:
        p.error("--instances: at least 2 (one is killed)")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(tempfile.mkdtemp(prefix=f"vitalwatch-takeover-{stamp}-"))
    base.chmod(0o755)  # PostgreSQL, run as its own user, keeps its cluster in here
    postgres = scale.start_postgres(base / "postgres")
    cluster = None
    try:
        database = postgres.add_database("takeover")
        cluster = scale.Cluster(args.instances, base / "cluster", BENCH.parent, database=database,
                                postgres_pid=postgres.pid())
        cluster.provision(args.rooms)
        cluster.start()
        result = asyncio.run(measure(cluster, args.rooms, args))
        cluster.stop()
        cluster = None
        result.update(check_store(database, result.pop("produced")))
    finally:
        if cluster is not None:
            cluster.stop()
        postgres.stop("immediate")
        if args.keep:
            print(f"kept: {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    taken = sorted(result["taken_over_s"].values())
    reconnected = sorted(result["reconnected_s"].values())
    late = result["rooms_moved"] - len(taken)
    meta = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), **latency._version(BENCH.parent),
            "argv": sys.argv[1:]}
    out_json = args.json or BENCH / "results" / f"takeover-{stamp}.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"meta": meta, **result}, indent=1))

    def spread(xs: list[float]) -> str:
        return f"{statistics.median(xs):.2f} / {max(xs):.2f}" if xs else "–"

    print(f"Takeover, vitalwatch {meta['commit']}, {meta['date']}: {args.rooms} rooms at 1 Hz on "
          f"{args.instances} instances (PostgreSQL, Redis, HAProxy); {result['victim']} "
          f"{'frozen' if args.freeze else 'killed'}.\n")
    print("| Rooms | Instances | rooms on the killed one | reconnected median / max (s) | "
          "taken over median / max (s) | not taken over | acknowledged readings lost | stored twice | "
          "rooms with a second session |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.rooms} | {args.instances} | {result['rooms_moved']} | {spread(reconnected)} | {spread(taken)} "
          f"| {late} | {result['lost']} | {result['duplicated']} | {len(result['rooms_with_two_sessions'])} |")
    print(f"\nresults: {out_json}", file=sys.stderr)
    bad = late or result["lost"] or result["duplicated"] or result["rooms_with_two_sessions"] or result["undrained"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
