"""Live path latency: from a monitor's websocket send to a dashboard's websocket receive.

For each number of monitors N, and for each system under test, this script

1. starts the server as a subprocess on a free port: ``vitalwatch serve`` with an empty temporary
   data dir (holding, as an administrator would add them, a nurse login for the dashboards and a
   device token per monitor), or ``bench/relay.py``, a bare websocket relay on the same stack: the
   floor on this machine;
2. connects the dashboards to ``/ws/live`` (one load-generator process), each sending its
   ``feed.Subscribe`` on connect — ``--central`` central stations (every room: values, cuff,
   statuses, alarms, marks, settings and PLETH) and ``--nurses`` nurse views (alarms and numerics
   of 8 rooms each) — and N simulated monitors, one room each, to
   ``/ws/ingest`` (spread over ``--load-procs`` processes), each monitor its own websocket and
   stream: ``hello``, then numerics at 1 Hz and a 125 Hz PLETH waveform in 25-sample chunks every
   0.2 s, each message numbered with ``seq`` and stamped ``t = time.time()`` just before it is sent
   (the dashboards get it back, as the feed's ``t_device`` or, from the relay, as ``t``);
3. after a warm-up, measures for ``--seconds``: end-to-end latency (dashboard receive time − ``t``)
   of every numerics and waveform message sent in the window, at every dashboard that asked for
   it, per class of dashboard (messages it did not ask for are counted apart), and the bytes per
   second each view receives; the monitors' ack
   round trip; messages ingested (acknowledged) and delivered per second; the server's CPU (one
   core = 100 %) and resident memory; the CPU of the load generators and of everything else on the
   machine (other work on a shared machine is what makes the tail latency noisy);
4. stops sending, waits ``--drain`` seconds for stragglers (a message not delivered by then counts
   as lost), reads the server's own counters (refused messages) and stops it.

Both systems get the same load from the same client code in the same run, ``--rounds`` times in
alternating order (vitalwatch, relay, relay, vitalwatch, ...) so that a burst of other work on the
machine is as likely to hit either; the rounds are pooled. The ratio vitalwatch ÷ relay is what to
compare across machines. Output: Markdown tables on stdout, progress on stderr, and the numbers
as JSON (``--json``; by default in ``bench/results/``, which git ignores). The issue's targets
(``TARGETS``: 64 and 256 monitors, against the relay of the same run) are checked, each one
missed is printed, and the exit status is 1 if any is. ``--no-group-commits`` and
``--slow-commit MS`` run a worse vitalwatch, to show that the benchmark can fail.

Diagnostics: ``--py-spy PATH`` samples each server during the measured window (summarise the
profiles with ``bench/profile_summary.py``); ``--instrument`` runs vitalwatch through
``bench/instrumented_server.py``, which times its commits and its event loop's late wake-ups.

    .venv/bin/python bench/latency.py                      # N = 64, 256; 2 + 8 dashboards; 2 × 20 s each
    .venv/bin/python bench/latency.py --monitors 64 --seconds 60 --rounds 4
    .venv/bin/python bench/latency.py --monitors 256 --rounds 1 --py-spy .venv/bin/py-spy
    .venv/bin/python bench/latency.py --monitors 256 --rounds 1 --no-group-commits --slow-commit 5  # exits 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from app.feed import Kind, Subscribe  # noqa: E402 - after the sys.path change above

PLETH_RATE = 125.0
CHUNK_S = 0.2
NUMERICS_EVERY_S = 1.0
DATA_TYPES = ("numerics", "waveform")
SLOW_MS = 10.0  # messages slower than this are listed (when in the window, by how much) in the JSON
BENCH_USER, BENCH_PASSWORD = "bench-nurse", "bench-password-not-secret"
# Run with the measured checkout as the working directory, so that it is its code that runs.
PROVISION = r"""
import json, sys, time
from pathlib import Path
try:
    from app.accounts import Accounts
except ImportError:
    sys.exit(3)
from app.store import Store
target, user, password, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# Tokens issued by another instance's store, registered again on this one (bench/scale.py).
given = json.loads(sys.argv[5]) if len(sys.argv) > 5 else None
if target.startswith("postgresql://"):  # a cluster's shared store (bench/scale.py)
    from app.storage import migrate
    migrate.upgrade(target)
    store = Store(target)
else:
    store = Store(Path(target) / "vitalwatch.sqlite3")
accounts = Accounts(store.db)
accounts.add_user(user, "nurse", password, time.time())
print(json.dumps([accounts.add_device(f"bench-{i:03d}", time.time(), any_room=True,
                                      **({"token": given[i]} if given else {})) for i in range(n)]))
store.db.close()
"""
# The same connection settings as the adapters' uplink (monitors/uplink.py).
WS_OPTIONS = {"max_size": 2**20, "open_timeout": 10, "ping_interval": 5, "ping_timeout": 10}


# Load generators (each runs in its own process) ---------------------------------------------


def monitor_id(i: int) -> str:
    return f"bench-{i:03d}"


def room(i: int) -> str:
    return f"Bench {i:03d}"


ROOMS_PER_NURSE = 8


def dashboard_views(monitors: int, central: int, nurses: int, waveforms: bool = True) -> list[dict[str, Any]]:
    """The dashboards of a run and what each subscribes to, as the issue has them: central
    stations (every room: its values, cuff, statuses, alarms, marks and settings, and one wave,
    PLETH, unless the monitors send none) and nurse views (alarms and numerics of the rooms
    assigned to them: nurse k has rooms 8k to 8k + 7, wrapping round when there are fewer)."""
    views = []
    for _ in range(central):
        kinds = [Kind.numerics, Kind.nibp, Kind.status, Kind.alarm, Kind.mark, Kind.settings]
        sub = Subscribe(rooms=None, kinds=[*kinds, Kind.waveform] if waveforms else kinds,
                        waveforms={"*": ["PLETH"]} if waveforms else {})
        views.append({"class": "central", "rooms": None, "monitors": None,
                      "types": list(DATA_TYPES) if waveforms else ["numerics"],
                      "subscribe": sub.model_dump_json()})
    for k in range(nurses):
        mine = sorted({(ROOMS_PER_NURSE * k + j) % monitors for j in range(ROOMS_PER_NURSE)})
        sub = Subscribe(rooms=[room(i) for i in mine], kinds=[Kind.alarm, Kind.numerics])
        views.append({"class": "nurse", "rooms": [room(i) for i in mine], "monitors": mine,
                      "types": ["numerics"], "subscribe": sub.model_dump_json()})
    return views


def _pleth(n: int, hr: float = 72.0) -> list[float]:
    """A plausible PLETH trace of ``n`` samples, as basic_sim makes it."""
    w = 2 * math.pi * hr / 60 / PLETH_RATE
    return [round(50 + 40 * math.sin(w * k) ** 3, 1) for k in range(n)]


def _wait_go(conn: Any) -> dict[str, float]:
    return conn.recv()


async def _monitors_main(url: str, indices: list[int], n_total: int, tokens: dict[int, str] | None,
                         waveforms: bool, conn: Any) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    samples_per_chunk = int(PLETH_RATE * CHUNK_S)
    trace = _pleth(int(PLETH_RATE * 10))
    res: dict[str, Any] = {"sent": dict.fromkeys(DATA_TYPES, 0), "sent_window": dict.fromkeys(DATA_TYPES, 0),
                           "acked": 0, "acked_window": 0, "errors": [], "ack_rtt": [],
                           "send_lag": [], "disconnects": [], "connect_failures": [],
                           "numerics_window_by_monitor": {}}
    sockets: dict[int, Any] = {}
    timing: dict[str, float] = {}

    async def open_one(i: int) -> None:
        try:
            headers = {"Authorization": f"Bearer {tokens[i]}"} if tokens else None
            ws = await connect(url + "/ws/ingest", additional_headers=headers, **WS_OPTIONS)
            await ws.send(json.dumps({
                "type": "hello", "seq": 0, "protocol": 1, "monitor_id": monitor_id(i),
                "stream": uuid.uuid4().hex, "room": room(i), "mode": "test",
                "vendor": "vitalwatch", "model": "bench/latency"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if reply.get("type") != "welcome":
                raise RuntimeError(f"hello refused: {reply}")
            sockets[i] = ws
        except Exception as e:  # noqa: BLE001 - reported, not fatal: the run says how many connected
            res["connect_failures"].append(f"monitor {i}: {type(e).__name__}: {e}")

    async def run_one(i: int) -> None:
        ws = sockets[i]
        sent_at: dict[int, tuple[float, bool]] = {}
        rng = random.Random(i)

        async def read_acks() -> None:
            try:
                async for frame in ws:
                    now = time.time()
                    reply = json.loads(frame)
                    seq = reply.get("seq")
                    sent = sent_at.pop(seq, None)
                    if reply.get("type") == "ack":
                        res["acked"] += 1
                        if sent is not None and sent[1]:
                            res["acked_window"] += 1
                            res["ack_rtt"].append((now - sent[0]) * 1000)
                    else:
                        res["errors"].append(reply)
            except Exception as e:  # noqa: BLE001 - any failure is a disconnect the run reports
                res["disconnects"].append(f"monitor {i}: {type(e).__name__}: {e}")

        reader = asyncio.create_task(read_acks())
        # Spread the monitors over the chunk period, as independent devices would be.
        start = timing["start"] + CHUNK_S * i / n_total
        numerics_tick = i % round(NUMERICS_EVERY_S / CHUNK_S)
        seq, pos, tick = 0, rng.randrange(len(trace)), 0
        try:
            while True:
                due = start + tick * CHUNK_S
                if due >= timing["w1"]:
                    break
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                messages = []
                if tick % round(NUMERICS_EVERY_S / CHUNK_S) == numerics_tick:
                    messages.append({"type": "numerics", "values": {
                        "HR": {"value": 72 + rng.randint(-2, 2), "unit": "/min"},
                        "PR": {"value": 72 + rng.randint(-2, 2), "unit": "/min"},
                        "SpO2": {"value": 98, "unit": "%"},
                        "RR": {"value": 14 + rng.randint(-1, 1), "unit": "/min"}}})
                if waveforms:
                    if pos + samples_per_chunk > len(trace):
                        pos = 0
                    messages.append({"type": "waveform", "wave": "PLETH", "rate": PLETH_RATE,
                                     "samples": trace[pos:pos + samples_per_chunk]})
                    pos += samples_per_chunk
                for m in messages:
                    seq += 1
                    now = time.time()
                    text = json.dumps({"type": m["type"], "seq": seq, "t": now,
                                       **{k: v for k, v in m.items() if k != "type"}},
                                      separators=(",", ":"))
                    in_window = timing["w0"] <= now < timing["w1"]
                    sent_at[seq] = (now, in_window)
                    await ws.send(text)
                    res["sent"][m["type"]] += 1
                    if in_window:
                        res["sent_window"][m["type"]] += 1
                        if m["type"] == "numerics":
                            by = res["numerics_window_by_monitor"]
                            by[i] = by.get(i, 0) + 1
                        res["send_lag"].append((now - due) * 1000)
                tick += 1
            # Wait for the last acks, then hang up.
            while sent_at and time.time() < timing["end"]:
                await asyncio.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - any failure is a disconnect the run reports
            res["disconnects"].append(f"monitor {i}: {type(e).__name__}: {e}")
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            with contextlib.suppress(Exception):
                await ws.close()

    await asyncio.gather(*(open_one(i) for i in indices))
    res["connected"] = len(sockets)
    conn.send("ready")
    timing.update(await asyncio.get_running_loop().run_in_executor(None, _wait_go, conn))
    await asyncio.gather(*(run_one(i) for i in sorted(sockets)))
    return res


def _sent_t(msg: dict[str, Any]) -> float | None:
    """The device time of a data message as the dashboard gets it, which is when the bench's
    monitor sent it: ``t`` as sent (the relay; vitalwatch before the typed feed), or the feed's
    ``t_device`` (a waveform's, or a numerics message's readings', which all carry the message's)."""
    t = msg.get("t", msg.get("t_device"))
    if t is None and isinstance(msg.get("readings"), dict) and msg["readings"]:
        t = next(iter(msg["readings"].values())).get("t_device")
    return t if isinstance(t, (int, float)) else None


async def _dashboards_main(url: str, views: list[dict[str, Any]], headers: list[dict[str, str] | None],
                           conn: Any) -> dict[str, Any]:
    """Every dashboard of the run, each sending its subscription on connect. Latency is counted
    per class of dashboard, and only for the messages its subscription asks for; data messages it
    did not ask for (a server that does not filter yet) are counted apart, as "unwanted"."""
    from websockets.asyncio.client import connect

    res: dict[str, Any] = {"views": [], "other": {}, "disconnects": [], "reconnects": 0, "connected": 0,
                           "slow": [], "slow_count": 0, "batches": 0, "batched": 0,
                           "latency": {v["class"]: {t: [] for t in DATA_TYPES} for v in views}}
    timing: dict[str, float] = {}
    ready = [asyncio.Event() for _ in views]
    sockets: list[Any] = [None] * len(views)
    stopping = False

    async def one(k: int) -> None:
        view = views[k]
        rooms = set(view["rooms"]) if view["rooms"] is not None else None
        wanted_types = set(view["types"])
        latency = res["latency"][view["class"]]
        mine = {"class": view["class"], "rooms": view["rooms"], "received": dict.fromkeys(DATA_TYPES, 0),
                "unwanted": 0, "bytes_window": 0}
        res["views"].append(mine)
        received = mine["received"]
        first = True
        while not stopping:
            try:
                async with connect(url + "/ws/live", additional_headers=headers[k], **WS_OPTIONS) as ws:
                    await ws.send(view["subscribe"])
                    sockets[k] = ws
                    if first:
                        res["connected"] += 1
                    else:
                        res["reconnects"] += 1
                    ready[k].set()
                    first = False
                    async for frame in ws:
                        now = time.time()
                        if timing and timing["w0"] <= now < timing["w1"]:
                            mine["bytes_window"] += len(frame)
                        data = json.loads(frame)
                        # A batch is several messages in one frame: each is timed on its own,
                        # received when the frame is.
                        inner = [data]
                        if data.get("type") == "batch":
                            inner = data["messages"]
                            res["batches"] += 1
                            res["batched"] += len(inner)
                        for msg in inner:
                            kind = msg.get("type")
                            if kind in DATA_TYPES:
                                t = _sent_t(msg)
                                if t is None or not (timing and timing["w0"] <= t < timing["w1"]):
                                    continue
                                where = msg.get("room")  # the relay forwards frames as sent: no room
                                if kind not in wanted_types or (rooms is not None and where is not None
                                                                and where not in rooms):
                                    mine["unwanted"] += 1
                                    continue
                                received[kind] += 1
                                ms = (now - t) * 1000
                                latency[kind].append(ms)
                                if ms > SLOW_MS:
                                    res["slow_count"] += 1
                                    if len(res["slow"]) < 5000:
                                        res["slow"].append((round(t - timing["w0"], 3), round(ms, 1), kind,
                                                            view["class"]))
                            else:
                                res["other"][kind] = res["other"].get(kind, 0) + 1
                    if not stopping:
                        res["disconnects"].append(f"dashboard {k}: closed by the server: {ws.close_code} "
                                                  f"{ws.close_reason}")
            except Exception as e:  # noqa: BLE001 - any failure is a disconnect the run reports
                if stopping:
                    return
                res["disconnects"].append(f"dashboard {k}: {type(e).__name__}: {e}")
                ready[k].set()
                await asyncio.sleep(0.2)

    tasks = [asyncio.create_task(one(k)) for k in range(len(views))]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 30)
    conn.send("ready")
    timing.update(await asyncio.get_running_loop().run_in_executor(None, _wait_go, conn))
    await asyncio.sleep(max(0.0, timing["end"] - time.time()))
    stopping = True
    for ws in sockets:
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
    await asyncio.wait(tasks, timeout=10)
    for task in tasks:
        task.cancel()
    return res


def _child(kind: str, url: str, args: tuple, conn: Any, out: Any) -> None:
    try:
        if kind == "monitors":
            res = asyncio.run(_monitors_main(url, *args, conn))
        else:
            res = asyncio.run(_dashboards_main(url, *args, conn))
        out.put((kind, os.getpid(), res))
    except BaseException as e:  # the parent must hear about it rather than wait
        out.put((kind, os.getpid(), {"crashed": f"{type(e).__name__}: {e}"}))
        raise


# The servers under test ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    system: str
    workdir: Path
    source: Path = ROOT
    instrument: bool = False
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    authenticated: bool = False
    tokens: dict[int, str] | None = None
    env: dict[str, str] = field(default_factory=dict)  # for the server, on top of this process's
    extra_args: tuple[str, ...] = ()  # for ``vitalwatch serve`` (bench/scale.py: its bus)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.system}.log"

    @property
    def instrument_out(self) -> Path:
        return self.workdir / "instrument.json"

    def instrumentation(self, t0: float) -> dict[str, Any] | None:
        """The instrumented server's timings, with times relative to ``t0``."""
        if not self.instrument or not self.instrument_out.exists():
            return None
        data = json.loads(self.instrument_out.read_text())
        for part in data.values():
            part["slow"] = [{**e, "t": round(e["t"] - t0, 3)} for e in part["slow"]]
        return data

    def processes(self) -> list[psutil.Process]:
        """What the server's CPU and memory are summed over."""
        assert self.proc is not None
        return [psutil.Process(self.proc.pid)]

    def provision(self, monitors: int, tokens: dict[int, str] | None = None, database: str | None = None) -> None:
        """Accounts in the fresh data dir (or ``database``), as an administrator would make them
        with ``vitalwatch user add`` and ``vitalwatch device add``: a nurse login for the
        dashboards and a device token per monitor. Done by the measured code itself
        (``--source``), in a subprocess; skipped for a vitalwatch without accounts."""
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        given = [json.dumps([tokens[i] for i in range(monitors)])] if tokens else []
        r = subprocess.run([sys.executable, "-c", PROVISION, database or str(data), BENCH_USER, BENCH_PASSWORD,
                            str(monitors), *given], cwd=self.source, capture_output=True, check=False, text=True,
                           timeout=120)
        if r.returncode == 3:
            return
        if r.returncode != 0:
            raise RuntimeError(f"could not add the bench's accounts:\n{r.stderr}")
        self.tokens = dict(enumerate(json.loads(r.stdout)))
        self.authenticated = True

    def login_headers(self) -> dict[str, str] | None:
        """A fresh login's headers (its cookies, set by hand: they are Secure, and this is http)."""
        if not self.authenticated:
            return None
        r = httpx.post(self.http + "/api/login", json={"name": BENCH_USER, "password": BENCH_PASSWORD},
                       timeout=30)
        r.raise_for_status()
        return {"Cookie": f"vw_session={r.cookies['vw_session']}; vw_csrf={r.cookies['vw_csrf']}"}

    def start(self) -> Server:
        env = {**os.environ, **self.env}
        if self.system == "vitalwatch":
            entry = [str(BENCH / "instrumented_server.py")] if self.instrument else ["-m", "app.cli"]
            cmd = [sys.executable, *entry, "serve", "--port", str(self.port),
                   "--data-dir", str(self.workdir / "data"), *self.extra_args]
            if self.instrument:
                env["VITALWATCH_INSTRUMENT_OUT"] = str(self.instrument_out)
            health = "/api/health"
        else:
            cmd = [sys.executable, str(BENCH / "relay.py"), "--port", str(self.port)]
            health = "/health"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.source, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.system} exited at start-up:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                # 401: up, and wants a login for that too.
                if httpx.get(self.http + health, timeout=1).status_code in (200, 401):
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.system} did not start within 60 s:\n{self.log.read_text()}")

    def counters(self) -> dict[str, Any]:
        """What the server itself counted."""
        try:
            if self.system == "vitalwatch":
                headers = self.login_headers()
                monitors = httpx.get(self.http + "/api/monitors", headers=headers, timeout=10)
                monitors.raise_for_status()
                monitors = monitors.json()
                health = httpx.get(self.http + "/api/health", headers=headers, timeout=10).json()
                refused_by: dict[str, int] = {}
                for m in monitors:
                    for k, v in m["refused_by"].items():
                        refused_by[k] = refused_by.get(k, 0) + v
                return {
                    "monitors": len(monitors),
                    "accepted": sum(m["accepted"] for m in monitors),
                    "duplicates": sum(m["duplicates"] for m in monitors),
                    "refused": sum(m["refused"] for m in monitors),
                    "refused_by": refused_by,
                    "last_errors": [m["last_error"] for m in monitors if m["last_error"]][:5],
                    "health": health,
                }
            stats = httpx.get(self.http + "/stats", timeout=10).json()
            return {**stats, "refused": stats.get("unreadable", 0)}
        except httpx.HTTPError as e:
            return {"unavailable": f"{type(e).__name__}: {e}"}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_problems(self) -> list[str]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(errors="replace").splitlines()
        return [ln for ln in lines if any(w in ln for w in ("WARNING", "ERROR", "Traceback", "Exception"))]


# One configuration --------------------------------------------------------------------------


def _cpu_by_process() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every process on the machine (kernel threads included)."""
    out = {}
    for p in psutil.process_iter(["name", "cpu_times"]):
        t = p.info["cpu_times"]
        if t is not None:
            out[p.pid] = (p.info["name"] or "?", t.user + t.system)
    return out


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile, nearest rank."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def settle(quiet_pct: float, timeout_s: float) -> float:
    """Wait (at most ``timeout_s``) until the rest of the machine uses less than ``quiet_pct`` % of
    one core over a second; returns what it used last."""
    deadline = time.monotonic() + timeout_s
    while True:
        psutil.cpu_percent(None)
        time.sleep(1.0)
        busy = psutil.cpu_percent(None) * (psutil.cpu_count() or 1)
        if busy < quiet_pct or time.monotonic() >= deadline:
            return busy
        time.sleep(1.0)


def _cpu_s(procs: list[psutil.Process]) -> float:
    return sum(t.user + t.system for t in (p.cpu_times() for p in procs))


def run_one(system: str, monitors: int, views: list[dict[str, Any]], args: argparse.Namespace,
            workdir: Path, server: Any = None) -> dict[str, Any]:
    """One system under one load for one window; raw samples included (``summarise`` pools them).
    ``server``: one made and provisioned by the caller (bench/scale.py's cluster), instead of
    ``system``'s own."""
    busy_before = settle(args.quiet, args.settle) if args.settle > 0 else None
    if server is None:
        worse = {k: v for k, v in (("VITALWATCH_BENCH_SLOW_COMMIT_MS", args.slow_commit),
                                   ("VITALWATCH_BENCH_GROUP_COMMITS", "0" if args.no_group_commits else None))
                 if v is not None}
        server = Server(system, workdir, source=args.source,
                        instrument=(args.instrument or bool(worse)) and system == "vitalwatch",
                        env={k: str(v) for k, v in worse.items()} if system == "vitalwatch" else {})
        if system == "vitalwatch":
            server.provision(monitors)
    server.start()
    dashboard_headers = [server.login_headers() for _ in views]
    procs = server.processes()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    children: list[tuple[Any, Any]] = []
    groups = [list(range(monitors))[k::args.load_procs] for k in range(args.load_procs)]
    specs = [("dashboards", (views, dashboard_headers))] + [
        ("monitors", (g, monitors, {i: server.tokens[i] for i in g} if server.tokens else None,
                      not args.no_waveforms))
        for g in groups if g]
    spy = None
    profile_out = None
    results: dict[str, list[dict[str, Any]]] = {"monitors": [], "dashboards": []}
    try:
        for kind, cargs in specs:
            parent_conn, child_conn = ctx.Pipe()
            p = ctx.Process(target=_child, args=(kind, server.ws, cargs, child_conn, out), daemon=True)
            p.start()
            children.append((p, parent_conn))
        deadline = time.monotonic() + 60
        for _p, c in children:
            if not c.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"{system}: load generators did not connect within 60 s")
            c.recv()
        start = time.time() + 0.5
        timing = {"start": start, "w0": start + args.warmup, "w1": start + args.warmup + args.seconds,
                  "end": start + args.warmup + args.seconds + args.drain}
        for _, c in children:
            c.send(timing)
        loadgen = [psutil.Process(p.pid) for p, _ in children]

        time.sleep(max(0.0, timing["w0"] - time.time()))
        if args.py_spy:
            profile_out = workdir.parent.parent / f"profile-{system}-{monitors}-{workdir.name}.txt"
            spy = subprocess.Popen(
                [args.py_spy, "record", "--pid", str(procs[0].pid), "--duration", str(int(args.seconds)),
                 "--rate", "100", "--format", "raw", "--output", str(profile_out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0 = _cpu_s(procs)
        gen0 = [g.cpu_times() for g in loadgen]
        others0 = _cpu_by_process()
        psutil.cpu_percent(None)
        wall0 = time.time()
        rss: list[int] = []
        while time.time() < timing["w1"]:
            rss.append(sum(p.memory_info().rss for p in procs))
            time.sleep(min(0.5, max(0.0, timing["w1"] - time.time())))
        cpu1 = _cpu_s(procs)
        gen1 = [g.cpu_times() for g in loadgen]
        others1 = _cpu_by_process()
        machine_cpu = psutil.cpu_percent(None) * (psutil.cpu_count() or 1)
        wall = time.time() - wall0
        rss.append(sum(p.memory_info().rss for p in procs))

        for _ in children:
            kind, _pid, res = out.get(timeout=args.drain + 60)
            results[kind].append(res)
        for p, _ in children:
            p.join(timeout=10)
        counters = server.counters()
    finally:
        for p, _ in children:
            if p.is_alive():
                p.terminate()
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=30)
        server.stop()

    crashed = [r["crashed"] for rs in results.values() for r in rs if "crashed" in r]
    if crashed:
        raise RuntimeError(f"{system}: a load generator crashed: {crashed}")
    mons, dash = results["monitors"], results["dashboards"][0]
    server_cpu = (cpu1 - cpu0) / wall * 100
    ours = {*(p.pid for p in procs), os.getpid(), *(p.pid for p, _ in children)}
    by_name: dict[str, float] = {}
    for pid, (name, t1) in others1.items():
        if pid not in ours and pid in others0:
            by_name[name] = by_name.get(name, 0.0) + (t1 - others0[pid][1]) / wall * 100
    gen_cpu = sum((b.user + b.system) - (a.user + a.system) for a, b in zip(gen0, gen1)) / wall * 100
    sent_window = {t: sum(r["sent_window"][t] for r in mons) for t in DATA_TYPES}
    numerics_by_monitor: dict[int, int] = {}
    for r in mons:
        for i, c in r["numerics_window_by_monitor"].items():
            numerics_by_monitor[int(i)] = numerics_by_monitor.get(int(i), 0) + c
    # What each class of dashboard should have received: what its subscriptions ask for.
    expected: dict[str, dict[str, int]] = {}
    received: dict[str, dict[str, int]] = {}
    classes: dict[str, dict[str, Any]] = {}
    for view in views:
        cls = view["class"]
        want = dict.fromkeys(DATA_TYPES, 0)
        if view["monitors"] is None:
            want.update({t: sent_window[t] for t in view["types"]})
        else:
            want["numerics"] = sum(numerics_by_monitor.get(i, 0) for i in view["monitors"])
        received.setdefault(cls, dict.fromkeys(DATA_TYPES, 0))
        e = expected.setdefault(cls, dict.fromkeys(DATA_TYPES, 0))
        for t in DATA_TYPES:
            e[t] += want[t]
        c = classes.setdefault(cls, {"views": 0, "bytes_window": [], "unwanted": 0})
        c["views"] += 1
    for got in dash["views"]:
        cls = got["class"]
        for t in DATA_TYPES:
            received[cls][t] += got["received"][t]
        classes[cls]["bytes_window"].append(got["bytes_window"])
        classes[cls]["unwanted"] += got["unwanted"]
    return {
        "system": system, "monitors": monitors, "dashboards": len(views),
        "seconds": timing["w1"] - timing["w0"],
        "connected_monitors": sum(r["connected"] for r in mons),
        "connected_dashboards": dash["connected"],
        "latency": dash["latency"],
        "expected": expected,
        "received_by_class": received,
        "classes": classes,
        "ack_rtt": [x for r in mons for x in r["ack_rtt"]],
        "send_lag": [x for r in mons for x in r["send_lag"]],
        "sent_window": sent_window,
        "acked_window": sum(r["acked_window"] for r in mons),
        "errors": [e for r in mons for e in r["errors"]],
        "monitor_disconnects": [d for r in mons for d in r["disconnects"]]
                               + [d for r in mons for d in r["connect_failures"]],
        "dashboard_disconnects": dash["disconnects"],
        "dashboard_other_messages": dash["other"],
        # Frames that held several messages (feed.Batch), and the messages in them.
        "dashboard_batches": {"frames": dash["batches"], "messages": dash["batched"]},
        "slow_messages": sorted(dash["slow"]),
        "slow_count": dash["slow_count"],
        "server_cpu_pct": server_cpu,
        # The server's CPU over the window per message acknowledged in it: what the machine's
        # other work changes least (unlike latency), so the figure to compare between versions.
        "server_cpu_ms_per_msg": (cpu1 - cpu0) * 1000 / max(1, sum(r["acked_window"] for r in mons)),
        "server_rss_mib": max(rss) / 2**20,
        "loadgen_cpu_pct": gen_cpu,
        "machine_cpu_pct": machine_cpu,
        "other_cpu_pct": max(0.0, machine_cpu - server_cpu - gen_cpu),
        "machine_cpu_before_pct": busy_before,
        "other_cpu_top": {k: round(v, 1) for k, v in sorted(by_name.items(), key=lambda kv: -kv[1])[:6]},
        "server_counters": counters,
        "server_log_problems": server.log_problems()[:20],
        "profile": str(profile_out) if profile_out else None,
        "instrument": server.instrumentation(timing["w0"]),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool the rounds of one system under one load."""
    first = runs[0]
    secs = sum(r["seconds"] for r in runs)
    ack = [x for r in runs for x in r["ack_rtt"]]
    lag = [x for r in runs for x in r["send_lag"]]
    sent = {t: sum(r["sent_window"][t] for r in runs) for t in DATA_TYPES}
    refused = sum(r["server_counters"].get("refused", 0) or 0 for r in runs)
    mean = lambda key: sum(r[key] * r["seconds"] for r in runs) / secs  # noqa: E731
    by_class: dict[str, dict[str, Any]] = {}
    for cls in first["classes"]:
        lat = {t: [x for r in runs for x in r["latency"][cls][t]] for t in DATA_TYPES}
        expected = {t: sum(r["expected"][cls][t] for r in runs) for t in DATA_TYPES}
        received = {t: sum(r["received_by_class"][cls][t] for r in runs) for t in DATA_TYPES}
        views = first["classes"][cls]["views"]
        by_class[cls] = {
            "views": views,
            "latency_ms": {t: {"p50": pct(lat[t], 50), "p90": pct(lat[t], 90), "p99": pct(lat[t], 99),
                               "max": max(lat[t], default=None), "n": len(lat[t]),
                               "p99_by_round": [pct(r["latency"][cls][t], 99) for r in runs]}
                           for t in DATA_TYPES if expected[t]},
            "expected": expected, "received": received,
            "lost": {t: expected[t] - received[t] for t in DATA_TYPES},
            "delivered_fraction": min((received[t] / expected[t] for t in DATA_TYPES if expected[t]),
                                      default=0.0),
            "unwanted": sum(r["classes"][cls]["unwanted"] for r in runs),
            # Per view: what one such dashboard's connection carries.
            "bytes_per_s": sum(b for r in runs for b in r["classes"][cls]["bytes_window"]) / secs / views,
        }
    return {
        "system": first["system"], "monitors": first["monitors"], "dashboards": first["dashboards"],
        "rounds": len(runs), "seconds": secs,
        "classes": by_class,
        "ack_rtt_ms": {"p50": pct(ack, 50), "p99": pct(ack, 99)},
        "send_lag_ms": {"p50": pct(lag, 50), "p99": pct(lag, 99)},
        "sent_per_s": sum(sent.values()) / secs,
        "ingested_per_s": sum(r["acked_window"] for r in runs) / secs,
        "delivered_per_s": sum(c["received"][t] for c in by_class.values() for t in DATA_TYPES) / secs,
        "lost": sum(sum(c["lost"].values()) for c in by_class.values()),
        "slow_messages": sum(r["slow_count"] for r in runs),
        "errors": sum(len(r["errors"]) for r in runs),
        "refused": refused,
        "monitor_disconnects": sum(len(r["monitor_disconnects"]) for r in runs),
        "dashboard_disconnects": sum(len(r["dashboard_disconnects"]) for r in runs),
        "server_cpu_pct": mean("server_cpu_pct"),
        "server_cpu_ms_per_msg": mean("server_cpu_ms_per_msg"),
        "server_rss_mib": max(r["server_rss_mib"] for r in runs),
        "loadgen_cpu_pct": mean("loadgen_cpu_pct"),
        "other_cpu_pct": mean("other_cpu_pct"),
        "profiles": [r["profile"] for r in runs if r["profile"]],
    }


# Targets ------------------------------------------------------------------------------------

# The targets, against the relay measured in the same run (each dashboard class, each kind
# of message it subscribes to): monitors -> (statistic, at most × relay, at most ms, nothing lost).
TARGETS: dict[int, list[tuple[str, float, float | None]]] = {
    64: [("p99", 1.5, 50.0)],
    256: [("p50", 3.0, None), ("p99", 2.0, None)],
}
NOTHING_LOST = {256}


def check_targets(summaries: list[dict[str, Any]]) -> list[str]:
    """Every target missed, said in words (empty: all met, or none applies to these loads)."""
    missed = []
    by_n: dict[int, dict[str, dict[str, Any]]] = {}
    for s in summaries:
        by_n.setdefault(s["monitors"], {})[s["system"]] = s
    for n, systems in sorted(by_n.items()):
        v, b = systems.get("vitalwatch"), systems.get("relay")
        if v is None or n not in TARGETS:
            continue
        if n in NOTHING_LOST and v["lost"]:
            missed.append(f"{n} monitors: {v['lost']} messages lost (target: none)")
        if b is None:
            continue
        for cls, c in v["classes"].items():
            for kind, lat in c["latency_ms"].items():
                floor = b["classes"].get(cls, {}).get("latency_ms", {}).get(kind)
                for stat, times, cap in TARGETS[n]:
                    ours, theirs = lat[stat], floor[stat] if floor else None
                    if ours is None or theirs is None:
                        missed.append(f"{n} monitors, {cls} {kind} {stat}: not measured")
                        continue
                    if ours > times * theirs:
                        missed.append(f"{n} monitors, {cls} {kind} {stat}: {_ms(ours)} ms is "
                                      f"×{ours / theirs:.2f} the relay's {_ms(theirs)} ms (target ≤ ×{times:g})")
                    if cap is not None and ours > cap:
                        missed.append(f"{n} monitors, {cls} {kind} {stat}: {_ms(ours)} ms "
                                      f"(target ≤ {cap:g} ms)")
    return missed


# Reporting ----------------------------------------------------------------------------------


def _ms(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"×{a / b:.2f}" if a / b < 10 else f"×{a / b:.0f}"


def _bytes(v: float) -> str:
    return f"{v / 1000:.1f} kB/s" if v < 1e6 else f"{v / 1e6:.2f} MB/s"


def markdown(summaries: list[dict[str, Any]]) -> str:
    cols = ["Monitors", "Dashboards", "Server", "numerics p50 (ms)", "numerics p99 (ms)",
            "waveform p50 (ms)", "waveform p99 (ms)", "delivered", "not asked for", "bytes/s per view",
            "server CPU", "server RSS"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * len(cols)) + "|"]
    by_n: dict[int, dict[str, dict[str, Any]]] = {}
    for s in summaries:
        by_n.setdefault(s["monitors"], {})[s["system"]] = s
    for n, systems in by_n.items():
        classes = list(next(iter(systems.values()))["classes"])
        for cls in classes:
            for name in ("vitalwatch", "relay"):
                s = systems.get(name)
                if s is None:
                    continue
                c = s["classes"][cls]
                lat = c["latency_ms"]
                cells = " | ".join(_ms(lat[t][q]) if t in lat else "–" for t in DATA_TYPES for q in ("p50", "p99"))
                lines.append(
                    f"| {n} | {c['views']} {cls} | {name} | {cells} "
                    f"| {c['delivered_fraction'] * 100:.1f} % | {c['unwanted']} | {_bytes(c['bytes_per_s'])} "
                    f"| {s['server_cpu_pct']:.0f} % | {s['server_rss_mib']:.0f} MiB |")
            if "vitalwatch" in systems and "relay" in systems:
                v, b = systems["vitalwatch"], systems["relay"]
                lv, lb = v["classes"][cls]["latency_ms"], b["classes"][cls]["latency_ms"]
                cells = " | ".join(_ratio(lv[t][q], lb[t][q]) if t in lv and t in lb else "–"
                                   for t in DATA_TYPES for q in ("p50", "p99"))
                lines.append(
                    f"| {n} | {v['classes'][cls]['views']} {cls} | *vitalwatch ÷ relay* | {cells} | | "
                    f"| {_ratio(v['classes'][cls]['bytes_per_s'], b['classes'][cls]['bytes_per_s'])} "
                    f"| {_ratio(v['server_cpu_pct'], b['server_cpu_pct'])} "
                    f"| {_ratio(v['server_rss_mib'], b['server_rss_mib'])} |")
    return "\n".join(lines)


def markdown_health(summaries: list[dict[str, Any]]) -> str:
    cols = ["Monitors", "Server", "ingested msg/s", "delivered msg/s", "ack round trip p50 / p99",
            "send lag p99", f"messages > {SLOW_MS:g} ms", "p99 by round (central numerics; waveform)", "lost",
            "errors / refused", "disconnects (monitors / dashboards)", "server CPU per message",
            "load generators CPU", "other CPU on the machine"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * len(cols)) + "|"]
    for s in summaries:
        lat = s["classes"].get("central", next(iter(s["classes"].values())))["latency_ms"]
        by_round = "; ".join(", ".join(_ms(x) for x in lat[t]["p99_by_round"]) for t in DATA_TYPES if t in lat)
        n_msgs = sum(c["latency_ms"][t]["n"] for c in s["classes"].values() for t in c["latency_ms"])
        lines.append(
            f"| {s['monitors']} | {s['system']} | {s['ingested_per_s']:.0f} | {s['delivered_per_s']:.0f} "
            f"| {_ms(s['ack_rtt_ms']['p50'])} / {_ms(s['ack_rtt_ms']['p99'])} ms "
            f"| {_ms(s['send_lag_ms']['p99'])} ms "
            f"| {s['slow_messages'] / max(1, n_msgs) * 100:.2f} % | {by_round} ms "
            f"| {s['lost']} | {s['errors']} / {s['refused']} "
            f"| {s['monitor_disconnects']} / {s['dashboard_disconnects']} "
            f"| {s['server_cpu_ms_per_msg']:.3f} ms "
            f"| {s['loadgen_cpu_pct']:.0f} % | {s['other_cpu_pct']:.0f} % |")
    return "\n".join(lines)


def _version(source: Path) -> dict[str, Any]:
    """Which vitalwatch was measured: its checkout, commit, and whether its code had local changes."""
    out: dict[str, Any] = {"source": str(source), "commit": None, "local_changes": None}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=source, capture_output=True,
                                check=False, text=True, timeout=10)
        if commit.returncode == 0 and Path(source, ".git").exists():
            dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "monitors", "alerts"],
                                   cwd=source, capture_output=True, check=False, text=True,
                                   timeout=10).stdout.strip()
            out.update(commit=commit.stdout.strip(), local_changes=bool(dirty))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Live path latency of vitalwatch against a bare relay.")
    p.add_argument("--monitors", default="64,256", help="comma-separated numbers of monitors (default 64,256)")
    p.add_argument("--central", type=int, default=2,
                   help="central stations on /ws/live: every room, values and PLETH (default 2)")
    p.add_argument("--nurses", type=int, default=8,
                   help=f"nurse views: alarms and numerics of {ROOMS_PER_NURSE} rooms each (default 8)")
    p.add_argument("--seconds", type=float, default=20,
                   help="measured seconds per system, configuration and round (default 20)")
    p.add_argument("--rounds", type=int, default=2,
                   help="rounds per configuration; the order of the systems alternates (A B, B A, ...) so that "
                        "noise from other work on the machine falls on both alike; results are pooled (default 2)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring (default 3)")
    p.add_argument("--drain", type=float, default=3,
                   help="seconds after the last send before undelivered messages count as lost (default 3)")
    p.add_argument("--load-procs", type=int, default=2, help="processes the monitors are spread over (default 2)")
    p.add_argument("--no-waveforms", action="store_true",
                   help="the monitors send numerics only, and the central stations ask for no waveform")
    p.add_argument("--systems", default="vitalwatch,relay", help="which servers (default vitalwatch,relay)")
    p.add_argument("--json", type=Path, help="write the results here (default bench/results/latency-<time>.json)")
    p.add_argument("--py-spy", metavar="PATH",
                   help="attach this py-spy binary to the server during each measured window and keep its raw "
                        "profile next to the JSON results (perturbs the latency a little)")
    p.add_argument("--instrument", action="store_true",
                   help="run vitalwatch through bench/instrumented_server.py: time its storage calls and its event "
                        "loop's late wake-ups, split into CPU, waiting for a CPU and blocked (slightly perturbs it)")
    p.add_argument("--settle", type=float, default=30, metavar="SECONDS",
                   help="before each round, wait up to this long for the machine to be quiet (default 30; 0: "
                        "do not wait): on a shared machine, other work is what makes the tail latency noisy")
    p.add_argument("--quiet", type=float, default=50, metavar="PCT",
                   help="quiet means the machine uses less than this %% of one core (default 50)")
    p.add_argument("--source", type=Path, default=ROOT,
                   help="the vitalwatch checkout to measure (default: this one); e.g. a commit unpacked with "
                        "'git archive COMMIT | tar -x -C DIR', to measure it while the working tree changes")
    p.add_argument("--keep", action="store_true", help="keep the temporary data dirs and server logs")
    worse = p.add_argument_group("a slower vitalwatch, to show that the targets can be missed (both run it "
                                 "through bench/instrumented_server.py)")
    worse.add_argument("--no-group-commits", action="store_true",
                       help="one SQLite transaction per message, as before grouped commits")
    worse.add_argument("--slow-commit", type=float, metavar="MS",
                       help="make every commit this much longer, as a slow disk would (the event loop's "
                            "for small groups, the writer thread's for groups of Store.THREAD_GROUP "
                            "or more; with --no-group-commits every commit holds the event loop)")
    args = p.parse_args(argv)
    args.source = args.source.resolve()
    counts = [int(x) for x in args.monitors.split(",") if x.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not systems or not set(systems) <= {"vitalwatch", "relay"}:
        p.error("--systems takes vitalwatch and/or relay")

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(tempfile.mkdtemp(prefix=f"vitalwatch-bench-{stamp}-"))
    out_json = args.json or BENCH / "results" / f"latency-{stamp}.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    per_run = args.warmup + args.seconds + args.drain + 6 + min(args.settle, 2)
    print(f"{len(counts)} loads × {len(systems)} systems × {args.rounds} rounds, about "
          f"{len(counts) * len(systems) * args.rounds * per_run / 60:.0f} min", file=sys.stderr, flush=True)
    runs: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    try:
        for n in counts:
            by_system: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
            for rnd in range(args.rounds):
                for system in (systems if rnd % 2 == 0 else systems[::-1]):
                    workdir = base / f"{system}-{n}" / f"round{rnd + 1}"
                    workdir.mkdir(parents=True)
                    print(f"[{time.strftime('%H:%M:%S')}] {system}: {n} monitors, {args.central} central "
                          f"stations + {args.nurses} nurse views, round {rnd + 1}/{args.rounds}, "
                          f"{args.seconds:g} s",
                          file=sys.stderr, flush=True)
                    r = run_one(system, n, dashboard_views(n, args.central, args.nurses, not args.no_waveforms),
                                args, workdir)
                    if r["profile"]:
                        dest = out_json.parent / Path(r["profile"]).name
                        with contextlib.suppress(OSError):
                            shutil.copy(r["profile"], dest)
                            r["profile"] = str(dest)
                    by_system[system].append(r)
                    runs.append(r)
                    lat = {(c, t): (pct(r["latency"][c][t], 50), pct(r["latency"][c][t], 99))
                           for c in r["latency"] for t in DATA_TYPES if r["latency"][c][t]}
                    print("    " + ", ".join(f"{c} {t} p50/p99 {_ms(a)}/{_ms(b)} ms"
                                             for (c, t), (a, b) in lat.items())
                          + ", "
                          f"server CPU {r['server_cpu_pct']:.0f} % ({r['server_cpu_ms_per_msg']:.3f} ms a "
                          f"message), other CPU {r['other_cpu_pct']:.0f} %, "
                          f"batches {r['dashboard_batches']['frames']} holding "
                          f"{r['dashboard_batches']['messages']} messages, "
                          f"errors {len(r['errors'])}, refused {r['server_counters'].get('refused')}"
                          + (f", machine busy before {r['machine_cpu_before_pct']:.0f} %"
                             if r["machine_cpu_before_pct"] is not None else ""),
                          file=sys.stderr, flush=True)
                    if r["instrument"]:
                        st, lag = r["instrument"]["commit"], r["instrument"]["loop_lag"]
                        print(f"    commits: {st['calls']} for {st.get('messages')} messages, p50 {st['p50_ms']} ms, "
                              f"p99 {st['p99_ms']} ms, "
                              f"max {st['max_ms']} ms, {st['over_threshold']} over 2 ms "
                              f"({st['over_threshold_totals_ms']}); loop late > 20 ms: {lag['over_threshold']} "
                              f"times, max {lag['max_ms']} ms ({lag['over_threshold_totals_ms']})",
                              file=sys.stderr, flush=True)
            summaries += [summarise(by_system[s]) for s in systems]
    finally:
        if args.keep:
            print(f"data dirs and logs kept in {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)

    meta = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), **_version(args.source),
            "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "argv": sys.argv[1:], "seconds": args.seconds, "rounds": args.rounds, "warmup": args.warmup,
            "drain": args.drain, "load_procs": args.load_procs, "central": args.central, "nurses": args.nurses,
            "no_group_commits": args.no_group_commits, "slow_commit_ms": args.slow_commit,
            "settle": args.settle, "quiet": args.quiet}
    details = [{k: v for k, v in r.items() if k not in ("latency", "ack_rtt", "send_lag")} for r in runs]
    out_json.write_text(json.dumps({"meta": meta, "summaries": summaries, "runs": details,
                                    "targets_missed": check_targets(summaries)}, indent=1))

    version = (f"vitalwatch {meta['commit']}{' with local changes' if meta['local_changes'] else ''}, "
               if meta["commit"] else f"vitalwatch from {meta['source']}, ")
    print(f"Live path latency, {version}{meta['date']}, {meta['cpus']} CPUs, Python {meta['python']}: "
          f"{args.central} central stations + {args.nurses} nurse views, {args.rounds} × {args.seconds:g} s "
          "per server and load"
          + (", vitalwatch without grouped commits" if args.no_group_commits else "")
          + (f", vitalwatch with {args.slow_commit:g} ms per commit" if args.slow_commit else "") + ". "
          "Latency from the monitor's send to the dashboard's receive; CPU: one core = 100 %.\n")
    print(markdown(summaries))
    print()
    print(markdown_health(summaries))
    for r in runs:
        odd = {k: r[k][:3] for k in ("errors", "monitor_disconnects", "dashboard_disconnects",
                                      "server_log_problems") if r[k]}
        if r["server_counters"].get("refused"):
            odd["refused"] = r["server_counters"]
        if odd:
            print(f"\n{r['system']}, {r['monitors']} monitors: {json.dumps(odd)}")
    missed = check_targets(summaries)
    if missed:
        print("\nTargets missed:\n" + "\n".join(f"- {m}" for m in missed))
    elif any(n in TARGETS for n in counts) and set(systems) == {"vitalwatch", "relay"}:
        print("\nEvery target met.")
    print(f"\nresults: {out_json}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
