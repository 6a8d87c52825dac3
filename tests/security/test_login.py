"""Logging in: the rate limit on password guessing, the idle timeout (not for kiosks), disabled
users and demo accounts outside demo mode."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.accounts import Accounts
from app.store import Store
from tests.app.helpers import RawMonitor, numerics
from tests.conftest import SSL_CONTEXT, Server, free_port, password, seconds
from tests.security.conftest import fresh_login, handshake, server_db


def attempt(server: Server, name: str, pw: str, source: str = "127.0.0.1") -> httpx.Response:
    """One login from the client address ``source`` (any 127.x.y.z reaches the server)."""
    transport = httpx.HTTPTransport(local_address=source, verify=SSL_CONTEXT)
    with httpx.Client(transport=transport, timeout=seconds(20)) as c:
        return c.post(f"{server.http}/api/login", json={"name": name, "password": pw})


def audit_rows(server: Server, action: str) -> list[tuple]:
    db = sqlite3.connect(server_db(server))
    try:
        return db.execute("SELECT user, action, source, new FROM audit WHERE action=? ORDER BY id",
                          (action,)).fetchall()
    finally:
        db.close()


# The rate-limit tests share the module's server: each uses its own user names and its own client
# addresses, since the limit counts per user name and per address.


def test_sixth_attempt_after_five_failures_is_refused_even_with_the_right_password(shared: Server) -> None:
    """Five wrong passwords from one address: the sixth attempt, right password or not and for any
    user, gets 429 with Retry-After; every failure and refusal is in the audit trail."""
    _add_user(shared, "rl-one", "nurse", "right-password")
    _add_user(shared, "rl-two", "nurse", "right-password")
    for _ in range(5):
        assert attempt(shared, "rl-one", "wrong password", "127.0.1.1").status_code == 401
    r = attempt(shared, "rl-one", "right-password", "127.0.1.1")
    assert r.status_code == 429 and "vw_session" not in r.cookies
    assert 250 <= int(r.headers["retry-after"]) <= 301
    assert "too many failed logins" in r.json()["detail"]
    assert attempt(shared, "rl-two", "right-password", "127.0.1.1").status_code == 429  # per address
    failed = [row for row in audit_rows(shared, "login_failed") if row[0].startswith("rl-")]
    assert [(u, s) for u, _, s, _ in failed] == [("rl-one", "127.0.1.1")] * 5
    refused = [row for row in audit_rows(shared, "login_refused") if row[0].startswith("rl-")]
    assert [u for u, *_ in refused] == ["rl-one", "rl-two"]
    assert all("rate limit" in new for *_, new in refused)
    assert [row for row in audit_rows(shared, "login") if row[0].startswith("rl-")] == []


def test_five_failures_for_one_user_lock_that_user_from_every_address(shared: Server) -> None:
    """Guesses spread over addresses still count against the user name: after five, the right
    password from a fresh address is refused, while another user from there logs in."""
    _add_user(shared, "rl-spread", "admin", "right-password")
    for i in range(5):
        assert attempt(shared, "rl-spread", "wrong password", f"127.0.2.{10 + i}").status_code == 401
    assert attempt(shared, "rl-spread", "right-password", "127.0.2.20").status_code == 429
    assert attempt(shared, "user-nurse", password("nurse"), "127.0.2.20").status_code == 200


def test_parallel_guesses_cannot_outrun_the_limit(shared: Server) -> None:
    """Fifteen wrong passwords sent at once: at most five are checked, the rest get 429 (the check
    takes ~0.1 s off the event loop, so counting failures only after it let all fifteen through)."""
    with ThreadPoolExecutor(15) as pool:
        codes = list(pool.map(lambda i: attempt(shared, "rl-parallel", f"guess {i}", "127.0.3.1").status_code,
                              range(15)))
    assert sorted(codes) == [401] * 5 + [429] * 10
    assert len([r for r in audit_rows(shared, "login_failed") if r[0] == "rl-parallel"]) == 5


def test_a_success_clears_the_failures(shared: Server) -> None:
    """Four wrong passwords and then the right one: the count starts again, so four more wrong
    ones are still answered 401, not 429."""
    _add_user(shared, "rl-clear", "reviewer", "right-password")
    for _ in range(4):
        assert attempt(shared, "rl-clear", "wrong password", "127.0.4.1").status_code == 401
    assert attempt(shared, "rl-clear", "right-password", "127.0.4.1").status_code == 200
    for _ in range(4):
        assert attempt(shared, "rl-clear", "wrong password", "127.0.4.1").status_code == 401


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory):
    # --idle-timeout is in minutes: 0.05 min = 3 s.
    srv = Server(free_port(), tmp_path_factory.mktemp("idle") / "data", args=("--idle-timeout", "0.05"))
    srv.start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def test_idle_login_expires_but_an_active_one_and_a_kiosk_do_not(idle_server: Server) -> None:
    """With a 3 s idle timeout, a login unused for 3.6 s is over (401, pages go to /login, the live
    websocket is refused) while one used every second and a kiosk login left idle still work."""
    srv = idle_server
    idle, busy, kiosk = (fresh_login(srv, r) for r in ("clinician", "nurse", "kiosk"))

    def me(headers: dict[str, str]) -> int:
        return httpx.get(f"{srv.http}/api/me", headers=headers, timeout=seconds(10)).status_code

    assert me(idle) == 200 and me(kiosk) == 200
    deadline = time.monotonic() + 3.6
    while time.monotonic() < deadline:
        assert me(busy) == 200
        time.sleep(0.9)
    assert me(idle) == 401
    r = httpx.get(f"{srv.http}/", headers=idle, timeout=seconds(10))
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert handshake(f"{srv.ws}/ws/live", {"Cookie": idle["Cookie"]}).status == 401
    assert me(idle) == 401  # and it stays over: activity after expiry does not revive it
    assert me(busy) == 200
    assert me(kiosk) == 200
    assert handshake(f"{srv.ws}/ws/live", {"Cookie": kiosk["Cookie"]}).status == 101


def _add_user(server: Server, name: str, role: str, pw: str, demo: bool = False) -> None:
    store = Store(server_db(server))
    try:
        Accounts(store.db).add_user(name, role, pw, time.time(), demo=demo)
    finally:
        store.db.close()


def test_demo_accounts_cannot_log_in_outside_demo_mode(shared: Server) -> None:
    """A demo account in the database of a server not in demo mode is refused like a wrong
    password (401), while the same check in demo mode would accept it."""
    _add_user(shared, "demo-nurse", "nurse", "demo-pass", demo=True)
    r = attempt(shared, "demo-nurse", "demo-pass", "127.0.5.1")
    assert r.status_code == 401 and "vw_session" not in r.cookies
    store = Store(server_db(shared))
    try:
        record = Accounts(store.db).password_record("demo-nurse")
    finally:
        store.db.close()
    user = Accounts.check_password(record, "demo-pass", demo_mode=True)
    assert user is not None and user.demo and user.role == "nurse"
    assert Accounts.check_password(record, "demo-pass", demo_mode=False) is None


def test_disabling_a_user_ends_their_logins_at_once(shared: Server) -> None:
    """When an admin disables a user, that user's open login is refused at its next request and
    the user cannot log in again; other users are untouched."""
    _add_user(shared, "temp-nurse", "nurse", "temp-password")
    r = attempt(shared, "temp-nurse", "temp-password")
    cookie = {"Cookie": f"vw_session={r.cookies['vw_session']}"}
    other = fresh_login(shared, "nurse")
    assert httpx.get(f"{shared.http}/api/rooms", headers=cookie, timeout=seconds(10)).status_code == 200
    assert shared.post("/api/users/temp-nurse/disable", role="admin").status_code == 200
    assert httpx.get(f"{shared.http}/api/rooms", headers=cookie, timeout=seconds(10)).status_code == 401
    assert handshake(f"{shared.ws}/ws/live", cookie).status == 401
    assert attempt(shared, "temp-nurse", "temp-password", "127.0.6.1").status_code == 401
    assert httpx.get(f"{shared.http}/api/rooms", headers=other, timeout=seconds(10)).status_code == 200


def test_logout_ends_the_login_on_the_server(shared: Server) -> None:
    """After logout the old cookie is worthless, even if a copy of it was kept."""
    login = fresh_login(shared, "reviewer")
    r = httpx.post(f"{shared.http}/api/logout", headers=login, timeout=seconds(10))
    assert r.status_code == 200
    assert any(c.startswith("vw_session=") and "max-age=0" in c.lower()
               for c in r.headers.get_list("set-cookie"))
    assert httpx.get(f"{shared.http}/api/sessions", headers=login, timeout=seconds(10)).status_code == 401


def test_unknown_and_known_names_fail_alike(shared: Server) -> None:
    """A wrong password for a real user and any password for no user get the same answer."""
    known, unknown = (attempt(shared, name, "wrong password", source="127.0.0.30")
                      for name in ("user-clinician", "nobody-at-all"))
    assert (known.status_code, known.text) == (unknown.status_code, unknown.text) \
        == (401, '{"detail":"wrong name or password"}')


def test_an_unknown_name_costs_a_password_hash(tmp_path: Path) -> None:
    """The check of a password for no user takes as long as one for a real user (the hash is
    computed either way), so timing does not tell which names exist. The fastest of several
    interleaved runs is compared: load on the machine only ever adds time."""
    store = Store(tmp_path / "vitalwatch.sqlite3")
    try:
        accounts = Accounts(store.db)
        accounts.add_user("real", "nurse", "right-password", now=0.0)
        record = accounts.password_record("real")
    finally:
        store.db.close()
    fastest = {"known": float("inf"), "unknown": float("inf")}
    for _ in range(5):
        for kind, rec in (("known", record), ("unknown", None)):
            t = time.perf_counter()
            assert Accounts.check_password(rec, "wrong password", demo_mode=False) is None
            fastest[kind] = min(fastest[kind], time.perf_counter() - t)
    assert fastest["unknown"] > 0.5 * fastest["known"]


def test_open_streams_end_with_their_login_or_token(shared: Server) -> None:
    """A dashboard stream whose login is logged out or whose user is disabled, and a monitor
    connection whose token is revoked, are closed by the server within a few seconds."""
    _add_user(shared, "gap-nurse", "nurse", "gap-password")
    r = attempt(shared, "gap-nurse", "gap-password")
    disabled_cookie = f"vw_session={r.cookies['vw_session']}"
    logged_out = fresh_login(shared, "nurse")
    streams = [connect(f"{shared.ws}/ws/live", additional_headers={"Cookie": c}, proxy=None).__enter__()
               for c in (logged_out["Cookie"], disabled_cookie)]
    mon = RawMonitor(shared, monitor_id="mon-gap", room="Room Gap")
    assert httpx.post(f"{shared.http}/api/logout", headers=logged_out, timeout=seconds(10)).status_code == 200
    assert shared.post("/api/users/gap-nurse/disable", role="admin").status_code == 200
    assert shared.post("/api/devices/mon-gap/revoke", role="admin").status_code == 200
    deadline = time.monotonic() + seconds(4)
    open_ = {"logged-out dashboard": streams[0], "disabled user's dashboard": streams[1], "revoked monitor": mon.ws}
    seq = 1
    while open_ and time.monotonic() < deadline:
        for name, ws in list(open_.items()):
            try:
                if ws is mon.ws:
                    seq += 1
                    ws.send(json.dumps(numerics(seq, 1_800_000_000.0 + seq, HR=70)))
                ws.recv(timeout=0.2)
            except TimeoutError:
                pass
            except ConnectionClosed:
                del open_[name]
    for ws in streams:
        ws.close()
    mon.close()
    assert not open_, f"still open: {sorted(open_)}"
