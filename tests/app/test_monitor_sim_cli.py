"""`vitalwatch monitor sim` as a real subprocess: short scenario runs end cleanly, bad arguments
get a precise error and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, Server, free_port, seconds


def sim(server: Server | None, *args: str, monitor_id: str = "sim-short") -> subprocess.CompletedProcess:
    # Without a server the uplink would retry for ever: only an argument refused up front ends.
    where = ["--server", server.ws, "--token", server.device_token(monitor_id)] if server else \
        ["--server", f"ws://127.0.0.1:{free_port()}"]
    cmd = [sys.executable, "-m", "app.cli", "monitor", "sim", *where, "--room", "Room S",
           "--monitor-id", monitor_id, "--mode", "test", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False, text=True, timeout=seconds(60))


def test_five_minute_scenario_streams_to_its_end_with_its_dose(server: Server) -> None:
    """A 5-minute scenario run (shorter than the usual 10 pre-dose minutes) streams every second
    of it, doses half-way, and exits 0 without a traceback."""
    done = sim(server, "--scenario", "typical-responder", "--minutes", "5", "--speed", "100")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "dose at minute 2.5" in done.stderr
    session = server.get("/api/sessions")[0]["id"]
    rows = server.get(f"/api/sessions/{session}/readings", params="HR")["numerics"]
    assert len(rows) == 5 * 60
    marks = server.get(f"/api/sessions/{session}/marks")
    dose = [m for m in marks if m["what"] == "dose"]
    assert len(dose) == 1 and dose[0]["t"] - rows[0]["t"] == pytest.approx(150, abs=1)


def test_explicit_pre_dose_is_used(server: Server) -> None:
    """``--pre-dose`` places the dose that many minutes into the run."""
    done = sim(server, "--scenario", "vasovagal", "--minutes", "3", "--pre-dose", "1",
               "--speed", "100")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    session = server.get("/api/sessions")[0]["id"]
    first = server.get(f"/api/sessions/{session}/readings", params="HR")["numerics"][0]["t"]
    dose = [m for m in server.get(f"/api/sessions/{session}/marks") if m["what"] == "dose"]
    assert len(dose) == 1 and dose[0]["t"] - first == pytest.approx(60, abs=1)


@pytest.mark.parametrize(("args", "says"), [
    (("--scenario", "typical-responder", "--minutes", "5", "--pre-dose", "5"),
     "--pre-dose must be at least 0 and less than --minutes (5), got 5"),
    (("--scenario", "no-such-scenario", "--minutes", "5"), "unknown scenario 'no-such-scenario'"),
    (("--profile", "no-such-profile",), "unknown --profile 'no-such-profile'"),
    (("--minutes", "0",), "--minutes must be positive, got 0"),
    (("--speed", "-1",), "--speed must be positive, got -1"),
    (("--from", "ab:cd",), "--from must be MM:SS, got 'ab:cd'"),
])
def test_bad_arguments_get_a_precise_error(args: tuple[str, ...], says: str) -> None:
    """Each impossible ``monitor sim`` argument is named in one line on stderr, exit status 2,
    before any connection is tried."""
    done = sim(None, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"vitalwatch monitor sim: {says}")
