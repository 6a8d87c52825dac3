"""Broadcast: a stuck dashboard never delays ingest or the other dashboards."""

from __future__ import annotations

import json
import socket
import time

from tests.app.helpers import Dashboard, RawMonitor, numerics
from tests.conftest import Server, seconds, wait_for

T0 = 1_800_000_000.0


def stuck_dashboard(server: Server) -> socket.socket:
    """A dashboard that completes the websocket handshake and then never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(
        b"GET /ws/live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        + f"Cookie: {server.headers()['Cookie']}\r\n\r\n".encode())
    return sock


def test_stuck_dashboard_is_cut_off_and_others_keep_up(server: Server) -> None:
    """With one dashboard not reading at all, every reading is still acknowledged and reaches a
    healthy dashboard, and the stuck one is cut off (it would get a fresh snapshot on reconnect)."""
    stuck = stuck_dashboard(server)
    healthy = Dashboard(server)
    monitors = [RawMonitor(server, monitor_id=f"m{i}", room=f"Room {i}") for i in range(24)]
    n = 350  # within the ingest burst allowance
    started = time.monotonic()
    # First ~10 MB of waveform: enough to fill the kernel's socket buffers for the stuck client.
    wave = {"type": "waveform", "wave": "PLETH", "rate": 125.0, "samples": [100.5] * 4000}
    for k in range(50):
        for mon in monitors[:8]:
            mon.ws.send(json.dumps({**wave, "seq": k + 1, "t": T0 + k}))
        time.sleep(0.01)
    for mon in monitors[:8]:
        assert [mon.recv()["type"] for _ in range(50)] == ["ack"] * 50
    for k in range(n):
        for i, mon in enumerate(monitors):
            seq = k + 1 + (50 if i < 8 else 0)
            mon.ws.send(json.dumps(numerics(seq, T0 + k, HR=60 + i, SpO2=97, RR=14, PR=60)))
        # Paced in rounds, as monitors send, rather than one instant burst: 24 monitors at ~100
        # messages a second each, which leaves the healthy dashboard's reader (a thread of this
        # process) time to read on a loaded machine; the stuck one still never reads a byte.
        time.sleep(0.01)
    for i, mon in enumerate(monitors):  # every message is settled
        acks = [mon.recv() for _ in range(n)]
        assert acks[-1] == {"type": "ack", "seq": n + (50 if i < 8 else 0)}
    elapsed = time.monotonic() - started
    count = iter(range(1, n * len(monitors) + 1))
    healthy.wait(lambda m: m["type"] == "numerics" and next(count) == n * len(monitors))
    health = wait_for(lambda: (h := server.get("/api/health"))["dashboards"] == 1 and h,
                      what="the stuck dashboard to be cut off")
    assert health["dashboards_cut_off"] == 1
    assert elapsed < seconds(30)  # generous: the point is that ingest did not wait for the stuck client
    stuck.close()
