"""/livez and /readyz: what a load balancer probes, without a login, and all they reveal."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx

from app.server import Settings, create_app
from tests.conftest import ROOT, SSL_CONTEXT, Server, free_port, seconds


def probe(server: Server, path: str) -> httpx.Response:
    return httpx.get(f"{server.http}{path}", timeout=seconds(5), verify=SSL_CONTEXT)


def test_probes_answer_anonymously_with_one_word(server: Server) -> None:
    """Without a login, /livez answers 200 "up" and /readyz 200 "ready" (no bus configured), in
    plain text, with no cookie, no software name and nothing else in the body."""
    for path, word in (("/livez", "up"), ("/readyz", "ready")):
        r = probe(server, path)
        assert (r.status_code, r.text) == (200, word)
        assert r.headers["content-type"].startswith("text/plain")
        assert "set-cookie" not in r.headers and "server" not in r.headers
        assert r.headers["cache-control"] == "no-store"


def test_an_instance_whose_bus_is_unreachable_is_alive_but_not_ready(tmp_path: Path) -> None:
    """An instance started with a --bus nothing answers on still starts and serves (alive), and
    says "not ready" (503) while its bus is not connected."""
    srv = Server(free_port(), tmp_path / "data",
                 args=("--bus", f"redis://127.0.0.1:{free_port()}/0")).start()
    try:
        assert (probe(srv, "/livez").status_code, probe(srv, "/livez").text) == (200, "up")
        r = probe(srv, "/readyz")
        assert (r.status_code, r.text) == (503, "not ready")
        assert srv.get("/api/health")["bus"]["connected"] is False
    finally:
        srv.kill()


def test_readyz_says_not_ready_when_the_store_does_not_answer(tmp_path: Path) -> None:
    """The application's store closed under it: /readyz answers 503 "not ready", /livez "up"."""
    app = create_app(Settings(data_dir=tmp_path))
    app.state.pipeline.store.db.close()

    async def get(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://vitalwatch") as client:
            return await client.get(path)

    assert (asyncio.run(get("/readyz")).status_code, asyncio.run(get("/readyz")).text) == (503, "not ready")
    assert asyncio.run(get("/livez")).text == "up"


def test_a_bus_url_that_is_none_stops_the_server(tmp_path: Path) -> None:
    """``serve --bus`` with something other than a Redis URL refuses to start (exit 2), naming
    the option and why, without repeating the URL (it may hold a password): an instance meant
    for the bus must not run alone unnoticed."""
    done = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", str(free_port()),
                           "--data-dir", str(tmp_path), "--bus", "http://user:secret-pw@127.0.0.1:6379"],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=seconds(30))
    assert done.returncode == 2, done.stderr
    assert "--bus" in done.stderr and "no Redis URL" in done.stderr
    assert "secret-pw" not in done.stderr  # a URL may hold the Redis password: never repeated
