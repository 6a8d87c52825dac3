"""An outage with a backlog, black-box: a real `vitalwatch monitor sim --waveforms` streams (in
live mode, on real time) through a relay that records every frame each way to a real server,
which is killed (SIGKILL) and restarted on the same port and data after an outage. Every seq
the relay passed an ack for is stored exactly once, and once the sim has drained nothing it
produced is missing. CI runs a 10 s outage; the soak run (VITALWATCH_SOAK=1) 60 s."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import pytest
import websockets

from tests.conftest import ROOT, Server, free_port, seconds


class Relay:
    """A websocket relay between the sim and the server that records what passes: every frame
    the sim sent (by seq) and every ack the server sent that was handed on to the sim."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.port = upstream, free_port()
        self.sent: dict[int, dict[str, Any]] = {}
        self.acked: Counter[int] = Counter()
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.stopping = self.loop.create_future()

        async def main() -> None:
            async with websockets.serve(self._handle, "127.0.0.1", self.port, max_size=2**20):
                self.ready.set()
                await self.stopping

        try:
            self.loop.run_until_complete(main())
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _handle(self, down: Any) -> None:
        headers = {"Authorization": down.request.headers.get("Authorization", "")}
        try:
            up = await websockets.connect(f"{self.upstream}/ws/ingest", max_size=2**20,
                                          additional_headers=headers, open_timeout=2)
        except (TimeoutError, OSError, websockets.WebSocketException):
            await down.close(1013, "server away")
            return
        self.connections += 1

        async def to_server() -> None:
            async for frame in down:
                msg = json.loads(frame)
                if msg.get("type") != "hello":
                    self.sent[msg["seq"]] = {"type": msg["type"], "t": msg.get("t"),
                                             "wave": msg.get("wave")}
                await up.send(frame)

        async def to_sim() -> None:
            async for frame in up:
                await down.send(frame)
                reply = json.loads(frame)
                if reply.get("type") == "ack":
                    self.acked[reply["seq"]] += 1

        tasks = [asyncio.create_task(to_server()), asyncio.create_task(to_sim())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except websockets.WebSocketException:
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await up.close()
            await down.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set_result, None)
        self.thread.join(timeout=10)


def _outage(server: Server, minutes: float, before_s: float, outage_s: float) -> dict[str, Any]:
    relay = Relay(server.ws)
    token = server.device_token("sim-outage")
    sim = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "-v", "monitor", "sim", "--server", relay.url,
         "--room", "Room O", "--monitor-id", "sim-outage", "--waveforms", "--mode", "live",
         # Ten minutes into a session (pre-dose readings done), for ``minutes`` of real time.
         "--minutes", str(10 + minutes), "--from", "10:00", "--seed", "7", "--token", token],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(before_s)
        server.kill(signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(outage_s)
        server.start()
        outage = time.monotonic() - killed
        out, _ = sim.communicate(timeout=seconds(minutes * 60 + 120))
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
        relay.stop()
    finished = re.search(r"uplink finished: (\d+) sent \((\d+) resent\), (\d+) acknowledged, "
                         r"(\d+) refused, (\d+) deferred, (\d+) given up, (\d+) pending", out)
    db = sqlite3.connect(server.data_dir / "vitalwatch.sqlite3")
    numerics = Counter(t for (t,) in db.execute("SELECT t FROM numerics WHERE param='HR'"))
    waves = Counter(db.execute("SELECT wave, t FROM waveforms").fetchall())
    db.close()

    def stored(seq: int) -> int:
        m = relay.sent[seq]
        return numerics[m["t"]] if m["type"] == "numerics" else waves[(m["wave"], m["t"])]

    # Acknowledged ⇒ stored exactly once; and everything the sim produced was sent and settled.
    data = [s for s, m in relay.sent.items() if m["type"] in ("numerics", "waveform")]
    wrong = [s for s in data if relay.acked[s] and stored(s) != 1]
    lost = [s for s in data if stored(s) == 0]
    figures = {"produced": max(relay.sent), "data": len(data), "lost": len(lost),
               "acked_not_stored_once": len(wrong), "outage_s": round(outage, 1),
               "relay_connections": relay.connections, "sim_exit": sim.returncode,
               "uplink": finished.group(0) if finished else None}
    print(f"outage: {figures}")
    assert sim.returncode == 0, out
    assert finished, out
    _sent, _resent, _acked, refused, deferred, given_up, pending = map(int, finished.groups())
    assert refused == 0 and given_up == 0 and pending == 0, out
    assert not wrong and not lost, (len(wrong), len(lost))
    assert set(relay.sent) == set(range(1, max(relay.sent) + 1))  # no seq never sent
    assert sum(numerics.values()) == sum(1 for s in data if relay.sent[s]["type"] == "numerics")
    assert sum(waves.values()) == sum(1 for s in data if relay.sent[s]["type"] == "waveform")
    assert "Traceback" not in server.log.read_text(errors="replace")
    figures["deferred"] = deferred
    return figures


@pytest.mark.soak
def test_outage_with_backlog(server: Server) -> None:
    """A server outage (SIGKILL, restart) under a sim with waveforms — 10 s, or 60 s with
    VITALWATCH_SOAK=1: every acknowledged message stored exactly once, nothing the sim
    produced missing, no refusal for the rate."""
    if os.environ.get("VITALWATCH_SOAK") == "1":
        figures = _outage(server, minutes=2.0, before_s=10, outage_s=60)
    else:
        figures = _outage(server, minutes=0.5, before_s=4, outage_s=10)
    assert figures["deferred"] == 0 and figures["relay_connections"] >= 2
