"""Cross-site request forgery and cross-site websocket hijacking: a request made by another site's
page, with the user's cookie riding along, changes nothing and opens no live stream."""

from __future__ import annotations

import json

import httpx

from tests.conftest import SSL_CONTEXT, Server, seconds
from tests.security.conftest import fresh_login, handshake

EVIL = "http://evil.example"


def sessions(server: Server) -> list[dict]:
    return server.get("/api/sessions", role="reviewer")  # type: ignore[return-value]


def start(server: Server, headers: dict[str, str], room: str) -> httpx.Response:
    return httpx.post(f"{server.http}/api/sessions", json={"room": room, "mode": "test"},
                      headers=headers, timeout=seconds(10), verify=SSL_CONTEXT)


def test_state_change_needs_the_logins_csrf_token(shared: Server) -> None:
    """With the session cookie alone, a wrong token, or another login's token, starting a session
    is refused with 403 and nothing is started; with its own token it works."""
    clinician = fresh_login(shared, "clinician")
    cookie_only = {"Cookie": clinician["Cookie"]}
    wrong = {**cookie_only, "X-CSRF-Token": "not-the-token"}
    empty = {**cookie_only, "X-CSRF-Token": ""}
    others = {**cookie_only, "X-CSRF-Token": fresh_login(shared, "clinician")["X-CSRF-Token"]}
    non_ascii = {**cookie_only, "X-CSRF-Token": "t\u00e9st".encode()}  # raw UTF-8 bytes
    before = sessions(shared)
    for name, headers in [("no token", cookie_only), ("wrong", wrong), ("empty", empty),
                          ("another login's", others), ("non-ASCII", non_ascii)]:
        r = start(shared, headers, "Room CSRF")
        assert r.status_code == 403, f"{name} token: {r.status_code}"
        assert "CSRF" in r.json()["detail"]
    assert sessions(shared) == before
    r = start(shared, clinician, "Room CSRF")
    assert r.status_code == 201 and r.json()["room"] == "Room CSRF"
    assert [s["room"] for s in sessions(shared)] == [*(s["room"] for s in before), "Room CSRF"]


def test_csrf_token_is_also_needed_to_log_out_and_for_admin_changes(shared: Server) -> None:
    """Logging out and adding a device also need the token: without it the login stays and no
    device is added."""
    nurse = fresh_login(shared, "nurse")
    r = httpx.post(f"{shared.http}/api/logout", headers={"Cookie": nurse["Cookie"]}, timeout=seconds(10))
    assert r.status_code == 403
    assert httpx.get(f"{shared.http}/api/me", headers=nurse, timeout=seconds(10)).status_code == 200
    admin = fresh_login(shared, "admin")
    r = httpx.post(f"{shared.http}/api/devices", json={"name": "csrf-device", "rooms": ["Room 1"]},
                   headers={"Cookie": admin["Cookie"]}, timeout=seconds(10))
    assert r.status_code == 403
    devices = httpx.get(f"{shared.http}/api/devices", headers=admin, timeout=seconds(10)).json()
    assert "csrf-device" not in [d["name"] for d in devices]


def test_cross_origin_requests_are_refused_even_with_the_token(shared: Server) -> None:
    """A state-changing request or a login from another origin is refused with 403; the same
    origin is accepted."""
    clinician = fresh_login(shared, "clinician")
    before = sessions(shared)
    r = start(shared, {**clinician, "Origin": EVIL}, "Room Evil")
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    r = start(shared, {**clinician, "Origin": "null"}, "Room Evil")
    assert r.status_code == 403
    assert sessions(shared) == before
    r = httpx.post(f"{shared.http}/api/login", headers={"Origin": EVIL}, timeout=seconds(10),
                   json={"name": "user-nurse", "password": "password-of-nurse"})
    assert r.status_code == 403 and "vw_session" not in r.cookies
    r = start(shared, {**clinician, "Origin": shared.http}, "Room Same Origin")
    assert r.status_code == 201


def test_login_cookies_are_httponly_secure_and_strict(shared: Server) -> None:
    """The session cookie is HttpOnly, Secure and SameSite=Strict; the CSRF cookie is readable by
    the page (not HttpOnly) but equally Secure and Strict."""
    r = httpx.post(f"{shared.http}/api/login", timeout=seconds(10),
                   json={"name": "user-reviewer", "password": "password-of-reviewer"})
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    assert "httponly" in cookies["vw_session"] and "secure" in cookies["vw_session"]
    assert "samesite=strict" in cookies["vw_session"] and "path=/" in cookies["vw_session"]
    assert "httponly" not in cookies["vw_csrf"]
    assert "secure" in cookies["vw_csrf"] and "samesite=strict" in cookies["vw_csrf"]
    assert r.cookies["vw_session"].startswith("vws_") and len(r.cookies["vw_session"]) >= 40


def test_live_websocket_refuses_another_origin_before_the_cookie(shared: Server) -> None:
    """/ws/live with a valid cookie but Origin evil.example is refused at the handshake (403);
    with this server's origin it opens and sends its snapshot."""
    cookie = {"Cookie": fresh_login(shared, "nurse")["Cookie"]}
    hs = handshake(f"{shared.ws}/ws/live", {**cookie, "Origin": EVIL})
    assert hs.status == 403 and "cross-origin" in hs.body
    hs = handshake(f"{shared.ws}/ws/live", {**cookie, "Origin": shared.http})
    assert hs.status == 101 and json.loads(hs.first or "{}")["type"] == "snapshot"


def test_ingest_websocket_refuses_another_origin(shared: Server) -> None:
    """/ws/ingest with a valid device token but Origin evil.example is refused at the handshake,
    so a page elsewhere cannot feed values through a browser that holds a token."""
    token = shared.device_token("mon-origin")
    hs = handshake(f"{shared.ws}/ws/ingest", {"Authorization": f"Bearer {token}", "Origin": EVIL})
    assert hs.status == 403 and "cross-origin" in hs.body
