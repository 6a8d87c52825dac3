"""``vitalwatch demo``: the server and five simulated rooms in different states, all labelled
as demo data. The monitors are real adapters on real websockets, in the same process.

Four rooms play scripted sessions already under way; the fifth (``CHECKIN_ROOM``) has a patient
waiting to be checked in, for a visitor to walk one session from check-in to the signed report.
So that the walk takes minutes, not two hours, the demo runs on the clinic rules with its waits
shortened (``app/demo-timings.yaml``, written out merged as ``demo-rules.yaml`` in the data dir).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from alerts.rules import DEFAULT_RULES
from app.accounts import ROLES, Accounts
from app.roster import Roster
from app.server import Settings, create_app, run
from monitors.adapter import Identity, Paced
from monitors.simulator import generate
from monitors.simulator.checkin import checkin
from monitors.simulator.parameters import CHECKIN_CUFF_EVERY_S
from monitors.uplink import Uplink

# (room, simulator scenario, minutes into the session where the demo starts). Each room starts a
# little before its scenario's signature event, so a visitor sees it within minutes: the
# hypertensive surge crosses 180 mmHg at ~28 min after the dose (38 min into the session), the
# airway obstruction starts at ~30 min after the dose. The fourth room's monitor drops out and
# comes back, over and over.
ROOMS = [
    ("Room 1", "typical-responder", 30.0),
    ("Room 2", "hypertensive-surge", 34.0),
    ("Room 3", "airway-obstruction", 38.0),
    ("Room 4", "typical-responder", 20.0),
]
# A patient waiting to be checked in, dosed and discharged by the visitor (monitors/simulator/checkin.py).
CHECKIN_ROOM = "Room 5"
ROOM_NAMES = [room for room, *_ in ROOMS] + [CHECKIN_ROOM]
DEMO_TIMINGS = Path(__file__).with_name("demo-timings.yaml")
DROPOUT_ONLINE_S = 45.0
DROPOUT_OFFLINE_S = 90.0
SESSION_MIN = 90.0
DEMO_SHIFT = "Demo shift"
# The demo's shift covers every room from start-up for a day: long enough for any visit, and a
# restarted demo replaces it instead of piling up shifts.
DEMO_SHIFT_S = 24 * 3600.0


def monitor_id(room: str) -> str:
    return f"demo-{room.replace(' ', '-').lower()}"


def _sessions(scenario: str, seed: int, skip_min: float) -> Iterator[dict[str, Any]]:
    """One simulated session after another, on one timeline (a visitor may stay for hours)."""
    start = time.time() - skip_min * 60
    while True:
        _, records = generate(scenario, seed, minutes=SESSION_MIN, start=start, waveforms=True)
        yield from records
        start += SESSION_MIN * 60
        seed += 1000


def _identity(room: str, model: str) -> Identity:
    return Identity(monitor_id(room), room, "demo", vendor="vitalwatch", model=f"simulator/{model}")


def _uplink(url: str, room: str, scenario: str, seed: int, skip_min: float, token: str) -> Uplink:
    identity = _identity(room, scenario)
    # With the session's history: a room joined at minute 30 shows its baseline, cuff readings
    # and trend, not "no baseline" and "NIBP overdue" for data it never had.
    return Uplink(url, Paced(identity, _sessions(scenario, seed, skip_min), skip_s=skip_min * 60,
                             history=True), token=token)


async def _dropout(url: str, room: str, scenario: str, seed: int, skip_min: float, token: str) -> None:
    while True:
        task = asyncio.create_task(_uplink(url, room, scenario, seed, skip_min, token).run())
        await asyncio.sleep(DROPOUT_ONLINE_S)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(DROPOUT_OFFLINE_S)
        seed += 1


def demo_rules(data_dir: Path, timings: Path, rules: Path | None = None) -> Path:
    """Write the rules the demo runs on: ``rules`` (the clinic defaults when None) with
    ``timings`` laid over it, mappings merged key by key and anything else replaced. Returns the
    written file's path; the server then checks it like any rules file (and stops on a bad one).
    Raises OSError or yaml.YAMLError for a file that cannot be read as YAML."""
    base = yaml.safe_load((rules or DEFAULT_RULES).read_text(encoding="utf-8"))
    over = yaml.safe_load(timings.read_text(encoding="utf-8")) or {}

    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            return {**a, **{k: merge(a.get(k), v) for k, v in b.items()}}
        return b

    out = data_dir / "demo-rules.yaml"
    data_dir.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# Written by `vitalwatch demo`: {rules or 'the clinic defaults'} with the waits of {timings}.\n"
                   + yaml.safe_dump(merge(base, over), sort_keys=False, allow_unicode=True),
                   encoding="utf-8")
    return out


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
    for room in ROOM_NAMES:
        accounts.db.execute("DELETE FROM devices WHERE name=? AND demo=1", (monitor_id(room),))
        tokens[room] = accounts.add_device(monitor_id(room), now, rooms=(room,), demo=True)
    return tokens


def demo_shift(roster: Roster, now: float) -> int:
    """A shift running now that covers every demo room: demo-nurse as primary nurse, demo-clinician
    as backup and supervising clinician, so alarms have someone to reach out of the box. A demo shift
    of an earlier run still running is ended now (its record stays, like any shift's)."""
    for shift in roster.shifts(at=now):
        if shift["name"] == DEMO_SHIFT and shift["by"] == "demo":
            roster.end_shift(shift["id"], now)
    rooms: dict[str, tuple[str, str | None]] = dict.fromkeys(ROOM_NAMES, ("demo-nurse", "demo-clinician"))
    return roster.add_shift(DEMO_SHIFT, now, now + DEMO_SHIFT_S, "demo-clinician", rooms,
                            by="demo", now=now)


async def run_demo(host: str, port: int, data_dir: Path, timings: Path = DEMO_TIMINGS,
                   cuff_every_s: float = CHECKIN_CUFF_EVERY_S) -> int:
    """Serve the demo until interrupted. ``timings``: the waits laid over the clinic rules;
    ``cuff_every_s``: the check-in room's cuff cycle."""
    app = create_app(Settings(data_dir=data_dir, demo=True, rules=demo_rules(data_dir, timings)))
    accounts = app.state.security.accounts
    passwords = demo_accounts(accounts, time.time())
    tokens = demo_tokens(accounts, time.time())
    demo_shift(app.state.roster, time.time())
    url = f"ws://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    server = asyncio.create_task(run(app, host, port))
    await asyncio.sleep(0.5)
    print(f"vitalwatch demo: open http://{host}:{port}  (simulated data, labelled DEMO)")
    print("demo accounts (valid only while the server runs in demo mode):")
    for name, password in passwords.items():
        print(f"  {name:16} {password}")
    sys.stdout.flush()
    monitors = [asyncio.create_task(_uplink(url, room, scenario, i + 1, skip, tokens[room]).run())
                for i, (room, scenario, skip) in enumerate(ROOMS[:3])]
    room, scenario, skip = ROOMS[3]
    monitors.append(asyncio.create_task(_dropout(url, room, scenario, 4, skip, tokens[room])))
    waiting = Paced(_identity(CHECKIN_ROOM, "check-in"), checkin(5, time.time(), cuff_every_s))
    monitors.append(asyncio.create_task(Uplink(url, waiting, token=tokens[CHECKIN_ROOM]).run()))
    try:
        await server
    finally:
        for task in monitors:
            task.cancel()
    return 0
