"""Replay and evaluation speed: how many times faster than real time.

    .venv/bin/python bench/replay.py [--minutes 90] [--parallel 1] [--repeat 5]

1. **Replay through the live path.** A simulated session of ``--minutes`` *with* waveforms
   (``hypertensive-surge``: PLETH 125 Hz, ECG II 250 Hz, respiration and capnogram 25 Hz) is
   written to a recording, a real ``vitalwatch serve`` is started on a free port with an empty
   data dir, and ``monitors.replay.replay`` streams the recording into it at a speed far above
   what can be reached (10 000×), until the server has acknowledged every message (stored,
   alarms evaluated, broadcast). Achieved speed = recording length ÷ wall time. With
   ``--parallel K``, K replays run at once into K rooms (the server's headroom). The server's CPU
   time over the run is read with psutil (one core = 100 %).
2. **Export** of the session just stored (``vitalwatch export``, gzip), for scale.
3. **Offline evaluation** (``offline.evaluate``) of a session of ``--minutes`` *without* waveforms
   with the default rules: ``evaluate_file`` alone, and ``run()`` as the command does (JSON lines
   and summary written); best of ``--repeat``.

Goals: replay ≥ 100× real time with waveforms; evaluation ≥ 5000× without.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.rules import load  # noqa: E402
from monitors import recording  # noqa: E402
from monitors.replay import MAX_RATE, replay  # noqa: E402
from monitors.simulator import generate  # noqa: E402
from offline.command import run  # noqa: E402
from offline.evaluate import evaluate_file  # noqa: E402
from offline.export import export_session  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, monitors: list[str]) -> tuple[subprocess.Popen, int, dict[str, str]]:
    from app.accounts import Accounts
    from app.store import Store

    store = Store(data_dir / "vitalwatch.sqlite3")
    accounts = Accounts(store.db)
    tokens = {m: accounts.add_device(m, time.time(), any_room=True) for m in monitors}
    store.close()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                             "--data-dir", str(data_dir)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 401:
                return proc, port, tokens
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not start")


async def replays(files: list[Path], port: int, tokens: dict[str, str]) -> list[int]:
    sink = io.StringIO()
    jobs = [replay(f, f"ws://127.0.0.1:{port}", speed=10_000, room=f"Bench {i + 1}",
                   monitor_id=f"bench-{i + 1}", token=tokens[f"bench-{i + 1}"], out=sink)
            for i, f in enumerate(files)]
    return await asyncio.gather(*jobs)


def bench_replay(minutes: float, parallel: int, work: Path) -> None:
    header, records = generate("hypertensive-surge", 1, minutes=minutes, waveforms=True)
    files = []
    for i in range(parallel):
        files.append(work / f"session-{i + 1}.jsonl.gz")
        if i == 0:
            n = recording.write(files[0], header, records)
        else:
            files[-1].write_bytes(files[0].read_bytes())
    waves = sum(1 for r in recording.read(files[0])[1] if r["type"] == "waveform")
    data_dir = work / "data"
    data_dir.mkdir()
    proc, port, tokens = start_server(data_dir, [f"bench-{i + 1}" for i in range(parallel)])
    try:
        server = psutil.Process(proc.pid)
        cpu0 = server.cpu_times()
        begin = time.perf_counter()
        codes = asyncio.run(replays(files, port, tokens))
        wall = time.perf_counter() - begin
        cpu1 = server.cpu_times()
    finally:
        proc.terminate()
        proc.wait(10)
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    span = minutes * 60
    print(f"replay: {minutes:g}-minute session with waveforms, {n} records ({waves} waveform chunks), "
          f"{parallel} at once, exit codes {codes}")
    print(f"  wall {wall:.1f} s → {span / wall:.0f}× real time each ({parallel * span / wall:.0f}× in all); "
          f"server CPU {cpu:.1f} s = {100 * cpu / wall:.0f} % of one core")
    print(f"  (each replay is held to {MAX_RATE:g} messages/s, under the server's limit of 200 a second "
          "per monitor)")

    out = work / "export.jsonl.gz"
    begin = time.perf_counter()
    export_session(1, out, data_dir, stdout=io.StringIO())
    took = time.perf_counter() - begin
    print(f"export: session 1 ({out.stat().st_size / 1e6:.1f} MB gzip) in {took:.1f} s → {span / took:.0f}× real time")


def bench_evaluate(minutes: float, repeat: int, work: Path) -> None:
    header, records = generate("hypertensive-surge", 1, minutes=minutes, waveforms=False)
    path = work / "numerics.jsonl"
    n = recording.write(path, header, records)
    rules = load()
    span = minutes * 60
    best_file = min(_timed(lambda: evaluate_file(path, rules)) for _ in range(repeat))
    best_run = min(_timed(lambda: run([str(path)], [rules], out=io.StringIO(), err=io.StringIO()))
                   for _ in range(repeat))
    print(f"evaluate: {minutes:g}-minute session without waveforms ({n} records), default rules, best of {repeat}")
    print(f"  evaluate_file {best_file * 1000:.0f} ms → {span / best_file:,.0f}× real time; "
          f"run() with its output {best_run * 1000:.0f} ms → {span / best_run:,.0f}× real time")


def _timed(fn) -> float:
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=90.0)
    parser.add_argument("--parallel", type=int, default=1, help="replays at once (default 1)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="vitalwatch-bench-") as tmp:
        work = Path(tmp)
        bench_replay(args.minutes, args.parallel, work)
        bench_evaluate(args.minutes, args.repeat, work)


if __name__ == "__main__":
    main()
