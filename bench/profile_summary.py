"""Where a server's CPU time goes, from a py-spy raw profile (``latency.py --py-spy``).

    python bench/profile_summary.py bench/results/profile-vitalwatch-64-round1.txt [--top 30]

Prints the share of the samples by the kind of code on the CPU (socket writes, SQLite, compression,
validation ...), the inclusive share of the steps of the live path, and the top functions,
inclusive (the function and what it calls) and self (its own code and the system calls it makes).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

# What each sample was doing, by the innermost frame (the code on the CPU), first match wins.
# Samples py-spy counts as active although the thread only waits: the event loop in epoll, the
# idle thread-pool worker (used for password hashing at login) and the WAL checkpointer between
# checkpoints (app/store.py; its Event.wait). Shares are of the rest.
IDLE = ("EpollSelector.select", "_worker (concurrent/futures/thread.py)", "Condition.wait (threading.py)")
CATEGORIES = [
    ("socket writes (the send system call)", ("_SelectorSocketTransport.write",)),
    ("selector bookkeeping", ("selectors.py",)),
    ("SQLite: writing and committing messages (app/store.py)", ("app/store.py", "sqlite3")),
    ("permessage-deflate compression", ("permessage_deflate",)),
    ("pydantic validation and models", ("pydantic", "monitors/protocol.py")),
    ("JSON encoding and decoding", ("json/", "orjson")),
    ("alarm engine (alerts/)", ("alerts/",)),
    ("vitalwatch app code (app/)", ("app/",)),
    ("relay code (relay.py)", ("relay.py",)),
    ("websocket protocol (websockets, uvicorn)", ("websockets/", "uvicorn/")),
    ("Starlette and FastAPI layers", ("starlette/", "fastapi/")),
    ("asyncio machinery", ("asyncio/",)),
]
# Functions whose inclusive share stands for a step of the live path.
STEPS = [
    ("Pipeline.accept (store, alarms, publish)", "Pipeline.accept"),
    ("  Store.store_message (queued, or committed at once)", "Store.store_message"),
    ("  Hub.publish", "Hub.publish"),
    ("  AlarmEngine.numerics", "AlarmEngine.numerics"),
    ("Store.flush (a group's transaction)", "Store.flush"),
    ("app.ingest: reading frames (JSON)", "decode (app/ingest.py)"),
    ("app.ingest: validating (pydantic)", "validate (app/ingest.py)"),
    ("app.live._send (to dashboards)", "_send (app/live.py)"),
    ("ingest's sends (acks)", "ingest (app/ingest.py);WebSocket.send_text"),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=30, help="how many functions to list")
    args = p.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    total = idle = 0
    with open(args.profile) as profile:
        lines = profile.readlines()
    for line in lines:
        line = line.rstrip()
        if not line:
            continue
        stack, n = line.rsplit(" ", 1)
        count = int(n)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if any(k in frames[-1] for k in IDLE):
            idle += count
            continue
        total += count
        for f in set(frames):
            inclusive[f] += count
        own[frames[-1]] += count
        leaf = frames[-1]
        categories[next((name for name, keys in CATEGORIES if any(k in leaf for k in keys)), "other")] += count
        joined = ";".join(frames)
        for name, key in STEPS:
            if key in joined:
                steps[name] += count
    if not total:
        print("no samples")
        return
    print(f"{total} busy samples ({idle} more waiting in epoll or in an idle worker thread, left out)")
    print("\nBy the code on the CPU (self time, share of busy samples):")
    for name, n in categories.most_common():
        print(f"  {n / total * 100:5.1f} %  {name}")
    if steps:
        print("\nSteps of vitalwatch's live path (inclusive):")
        for name, _ in STEPS:
            print(f"  {steps[name] / total * 100:5.1f} %  {name}")
    print(f"\nInclusive (top {args.top}):")
    for f, n in inclusive.most_common(args.top):
        print(f"  {n / total * 100:5.1f} %  {f}")
    print(f"\nSelf (top {args.top}):")
    for f, n in own.most_common(args.top):
        print(f"  {n / total * 100:5.1f} %  {f}")


if __name__ == "__main__":
    main()
