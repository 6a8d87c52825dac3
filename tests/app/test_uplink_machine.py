"""The uplink's delivery logic and ingest together, as a Hypothesis state machine: the uplink's
``Outbox`` talks to ingest's ``Connection`` (with the real pipeline and a real SQLite file)
through a network the machine controls — frames delayed, delivered out of order, connections
dropped, the server restarted, the rate limit hit, messages refused for good, the uplink's
buffer overflowing. Invariant after every step: every message the uplink counts as
acknowledged is stored exactly once, and nothing refused is stored; at the end, once the
network behaves, everything not given up or refused is stored."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from alerts import rules as rules_mod
from app.hub import Hub
from app.ingest import Connection, _RateLimit
from app.pipeline import Pipeline
from app.store import Store
from monitors.protocol import Hello
from monitors.uplink import Outbox

T0 = 1_800_000_000.0
RULES = rules_mod.load(None)
STREAM = "machine-stream"


class UplinkAndIngest(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="uplink-machine-"))
        self.db_path = self.dir / "vitalwatch.sqlite3"
        self.outbox = Outbox(max_pending=60, window=12)
        self.clock = 0.0
        self.store: Store | None = None
        self.pipeline: Pipeline | None = None
        self.conn: Connection | None = None
        self.to_server: list[str] = []
        self.to_client: list[str] = []
        self.kind: dict[int, str] = {}  # seq → "numerics" | "bad" | "heartbeat"
        self.acked: set[int] = set()
        self.refused: set[int] = set()
        self.server_rate = 1000.0

    @initialize()
    def start_server(self) -> None:
        self._open_server()

    def _open_server(self) -> None:
        self.store = Store(self.db_path)
        self.pipeline = Pipeline(self.store, Hub(), RULES, T0 + self.clock)

    def _drop(self) -> None:
        self.conn = None
        self.to_server.clear()
        self.to_client.clear()

    # The source --------------------------------------------------------------------------

    @rule(n=st.integers(1, 8), bad=st.integers(0, 9), beat=st.booleans())
    def produce(self, n: int, bad: int, beat: bool) -> None:
        """The source yields readings (one in ten impossible), and now and then a heartbeat."""
        for i in range(n):
            if beat and i == 0:
                seq = self.outbox.add({"type": "heartbeat", "t": T0 + self.outbox.seq + 1})
                self.kind[seq] = "heartbeat"
                continue
            impossible = bad == 0 and i == n - 1
            value = {"value": 120 if impossible else 97, "unit": "%"}
            seq = self.outbox.add({"type": "numerics", "t": T0 + self.outbox.seq + 1,
                                   "values": {"SpO2": value}})
            self.kind[seq] = "bad" if impossible else "numerics"

    # The network -------------------------------------------------------------------------

    @precondition(lambda self: self.conn is None)
    @rule(overshoot=st.sampled_from([1.0, 1.0, 4.0]))
    def connect(self, overshoot: float) -> None:
        """Say hello (with resume_from) and take the welcome, as the uplink does. With
        ``overshoot`` the uplink is told a rate above the server's real one, so it sends too fast."""
        hello = Hello(type="hello", seq=0, protocol=1, monitor_id="m-1", stream=STREAM,
                      room="Room 1", mode="test", resume_from=self.outbox.resume_from())
        _session_id, last_seq, _ = self.pipeline.hello(hello, T0 + self.clock)
        self.conn = Connection(self.pipeline, hello, False, self.clock)
        self.conn.bucket = _RateLimit(self.server_rate, 10, self.clock)
        self.conn.resume(hello.resume_from, last_seq, T0 + self.clock)
        self.outbox.connected(self.server_rate * overshoot, self.clock)

    @precondition(lambda self: self.conn is not None)
    @rule(n=st.integers(1, 20))
    def send(self, n: int) -> None:
        """The uplink sends what its pacing and window allow."""
        for _ in range(n):
            frame = self.outbox.take(self.clock)
            if frame is None:
                break
            self.to_server.append(frame[1])

    @precondition(lambda self: self.conn is not None and self.to_server)
    @rule(reorder=st.integers(0, 5), n=st.integers(1, 10))
    def deliver_to_server(self, reorder: int, n: int) -> None:
        """Frames reach ingest, in order, or (reorder > 0) one overtaking the others."""
        for _ in range(n):
            if not self.to_server or self.conn is None:
                return
            i = min(reorder, len(self.to_server) - 1) if reorder in (1, 2) else 0
            raw = self.to_server.pop(i)
            answer, close = self.conn.handle(raw, T0 + self.clock, self.clock)
            self.to_client.append(answer)
            if close is not None:
                self._drop()

    @precondition(lambda self: self.conn is not None and self.to_client)
    @rule(n=st.integers(1, 10))
    def deliver_to_client(self, n: int) -> None:
        """Answers reach the uplink, in order (a websocket never reorders)."""
        import json

        for _ in range(n):
            if not self.to_client:
                return
            reply = json.loads(self.to_client.pop(0))
            if reply["type"] == "ack":
                if self.outbox.on_ack(reply["seq"]):
                    self.acked.add(reply["seq"])
            elif self.outbox.on_error(reply, self.clock):
                self.refused.add(reply["seq"])
            if self.outbox.resume_needed:
                self._drop()
                return

    @rule()
    def drop_connection(self) -> None:
        """The network cuts: everything in flight, both ways, is lost."""
        self._drop()

    @rule()
    def restart_server(self) -> None:
        """The server is killed and started again on the same data."""
        self._drop()
        self.store.db.close()
        self._open_server()

    @rule(dt=st.sampled_from([0.001, 0.01, 0.1, 0.5, 2.0]))
    def time_passes(self, dt: float) -> None:
        self.clock += dt

    @rule(rate=st.sampled_from([20.0, 1000.0]))
    def server_rate_limit(self, rate: float) -> None:
        """The server's rate limit for the next connection (tight, or out of the way)."""
        self.server_rate = rate

    # What must hold ----------------------------------------------------------------------

    def _stored(self) -> dict[float, int]:
        with sqlite3.connect(self.db_path) as db:
            return dict(db.execute("SELECT t, COUNT(*) FROM numerics GROUP BY t"))

    @invariant()
    def acknowledged_means_stored_exactly_once(self) -> None:
        stored = self._stored()
        for seq in self.acked:
            assert self.kind[seq] != "bad", f"impossible reading {seq} acknowledged"
            if self.kind[seq] == "numerics":
                assert stored.get(T0 + seq) == 1, f"seq {seq} acknowledged, stored {stored.get(T0 + seq, 0)}×"
        assert all(n == 1 for n in stored.values()), "a reading stored twice"
        for seq in self.refused:
            assert T0 + seq not in stored, f"seq {seq} refused yet stored"
            assert self.kind[seq] == "bad", f"valid seq {seq} refused for good"

    def teardown(self) -> None:
        try:
            if self.pipeline is not None:
                self._drain()
        finally:
            if self.store is not None:
                self.store.db.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _drain(self) -> None:
        """With the network behaving, the uplink settles everything it still holds, and every
        valid reading that was not given up is then stored."""
        self.server_rate = 1000.0
        for _ in range(2000):
            if not self.outbox.pending:
                break
            if self.conn is None:
                self.connect(1.0)
            self.clock += 0.05
            self.send(20)
            while self.to_server and self.conn is not None:
                self.deliver_to_server(0, 20)
            while self.to_client and self.conn is not None:
                self.deliver_to_client(20)
        assert not self.outbox.pending, "the uplink could not drain"
        self.acknowledged_means_stored_exactly_once()
        stored = self._stored()
        valid = {s for s, k in self.kind.items() if k == "numerics"}
        missing = {s for s in valid if T0 + s not in stored}
        # Only the oldest messages can be given up (a full buffer), never one in the middle.
        assert len(missing) <= self.outbox.given_up, (missing, self.outbox.given_up)


TestUplinkAndIngest = UplinkAndIngest.TestCase
TestUplinkAndIngest.settings = settings(max_examples=40, stateful_step_count=40, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
