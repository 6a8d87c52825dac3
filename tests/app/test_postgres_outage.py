"""PostgreSQL stopped and started again under a streaming monitor: while it is down nothing is
acknowledged (an ack means stored), the server reconnects by itself once it is back, the
monitor's resend fills the gap, and every acknowledged seq is in the database exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from tests.app.helpers import numerics
from tests.conftest import SSL_CONTEXT, Server, free_port, seconds
from tests.postgres import Postgres

T0 = 1_800_000_000.0
N = 300  # messages, sent lock-step: ~6 s of streaming at the pace below
EVERY_S = 0.02


class _Monitor:
    """A monitor that keeps its messages until acknowledged and, after any disconnect,
    reconnects and resends from the seq after the welcome's ``last_seq`` (as monitors/uplink.py
    does), recording when each ack arrived."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.token = server.device_token("pg-1")
        self.stream = uuid.uuid4().hex
        self.acks: list[tuple[int, float]] = []  # (seq, monotonic time)
        self.connections = 0

    async def run(self) -> None:
        while not self.acks or self.acks[-1][0] < N:
            try:
                await self._connection()
            except (TimeoutError, OSError, Exception):  # noqa: BLE001 - any end: reconnect
                await asyncio.sleep(0.1)

    async def _connection(self) -> None:
        async with connect(f"{self.server.ws}/ws/ingest", additional_headers={
                "Authorization": f"Bearer {self.token}"}) as ws:
            await ws.send(json.dumps({"type": "hello", "seq": 0, "protocol": 1, "monitor_id": "pg-1",
                                      "stream": self.stream, "room": "Room 1", "mode": "test"}))
            welcome = json.loads(await asyncio.wait_for(ws.recv(), seconds(5)))
            assert welcome["type"] == "welcome", welcome
            self.connections += 1
            for seq in range(welcome["last_seq"] + 1, N + 1):
                await ws.send(json.dumps(numerics(seq, T0 + seq, HR=60 + seq % 40)))
                answer = json.loads(await asyncio.wait_for(ws.recv(), seconds(5)))
                assert answer == {"type": "ack", "seq": seq}, answer
                self.acks.append((seq, time.monotonic()))
                await asyncio.sleep(EVERY_S)


def _ready(server: Server) -> int:
    return httpx.get(f"{server.http}/readyz", timeout=seconds(10), verify=SSL_CONTEXT).status_code


def test_postgres_restart_mid_stream_acknowledges_only_what_is_stored(
        tmp_path: Path, postgres: Postgres, postgres_url: str) -> None:
    """A monitor streams into a server on PostgreSQL; PostgreSQL is stopped a third of the way
    in and started again 2 s later. No ack arrives while it is down (and /readyz says 503); the
    stream then completes on its own (server reconnected, monitor resent), and the numerics
    table holds each of the N readings exactly once (every acknowledged one among them), with
    the stream's last seq at N."""
    server = Server(free_port(), tmp_path / "data", database=postgres_url).start()
    monitor = _Monitor(server)
    down: list[float] = []
    ready: list[int] = []

    async def outage() -> None:
        while len(monitor.acks) < N // 3:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(postgres.stop, "fast")
        down.append(time.monotonic())
        acks_when_down = len(monitor.acks)
        await asyncio.sleep(1)
        ready.append(await asyncio.to_thread(_ready, server))
        await asyncio.sleep(1)
        assert len(monitor.acks) <= acks_when_down + 1, "acknowledged while PostgreSQL was down"
        down.append(time.monotonic())
        await asyncio.to_thread(postgres.start)

    async def run() -> None:
        await asyncio.gather(monitor.run(), outage())

    try:
        try:
            asyncio.run(asyncio.wait_for(run(), seconds(60)))
        finally:
            if not postgres.running():
                postgres.start()
        ready.append(_ready(server))
    finally:
        server.kill(signal.SIGTERM)
    stopped, restarted = down
    assert ready == [503, 200]  # /readyz: the store unreachable, then reachable again
    # An ack in flight as the stop returned may land a moment later; none after that.
    late = [seq for seq, t in monitor.acks if stopped + seconds(0.5) < t < restarted]
    assert not late, f"acknowledged while PostgreSQL was down: {late}"
    assert monitor.connections >= 2  # the outage did cut the stream
    db = server.db()
    try:
        ts = [r["t"] for r in db.execute("SELECT t FROM numerics ORDER BY t")]
        last = db.execute("SELECT last_seq FROM streams WHERE monitor_id='pg-1'").fetchone()["last_seq"]
    finally:
        db.close()
    # Every reading once: stored once each, whether its ack arrived or was lost with the
    # connection (a message stored as the connection broke is acknowledged by the welcome's
    # last_seq instead, and not sent again).
    assert ts == [T0 + seq for seq in range(1, N + 1)], "a reading missing or stored twice"
    acked = [seq for seq, _ in monitor.acks]
    assert len(acked) == len(set(acked)) and set(acked) <= set(range(1, N + 1))
    assert last == N
