"""Security headers on every kind of response, pages without inline script, and logs without
secrets or health data."""

from __future__ import annotations

import re
import signal
from html.parser import HTMLParser

import httpx

from app.server import FRONTEND
from tests.app.helpers import RawMonitor, numerics
from tests.conftest import Server, password, seconds, wait_for
from tests.security.conftest import fresh_login

T0 = 1_800_000_000.0


def csp(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        if part.strip():
            name, *values = part.split()
            out[name] = values
    return out


def test_every_kind_of_response_carries_the_security_headers(shared: Server) -> None:
    """Pages, the login page, API answers and errors, redirects, static files and plotly.js all
    carry a CSP that allows scripts only from this server (nothing inline, no eval), forbids
    framing, and X-Frame-Options DENY and nosniff; no HSTS without TLS."""
    nurse = shared.headers("nurse")
    admin = shared.headers("admin")
    responses = {
        "page": httpx.get(f"{shared.http}/", headers=nurse, timeout=seconds(10)),
        "admin page": httpx.get(f"{shared.http}/admin", headers=admin, timeout=seconds(10)),
        "login page": httpx.get(f"{shared.http}/login", timeout=seconds(10)),
        "redirect": httpx.get(f"{shared.http}/sessions", timeout=seconds(10)),
        "API": httpx.get(f"{shared.http}/api/rooms", headers=nurse, timeout=seconds(10)),
        "API 401": httpx.get(f"{shared.http}/api/rooms", timeout=seconds(10)),
        "API 403": httpx.get(f"{shared.http}/api/users", headers=nurse, timeout=seconds(10)),
        "API 404": httpx.get(f"{shared.http}/api/nothing", timeout=seconds(10)),
        "static": httpx.get(f"{shared.http}/static/style.css", timeout=seconds(10)),
        "static JS": httpx.get(f"{shared.http}/static/login.js", timeout=seconds(10)),
        "plotly": httpx.get(f"{shared.http}/static/vendor/plotly.min.js", timeout=seconds(10)),
    }
    for what, r in responses.items():
        h = r.headers
        assert "content-security-policy" in h, what
        policy = csp(h["content-security-policy"])
        assert policy["script-src"] == ["'self'"], what
        assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"], what
        assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"], what
        assert not any("unsafe" in v or v in ("*", "http:", "https:", "data:")
                       for v in policy["script-src"] + policy["default-src"]), what
        assert h["x-frame-options"] == "DENY", what
        assert h["x-content-type-options"] == "nosniff", what
        assert h["referrer-policy"] == "no-referrer", what
        assert "strict-transport-security" not in h, what
    assert responses["page"].status_code == 200 and responses["redirect"].status_code == 303
    assert responses["plotly"].headers["content-type"].startswith("text/javascript")


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"inline handler {name}= on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in <{tag} {name}>")
        if tag == "script":
            src = dict(attrs).get("src")
            if not src:
                self.problems.append("inline <script>")
            elif not src.startswith("/static/"):
                self.problems.append(f"script from elsewhere: {src}")
            self.in_script = True

    def handle_endtag(self, tag: str) -> None:
        self.in_script = self.in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self.in_script and data.strip():
            self.problems.append("inline script text")


def test_pages_have_no_inline_scripts_or_handlers() -> None:
    """No page has an inline <script>, an on*= handler, a javascript: URL or a foreign script
    (the CSP would block them; this finds them before a browser does)."""
    pages = sorted(FRONTEND.glob("*.html"))
    assert {"admin.html", "sessions.html", "login.html", "index.html"} <= {p.name for p in pages}
    for page in pages:
        scan = _Scan()
        scan.feed(page.read_text())
        assert not scan.problems, f"{page.name}: {scan.problems}"


def test_scripts_never_write_html() -> None:
    """No script builds markup from strings (innerHTML, outerHTML, insertAdjacentHTML,
    document.write) or runs strings as code (eval, new Function)."""
    bad = re.compile(r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(")
    scripts = sorted(FRONTEND.glob("*.js"))
    assert {"admin.js", "sessions.js", "account.js"} <= {p.name for p in scripts}
    for script in scripts:
        found = bad.findall(script.read_text())
        assert not found, f"{script.name}: {found}"


def test_logs_carry_no_secrets_and_no_health_data(server: Server) -> None:
    """After logins (one failed), a device streaming readings that raise alarms, a refused
    message, a labelled session and a shutdown, the server log holds none of the passwords,
    tokens, values, alarm texts or labels — but does hold the monitor id, so it is not empty."""
    wrong_password = "Wrong-Secret-Pw-4711"
    assert httpx.post(f"{server.http}/api/login", json={"name": "user-nurse", "password": wrong_password},
                      timeout=seconds(10)).status_code == 401
    clinician = fresh_login(server, "clinician")
    token = server.device_token("mon-log")
    r = httpx.post(f"{server.http}/api/sessions", headers=clinician, timeout=seconds(10),
                   json={"room": "Room Log", "mode": "test", "label": "Pseudonym-Xy9"})
    assert r.status_code == 201
    mon = RawMonitor(server, monitor_id="mon-log", room="Room Log")
    values = {"HR": 163.71, "SpO2": 83.37, "RR": 7.13}
    for i in range(14):
        assert mon.send(numerics(i + 1, T0 + i, **values))["type"] == "ack"
    assert mon.send({"type": "nibp", "seq": 15, "t": T0 + 15, "status": "ok", "sys": 213.5, "dia": 107.5,
                     "map": 142.5})["type"] == "ack"
    refused = mon.send({"type": "numerics", "seq": 16, "t": T0 + 16,
                        "values": {"HR": {"value": 171.93, "unit": "furlongs"}}})
    assert refused["type"] == "error"
    alarms = wait_for(lambda: server.get("/api/alarms", role="clinician"), what="alarms")
    messages = [a["message"] for a in alarms]  # type: ignore[union-attr]
    assert any("163.7" in m for m in messages)
    mon.close()
    server.kill(signal.SIGTERM)

    log = server.log.read_text(errors="replace")
    assert "mon-log" in log
    secrets = [password("nurse"), password("clinician"), wrong_password, token, token[4:20],
               clinician["X-CSRF-Token"], clinician["Cookie"].split(";")[0].split("=", 1)[1]]
    health = ["163.7", "83.37", "7.13", "213.5", "107.5", "142.5", "171.93", "Pseudonym-Xy9",
              *messages]
    leaked = [s for s in secrets + health if s in log]
    assert not leaked, f"in the server log: {leaked}"
