"""A monitor for browser tests that sends exact readings at the pace of the wall clock, from a
thread, so a test can change what the patient does (an SpO2 drop) while it drives a page."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.app.helpers import RawMonitor, numerics
from tests.conftest import Server, seconds, wait_for


class Feeder:
    """Sends ``values`` as numerics every ``every`` seconds (device time = wall clock) until
    stopped; ``values`` may be changed at any time. ``send`` slips in any other message."""

    def __init__(self, server: Server, room: str = "Room 1", monitor_id: str | None = None,
                 every: float = 0.5, **values: float | None) -> None:
        self.monitor = RawMonitor(server, monitor_id or f"feed-{room.replace(' ', '-').lower()}", room)
        self.values = dict(values)
        self.every = every
        self.seq = 0
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Feeder:
        self.thread.start()
        return self

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.seq += 1
            return self.monitor.send({**message, "seq": self.seq})

    def _run(self) -> None:
        while not self.stopped.is_set():
            with self.lock:
                self.seq += 1
                self.monitor.send(numerics(self.seq, time.time(), **self.values))
                self.sent += 1
            self.stopped.wait(self.every)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=seconds(5))
        self.monitor.close()


def session_of(server: Server, room: str) -> int:
    def find() -> int | None:
        return next((s["id"] for s in server.get("/api/sessions", active=True) if s["room"] == room), None)

    return int(wait_for(find, timeout=10, what=f"a session in {room}"))


def active_alarm(server: Server, rule: str, timeout: float = 15) -> dict[str, Any]:
    """Wait for an active alarm of ``rule`` and return its row."""
    def find() -> dict[str, Any] | None:
        return next((a for a in server.get("/api/alarms", active="true") if a["rule"] == rule), None)

    return wait_for(find, timeout=timeout, what=f"an active {rule} alarm")
