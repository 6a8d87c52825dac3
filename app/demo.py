"""``vitalwatch demo``: the server and four simulated rooms in different states, all labelled
as demo data. The monitors are real adapters on real websockets, in the same process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from app.server import Settings, create_app, run
from monitors import basic_sim
from monitors.adapter import Identity, Paced
from monitors.uplink import Uplink

# (room, profile); the fourth room's monitor drops out and comes back, over and over.
ROOMS = [("Room 1", "normal"), ("Room 2", "bp-surge"), ("Room 3", "low-spo2"), ("Room 4", "normal")]
RAMP_S = 90.0  # profiles develop within the first minute and a half, so a visitor sees them
NIBP_EVERY_S = 120.0
DROPOUT_ONLINE_S = 45.0
DROPOUT_OFFLINE_S = 90.0


def _uplink(url: str, room: str, profile: str, seed: int) -> Uplink:
    identity = Identity(f"demo-{room.replace(' ', '-').lower()}", room, "demo",
                        vendor="vitalwatch", model=f"basic-sim/{profile}")
    records = basic_sim.records(profile, seed, time.time(), minutes=24 * 60,
                                nibp_every_s=NIBP_EVERY_S, ramp_s=RAMP_S)
    return Uplink(url, Paced(identity, records))


async def _dropout(url: str, room: str, seed: int) -> None:
    while True:
        task = asyncio.create_task(_uplink(url, room, "normal", seed).run())
        await asyncio.sleep(DROPOUT_ONLINE_S)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(DROPOUT_OFFLINE_S)
        seed += 1


async def run_demo(host: str, port: int, data_dir: Path) -> int:
    app = create_app(Settings(data_dir=data_dir, demo=True))
    url = f"ws://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    server = asyncio.create_task(run(app, host, port))
    await asyncio.sleep(0.5)
    print(f"vitalwatch demo: open http://{host}:{port}  (simulated data, labelled DEMO)", flush=True)
    monitors = [asyncio.create_task(_uplink(url, room, profile, i).run())
                for i, (room, profile) in enumerate(ROOMS[:3])]
    monitors.append(asyncio.create_task(_dropout(url, ROOMS[3][0], 3)))
    try:
        await server
    finally:
        for task in monitors:
            task.cancel()
    return 0
