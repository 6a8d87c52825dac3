"""Dashboard cost in the browser: frame times and JS heap of the central station and the room view
under a full load, over a long run, to show both stay smooth and bounded.

The script

1. starts ``vitalwatch serve`` on a free port with an empty temporary data dir (a clinician login
   and a device token per room, as an administrator would add them);
2. starts ``--rooms`` simulated monitors (``vitalwatch monitor sim``, real subprocesses on real
   websockets): room 1 at real time *with* waveforms (ECG II 250 Hz, PLETH 125 Hz, respiration
   and capnogram 25 Hz), every other room without waveforms at ``--speed`` times real time, so a
   whole 90-minute session (dose, peak, cuff readings, alarms) passes in a few minutes; the
   scenarios cycle through the simulator's named ones;
3. opens the central station in Debian's headless Chromium (Playwright, ``executable_path``: no
   browser is downloaded) for ``--minutes``, then the room view of room 1 for as long, each in a
   fresh page; in each it records every ``requestAnimationFrame`` interval (frame time), long
   tasks (> 50 ms), and every ``--sample`` seconds the JS heap (CDP ``Performance.getMetrics``:
   ``JSHeapUsedSize``, DOM nodes, listeners) and, every fourth sample, the heap after a forced
   garbage collection, whose slope over the run is the leak test;
4. prints Markdown tables and writes the numbers as JSON (``--json``; by default in
   ``bench/results/``, which git ignores).

    .venv/bin/python bench/dashboard.py                     # 16 rooms, 3 min per page, speed 20
    .venv/bin/python bench/dashboard.py --minutes 5 --speed 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = os.environ.get("VITALWATCH_CHROMIUM") or "/usr/bin/chromium"
USER, PASSWORD = "bench-clinician", "bench-password-not-secret"
SCENARIOS = ("typical-responder", "hypertensive-surge", "vasovagal", "airway-obstruction",
             "sensor-disconnect", "vomiting-movement")

# Frame and long-task recording, installed before the page's own scripts.
RECORD = """
window.__bench = { frames: [], longTasks: [] };
(() => {
  let last = null;
  const frame = (t) => {
    if (last !== null) window.__bench.frames.push(t - last);
    last = t;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__bench.longTasks.push(e.duration);
    }).observe({ type: "longtask", buffered: true });
  } catch (e) { /* not supported */ }
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def provision(data: Path, rooms: int) -> dict[str, str]:
    from app.accounts import Accounts
    from app.store import Store

    store = Store(data / "vitalwatch.sqlite3")
    accounts = Accounts(store.db)
    accounts.add_user(USER, "clinician", PASSWORD, time.time())
    tokens = {f"bench-room-{i}": accounts.add_device(f"bench-room-{i}", time.time(), any_room=True) for i in range(1, rooms + 1)}
    store.db.close()
    return tokens


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, bytes) points, in bytes per minute."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def measure(browser: Any, base: str, path: str, seconds: float, sample_s: float, label: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_init_script(RECORD)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login")
    page.fill("#name", USER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(base + path)
    page.wait_for_function("() => document.body.dataset.live === 'true'", timeout=20000)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    time.sleep(min(10.0, seconds / 6))  # warm-up: first load, the trend drawn
    page.evaluate("window.__bench.frames = []; window.__bench.longTasks = []")

    samples: list[dict[str, Any]] = []
    gc_points: list[tuple[float, float]] = []
    t0 = time.monotonic()
    n = 0
    print(f"[{label}] measuring {seconds:.0f} s", file=sys.stderr)
    while (elapsed := time.monotonic() - t0) < seconds:
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        sample = {"t": round(elapsed, 1), "heap": metrics.get("JSHeapUsedSize"), "nodes": metrics.get("Nodes"),
                  "listeners": metrics.get("JSEventListeners"), "total_heap": metrics.get("JSHeapTotalSize")}
        if n % 4 == 0:
            cdp.send("HeapProfiler.collectGarbage")
            after = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            sample["heap_after_gc"] = after.get("JSHeapUsedSize")
            gc_points.append((elapsed, after.get("JSHeapUsedSize")))
        samples.append(sample)
        n += 1
        print(f"[{label}] {elapsed:5.0f} s heap {sample['heap'] / 1e6:6.1f} MB nodes {sample['nodes']:.0f}",
              file=sys.stderr)
        time.sleep(sample_s)

    bench = page.evaluate("window.__bench")
    extra = {}
    if path.startswith("/room/"):
        draw = page.evaluate("window.__vwWaves ? window.__vwWaves.stats.drawMs : []")
        extra["wave_draw_ms"] = {"p50": percentile(draw, 50), "p99": percentile(draw, 99), "max": max(draw or [0])}
        extra["trend_points"] = page.evaluate("document.getElementById('trend').data?.[0]?.x.length ?? 0")
    else:
        extra["tiles"] = page.locator(".tile").count()
        extra["spark_points_max"] = page.evaluate(
            "Math.max(0, ...[...document.querySelectorAll('.spark-HR')].map((p) => Number(p.dataset.points || 0)))")
    page.screenshot(path=str(ROOT / "bench" / "results" / f"dashboard-{label}.png"))
    context.close()
    frames = bench["frames"]
    heaps = [s["heap"] for s in samples]
    gc_heaps = [h for _, h in gc_points]
    return {
        "page": path, "seconds": seconds, "frames": len(frames),
        "frame_ms": {"p50": percentile(frames, 50), "p99": percentile(frames, 99), "max": max(frames or [0])},
        "frames_over_50ms": sum(f > 50 for f in frames),
        "long_tasks": {"count": len(bench["longTasks"]), "total_ms": sum(bench["longTasks"]),
                       "max_ms": max(bench["longTasks"] or [0])},
        "heap_mb": {"min": min(heaps) / 1e6, "max": max(heaps) / 1e6, "first": heaps[0] / 1e6, "last": heaps[-1] / 1e6},
        "heap_after_gc_mb": {"first": gc_heaps[0] / 1e6, "last": gc_heaps[-1] / 1e6, "max": max(gc_heaps) / 1e6},
        "heap_after_gc_slope_kb_per_min": slope_per_min(gc_points) / 1e3,
        "nodes": {"first": samples[0]["nodes"], "last": samples[-1]["nodes"], "max": max(s["nodes"] for s in samples)},
        "samples": samples, "errors": errors, **extra,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rooms", type=int, default=16)
    ap.add_argument("--speed", type=float, default=20.0, help="simulated time per wall time (rooms 2..N)")
    ap.add_argument("--minutes", type=float, default=3.0, help="per page")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between heap samples")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="vw-dashboard-bench-"))
    data = tmp / "data"
    data.mkdir()
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    tokens = provision(data, args.rooms)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    log = open(tmp / "server.log", "ab")  # noqa: SIM115 - closed at the end
    try:
        server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                                   "--data-dir", str(data), "--idle-timeout", "100000"],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        procs.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 401:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        total_min = 2 * args.minutes + 2  # both pages, warm-ups and start-up
        for i in range(1, args.rooms + 1):
            mid = f"bench-room-{i}"
            speed = 1.0 if i == 1 else args.speed
            cmd = [sys.executable, "-m", "app.cli", "monitor", "sim", "--server", f"ws://127.0.0.1:{port}",
                   "--room", f"Room {i}", "--monitor-id", mid, "--token", tokens[mid],
                   "--scenario", SCENARIOS[(i - 1) % len(SCENARIOS)], "--seed", str(i),
                   "--speed", str(speed), "--minutes", str(max(30.0, total_min * speed)), "--mode", "demo"]
            if i == 1:
                cmd.append("--waveforms")
            procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        login = httpx.post(f"{base}/api/login", json={"name": USER, "password": PASSWORD}, timeout=10)
        cookies = {"vw_session": login.cookies["vw_session"]}
        # The simulators compute their whole session before they connect (room 1's waveforms take
        # a while): wait for every room.
        deadline = time.monotonic() + 180
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = httpx.get(f"{base}/api/sessions", params={"active": "true"}, cookies=cookies, timeout=10).json()
            if len(rows) >= args.rooms:
                break
            time.sleep(1)
        room1 = next(r["id"] for r in rows if r["room"] == "Room 1")
        print(f"{len(rows)} sessions; room 1 is session {room1}", file=sys.stderr)

        results: dict[str, Any] = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-precise-memory-info",
                "--disable-background-networking", "--disable-component-update", "--no-first-run"])
            try:
                results["central"] = measure(browser, base, "/", args.minutes * 60, args.sample, "central")
                results["room"] = measure(browser, base, f"/room/{room1}", args.minutes * 60, args.sample, "room")
            finally:
                browser.close()
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
        if os.environ.get("VW_BENCH_KEEP"):
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    meta = {
        "date": dt.date.today().isoformat(), "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "rooms": args.rooms, "speed": args.speed, "minutes_per_page": args.minutes,
        "chromium": CHROMIUM,
    }
    out = args.json or ROOT / "bench" / "results" / f"dashboard-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"meta": meta, **results}, indent=2))

    print(f"\n{args.rooms} rooms (room 1 real time with 4 waveforms, the rest at {args.speed:g}×), "
          f"{args.minutes:g} min per page, {meta['cpus']} CPUs\n")
    print("| page | frames | frame p50 | p99 | max | > 50 ms | long tasks (total) | heap (min–max) | "
          "heap after GC first → last | GC'd heap slope | DOM nodes first → last |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        f, h, g = r["frame_ms"], r["heap_mb"], r["heap_after_gc_mb"]
        print(f"| {name} | {r['frames']} | {f['p50']:.1f} ms | {f['p99']:.1f} ms | {f['max']:.0f} ms | "
              f"{r['frames_over_50ms']} | {r['long_tasks']['count']} ({r['long_tasks']['total_ms']:.0f} ms) | "
              f"{h['min']:.1f}–{h['max']:.1f} MB | {g['first']:.2f} → {g['last']:.2f} MB | "
              f"{r['heap_after_gc_slope_kb_per_min']:+.0f} kB/min | {r['nodes']['first']:.0f} → {r['nodes']['last']:.0f} |")
    room = results.get("room", {})
    if "wave_draw_ms" in room:
        w = room["wave_draw_ms"]
        print(f"\nwaveform canvas draw per frame: p50 {w['p50']:.2f} ms, p99 {w['p99']:.2f} ms, max {w['max']:.1f} ms; "
              f"trend points (HR): {room['trend_points']}")
    if "tiles" in results.get("central", {}):
        print(f"central: {results['central']['tiles']} tiles, sparkline points max {results['central']['spark_points_max']}")
    for name, r in results.items():
        if r["errors"]:
            print(f"{name}: page errors: {r['errors'][:3]}")
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
