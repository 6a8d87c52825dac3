"""An acknowledgement means stored, through a real server: seqs are taken in order, a gap or an
over-rate message is refused for now (named, retryable, never settled), a message refused for
good stays refused, a heartbeat's seq survives a restart, and a real uplink with a backlog
larger than the rate limit's burst gets all of it stored exactly once. Each runs on SQLite and on
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.ingest import RATE_BURST
from monitors.adapter import Identity
from monitors.protocol import MAX_SEQ
from monitors.uplink import Uplink
from tests.app.helpers import RawMonitor, numerics
from tests.conftest import Server, free_port, seconds

T0 = 1_800_000_000.0


@pytest.fixture
def server(tmp_path: Path, database: str | None) -> Iterator[Server]:
    """A fresh server on each implementation of the store (tests/postgres.py ``database``)."""
    srv = Server(free_port(), tmp_path / "data", database=database).start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def _rows(server: Server, sql: str) -> list[dict[str, Any]]:
    db = server.db()
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_a_seq_gap_is_refused_for_now_and_never_skipped(server: Server) -> None:
    """A seq ahead of the next one (even one heartbeat at 2^53 - 1) is an error naming the seq
    the stream needs, marked retryable; the stream's last seq does not move, so the messages
    that follow are stored rather than taken for duplicates."""
    mon = RawMonitor(server)
    assert mon.send(numerics(1, T0, HR=70)) == {"type": "ack", "seq": 1}
    gap = mon.send({"type": "heartbeat", "seq": MAX_SEQ, "t": T0})
    assert gap["type"] == "error" and gap["seq"] == MAX_SEQ and gap["field"] == "seq"
    assert gap["retry"] is True and gap["expected_seq"] == 2 and "resend from 2" in gap["reason"]
    assert mon.send(numerics(5, T0 + 1, HR=71))["expected_seq"] == 2
    for seq in (2, 3):
        assert mon.send(numerics(seq, T0 + seq, HR=70 + seq)) == {"type": "ack", "seq": seq}
    rows = server.get(f"/api/sessions/{mon.welcome['session_id']}/readings", params="HR")["numerics"]
    assert [r["value"] for r in rows] == [70, 72, 73]
    monitor = server.get("/api/monitors")[0]
    assert monitor["duplicates"] == 0 and monitor["refused"] == 0
    assert monitor["refused_by"] == {"deferred": 2}


def test_a_message_refused_for_good_is_never_acknowledged_later(server: Server) -> None:
    """A refused seq is settled as refused: resent on the same connection or after a reconnect
    it gets the same refusal again (never an ack), and the stream goes on after it."""
    mon = RawMonitor(server)
    assert mon.send(numerics(1, T0, HR=70))["type"] == "ack"
    first = mon.send(numerics(2, T0 + 1, SpO2=120))
    assert first["type"] == "error" and first["retry"] is False and first["seq"] == 2
    again = mon.send(numerics(2, T0 + 1, SpO2=99))
    assert again["type"] == "error" and again["seq"] == 2 and "refused when first sent" in again["reason"]
    assert mon.send(numerics(3, T0 + 2, HR=71)) == {"type": "ack", "seq": 3}
    mon.close()
    back = RawMonitor(server, stream=mon.stream)
    assert back.welcome["last_seq"] == 3
    assert back.send(numerics(1, T0, HR=70)) == {"type": "ack", "seq": 1}  # stored: ack again
    assert back.send(numerics(2, T0 + 1, SpO2=99))["type"] == "error"
    rows = server.get(f"/api/sessions/{mon.welcome['session_id']}/readings")["numerics"]
    assert [(r["param"], r["value"]) for r in rows] == [("HR", 70), ("HR", 71)]
    assert server.get("/api/monitors")[0]["refused"] == 1  # counted once


def test_over_rate_messages_are_refused_for_now_and_stored_once_resent(server: Server) -> None:
    """A burst beyond the rate limit gets refusals naming each seq with retry_after_s; none is
    acknowledged, the connection stays open (they do not count as bad messages), and resending
    from the first refused seq after the wait stores every message exactly once."""
    mon = RawMonitor(server)
    answers: list[dict[str, Any]] = []
    seq = 0
    # Batches of a whole burst, unpaced: whatever the time the server takes to answer one (a
    # loaded machine, PostgreSQL's commits), the next comes faster than the bucket refills.
    batch = int(RATE_BURST)
    while not any(a["type"] == "error" for a in answers):
        assert seq < 20 * RATE_BURST, "the server never refused for the rate"
        for _ in range(batch):
            seq += 1
            mon.ws.send(json.dumps(numerics(seq, T0 + seq, HR=60 + seq % 50)))
        answers += [mon.recv() for _ in range(batch)]
    n = seq
    acked = [a["seq"] for a in answers if a["type"] == "ack"]
    refused = [a for a in answers if a["type"] == "error"]
    assert all(a["retry"] for a in refused) and refused[0]["retry_after_s"] > 0
    assert "messages a second" in refused[0]["reason"] and refused[0]["field"] == ""
    first = refused[0]["seq"]
    assert len(acked) >= RATE_BURST and acked == list(range(1, first))
    assert [a["seq"] for a in refused] == list(range(first, n + 1))  # each refusal names its seq
    time.sleep(refused[0]["retry_after_s"])
    for seq in range(first, n + 1):
        for _ in range(50):
            answer = mon.send(numerics(seq, T0 + seq, HR=60 + seq % 50))
            if answer["type"] == "ack" or not answer["retry"]:
                break
            time.sleep(answer["retry_after_s"])  # paced too fast again: wait as told, resend
        assert answer == {"type": "ack", "seq": seq}
    ts = [r["t"] for r in _rows(server, "SELECT t FROM numerics ORDER BY t")]
    assert ts == [T0 + s for s in range(1, n + 1)]
    assert server.get("/api/monitors")[0]["refused"] == 0


def test_resume_from_records_what_the_monitor_gave_up(server: Server) -> None:
    """A hello whose resume_from is past the stream's last seq records the seqs in between as
    given up (counted, and refused if they come after all), and the stream goes on from there."""
    mon = RawMonitor(server)
    assert mon.send(numerics(1, T0, HR=70))["type"] == "ack"
    mon.close()
    from websockets.sync.client import connect

    with connect(f"{server.ws}/ws/ingest", additional_headers={
            "Authorization": f"Bearer {server.device_token('mon-1')}"}) as ws:
        ws.send(json.dumps({"type": "hello", "seq": 0, "protocol": 1, "monitor_id": "mon-1",
                            "stream": mon.stream, "room": "Room 1", "mode": "test",
                            "resume_from": 10}))
        welcome = json.loads(ws.recv(timeout=seconds(10)))
        assert welcome["last_seq"] == 9 and welcome["max_rate"] > 0
        ws.send(json.dumps(numerics(10, T0 + 10, HR=80)))
        assert json.loads(ws.recv(timeout=seconds(10))) == {"type": "ack", "seq": 10}
        ws.send(json.dumps(numerics(4, T0 + 4, HR=80)))
        late = json.loads(ws.recv(timeout=seconds(10)))
    assert late["type"] == "error" and "seqs 2–9 were given up" in late["reason"]
    assert server.get("/api/monitors")[0]["refused_by"] == {"seq": 1}


def test_a_heartbeats_seq_survives_a_restart(server: Server) -> None:
    """The stream's last seq advances with heartbeats too, durably: after SIGKILL and restart the
    welcome says so, and the next reading is taken rather than refused as a gap."""
    mon = RawMonitor(server)
    assert mon.send(numerics(1, T0, HR=70))["type"] == "ack"
    assert mon.send({"type": "heartbeat", "seq": 2, "t": T0 + 1}) == {"type": "ack", "seq": 2}
    server.kill(signal.SIGKILL)
    server.start()
    back = RawMonitor(server, stream=mon.stream)
    assert back.welcome["last_seq"] == 2
    assert back.send(numerics(3, T0 + 2, HR=71)) == {"type": "ack", "seq": 3}


class _Burst:
    """A source that has a backlog ready at once (as after an outage), then ends."""

    def __init__(self, n: int) -> None:
        self.identity = Identity("burst-1", "Room 1", "test")
        self.n = n

    async def __aiter__(self) -> Any:
        for i in range(self.n):
            yield {"type": "numerics", "t": T0 + i,
                   "values": {"HR": {"value": 60 + i % 40, "unit": "/min"}}}


def test_uplink_backlog_is_paced_and_stored_exactly_once(server: Server) -> None:
    """A real uplink with 2,000 messages ready at once (five times the rate limit's burst) sends
    them paced below the limit: no refusal at all, every message acknowledged and stored once."""
    uplink = Uplink(server.ws, _Burst(2000), token=server.device_token("burst-1"))
    began = time.monotonic()
    asyncio.run(asyncio.wait_for(uplink.run(), seconds(60)))
    took = time.monotonic() - began
    assert not uplink.pending and uplink.outbox.deferred == 0 and not uplink.errors
    assert uplink.acked >= 2000
    ts = [r["t"] for r in _rows(server, "SELECT t FROM numerics ORDER BY t")]
    assert ts == [T0 + i for i in range(2000)]
    assert took > 2000 / 200  # paced: no faster than the server's limit
    assert server.get("/api/monitors")[0]["refused_by"] == {}
