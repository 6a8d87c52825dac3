"""`vitalwatch evaluate`: offline alarm evaluation, identical to what the live server decides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from alerts.rules import load
from monitors import basic_sim, recording
from offline.evaluate import evaluate_file
from tests.conftest import ROOT, Server, seconds


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
                            capture_output=True, text=True, check=False, timeout=60)
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
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 2 and "notes.txt: line 1: not a recording header" in result.stderr


def stream(server: Server, rec: Path, monitor: str, mode: str, speed: float) -> None:
    """Stream a recording through the server as monitor ``monitor``, paced at ``speed``."""
    proc = subprocess.run(
        [sys.executable, "-c", (
            "import asyncio, sys; from monitors import recording; "
            "from monitors.adapter import Identity, Paced; from monitors.uplink import Uplink; "
            "h, recs = recording.read(sys.argv[1]); "
            "asyncio.run(Uplink(sys.argv[2], Paced(Identity(sys.argv[4], 'Rec', sys.argv[5]), recs, "
            "speed=float(sys.argv[6])), token=sys.argv[3] or None).run())"),
         str(rec), server.ws, server.device_token(monitor), monitor, mode, str(speed)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=seconds(180))
    assert proc.returncode == 0, proc.stderr


def live_and_offline(server: Server, rec: Path, speed: float) -> tuple[list[tuple], list[tuple]]:
    """The alarm changes (T4 aside) a server logs for the recording streamed into it, and those
    evaluate gives, each timed from the recording's first numerics."""
    offline = evaluate_file(rec, load()).changes
    _, records = recording.read(rec)
    t0 = next(r["t"] for r in records if r["type"] == "numerics")
    stream(server, rec, "rec-1", "replay", speed)
    session = server.get("/api/sessions")[0]["id"]
    live_t0 = server.get(f"/api/sessions/{session}/readings", params="HR")["numerics"][0]["t"]
    log = [e for e in server.get(f"/api/sessions/{session}/alarm-log") if e["rule"] != "T4"]
    return ([(e["rule"], e["event"], e["state"], e["priority"], round(e["t"] - live_t0, 3)) for e in log],
            [(c.rule, c.event, c.state, c.priority, round(c.t - t0, 3)) for c in offline])


def numerics(t: float, hr: float | None, spo2: float | None) -> dict:
    return {"type": "numerics", "t": t, "values": {
        "HR": {"value": hr, "unit": "/min"}, "PR": {"value": hr, "unit": "/min"},
        "SpO2": {"value": spo2, "unit": "%"}, "RR": {"value": 14, "unit": "/min"}}}


def test_live_equals_offline_on_a_sparse_trend_with_a_quiet_gap(server: Server, tmp_path: Path) -> None:
    """A 1-a-minute trend (a dose mark, a run of "no value", four minutes with no record at all)
    streamed through a live server gives exactly the alarm changes evaluate gives, including
    those only the clock ticks between records raise: the vital-signs-absent alarm of the silent
    gap (V1, on its 10 s delay after the values went stale) and the overdue cuff reading (T3)."""
    t0 = 1_800_000_000.0
    records: list[dict] = [{"type": "mark", "t": t0 + 60, "what": "dose", "text": "test"}]
    for minute in range(26):
        if 10 <= minute < 14:  # the quiet gap: nothing at all
            continue
        blank = 4 <= minute < 7  # the monitor shows no value
        records.append(numerics(t0 + 60 * minute, None if blank else 72, None if blank else 97))
    records.sort(key=lambda r: r["t"])
    rec = tmp_path / "trend.jsonl"
    recording.write(rec, recording.Header(room="Rec", monitor_id="rec-1", mode="replay"), records)
    live, offline = live_and_offline(server, rec, speed=30)
    assert live == offline
    raised = {(rule, t) for rule, event, _, _, t in offline if event == "raised"}
    gap_end = 9 * 60  # the last record before the gap
    # Before a second record the trend's interval is unknown: its first minute is judged as a
    # monitor's (stale after 3 s, V1 10 s later). From then on nothing is stale between records:
    # V1 comes from the second "no value" record, and once a record is missed (stale after the
    # trend's own 60 s, V1 10 s later), both found by the ticks.
    assert sorted(t for rule, t in raised if rule == "V1") == [13.5, 5 * 60, gap_end + 60.5 + 10], offline
    assert any(rule == "T3" for rule, _ in raised)


def test_live_equals_offline_for_a_device_gone_quiet(server: Server, tmp_path: Path) -> None:
    """A monitor that reports every second, then only a probe-off status and nothing else for
    14 s: the live supervisor's ticks raise the probe-off alarm (T1) after its 10 s delay at the
    same device time evaluate's ticks do."""
    t0 = 1_800_000_000.0
    records: list[dict] = [numerics(t0 + s, 72, 97) for s in range(8)]
    records.append({"type": "status", "t": t0 + 8, "code": "probe_off", "active": True})
    records.append(numerics(t0 + 22, 72, None))
    rec = tmp_path / "quiet.jsonl"
    recording.write(rec, recording.Header(room="Rec", monitor_id="rec-1", mode="replay"), records)
    live, offline = live_and_offline(server, rec, speed=1)
    assert live == offline
    # T1 pending from the status at 8 s; the ticks at 10.5, 11.5 … find its 10 s delay past at 18.5.
    assert ("T1", "raised", "active", "low", 18.5) in offline, offline


def test_live_server_and_offline_evaluation_give_identical_transitions(server: Server, tmp_path: Path) -> None:
    """The same recording streamed through the live server and evaluated offline gives the same
    alarm changes at the same (relative) times."""
    rec = write_recording(tmp_path / "mix.jsonl", "tachycardia", 8, seed=4)
    offline = evaluate_file(rec, load()).changes
    assert len(offline) >= 2
    _, records = recording.read(rec)
    t0 = next(r["t"] for r in records)
    proc = subprocess.run(
        [sys.executable, "-c", (
            "import asyncio, sys; from monitors import recording; "
            "from monitors.adapter import Identity, Paced; from monitors.uplink import Uplink; "
            "h, recs = recording.read(sys.argv[1]); "
            "asyncio.run(Uplink(sys.argv[2], Paced(Identity('rec-1', 'Rec', 'test'), recs, speed=200), "
            "token=sys.argv[3] or None).run())"),
         str(rec), server.ws, server.device_token("rec-1")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    session = server.get("/api/sessions")[0]["id"]
    live_t0 = server.get(f"/api/sessions/{session}/readings", params="HR")["numerics"][0]["t"]
    log = [e for e in server.get(f"/api/sessions/{session}/alarm-log") if e["rule"] != "T4"]
    assert [(e["rule"], e["event"], e["state"], e["priority"], round(e["t"] - live_t0, 6)) for e in log] == \
        [(c.rule, c.event, c.state, c.priority, round(c.t - t0, 6)) for c in offline]


def test_evaluate_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    """With stderr on a terminal, evaluate draws a progress bar (tqdm) there; the summary and
    table still follow. (Piped, it draws none: see the first test.)"""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios

    rec = write_recording(tmp_path / "long.jsonl", "normal", 40)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    try:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "evaluate", str(rec)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=follower)
        os.close(follower)
        shown = b""
        while True:
            ready, _, _ = select.select([leader], [], [], seconds(60))
            if not ready:
                break
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        assert proc.wait(timeout=seconds(60)) == 0
    finally:
        os.close(leader)
    text = shown.decode(errors="replace")
    assert "evaluate (1 file)" in text and "records" in text  # the bar
    assert '"by_rule"' in text and "raised/h" in text


def test_evaluate_reports_a_record_the_server_would_refuse_by_line(tmp_path: Path) -> None:
    """A record that is not a valid wire message (an impossible heart rate, an unknown unit) is
    not fed: evaluate names its line, field and reason on stderr and counts it; the rest of the
    recording is evaluated as before."""
    rec = write_recording(tmp_path / "surge.jsonl", "bp-surge", 10)
    lines = rec.read_text().splitlines()
    good = subprocess.run([sys.executable, "-m", "app.cli", "evaluate", str(rec)], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=60)
    bad = json.loads(lines[5])
    bad["values"] = {"HR": {"value": 900, "unit": "/min"}}
    odd = {"type": "status", "t": json.loads(lines[8])["t"], "code": "probe_off", "active": "yes"}
    lines[5:5] = [json.dumps(bad)]  # file line 6 (the header is line 1)
    lines[9:9] = [json.dumps(odd)]  # file line 10
    rec.write_text("\n".join(lines) + "\n")
    result = subprocess.run([sys.executable, "-m", "app.cli", "evaluate", str(rec)], cwd=ROOT,
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"{rec}: line 6: refused, not evaluated: values.HR: HR 900 /min is physiologically impossible" \
        in result.stderr
    assert f"{rec}: line 10: refused, not evaluated: active: Input should be a valid boolean" in result.stderr
    assert f"{rec}: 2 record(s) refused in all" in result.stderr
    summary, _ = json.JSONDecoder().raw_decode(result.stderr)
    assert summary["refused_records"] == 2
    assert result.stdout == good.stdout  # the refused records changed nothing else


def test_every_argument_of_the_offline_commands_has_help() -> None:
    """`vitalwatch evaluate|export|simulate --help` describes every argument: no option or
    positional is listed without a help text."""
    import re

    for command in ("evaluate", "export", "simulate"):
        result = subprocess.run([sys.executable, "-m", "app.cli", command, "--help"], cwd=ROOT,
                                capture_output=True, text=True, check=False, timeout=60,
                                env={**__import__("os").environ, "COLUMNS": "100"})
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(("positional arguments", "options")))
        bare = []
        for i, line in enumerate(lines[start:], start):
            m = re.match(r"^  (\S(?:.*?\S)?)(?:\s{2,}(\S.*))?$", line)
            if not m or line.startswith("   ") or m.group(1).startswith("-h"):
                continue
            described = m.group(2) or (i + 1 < len(lines) and lines[i + 1].startswith(" " * 6))
            if not described:
                bare.append(m.group(1))
        assert not bare, f"{command}: arguments without help: {bare}"


def test_the_offline_tools_stand_apart_from_the_server() -> None:
    """The offline package imports nothing of the server (app.*), and evaluate does not import
    the workbench that imports it (no cycle)."""
    code = ("import sys, offline.evaluate; alone = 'offline.workbench' in sys.modules; "
            "import offline.command, offline.workbench, offline.export; "
            "print(alone, sorted(m for m in sys.modules if m.split('.')[0] == 'app'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "[]"]
