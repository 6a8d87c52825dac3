"""An alarm manager lost between alarms is a technical alarm within seconds: the delivery
service probes the site's PCD-04 link every ``delivery.probe_s`` (a real server, a real TCP
MLLP listener standing in for the manager)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from tests.alerts.test_delivery_pcd04 import Manager
from tests.app.delivery_helpers import delivery_rules
from tests.app.helpers import Dashboard, RawMonitor, numerics
from tests.conftest import Server, free_port, seconds


class Listener:
    """The manager's MLLP port (tests/alerts/test_delivery_pcd04.Manager: it ACKs every message
    AA), run on an event loop of its own thread; ``stop`` closes it and its connections."""

    def __init__(self, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.manager = Manager()
        self._call(self.manager.start(port))

    def _call(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(seconds(10))

    def stop(self) -> None:
        if self.loop.is_running():
            self._call(self.manager.stop())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(seconds(10))
            self.loop.close()


def test_a_manager_lost_between_alarms_is_d2_within_seconds(tmp_path: Path) -> None:
    """With no alarm to send, the alarm manager goes away: D2 (notification channel down) is
    raised on the central station within a few probe periods, and clears once it is back."""
    port = free_port()
    manager = Listener(port)
    rules = delivery_rules(tmp_path / "rules.yaml", probe_s=1)
    channels = tmp_path / "channels.yaml"
    channels.write_text(yaml.safe_dump({"pcd04": [{"host": "127.0.0.1", "port": port}]}), encoding="utf-8")
    server = Server(free_port(), tmp_path / "data",
                    args=("--rules", str(rules), "--channels", str(channels))).start()
    try:
        monitor = RawMonitor(server)
        monitor.send(numerics(1, time.time(), HR=72, SpO2=98))
        central = Dashboard(server)
        manager.stop()
        lost = time.monotonic()
        raised = central.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "D2"
                              and m["event"] == "raised", timeout=15)
        assert raised["room"] == monitor.room and time.monotonic() - lost < seconds(15)
        manager = Listener(port)
        central.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "D2"
                     and m["event"] == "cleared", timeout=15)
    finally:
        manager.stop()
        server.kill(signal.SIGTERM)
