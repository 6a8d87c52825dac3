"""Time the simulator: one session of each scenario, without and with waveforms.

    .venv/bin/python bench/simulate.py [--minutes 90] [--repeat 3] [--json]

Each figure is the best of ``--repeat`` runs of ``generate()`` plus iterating over every record
(with ``--json`` also serialising each record, as writing a recording file would). The multiple
of real time is the session length divided by that time. Goals: ≥ 1000× without waveforms,
≥ 100× with them.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from monitors.simulator import SCENARIOS, generate


def run(scenario: str, minutes: float, waveforms: bool, serialise: bool) -> tuple[float, int]:
    begin = time.perf_counter()
    _, records = generate(scenario, 1, minutes=minutes, waveforms=waveforms)
    count = 0
    for rec in records:
        if serialise:
            json.dumps(rec, separators=(",", ":"), allow_nan=False)
        count += 1
    return time.perf_counter() - begin, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=90.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also serialise every record to JSON")
    args = parser.parse_args()

    print(f"python {platform.python_version()} on {platform.machine()}, {args.minutes:g}-minute sessions, "
          f"best of {args.repeat}{', with JSON serialisation' if args.json else ''}")
    print(f"{'scenario':<20} {'waveforms':>9} {'records':>8} {'seconds':>8} {'× real time':>12}")
    worst = {False: float("inf"), True: float("inf")}
    for scenario in SCENARIOS:
        for waveforms in (False, True):
            best, count = min(run(scenario, args.minutes, waveforms, args.json) for _ in range(args.repeat))
            multiple = args.minutes * 60 / best
            worst[waveforms] = min(worst[waveforms], multiple)
            shown = "yes" if waveforms else "no"
            print(f"{scenario:<20} {shown:>9} {count:>8} {best:>8.3f} {multiple:>11.0f}×")
    print(f"slowest: {worst[False]:.0f}× without waveforms (goal 1000×), "
          f"{worst[True]:.0f}× with waveforms (goal 100×)")


if __name__ == "__main__":
    main()
