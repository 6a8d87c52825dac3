"""Small real clients for the integration tests: a raw monitor and a dashboard."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections import deque
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jsonschema
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from alerts.rules import DEFAULT_RULES, load
from tests.conftest import ROOT, Server, free_port, seconds

FEED_SCHEMA = ROOT / "docs" / "feed.schema.json"

# T4's delay in the rules of servers that test feed loss rather than its default 10 s (rules
# may shorten a supervision delay): waiting 10 s of real time proves nothing a shorter wait does
# not. It stays above the pipeline's SILENCE_S (3 s), so the delay, not the silence, decides.
FEED_LOST_S = 5.0


def rules_with(path: Path, **delays: float) -> Path:
    """alerts/default-rules.yaml with the given rules' ``delay_s`` changed, written to ``path``
    (checked by the loader: a file the server would refuse tests nothing)."""
    data = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    for rule_id, delay in delays.items():
        data["rules"][rule_id]["delay_s"] = delay
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert all(load(path).rules[r].delay_s == d for r, d in delays.items())
    return path


class RawMonitor:
    """A monitor speaking the wire protocol by hand, so tests can send anything at all."""

    def __init__(self, server: Server, monitor_id: str = "mon-1", room: str = "Room 1",
                 stream: str | None = None, mode: str = "test") -> None:
        self.ws = connect(f"{server.ws}/ws/ingest", max_size=None, additional_headers={
            "Authorization": f"Bearer {server.device_token(monitor_id)}"}).__enter__()
        self.monitor_id, self.room = monitor_id, room
        self.stream = stream or uuid.uuid4().hex
        self.ws.send(json.dumps({"type": "hello", "seq": 0, "protocol": 1, "monitor_id": monitor_id,
                                 "stream": self.stream, "room": room, "mode": mode}))
        self.welcome = self.recv()
        assert self.welcome["type"] == "welcome", self.welcome

    def recv(self, timeout: float = 10) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=seconds(timeout)))

    def send(self, message: dict[str, Any] | str | bytes) -> dict[str, Any]:
        """Send one message and return the server's answer to it."""
        self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))
        return self.recv()

    def close(self) -> None:
        self.ws.close()


def numerics(seq: int, t: float, **values: float | None) -> dict[str, Any]:
    units = {"SpO2": "%", "EtCO2": "mmHg"}
    return {"type": "numerics", "seq": seq, "t": t,
            "values": {k: {"value": v, "unit": units.get(k, "/min")} for k, v in values.items()}}


@cache
def _feed_validator(path: Path = FEED_SCHEMA) -> jsonschema.Draft202012Validator:
    schema = json.loads(path.read_text(encoding="utf-8"))["server_message"]
    return jsonschema.Draft202012Validator(schema)


def check_feed_message(msg: dict[str, Any]) -> None:
    """Fail unless ``msg`` is valid against the exported feed schema (docs/feed.schema.json)."""
    errors = sorted(_feed_validator().iter_errors(msg), key=lambda e: list(e.absolute_path))
    assert not errors, f"{msg.get('type')} message not valid against the feed schema: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5])


def room_of(msg: dict[str, Any]) -> str | None:
    """The room a feed message is about (None: a heartbeat, a snapshot or a refusal)."""
    room = msg.get("room")
    return room["room"] if isinstance(room, dict) else room


class Dashboard:
    """A dashboard on /ws/live. ``validate``: every message received is checked against the
    exported feed schema. ``subscription``: the fields of a subscribe sent in the URL."""

    def __init__(self, server: Server, role: str = "clinician", validate: bool = False,
                 subscription: dict[str, Any] | None = None) -> None:
        url = f"{server.ws}/ws/live"
        if subscription is not None:
            url += "?" + urlencode({"subscribe": json.dumps({"type": "subscribe", **subscription})})
        # max_queue=None: the client thread keeps reading even while the test is busy elsewhere.
        self.ws = connect(url, max_size=None, max_queue=None,
                          additional_headers={"Cookie": server.headers(role)["Cookie"]}).__enter__()
        self.validate = validate
        self.seen: list[dict[str, Any]] = []
        self.batches: list[dict[str, Any]] = []  # the batch frames received, as they came
        self._unpacked: deque[dict[str, Any]] = deque()  # the rest of the last batch
        self.snapshot = self._recv(seconds(10))
        assert self.snapshot["type"] == "snapshot"

    def _recv(self, timeout: float) -> dict[str, Any]:
        """The next message: a batch's messages one by one, in order, as a page applies them."""
        if not self._unpacked:
            msg = json.loads(self.ws.recv(timeout=timeout))
            if self.validate:
                check_feed_message(msg)
            if msg["type"] != "batch":
                return msg  # type: ignore[no-any-return]
            self.batches.append(msg)
            self._unpacked.extend(msg["messages"])
        return self._unpacked.popleft()

    def send(self, message: dict[str, Any] | str) -> None:
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def subscribe(self, **fields: Any) -> dict[str, Any]:
        """Send a subscribe and return the snapshot that answers it."""
        self.send({"type": "subscribe", **fields})
        return self.wait(lambda m: m["type"] == "snapshot")

    def wait(self, predicate, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + seconds(timeout)
        while time.monotonic() < deadline:
            try:
                msg = self._recv(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            self.seen.append(msg)
            if predicate(msg):
                return msg
        raise AssertionError(f"dashboard did not see the message within {timeout} s")

    def close(self) -> None:
        self.ws.close()


def refused_hello(server: Server, token: str, monitor_id: str, room: str) -> tuple[dict[str, Any], int | None, str]:
    """Say hello as ``monitor_id`` into ``room`` with ``token``, expecting a refusal: returns the
    error answered, the close code and the close reason (and fails if the connection stays open)."""
    ws = connect(f"{server.ws}/ws/ingest", additional_headers={"Authorization": f"Bearer {token}"},
                 proxy=None)
    with ws:
        ws.send(json.dumps({"type": "hello", "seq": 0, "protocol": 1, "monitor_id": monitor_id,
                            "stream": uuid.uuid4().hex, "room": room, "mode": "test"}))
        error = json.loads(ws.recv(timeout=seconds(5)))
        try:
            ws.recv(timeout=seconds(5))
            raise AssertionError("the connection stayed open after a refused hello")
        except ConnectionClosed:
            pass
    return error, ws.close_code, ws.close_reason or ""


def server_with_rules(tmp_path: Path, **delays: float) -> Iterator[Server]:
    """For a fixture: a server whose rules file has these rules' delays, killed after the test."""
    rules = rules_with(tmp_path / "rules.yaml", **delays)
    srv = Server(free_port(), tmp_path / "data", args=("--rules", str(rules))).start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)
