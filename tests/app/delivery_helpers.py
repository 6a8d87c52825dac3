"""The delivery tests' real parts: an HTTP receiver of notices, rules with a changed delivery
section, and a server with the tests' own channel (delivery_launcher.py) and a shift."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import yaml

from alerts.rules import DEFAULT_RULES, load
from app.roster import Roster
from app.store import Store
from tests.app.helpers import RawMonitor, numerics
from tests.conftest import Server, free_port

T0 = 1_800_000_000.0
ROOM = "Room 1"


class Receiver:
    """A real HTTP receiver: records every notice POSTed to it, by path (one path per user);
    a path in ``down`` answers 503."""

    def __init__(self) -> None:
        self.notices: list[tuple[float, str, dict[str, Any]]] = []
        self.down: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                path = self.path.strip("/")
                if path in receiver.down:
                    self.send_response(503)
                else:
                    receiver.notices.append((time.time(), path, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def of(self, path: str, event: str | None = None) -> list[dict[str, Any]]:
        return [n for _, p, n in self.notices if p == path and (event is None or n["event"] == event)]

    def when(self, path: str) -> float:
        return next(t for t, p, _ in self.notices if p == path)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def delivery_rules(path: Path, **delivery: Any) -> Path:
    """The default rules with the delivery section changed (checked by the loader)."""
    data = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    data["delivery"].update(delivery)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load(path)
    return path


def start(tmp_path: Path, rules: Path, notify: list[dict[str, str]],
          rooms: dict[str, tuple[str, str | None]] | None = None) -> Server:
    """A server with the tests' channel, these notify targets and a shift covering now."""
    channels = tmp_path / "channels.yaml"
    channels.write_text(yaml.safe_dump({"notify": notify}), encoding="utf-8")
    srv = Server(free_port(), tmp_path / "data", module="tests.app.delivery_launcher",
                 args=("--rules", str(rules), "--channels", str(channels))).start()
    store = Store(srv.data_dir / "vitalwatch.sqlite3")
    if rooms is not None:
        Roster(store.db).add_shift("day", time.time() - 60, time.time() + 3600, "clara", rooms,
                                   by="test", now=time.time())
    store.db.close()
    return srv


def raise_h1(server: Server) -> RawMonitor:
    mon = RawMonitor(server, room=ROOM)
    for i in range(12):
        mon.send(numerics(i + 1, T0 + i, HR=134))
    return mon
