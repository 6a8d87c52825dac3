"""What the recording tests share: recordings to stream, and the replay and export commands run
as a person would run them (real subprocesses against a real server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from monitors import basic_sim, recording
from tests.conftest import ROOT, Server, seconds

DATA = ROOT / "tests" / "data" / "physionet"
START = 1_800_000_000.0


def surge_recording(path: Path, minutes: float = 6, waveforms: bool = True) -> Path:
    """A simulated blood-pressure surge (alarms B1, B3 …) with waveforms, a dose and a note."""
    records = list(basic_sim.records("bp-surge", 3, START, minutes, waveforms=waveforms, ramp_s=60,
                                     nibp_every_s=45))
    marks = [{"type": "mark", "t": START + 20, "what": "dose", "text": "ketamine 0.5 mg/kg IV"},
             {"type": "mark", "t": START + 150, "what": "note", "text": "patient talking"}]
    records = sorted(records + marks, key=lambda r: r["t"])  # stable: marks after same-time readings
    recording.write(path, recording.Header(room="Room 7", monitor_id="sim-7", mode="test", start=START),
                    records)
    return path


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=seconds(timeout))


def replay(server: Server, file: Path, *extra: str, monitor_id: str = "replay-sim-7",
           speed: float = 1000) -> subprocess.CompletedProcess[str]:
    """``vitalwatch replay`` into ``server`` with a device token for ``monitor_id``."""
    return cli("replay", str(file), "--server", server.ws, "--speed", str(speed),
               "--token", server.device_token(monitor_id), *extra)


def relative(rows: list[dict[str, Any]], t0: float, *keys: str) -> list[tuple]:
    """Rows as tuples with their time made relative to ``t0`` (to the microsecond)."""
    return [(round(r["t"] - t0, 6), *(r[k] for k in keys)) for r in rows]
