"""Browser fixtures: Debian's headless Chromium driven by Playwright, and simulated monitors.

Playwright never downloads a browser here: it drives the system Chromium through
``executable_path`` (``VITALWATCH_CHROMIUM`` overrides the path).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import ROOT, Server, password

CHROMIUM = os.environ.get("VITALWATCH_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, which would break every later test that calls asyncio.run() in the same process.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (make chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Reports Content-Security-Policy violations to the console, so that once the server sends its
# policy, a dashboard that breaks it fails these tests instead of breaking silently in a clinic.
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (e) => console.error(
  `CSP violation: ${e.violatedDirective} ${e.sourceFile}:${e.lineNumber} ${e.sample}`));
"""


@contextlib.contextmanager
def watched_page(browser: Browser, *init_scripts: str, **context_options: Any) -> Iterator[Page]:
    """A fresh page that fails the test if it throws an uncaught JavaScript error or breaks the
    server's Content-Security-Policy."""
    context = browser.new_context(**context_options)
    for script in (REPORT_CSP, *init_scripts):
        context.add_init_script(script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.text.startswith("CSP violation") else None)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh 1920×1080 watched page."""
    with watched_page(browser, viewport={"width": 1920, "height": 1080}) as page:
        yield page


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start simulated monitors as real subprocesses: ``sim(server, room, profile=...)``.
    Every one still running is killed after the test."""
    procs: list[subprocess.Popen] = []

    def start(server: Server, room: str, profile: str = "normal", mode: str = "test",
              ramp: float = 1, speed: float = 1) -> subprocess.Popen:
        log = tmp_path / f"sim-{len(procs)}.log"
        monitor_id = f"sim-{room.replace(' ', '-').lower()}"
        cmd = [sys.executable, "-m", "app.cli", "monitor", "sim", "--server", server.ws,
               "--room", room, "--profile", profile, "--ramp", str(ramp), "--speed", str(speed),
               "--mode", mode, "--monitor-id", monitor_id, "--token", server.device_token(monitor_id)]
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


def login(page: Page, server: Server, role: str = "clinician") -> None:
    """Log in through the real login page, as a person would."""
    page.goto(f"{server.http}/login")
    page.fill("#name", f"user-{role}")
    page.fill("#password", password(role))
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
