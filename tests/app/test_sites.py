"""Sites: a room's site is the site its monitor's device is registered at, kept on the session
row (so history, replay and a restart keep it); site names are checked where they come in."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.app.helpers import RawMonitor, numerics
from tests.conftest import ROOT, Server, free_port, seconds

T0 = 1_800_000_000.0


def cli(server: Server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args, "--data-dir", str(server.data_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=seconds(30), check=False,
                          input=stdin)


def session_site(server: Server, session_id: int) -> str:
    db = server.db()
    try:
        return db.execute("SELECT site FROM sessions WHERE id=?", (session_id,)).fetchone()["site"]
    finally:
        db.close()


def test_a_device_registered_at_a_site_starts_its_rooms_sessions_at_that_site(server: Server) -> None:
    """`vitalwatch device add --site north` registers the device at north (`device list` says
    so); the session its hello starts is stored at north; a device added without --site is at
    the default site, "clinic"; after a restart the session row keeps its site."""
    added = cli(server, "device", "add", "mon-north", "--any-room", "--site", "north")
    assert added.returncode == 0 and added.stdout.strip().startswith("vwd_"), added.stderr
    plain = cli(server, "device", "add", "mon-plain", "--any-room")
    assert plain.returncode == 0, plain.stderr
    listed = cli(server, "device", "list").stdout
    assert "mon-north\tactive\tany room\tsite north" in listed
    assert "mon-plain\tactive\tany room\tsite clinic" in listed
    server._tokens["mon-north"] = added.stdout.strip()
    server._tokens["mon-plain"] = plain.stdout.strip()
    north = RawMonitor(server, monitor_id="mon-north", room="N-1")
    home = RawMonitor(server, monitor_id="mon-plain", room="C-1")
    assert north.send(numerics(1, T0, HR=70))["type"] == "ack"
    assert home.send(numerics(1, T0, HR=71))["type"] == "ack"
    north_sid, home_sid = north.welcome["session_id"], home.welcome["session_id"]
    assert session_site(server, north_sid) == "north"
    assert session_site(server, home_sid) == "clinic"
    north.close()
    home.close()
    server.kill(signal.SIGTERM)
    server.start()
    assert session_site(server, north_sid) == "north" and session_site(server, home_sid) == "clinic"


def test_a_site_name_that_is_no_short_lowercase_name_is_refused(server: Server) -> None:
    """A site is 1-32 lowercase letters, digits or '-': `device add --site North`, a site of 33
    characters, or `--site 'a b'` is refused (exit 2, naming the rule) and registers nothing;
    the admin API refuses the same with a 422."""
    for bad in ("North", "x" * 33, "a b", ""):
        done = cli(server, "device", "add", "mon-bad", "--any-room", "--site", bad)
        assert done.returncode == 2 and "lowercase letters, digits or '-'" in done.stderr, (bad, done.stderr)
    assert "mon-bad" not in cli(server, "device", "list").stdout
    r = server.post("/api/devices", role="admin", json={"name": "mon-bad", "any_room": True, "site": "Nope"})
    assert r.status_code == 422
    r = server.post("/api/devices", role="admin", json={"name": "mon-api", "any_room": True, "site": "east-2"})
    assert r.status_code == 201 and r.json()["site"] == "east-2"


def test_the_default_site_is_a_setting_of_the_server(tmp_path: Path) -> None:
    """`serve --default-site east`: a device registered without a site starts its sessions at
    east; a bad --default-site stops the server at start-up, naming the option."""
    srv = Server(free_port(), tmp_path / "data", args=("--default-site", "east")).start()
    try:
        mon = RawMonitor(srv, monitor_id="mon-1", room="E-1")
        assert session_site(srv, mon.welcome["session_id"]) == "east"
        mon.close()
    finally:
        srv.kill(signal.SIGTERM)
    bad = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", str(free_port()),
                          "--data-dir", str(tmp_path / "data"), "--default-site", "East"],
                         cwd=ROOT, capture_output=True, text=True, timeout=seconds(30), check=False)
    assert bad.returncode == 2 and "--default-site" in bad.stderr
