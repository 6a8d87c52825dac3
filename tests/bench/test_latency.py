"""The latency benchmark's own logic, without running it: the relay filters exactly as the feed's
subscriptions do (so its floor is fair), and the target check names every target missed."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path
from typing import Any

from app.feed import Subscribe

ROOT = Path(__file__).resolve().parents[2]


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_the_relay_forwards_what_each_bench_dashboard_subscribed_to() -> None:
    """For the bench's central stations and nurse views (and a dashboard that never subscribed),
    the relay's filter agrees with feed.Subscribe.wants on every room, kind and wave."""
    latency, relay = _module("latency"), _module("relay")
    views = latency.dashboard_views(24, central=1, nurses=3)
    rooms = [latency.room(i) for i in range(24)]
    kinds = ["numerics", "nibp", "waveform", "status", "alarm", "mark", "settings", "heartbeat", "room"]
    subs = [json.loads(v["subscribe"]) for v in views]
    for sub in [*subs, None]:
        dashboard = relay.Dashboard()
        if sub is not None:
            dashboard.subscribe(sub)
        feed = Subscribe.model_validate(sub) if sub is not None else Subscribe()
        for room, kind, wave in itertools.product(rooms, kinds, ["PLETH", "ECG_II", None]):
            assert dashboard.wants(room, kind, wave) == feed.wants(room, kind, wave), (sub, room, kind, wave)
    assert views[1]["rooms"] == rooms[:8] and views[3]["rooms"] == rooms[16:24]


def _summary(system: str, n: int, p50: float, p99: float, lost: int = 0) -> dict[str, Any]:
    lat = {"p50": p50, "p99": p99}
    return {"system": system, "monitors": n, "lost": lost,
            "classes": {"central": {"latency_ms": {"numerics": lat, "waveform": lat}},
                        "nurse": {"latency_ms": {"numerics": lat}}}}


def test_targets_are_checked_against_the_relay_of_the_same_run() -> None:
    """Within the targets nothing is reported; a 64-room p99 over ×1.5 the relay or over 50 ms,
    a 256-room p50 over ×3 or p99 over ×2, and any loss at 256 rooms are each named."""
    check = _module("latency").check_targets
    assert check([_summary("vitalwatch", 64, 2, 7), _summary("relay", 64, 1, 5),
                  _summary("vitalwatch", 256, 2.9, 9.9), _summary("relay", 256, 1, 5)]) == []
    missed = check([_summary("vitalwatch", 64, 2, 60), _summary("relay", 64, 1, 45),
                    _summary("vitalwatch", 256, 3.5, 11, lost=4), _summary("relay", 256, 1, 5)])
    assert "256 monitors: 4 messages lost (target: none)" in missed
    assert sum("64 monitors" in m and "target ≤ 50 ms" in m for m in missed) == 3
    assert sum("64 monitors" in m and "×1.5" in m for m in missed) == 0  # 60 ≤ 1.5 × 45
    assert sum("256 monitors" in m and "p50" in m and "×3" in m for m in missed) == 3
    assert sum("256 monitors" in m and "p99" in m and "×2" in m for m in missed) == 3
