"""``vitalwatch demo``: the server and four simulated rooms in different states, all labelled
as demo data. The monitors are real adapters on real websockets, in the same process."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from pathlib import Path

from app.accounts import ROLES, Accounts
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


def monitor_id(room: str) -> str:
    return f"demo-{room.replace(' ', '-').lower()}"


def _uplink(url: str, room: str, profile: str, seed: int, token: str) -> Uplink:
    identity = Identity(monitor_id(room), room, "demo", vendor="vitalwatch", model=f"basic-sim/{profile}")
    records = basic_sim.records(profile, seed, time.time(), minutes=24 * 60,
                                nibp_every_s=NIBP_EVERY_S, ramp_s=RAMP_S)
    return Uplink(url, Paced(identity, records), token=token)


async def _dropout(url: str, room: str, seed: int, token: str) -> None:
    while True:
        task = asyncio.create_task(_uplink(url, room, "normal", seed, token).run())
        await asyncio.sleep(DROPOUT_ONLINE_S)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(DROPOUT_OFFLINE_S)
        seed += 1


def demo_accounts(accounts: Accounts, now: float) -> dict[str, str]:
    """(Re)create one demo account per role with a fresh random password; returns them."""
    passwords = {}
    for role in ROLES:
        name = f"demo-{role}"
        accounts.db.execute("DELETE FROM users WHERE name=? AND demo=1", (name,))
        passwords[name] = secrets.token_urlsafe(9)
        accounts.add_user(name, role, passwords[name], now, demo=True)
    return passwords


def demo_tokens(accounts: Accounts, now: float) -> dict[str, str]:
    tokens = {}
    for room, _ in ROOMS:
        accounts.db.execute("DELETE FROM devices WHERE name=? AND demo=1", (monitor_id(room),))
        tokens[room] = accounts.add_device(monitor_id(room), now, demo=True)
    return tokens


async def run_demo(host: str, port: int, data_dir: Path) -> int:
    app = create_app(Settings(data_dir=data_dir, demo=True))
    accounts = app.state.security.accounts
    passwords = demo_accounts(accounts, time.time())
    tokens = demo_tokens(accounts, time.time())
    url = f"ws://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    server = asyncio.create_task(run(app, host, port))
    await asyncio.sleep(0.5)
    print(f"vitalwatch demo: open http://{host}:{port}  (simulated data, labelled DEMO)")
    print("demo accounts (valid only while the server runs in demo mode):")
    for name, password in passwords.items():
        print(f"  {name:16} {password}")
    sys.stdout.flush()
    monitors = [asyncio.create_task(_uplink(url, room, profile, i, tokens[room]).run())
                for i, (room, profile) in enumerate(ROOMS[:3])]
    monitors.append(asyncio.create_task(_dropout(url, ROOMS[3][0], 3, tokens[ROOMS[3][0]])))
    try:
        await server
    finally:
        for task in monitors:
            task.cancel()
    return 0
