"""Grouped commits keep "acknowledged only once stored": messages that arrive together share one
SQLite transaction, each ack waits for the commit holding its message, a failed group commit
acknowledges none of it, and a server killed with SIGKILL right after acks has stored every
message it acknowledged."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from app.storage import IntegrityError
from app.store import Store
from monitors.protocol import Hello, Numerics, monitor_message
from tests.app.helpers import numerics
from tests.conftest import Server, free_port, seconds

T0 = 1_800_000_000.0


def _store(tmp_path: Path, monitors: int, database: str | None) -> tuple[Store, int]:
    store = Store(database or tmp_path / "vitalwatch.sqlite3")
    session_id = store.start_session("Room 1", "test", T0)["id"]
    for k in range(monitors):
        store.open_stream(Hello(type="hello", seq=0, protocol=1, monitor_id=f"mon-{k}", stream=f"s{k}",
                                room="Room 1", mode="test"), session_id)
    return store, session_id


def _message(seq: int, t: float) -> Any:
    return monitor_message.validate_python(numerics(seq, t, HR=70))


def _stored(store: Store) -> tuple[list[float], dict[str, int]]:
    """What another connection sees: the readings' times and each stream's last seq."""
    db = store.db.reopen()
    try:
        ts = [r["t"] for r in db.execute("SELECT t FROM numerics ORDER BY t")]
        last = {r["monitor_id"]: r["last_seq"] for r in db.execute("SELECT monitor_id, last_seq FROM streams")}
    finally:
        db.close()
    return ts, last


def test_messages_that_arrive_together_share_one_commit_and_resolve_after_it(tmp_path: Path, database: str | None) -> None:
    """Five monitors' messages stored in one turn of the event loop are committed in one
    transaction; before it, another connection sees none of them and committed() is pending;
    once it resolves, all five are there with their streams' last seq."""
    store, sid = _store(tmp_path, 5, database)

    async def run() -> None:
        for k in range(5):
            store.store_message(f"mon-{k}", f"s{k}", sid, _message(1, T0 + k), T0)
        done = store.committed()
        assert not done.done()
        assert _stored(store) == ([], {f"mon-{k}": 0 for k in range(5)})
        await asyncio.wait_for(done, seconds(5))
        assert _stored(store) == ([T0 + k for k in range(5)], {f"mon-{k}": 1 for k in range(5)})
        assert (store.commits, store.grouped) == (1, 5)

    try:
        asyncio.run(run())
    finally:
        store.close()


def test_a_lone_message_waits_for_no_timer(tmp_path: Path, database: str | None) -> None:
    """A message stored alone is committed in the event loop's next turn: once the storing task
    has yielded once, its commit is done and the message is in the database."""
    store, sid = _store(tmp_path, 1, database)

    async def run() -> None:
        store.store_message("mon-0", "s0", sid, _message(1, T0), T0)
        done = store.committed()
        await asyncio.sleep(0)
        assert done.done() and done.result() is None
        assert _stored(store) == ([T0], {"mon-0": 1})

    try:
        asyncio.run(run())
    finally:
        store.close()


def test_a_failed_group_commit_stores_and_acknowledges_none_of_it(tmp_path: Path, database: str | None) -> None:
    """When one message of a group cannot be written, the whole group is rolled back and
    committed() raises the error (so no ack is sent for any of it); the store goes on working."""
    store, sid = _store(tmp_path, 2, database)
    unwritable = Numerics.model_construct(type="numerics", seq=1, t=None, values=_message(1, T0).values)

    async def run() -> None:
        store.store_message("mon-0", "s0", sid, _message(1, T0), T0)
        store.store_message("mon-1", "s1", sid, unwritable, T0)  # t is NOT NULL in the table
        with pytest.raises(IntegrityError):
            await asyncio.wait_for(store.committed(), seconds(5))
        assert _stored(store) == ([], {"mon-0": 0, "mon-1": 0})
        assert store.last_seq("mon-0", "s0") == 0
        store.store_message("mon-0", "s0", sid, _message(1, T0), T0)
        await asyncio.wait_for(store.committed(), seconds(5))
        assert _stored(store) == ([T0], {"mon-0": 1, "mon-1": 0})

    try:
        asyncio.run(run())
    finally:
        store.close()


def test_a_seq_is_never_settled_past_a_queued_message(tmp_path: Path, database: str | None) -> None:
    """Recording a refused seq (which advances the stream's last seq) first commits the messages
    still queued, so every seq up to last_seq is stored or recorded as unstored, never missing."""
    store, sid = _store(tmp_path, 1, database)

    async def run() -> None:
        store.store_message("mon-0", "s0", sid, _message(1, T0), T0)
        store.skip("mon-0", "s0", 2, 2, "values.SpO2", "out of range")
        assert _stored(store) == ([T0], {"mon-0": 2})
        assert store.unstored("mon-0", "s0", 1) is None and store.unstored("mon-0", "s0", 2) is not None

    try:
        asyncio.run(run())
    finally:
        store.close()


def test_sigkill_right_after_acks_loses_nothing_acknowledged(tmp_path: Path, database: str | None) -> None:
    """Twelve monitors send 300 readings each as fast as they can (their acks come from shared
    group commits); the server is killed with SIGKILL while acks are arriving. Every reading that
    was acknowledged is in the database afterwards, with its stream's last seq at least as far."""
    server = Server(free_port(), tmp_path / "data", database=database).start()
    try:
        _kill_mid_stream(server)
    finally:
        server.kill()


def _kill_mid_stream(server: Server) -> None:
    monitors, per_monitor = 12, 300
    acked: dict[str, list[int]] = {f"grp-{k}": [] for k in range(monitors)}
    tokens = {m: server.device_token(m) for m in acked}
    killed = asyncio.Event()

    def t_of(k: int, seq: int) -> float:
        return T0 + k * 10_000 + seq

    async def one(k: int) -> None:
        m = f"grp-{k}"
        async with connect(f"{server.ws}/ws/ingest", max_size=None,
                           additional_headers={"Authorization": f"Bearer {tokens[m]}"}) as ws:
            await ws.send(json.dumps({"type": "hello", "seq": 0, "protocol": 1, "monitor_id": m,
                                      "stream": uuid.uuid4().hex, "room": f"Room {k}", "mode": "test"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))["type"] == "welcome"
            for seq in range(1, per_monitor + 1):  # within the rate limit's burst: none refused
                await ws.send(json.dumps(numerics(seq, t_of(k, seq), HR=60 + seq % 40)))
            try:
                while True:
                    answer = json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))
                    assert answer["type"] == "ack", answer
                    acked[m].append(answer["seq"])
                    if sum(map(len, acked.values())) >= monitors * per_monitor // 3 and not killed.is_set():
                        assert server.proc is not None
                        server.proc.send_signal(signal.SIGKILL)  # right after this ack, mid-stream
                        killed.set()
            except Exception:  # the connection ends with the server
                if not killed.is_set():
                    raise

    async def run() -> None:
        await asyncio.gather(*(one(k) for k in range(monitors)))

    asyncio.run(asyncio.wait_for(run(), seconds(60)))
    assert killed.is_set()
    assert server.proc is not None and server.proc.wait(timeout=seconds(10)) == -signal.SIGKILL
    total = sum(map(len, acked.values()))
    assert monitors * per_monitor // 3 <= total < monitors * per_monitor  # killed mid-stream
    db = server.db()
    try:
        stored = {r["t"] for r in db.execute("SELECT t FROM numerics")}
        last = {r["monitor_id"]: r["last_seq"] for r in db.execute("SELECT monitor_id, last_seq FROM streams")}
    finally:
        db.close()
    for k in range(monitors):
        m = f"grp-{k}"
        assert acked[m] == sorted(acked[m])
        missing = [seq for seq in acked[m] if t_of(k, seq) not in stored]
        assert not missing, f"{m}: acknowledged but not stored: {missing[:10]}"
        assert last.get(m, 0) >= max(acked[m], default=0)
