"""Every route and websocket of the app, walked from the app itself, against a real server: none
answers an anonymous caller unless it is public, and each answers exactly the roles that hold
its permission."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.accounts import ROLES
from app.security import PUBLIC
from app.server import FRONTEND
from tests.app.helpers import RawMonitor
from tests.conftest import SSL_CONTEXT, Server, seconds
from tests.security.conftest import fresh_login, handshake
from tests.security.routes import DEVICE, WEBSOCKETS, Endpoint, endpoints

ENDPOINTS = endpoints()
SAFE = {"GET", "HEAD", "OPTIONS"}
SOURCE_SUFFIXES = {".html", ".js", ".mjs", ".css", ".svg", ".ico", ".png", ".woff", ".woff2",
                   ".webmanifest"}  # the installable nurse view's manifest
MARKER_ROOM = "Room-Qx7-Marker"
# Why each public path (app.security.PUBLIC) is public: one added there fails
# test_every_public_path_says_why until its reason is written here.
PUBLIC_BECAUSE = {
    "/login": "the login page itself",
    "/api/login": "where the login page sends the name and password",
    "/static/": "program files the login page needs (none holds patient data: tested below)",
    "/favicon.ico": "asked for by every browser before any login",
    "/sw.js": "the nurse view's service worker, program code only, loaded at the root for its scope",
    "/api/push/receipts": "a service worker has no login cookie: its device secret is its authority",
    "/ack/": "a notification's acknowledge link: its signed single-use token is its authority",
    "/api/ack/": "what the acknowledge page posts, with that same token",
    "/livez": "a load balancer's liveness probe has no login; it answers 'up' and nothing else",
    "/readyz": "a load balancer's readiness probe has no login; 'ready' or 'not ready', nothing else",
}


def params(selection: list[Endpoint]) -> list:
    return [pytest.param(e, id=e.id) for e in selection]


def request(server: Server, e: Endpoint, headers: dict[str, str] | None = None) -> httpx.Response:
    """Send ``e``'s request as a program would; state-changing requests carry an empty JSON
    object, so a permitted one fails validation instead of changing anything."""
    body = {} if e.method not in SAFE else None
    return httpx.request(e.method, f"{server.http}{e.path}", json=body, headers=headers or {},
                         timeout=seconds(10), follow_redirects=False, verify=SSL_CONTEXT)


def ws_url(server: Server, e: Endpoint) -> str:
    return f"{server.ws}{e.path}"


# The walk itself -------------------------------------------------------------------------------


def test_walk_finds_every_kind_of_route() -> None:
    """The walk sees API routes of included routers, pages, websockets and each static file."""
    ids = {e.id for e in ENDPOINTS}
    assert {"GET /api/rooms", "POST /api/users", "GET /", "GET /admin", "WS /ws/live",
            "WS /ws/ingest", "GET /static/login.js", "GET /static/vendor/plotly.min.js"} <= ids
    assert len(ENDPOINTS) > 40


def test_every_public_path_says_why() -> None:
    """Every path that answers without a login is listed with the reason it may."""
    assert set(PUBLIC) == set(PUBLIC_BECAUSE)


def test_every_websocket_declares_who_may_use_it() -> None:
    """A websocket checks its caller in its handler; each must be listed with its permission."""
    found = {e.template for e in ENDPOINTS if e.kind == "websocket"}
    assert found == set(WEBSOCKETS), "declare who may use each websocket in tests/security/routes.py"


@pytest.mark.parametrize("e", params([e for e in ENDPOINTS if e.kind == "http" and not e.public]))
def test_every_protected_route_names_one_permission(e: Endpoint) -> None:
    """Every route outside PUBLIC depends on require() or page() with exactly one permission."""
    assert len(e.permissions) == 1, f"{e.id} depends on no require()/page() permission"
    assert any(e.permission in perms for perms in ROLES.values()), f"{e.permission} belongs to no role"


# Anonymous callers ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", params([e for e in ENDPOINTS if e.kind != "static"]))
def test_anonymous_is_refused_everywhere_but_public_paths(shared: Server, e: Endpoint) -> None:
    """Without a login every route refuses (401, or 303 to /login for pages; websockets refuse the
    handshake), except the public login page, login API, static files, favicon and a
    notification's acknowledge link (whose token is its authority)."""
    if e.kind == "websocket":
        hs = handshake(ws_url(shared, e))
        assert hs.status in (401, 403), f"{e.id} accepted an anonymous websocket"
        return
    r = request(shared, e)
    if e.public:
        assert r.status_code < 500 and r.status_code not in (401, 403), f"{e.id}: {r.status_code}"
    elif e.page:
        assert r.status_code == 303, f"{e.id} answered {r.status_code}, not a redirect to /login"
        assert r.headers["location"] == f"/login?next={e.path}"
        assert len(r.content) < 64  # "See Other", nothing of the page
    else:
        assert r.status_code == 401, f"{e.id} answered {r.status_code} to an anonymous request"


def test_anonymous_unknown_paths_and_traversal_get_nothing(shared: Server) -> None:
    """Paths outside the routes (FastAPI's API documentation among them), and attempts to climb
    out of /static, answer 404."""
    for path in ("/api/nothing", "/docs", "/redoc", "/openapi.json", "/data/vitalwatch.sqlite3", "/static/../app/security.py",
                 "/static/%2e%2e/app/security.py", "/static/..%2fpyproject.toml"):
        r = httpx.get(f"{shared.http}{path}", timeout=seconds(10), verify=SSL_CONTEXT)
        assert r.status_code == 404, path
        assert b"PUBLIC" not in r.content and b"[project]" not in r.content


@pytest.mark.parametrize("e", [pytest.param(e, id=e.id) for e in ENDPOINTS if e.kind == "static"])
def test_public_static_files_are_program_files(e: Endpoint) -> None:
    """Everything under /static is part of the program (HTML, JS, CSS, images): no database,
    recording, log or export can be reached without a login."""
    rel = Path(e.path.removeprefix("/static/"))
    assert rel.suffix in SOURCE_SUFFIXES, f"{e.path} is not a program file"
    head = (FRONTEND / rel).read_bytes()[:64]
    assert not head.startswith(b"SQLite format 3") and not head.startswith(b"\x1f\x8b")


def test_public_files_carry_no_patient_data(shared: Server) -> None:
    """With a session stored, no public path, fetched anonymously, shows anything of it, and the
    server's data directory is not inside the directory served as /static."""
    mon = RawMonitor(shared, monitor_id="mon-marker", room=MARKER_ROOM)
    mon.send({"type": "numerics", "seq": 1, "t": 1_800_000_000.0,
              "values": {"HR": {"value": 71, "unit": "/min"}}})
    mon.close()
    assert not shared.data_dir.resolve().is_relative_to(FRONTEND.resolve())
    public = [e for e in ENDPOINTS if e.public and e.method == "GET"]
    assert len(public) > 10
    for e in public:
        r = httpx.get(f"{shared.http}{e.path}", timeout=seconds(10), follow_redirects=True,
                      verify=SSL_CONTEXT)
        # The acknowledge page of a link that is not genuine says so (400); the rest answer 200.
        assert r.status_code == (400 if e.template.startswith("/ack/") else 200), e.id
        assert MARKER_ROOM.encode() not in r.content, f"{e.path} shows a stored room"


# Every role -----------------------------------------------------------------------------------

MATRIX = [e for e in ENDPOINTS if e.kind != "static"]
MATRIX.append(next(e for e in ENDPOINTS if e.kind == "static"))  # the mount, by one of its files


@pytest.fixture(scope="module")
def logins(shared: Server) -> dict[str, dict[str, str]]:
    return {role: fresh_login(shared, role) for role in ROLES}


@pytest.mark.parametrize("e", params(MATRIX))
def test_role_matrix(shared: Server, logins: dict[str, dict[str, str]], e: Endpoint) -> None:
    """Each role is let through (any answer but 401/403/5xx) exactly when it holds the route's
    permission, and gets 403 otherwise; public routes let every role through."""
    if e.kind == "websocket":
        wrong = {}
        for role in ROLES:
            hs = handshake(ws_url(shared, e), {"Cookie": logins[role]["Cookie"]})
            if e.permission == DEVICE:  # a login is not a device token, whatever the role
                ok = hs.status == 401
            else:
                ok = (hs.status == 101) if e.permission in ROLES[role] else (hs.status == 403)
            if not ok:
                wrong[role] = hs.status
        assert not wrong, f"{e.id} (needs {e.permission}): {wrong}"
        return
    assert e.public or e.permission is not None, f"{e.id} names no permission"
    wrong = {}
    for role in ROLES:
        r = request(shared, e, logins[role])
        allowed = e.public or e.permission in ROLES[role]
        ok = (r.status_code not in (401, 403) and r.status_code < 500) if allowed else r.status_code == 403
        if not ok:
            wrong[role] = f"{r.status_code} {r.text[:80]}"
        if e.method not in SAFE and httpx.get(f"{shared.http}/api/me", headers=logins[role],
                                              timeout=seconds(10), verify=SSL_CONTEXT).status_code == 401:
            logins[role] = fresh_login(shared, role)  # that request ended the login (logout)
    assert not wrong, f"{e.id} (needs {e.permission}): {wrong}"
