"""Several instances behind Debian's HAProxy, configured by ``app.balancer``: traffic goes only to
ready instances, a lost instance is taken out within its checks, browsers stay on their
instance while it is up, and a monitor whose instance dies reconnects through the balancer to
another."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.balancer import Backend, BalancerConfig, haproxy_executable
from tests.cluster.balancer import CHECK_S, Balancer
from tests.cluster.conftest import Redis, instance
from tests.conftest import ROOT, Server, free_port, seconds, wait_for


@pytest.fixture
def balanced(tmp_path: Path, cluster: tuple[Server, Server]) -> Iterator[Balancer]:
    """Instances A and B on one bus, behind HAProxy."""
    a, b = cluster
    lb = Balancer(tmp_path / "haproxy", {"A": a, "B": b}).start()
    try:
        yield lb
    finally:
        lb.stop()


def served_by(lb: Balancer, n: int = 12) -> set[str]:
    """The instances that served ``n`` fresh browsers' first requests (no cookie yet)."""
    return {lb.instance_of(httpx.get(f"{lb.http}/livez", timeout=seconds(5))) for _ in range(n)}


def test_the_rendered_configuration_is_one_haproxy_accepts(tmp_path: Path) -> None:
    """HAProxy's own check (``haproxy -c``) accepts what app.balancer writes, with every setting
    the deployment guide relies on; a backend name HAProxy could not parse is refused first."""
    cfg = BalancerConfig(bind_port=free_port(), backends=(Backend(name="ward-a", port=8001),
                                                          Backend(name="ward-b", port=8002)))
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg.render(), encoding="utf-8")
    exe = haproxy_executable()
    assert exe, "haproxy is missing: `make test` installs Debian's (apt-get install haproxy)"
    check = subprocess.run([exe, "-c", "-f", str(path)], check=False, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    text = cfg.render()
    for line in ("http-check send meth GET uri /readyz", "balance leastconn", "timeout tunnel 3600000ms",
                 "server ward-a 127.0.0.1:8001 check cookie ward-a"):
        assert line in text
    with pytest.raises(ValidationError, match="name"):
        Backend(name="ward a; bind :80", port=8001)


def test_a_killed_instance_is_taken_out_and_its_browsers_move_to_the_other(
        balanced: Balancer, cluster: tuple[Server, Server]) -> None:
    """Both instances serve fresh browsers; a browser keeps its instance (the cookie); once A is
    killed, a browser of A's is served by B at its next request and no new browser reaches A."""
    a, _ = cluster
    assert wait_for(lambda: served_by(balanced) == {"A", "B"}, what="both instances serving")
    sticky = httpx.Cookies({"vitalwatch-instance": "A"})
    for _ in range(6):
        r = httpx.get(f"{balanced.http}/readyz", cookies=sticky, timeout=seconds(5))
        assert r.status_code == 200 and "vitalwatch-instance" not in r.cookies  # stays on A
    a.kill()
    t0 = time.monotonic()
    wait_for(lambda: served_by(balanced) == {"B"}, timeout=10 * CHECK_S + 5, what="A taken out")
    taken_out = time.monotonic() - t0
    r = httpx.get(f"{balanced.http}/readyz", cookies=sticky, timeout=seconds(5))
    assert r.status_code == 200 and balanced.instance_of(r) == "B"
    assert taken_out < seconds(5)


def test_an_instance_that_is_not_ready_gets_no_new_connections_until_it_is(tmp_path: Path) -> None:
    """B's bus (its own Redis here) is lost: B is alive (``/livez``) but not ready, and the
    balancer sends every new browser to A; when B's bus is back, B serves again."""
    redis_a = Redis(free_port(), tmp_path / "redis-a").start()
    redis_b = Redis(free_port(), tmp_path / "redis-b").start()
    a, b = instance(tmp_path, "A", redis_a.url), instance(tmp_path, "B", redis_b.url)
    lb = Balancer(tmp_path / "haproxy", {"A": a, "B": b})
    try:
        a.start()
        b.start()
        lb.start()
        assert wait_for(lambda: served_by(lb) == {"A", "B"}, what="both instances serving")
        redis_b.kill()
        wait_for(lambda: httpx.get(f"{b.http}/readyz", timeout=seconds(5)).status_code == 503,
                 what="B not ready")
        wait_for(lambda: served_by(lb) == {"A"}, timeout=10 * CHECK_S + 5, what="B taken out")
        assert httpx.get(f"{b.http}/livez", timeout=seconds(5)).text == "up"
        redis_b = Redis(redis_b.port, tmp_path / "redis-b").start()
        wait_for(lambda: served_by(lb) == {"A", "B"}, timeout=30, what="B back in")
    finally:
        lb.stop()
        for srv in (a, b):
            srv.kill(signal.SIGTERM)
        for r in (redis_a, redis_b):
            r.kill()


def share_device(monitor_id: str, a: Server, b: Server) -> str:
    """A device token valid on both instances: each has its own store here, so the token A
    issued is registered again on B's (one store shared by the instances would need neither)."""
    token = a.device_token(monitor_id)
    accounts = b._accounts()
    accounts.add_device(monitor_id, time.time(), any_room=True, token=token)
    accounts.db.close()
    return token


def room_session(srv: Server, room: str) -> dict | None:
    """The open session of ``room`` that ``srv`` itself holds, if any."""
    try:
        sessions = srv.get("/api/sessions", active=True)
    except httpx.HTTPError:
        return None
    return next((s for s in sessions if s["room"] == room), None)  # type: ignore[union-attr]


def test_a_monitor_whose_instance_dies_reconnects_through_the_balancer_to_another(
        tmp_path: Path, balanced: Balancer, cluster: tuple[Server, Server]) -> None:
    """A simulated monitor streams through the balancer into one instance; that instance is
    killed; the monitor reconnects through the balancer, lands on the other, and streams there."""
    a, b = cluster
    token = share_device("sim-room-7", a, b)
    log = tmp_path / "sim.log"
    with open(log, "ab") as out:
        sim = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "monitor", "sim", "--server", balanced.ws, "--room", "Room 7",
             "--profile", "normal", "--mode", "test", "--monitor-id", "sim-room-7", "--token", token],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        first = wait_for(lambda: next((s for s in (a, b) if room_session(s, "Room 7")), None),
                         timeout=20, what="the monitor's session on one instance")
        other = b if first is a else a
        first.kill()
        wait_for(lambda: room_session(other, "Room 7"), timeout=30,
                 what=f"the monitor's session on the other instance\n{log.read_text()}")
        sid = room_session(other, "Room 7")["id"]  # type: ignore[index]
        wait_for(lambda: other.get(f"/api/sessions/{sid}/readings")["numerics"], timeout=20,  # type: ignore[index]
                 what="readings stored on the other instance")
        assert sim.poll() is None, log.read_text()
    finally:
        sim.kill()
        sim.wait(timeout=seconds(10))


def test_the_balancer_command_prints_a_configuration_haproxy_accepts_and_names_a_bad_argument(
        tmp_path: Path) -> None:
    """``vitalwatch balancer`` writes what the deployment guide installs (checked by HAProxy itself),
    and refuses an instance it could not write, naming the option and why, with exit 2."""
    run = lambda *a: subprocess.run([sys.executable, "-m", "app.cli", "balancer", *a],  # noqa: E731
                                    cwd=ROOT, check=False, capture_output=True, text=True)
    ok = run("--listen", "127.0.0.1:8080", "--instance", "a=10.0.0.1:8000", "--instance", "b=10.0.0.2:8000")
    assert ok.returncode == 0, ok.stderr
    path = tmp_path / "haproxy.cfg"
    path.write_text(ok.stdout, encoding="utf-8")
    exe = haproxy_executable()
    assert exe
    check = subprocess.run([exe, "-c", "-f", str(path)], check=False, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "server b 10.0.0.2:8000 check cookie b" in ok.stdout
    for args, why in ((("--instance", "a b=10.0.0.1:8000"), "--instance: 'a b' is not a name"),
                      (("--instance", "a=10.0.0.1"), "--instance: '10.0.0.1' is not HOST:PORT"),
                      (("--instance", "a=h:1", "--instance", "a=h:2"), "two instances have the same name"),
                      (("--instance", "a=h:1", "--listen", "8080"), "--listen: '8080' is not HOST:PORT"),
                      (("--instance", "a=h:1", "--check-interval", "0"), "--check-interval: 0 s")):
        bad = run(*args)
        assert bad.returncode == 2 and why in bad.stderr, (args, bad.stderr)
        assert bad.stdout == ""
