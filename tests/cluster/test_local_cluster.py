"""``vitalwatch cluster`` (``make cluster``): Redis, instances behind HAProxy and simulated monitors
through it, as real processes on one machine; killing an instance moves its monitors to another."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, seconds, wait_for


@dataclass
class Launched:
    proc: subprocess.Popen
    lines: list[str]
    password: str
    pids: dict[str, int]
    urls: dict[str, str]


def read_until_ready(proc: subprocess.Popen) -> list[str]:
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Kill an instance"):
            return lines
    raise AssertionError(f"vitalwatch cluster ended before it was up: {lines}\n{proc.stderr.read() if proc.stderr else ''}")


@pytest.fixture
def launched() -> Iterator[Launched]:
    # Not in pytest's tmp_path, which only root may enter: PostgreSQL runs as its own user.
    data = Path(tempfile.mkdtemp(prefix="vitalwatch-cluster-"))
    data.chmod(0o755)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "cluster", "--port", str(free_port()),
                             "--instances", "2", "--rooms", "2", "--data-dir", str(data / "cluster")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = read_until_ready(proc)
        password = re.search(r"with password (\S+)$", lines[0]).group(1)  # type: ignore[union-attr]
        parts = [re.match(r"\s+(.+?)\s+pid (\d+)\s+(\S+)", line) for line in lines[1:-1]]
        yield Launched(proc, lines, password, {m.group(1): int(m.group(2)) for m in parts if m},
                       {m.group(1): m.group(3) for m in parts if m})
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=seconds(30))
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(data, ignore_errors=True)


def login(url: str, password: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/api/login", json={"name": "clinician", "password": password}, timeout=seconds(5))
    return {"Cookie": f"vw_session={answer.cookies['vw_session']}"}


def own_rooms(url: str, cookie: dict[str, str]) -> dict[str, int]:
    """The rooms whose sessions the instance at ``url`` itself runs, with their session ids (its
    own rooms' snapshot, not the bus's view of the others)."""
    try:
        rooms = httpx.get(f"{url}/api/rooms", headers=cookie, timeout=seconds(5)).json()
        return {r["room"]: r["session_id"] for r in rooms if r["session_id"] > 0}
    except (httpx.HTTPError, KeyError):
        return {}


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs. An exited process nobody has reaped yet (PostgreSQL, which
    pg_ctl detached, waits for this machine's init) is a zombie: it does not run."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_cluster_starts_survives_a_killed_instance_and_stops_whole(launched: Launched) -> None:
    """Every part is up and named with its pid; the balancer answers ready and both monitors
    stream through it into the instances, both on one PostgreSQL; the clinician's printed
    password logs in through it, and that one login is valid on each instance; when the instance
    running Room 1 is killed, the launcher says so, Room 1's monitor reconnects through the
    balancer and the other instance goes on with the same session (its lease taken over, the
    readings stored before the kill in the shared store); a SIGTERM to the launcher stops every
    part."""
    lb = launched.urls["haproxy"]
    assert set(launched.pids) == {"postgresql", "redis", "instance a", "instance b", "haproxy",
                                  "monitor Room 1", "monitor Room 2"}
    assert httpx.get(f"{lb}/readyz", timeout=seconds(5)).text == "ready"
    cookie = login(lb, launched.password)  # one login, valid on every instance (the shared store)
    a, b = launched.urls["instance a"], launched.urls["instance b"]
    wait_for(lambda: own_rooms(a, cookie).keys() | own_rooms(b, cookie).keys()
             == {"Room 1", "Room 2"}, timeout=20, what="both rooms streaming")
    holder, other = ("instance a", b) if "Room 1" in own_rooms(a, cookie) else ("instance b", a)
    session = own_rooms(launched.urls[holder], cookie)["Room 1"]

    def hr_times(url: str) -> list[float]:
        answer = httpx.get(f"{url}/api/sessions/{session}/readings", params=[("params", "HR")],
                           headers=cookie, timeout=seconds(5))
        assert answer.status_code == 200, answer.text
        return sorted(r["t"] for r in answer.json()["numerics"])

    before = wait_for(lambda: hr_times(launched.urls[holder]), what="Room 1's readings stored")
    os.kill(launched.pids[holder], signal.SIGKILL)
    assert launched.proc.stdout is not None
    assert f"vitalwatch cluster: {holder} stopped (exit -9)" in launched.proc.stdout.readline()
    wait_for(lambda: own_rooms(other, cookie).get("Room 1") == session, timeout=30,
             what="Room 1's session going on on the other instance")
    assert set(before) <= set(hr_times(other))  # what the killed one stored, in the same session
    launched.proc.send_signal(signal.SIGTERM)
    assert launched.proc.wait(timeout=seconds(30)) == 0
    for name, pid in launched.pids.items():
        assert not alive(pid), f"{name} (pid {pid}) still runs"


def test_the_cluster_refuses_a_data_dir_of_an_earlier_run(tmp_path: Path) -> None:
    """An earlier run's directory holds a password and tokens the launcher no longer knows: it is
    refused with what to do, before anything starts."""
    (tmp_path / "cluster" / "a").mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "app.cli", "cluster", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "cluster")], cwd=ROOT, check=False,
                          capture_output=True, text=True, timeout=seconds(30))
    assert done.returncode == 1
    assert "holds an earlier run" in done.stderr and "remove it, or give another --data-dir" in done.stderr
