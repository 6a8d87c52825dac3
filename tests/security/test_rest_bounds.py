"""Every path and query parameter of every route, walked from the app, answers absurd values
(huge, negative, zero, not a number, overlong) with a 4xx that names it, never a 5xx."""

from __future__ import annotations

import re

import httpx
import pytest

from app.accounts import ROLES
from tests.conftest import SSL_CONTEXT, Server, seconds
from tests.security.conftest import fresh_login
from tests.security.routes import Endpoint, endpoints

ENDPOINTS = [e for e in endpoints() if e.kind == "http"]
HUGE = "1" + "0" * 24  # 10^24: more than SQLite's 64-bit integers
BAD_NUMBERS = [HUGE, "-1", "-" + HUGE, str(2**53 + 1), str(2**63), "1e400", "nan", "inf", "-inf", "0x10"]
BAD_INTS = [*BAD_NUMBERS, "0", "1.5", "true"]
LONG = "x" * 5000
# Long, yet short enough (with the headers) for the HTTP layer to pass it to the app (16 KiB).
VERY_LONG = "y" * 12_000
BAD_STRINGS = [LONG, "%00", "%FF%FE", "..%2F..%2Fetc%2Fpasswd", "a%20b", "é" * 100]


def role_for(e: Endpoint) -> str | None:
    """A role that holds the endpoint's permission, so the request reaches its validation."""
    return next((r for r, perms in ROLES.items() if e.permission in perms), None)


def send(server: Server, e: Endpoint, path: str, query: dict[str, str] | None = None,
         anonymous: bool = False) -> httpx.Response:
    role = None if anonymous else role_for(e)
    # Logging out ends the login it is sent with: that one gets a login of its own.
    headers = {} if role is None else fresh_login(server, role) if "logout" in e.template else server.headers(role)
    body = {} if e.method not in {"GET", "HEAD", "OPTIONS"} else None
    try:
        return httpx.request(e.method, f"{server.http}{path}", params=query, json=body,
                             headers=headers, timeout=seconds(10), follow_redirects=False,
                             verify=SSL_CONTEXT)
    except httpx.HTTPError as err:
        raise AssertionError(f"{e.method} {path[:80]} (query {str(query)[:80]}): {err!r}") from None


def fill(e: Endpoint, name: str, value: str) -> str:
    """The endpoint's path with parameter ``name`` set to ``value`` and the others harmless."""
    path = e.template
    for where, other, kind in e.params:
        if where == "path" and other != name:
            path = path.replace("{" + other + "}", "1" if kind == "int" else "no-such-thing")
    path = path.replace("{" + name + "}", value)
    return re.sub(r"\{(\w+)(:\w+)?\}", "1", path)  # parameters a page does not declare


def cases() -> list:
    out = []
    for e in ENDPOINTS:
        for where, name, kind in e.params:
            values = {"int": BAD_INTS, "float": BAD_NUMBERS, "bool": ["maybe", LONG]}.get(kind, BAD_STRINGS)
            out.append(pytest.param(e, where, name, kind, values, id=f"{e.method} {e.template} {name}"))
    return out


@pytest.mark.parametrize(("e", "where", "name", "kind", "values"), cases())
def test_bad_parameter_values_are_a_precise_422(shared: Server, e: Endpoint, where: str, name: str,
                                                kind: str, values: list[str]) -> None:
    """Each bad value of a numeric parameter, and an overlong string, is a 422 whose detail names
    the parameter; no value at all gives a 5xx."""
    for value in values:
        if where == "path":
            r = send(shared, e, fill(e, name, value))
        else:
            r = send(shared, e, e.path, {name: value})
        assert r.status_code < 500, (value[:40], r.status_code, r.text[:300])
        if kind in ("int", "float", "bool") or value == LONG:
            assert r.status_code == 422, (value[:40], r.status_code, r.text[:300])
            detail = r.json()["detail"]
            assert any(d["loc"][-1] == name or name in d["loc"] for d in detail), detail


@pytest.mark.parametrize("e", [pytest.param(e, id=e.id) for e in ENDPOINTS])
def test_overlong_and_odd_paths_never_give_a_5xx(shared: Server, e: Endpoint) -> None:
    """Every route, with each path parameter (or the path's end) made huge, overlong or odd,
    and with an oversized query string, answers below 500."""
    paths = [e.path + suffix for suffix in ("/" + HUGE, "/" + LONG, "%00")]
    for where, name, _kind in e.params:
        if where == "path":
            paths += [fill(e, name, v) for v in (HUGE, "-1", LONG, VERY_LONG, "%00")]
    for path in paths:
        # An anonymous visitor of a page is sent to log in, with the path in the redirect.
        for anonymous in (False, True) if e.page else (False,):
            r = send(shared, e, path, anonymous=anonymous)
            assert r.status_code < 500, (path[:80], anonymous, r.status_code, r.text[:300])
    r = send(shared, e, e.path, {"junk": VERY_LONG})
    assert r.status_code < 500, (r.status_code, r.text[:300])


def test_a_session_id_of_ten_to_the_24_is_a_422(shared: Server) -> None:
    """The case that gave a 500: GET /api/sessions/10^24 is a 422 naming session_id."""
    r = httpx.get(f"{shared.http}/api/sessions/{HUGE}", headers=shared.headers("reviewer"),
                  timeout=seconds(10), verify=SSL_CONTEXT)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "session_id"]
    assert "less than or equal to" in r.json()["detail"][0]["msg"]
