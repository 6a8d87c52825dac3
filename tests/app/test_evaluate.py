"""`vitalwatch evaluate`: offline alarm evaluation, identical to what the live server decides."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from alerts.rules import load
from monitors import basic_sim, recording
from offline.evaluate import evaluate_file
from tests.conftest import ROOT, Server, wait_for


def write_recording(path: Path, profile: str, minutes: float, seed: int = 1) -> Path:
    records = list(basic_sim.records(profile, seed, 1_800_000_000.0, minutes, ramp_s=60, nibp_every_s=60))
    recording.write(path, recording.Header(room="Rec", monitor_id="rec-1", mode="test"), records)
    return path


def test_evaluate_prints_transitions_and_summary(tmp_path: Path) -> None:
    """The command prints one JSON line per alarm change, a JSON summary with rates per hour and
    per-rule counts, and a per-rule table (raised, escalated, time active) — no progress bar
    when stderr is not a terminal."""
    rec = write_recording(tmp_path / "surge.jsonl", "bp-surge", 10)
    result = subprocess.run([sys.executable, "-m", "app.cli", "evaluate", str(rec)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"t", "rule", "kind", "priority", "event"} <= set(lines[0])
    assert {(c["rule"], c["event"]) for c in lines} >= {("B1", "raised"), ("B3", "raised")}
    summary, end = json.JSONDecoder().raw_decode(result.stderr)
    assert summary["sessions"] == 1 and summary["alarms_per_hour_by_rule"]["B3"] > 0
    b3 = summary["by_rule"]["B3"]
    raised = [c for c in lines if c["rule"] == "B3" and c["event"] == "raised"]
    assert b3["raised"] == len(raised) and b3["active_s"] > 0
    table = result.stderr[end:].strip().splitlines()
    assert table[1].split() == ["rule", "raised", "escalated", "time", "active", "raised/h"]
    row = next(line.split() for line in table if line.startswith("B3 "))
    assert row[1] == str(len(raised)) and row[-1] == f"{summary['alarms_per_hour_by_rule']['B3']:g}"
    assert "\r" not in result.stderr and "records/s" not in result.stderr


def test_evaluate_refuses_a_file_that_is_not_a_recording(tmp_path: Path) -> None:
    """A file that is not a recording is named in a clear error, exit code 2."""
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    result = subprocess.run([sys.executable, "-m", "app.cli", "evaluate", str(bad)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "notes.txt: line 1: not a recording header" in result.stderr


def test_live_server_and_offline_evaluation_give_identical_transitions(server: Server, tmp_path: Path) -> None:
    """The same recording streamed through the live server and evaluated offline gives the same
    alarm changes at the same (relative) times."""
    rec = write_recording(tmp_path / "mix.jsonl", "tachycardia", 8, seed=4)
    offline = evaluate_file(rec, load()).changes
    assert len(offline) >= 2
    header, records = recording.read(rec)
    t0 = next(r["t"] for r in records)
    proc = subprocess.run(
        [sys.executable, "-c", (
            "import asyncio, sys; from monitors import recording; "
            "from monitors.adapter import Identity, Paced; from monitors.uplink import Uplink; "
            "h, recs = recording.read(sys.argv[1]); "
            "asyncio.run(Uplink(sys.argv[2], Paced(Identity('rec-1', 'Rec', 'test'), recs, speed=200), "
            "token=sys.argv[3] or None).run())"),
         str(rec), server.ws, server.device_token("rec-1")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    session = server.get("/api/sessions")[0]["id"]
    live_t0 = server.get(f"/api/sessions/{session}/readings", params="HR")["numerics"][0]["t"]
    log = [e for e in server.get(f"/api/sessions/{session}/alarm-log") if e["rule"] != "T4"]
    assert [(e["rule"], e["event"], e["state"], e["priority"], round(e["t"] - live_t0, 6)) for e in log] == \
        [(c.rule, c.event, c.state, c.priority, round(c.t - t0, 6)) for c in offline]
