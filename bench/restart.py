"""Start-up time with open sessions: how long a restarted server takes to rebuild their alarms.

    .venv/bin/python bench/restart.py [--sessions 16] [--minutes 90] [--no-pleth]

Writes a database holding ``--sessions`` open sessions of ``--minutes`` each — numerics at 1 Hz
(HR wandering, the pulse rate following it, SpO2, RR, EtCO2 with some noise), a cuff reading every 5 min, the dose after 10 min and,
unless ``--no-pleth``, the PLETH at 125 Hz in 0.4-s chunks for the whole session — then times
what a server does at start-up before it serves (``Pipeline(...)``: every session replayed
through its alarms, ``app/resume.py``), on that database opened afresh. Prints the wall time and
each session's replay figures.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.rules import load  # noqa: E402
from app.hub import Hub  # noqa: E402
from app.pipeline import Pipeline  # noqa: E402
from app.store import Store  # noqa: E402


def fill(path: Path, sessions: int, minutes: float, pleth: bool) -> None:
    store = Store(path)
    db = store.db
    rng = random.Random(7)
    t0 = time.time() - minutes * 60
    for n in range(sessions):
        row = store.start_session(f"Room {n + 1}", "live", t0)
        sid = row["id"]
        store.add_session_monitor(sid, f"mon-{n}", t0, f"monitor:mon-{n}")
        seconds = int(minutes * 60)
        db.execute("BEGIN")
        numerics = []
        hr = 78.0
        for s in range(seconds):
            t, received = t0 + s, t0 + s + 0.05
            # The pulse rate follows the ECG's heart rate (one heart), as on a real monitor.
            hr = min(110.0, max(55.0, hr + rng.gauss(0, 0.7)))
            for param, value in (("HR", hr), ("PR", hr + rng.gauss(0, 1)),
                                 ("SpO2", rng.gauss(97, 0.6)), ("RR", rng.gauss(14, 1.2)),
                                 ("EtCO2", rng.gauss(37, 1.2))):
                numerics.append((sid, t, received, param, round(value, 1)))
        db.executemany("INSERT INTO numerics VALUES (?,?,?,?,?)", numerics)
        db.executemany("INSERT INTO nibp VALUES (?,?,?,?,?,?,?,?)", [
            (sid, t0 + s + 0.5, t0 + s + 0.55, "ok", 125 + rng.gauss(0, 6), 80 + rng.gauss(0, 4),
             95.0, "") for s in range(60, seconds, 300)])
        db.execute("INSERT INTO marks(session_id, t, what, text, by) VALUES (?,?,?,?,?)",
                   (sid, t0 + 600, "dose", "", "user-clinician"))
        if pleth:
            chunk = 50  # 0.4 s at 125 Hz
            beat = np.sin(2 * math.pi * 1.3 * np.arange(seconds * 125) / 125).astype(np.float32)
            db.executemany("INSERT INTO waveforms VALUES (?,?,?,?,?)", [
                (sid, t0 + i / 125, "PLETH", 125.0, beat[i:i + chunk].tobytes())
                for i in range(0, seconds * 125 - chunk, chunk)])
        db.execute("COMMIT")
        db.execute("UPDATE sessions SET dose=? WHERE id=?", (t0 + 600, sid))
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=90)
    ap.add_argument("--no-pleth", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vitalwatch.sqlite3"
        started = time.perf_counter()
        fill(path, args.sessions, args.minutes, not args.no_pleth)
        print(f"wrote {args.sessions} sessions of {args.minutes:g} min in "
              f"{time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
        rules = load()
        started = time.perf_counter()
        store = Store(path)
        pipeline = Pipeline(store, Hub(), rules, time.time())
        wall = time.perf_counter() - started
        replays = [s.resumed for s in pipeline.sessions.values()]
        messages = sum(r["messages"] for r in replays)
        print(f"start-up: {wall:.2f} s for {len(replays)} sessions, {messages} messages replayed "
              f"({messages / wall:.0f}/s); slowest session {max(r['seconds'] for r in replays):.2f} s")
        store.close()


if __name__ == "__main__":
    main()
