"""Who may do what: authentication and permission checks for every route and websocket, CSRF and
origin checks, login rate limiting and security headers.

Everything is refused unless a route says otherwise: each API route depends on
``require(permission)``, pages on ``page(permission)``, websockets check in their handler. The
only public paths are in ``PUBLIC`` (the login page and the files it needs, and a notification's
acknowledge link, whose signed single-use token is its own authority: app/ack.py), and a test walks
every route of the app to prove that nothing else answers an anonymous or wrong-role request.
"""

from __future__ import annotations

import hmac
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from app import site_guard
from app.accounts import Accounts, Login
from app.audit import Audit

SESSION_COOKIE = "vw_session"
CSRF_COOKIE = "vw_csrf"
CSRF_HEADER = "x-csrf-token"
# /sw.js is program code like /static/ (a service worker must be served from the scope it
# controls); /api/push/receipts authenticates a phone's service worker by its device secret in
# the handler, since a service worker has no login cookie (app/push.py); /ack/ and /api/ack/ are
# a notification's acknowledge link, whose signed single-use token is the authority (app/ack.py).
PUBLIC = ("/login", "/api/login", "/static/", "/favicon.ico", "/sw.js", "/api/push/receipts",
          "/ack/", "/api/ack/",
          # A load balancer's probes (app/health.py): it has no login, and they say "up" or
          # "ready" and nothing else.
          "/livez", "/readyz")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# Scripts only from this origin and never inline; plotly.js injects its own <style> elements,
# hence 'unsafe-inline' for styles alone.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed logins per ``window_s`` per client address and per user name."""

    attempts: int = 5
    window_s: float = 300.0
    failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self.failures[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds until another attempt is allowed (0 if it is now)."""
        waits = [q[0] + self.window_s - now for k in keys
                 if len(q := self._recent(k, now)) >= self.attempts]
        return max(waits, default=0.0)

    def failed(self, keys: list[str], now: float) -> None:
        for k in keys:
            self.failures[k].append(now)

    def succeeded(self, keys: list[str]) -> None:
        for k in keys:
            self.failures.pop(k, None)


@dataclass
class Security:
    accounts: Accounts
    audit: Audit
    demo: bool = False
    idle_timeout_s: float = 7200.0
    tls: bool = False
    allowed_origins: tuple[str, ...] = ()
    limiter: LoginLimiter = field(default_factory=LoginLimiter)

    def login_of(self, cookies: dict[str, str], touch: bool = True) -> Login | None:
        return self.accounts.session(cookies.get(SESSION_COOKIE), time.time(), self.idle_timeout_s,
                                     touch=touch)

    def still_allowed(self, cookies: dict[str, str], permission: str) -> bool:
        """For an open stream: does its login still exist, unexpired, with ``permission``?"""
        login = self.login_of(cookies, touch=False)
        return login is not None and login.user.can(permission)

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        """A browser request must come from a page of this server (or a configured origin).
        Requests with no Origin at all come from programs, not from another site's page."""
        if origin is None:
            return True
        if origin in self.allowed_origins:
            return True
        return urlsplit(origin).netloc == host

    async def websocket_login(self, ws: WebSocket, permission: str) -> Login | None:
        """Check a dashboard websocket before accepting it; refuse it at the handshake with an
        HTTP status and a reason otherwise."""
        if not self.origin_ok(ws.headers.get("origin"), ws.headers.get("host")):
            await deny(ws, 403, "cross-origin websocket refused")
            return None
        login = self.login_of(ws.cookies)
        if login is None:
            await deny(ws, 401, "log in first")
            return None
        if not login.user.can(permission):
            await deny(ws, 403, f"role {login.user.role!r} may not {permission.replace('_', ' ')}")
            return None
        return login


async def deny(ws: WebSocket, status: int, reason: str) -> None:
    await ws.send_denial_response(PlainTextResponse(reason, status_code=status))


def _security(request: Request) -> Security:
    return request.app.state.security


def require(permission: str) -> Callable[[Request], Awaitable[Login]]:
    """A dependency: the request's login, which must hold ``permission``. State-changing
    requests must also carry the login's CSRF token and come from this server's pages."""

    async def dependency(request: Request) -> Login:
        sec = _security(request)
        login = sec.login_of(request.cookies)
        if login is None:
            raise HTTPException(401, "log in first")
        if not login.user.can(permission):
            raise HTTPException(403, f"role {login.user.role!r} may not {permission.replace('_', ' ')}")
        if request.method not in SAFE_METHODS:
            if not sec.origin_ok(request.headers.get("origin"), request.headers.get("host")):
                raise HTTPException(403, "cross-origin request refused")
            if not csrf_ok(request.headers.get(CSRF_HEADER), login.csrf):
                raise HTTPException(403, "missing or wrong CSRF token")
        site_guard.check(request, login)  # another site's session, alarm or monitor: a 404
        return login

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def csrf_ok(given: str | None, expected: str) -> bool:
    """The request's CSRF token is the login's, compared in constant time."""
    if not given:
        return False
    # Header values arrive decoded as latin-1, so they always encode back to it.
    return hmac.compare_digest(given.encode("latin-1"), expected.encode())


def page(permission: str) -> Callable[[Request], Awaitable[Login]]:
    """Like ``require`` for HTML pages: an anonymous visitor is sent to the login page."""

    async def dependency(request: Request) -> Login:
        login = _security(request).login_of(request.cookies)
        if login is None:
            # Quoted: the path is the visitor's, and a header must not carry its raw bytes.
            raise HTTPException(303, headers={"Location": f"/login?next={quote(request.url.path)}"})
        if not login.user.can(permission):
            raise HTTPException(403, f"role {login.user.role!r} may not see this page")
        site_guard.check(request, login)  # a room or replay page of another site's session
        return login

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def set_login_cookies(response: Response, token: str, csrf: str) -> None:
    # Secure: browsers also honour it on http://localhost, so local use works; anything else
    # needs TLS (--certfile/--keyfile, or a reverse proxy; see docs/security.md).
    response.set_cookie(SESSION_COOKIE, token, httponly=True, secure=True, samesite="strict", path="/")
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, secure=True, samesite="strict", path="/")


def clear_login_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=True, samesite="strict")


class SecurityHeaders:
    """Adds the security headers to every HTTP response, static files included."""

    def __init__(self, app: ASGIApp, tls: bool = False) -> None:
        self.app, self.tls = app, tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if self.tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
