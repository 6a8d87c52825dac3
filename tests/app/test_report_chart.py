"""The report's trend chart when its browser cannot be started: a real server whose BROWSER_PATH
points at nothing, then at Debian's chromium."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pypdf
import pytest

from tests.app.helpers import RawMonitor, numerics
from tests.conftest import SSL_CONTEXT, Server, free_port, seconds


@pytest.fixture
def browser_link(tmp_path: Path) -> Path:
    """Where the server looks for its browser: nothing there until the test puts a link."""
    return tmp_path / "bin" / "chromium"


@pytest.fixture
def server(tmp_path: Path, browser_link: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("BROWSER_PATH", str(browser_link))  # the server process inherits it
    srv = Server(free_port(), tmp_path / "data").start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def _get(server: Server, path: str) -> httpx.Response:
    r = httpx.get(f"{server.http}{path}", headers=server.headers(), timeout=seconds(60), verify=SSL_CONTEXT)
    assert r.status_code == 200, r.text
    return r


def test_a_missing_browser_leaves_a_labelled_box_counted_and_the_next_report_retries(
        server: Server, browser_link: Path) -> None:
    """With no browser at BROWSER_PATH the PDF and HTML report still render, with "trend chart
    unavailable: <reason>" where the chart would be; each failure is logged and counted in
    /api/health; once the browser is there, the next report has its chart."""
    mon = RawMonitor(server, monitor_id="mon-c", room="Room C", mode="test")
    t0 = time.time() - 600
    for i in range(5):
        assert mon.send(numerics(i + 1, t0 + 60 * i, HR=70.0 + i, SpO2=98.0, RR=14.0))["type"] == "ack"
    mon.close()
    sid = next(s["id"] for s in server.get("/api/sessions") if s["room"] == "Room C")  # type: ignore[union-attr]

    reason = f"trend chart unavailable: no browser at {browser_link}"
    pdf = _get(server, f"/api/sessions/{sid}/report.pdf").content
    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    # The PDF may wrap the long path at a "/": compare without the spaces extraction puts there.
    assert reason.replace(" ", "") in text.replace(" ", "") and "Trend" in text and "REMS Patient Monitoring Form" in text
    page = _get(server, f"/api/sessions/{sid}/report.html").text
    assert f'<p id="trend" class="chart-note unavailable">{reason}' in page and "<svg" not in page
    charts = server.get("/api/health")["report_charts"]  # type: ignore[index]
    assert charts["failed"] == 2 and charts["exported"] == 0 and not charts["running"]
    assert charts["starts"] == 2  # each report tried to start the browser again
    assert str(browser_link) in charts["last_error"]
    assert server.log.read_text().count("chart export failed") == 2

    browser_link.parent.mkdir()
    os.symlink("/usr/bin/chromium", browser_link)
    page = _get(server, f"/api/sessions/{sid}/report.html").text
    assert '<figure id="trend"><svg class="main-svg"' in page and "trend chart unavailable" not in page
    charts = server.get("/api/health")["report_charts"]  # type: ignore[index]
    assert charts["failed"] == 2 and charts["exported"] == 1 and charts["running"]
