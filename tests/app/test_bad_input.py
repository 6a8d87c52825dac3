"""Bad input on the ingest socket: a precise error back, counted, kept, and nothing else disturbed."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.app.helpers import Dashboard, RawMonitor, numerics
from tests.conftest import Server

T0 = 1_800_000_000.0

BAD = [
    ('{"type": "numerics", "seq": 5, ', None, "", "malformed JSON"),
    ('[1, 2, 3]', None, "", "Input should be"),
    (json.dumps({"type": "teleport", "seq": 5}), 5, "type", "unknown message type 'teleport'"),
    (json.dumps({"seq": 5, "t": 1}), 5, "type", "Unable to extract tag using discriminator"),
    (json.dumps({"type": "numerics", "seq": 5, "values": {"HR": {"value": 1, "unit": "/min"}}}),
     5, "t", "Field required"),
    (json.dumps(numerics(5, T0, HR=70) | {"extra": 1}), 5, "extra", "Extra inputs are not permitted"),
    (json.dumps({"type": "numerics", "seq": 5, "t": T0, "values": {"HR": {"value": 70, "unit": "Hz"}}}),
     5, "values.HR", "unknown unit 'Hz' for HR"),
    ('{"type": "numerics", "seq": 5, "t": 1, "values": {"HR": {"value": NaN, "unit": "/min"}}}',
     None, "", "NaN is not a number JSON allows"),
    ('{"type": "numerics", "seq": 5, "t": Infinity, "values": {}}', None, "", "Infinity is not a number"),
    (json.dumps(numerics(5, T0, SpO2=120)), 5, "values.SpO2", "SpO2 120 % is physiologically impossible"),
    (json.dumps(numerics(5, T0, HR=-5)), 5, "values.HR", "HR -5 /min is physiologically impossible"),
    (json.dumps({"type": "nibp", "seq": 5, "t": T0, "status": "ok", "sys": 90, "dia": 120}),
     5, "dia", "120 must be below sys 90"),
    (json.dumps(numerics(5, T0, HR=70) | {"seq": "five"}), None, "seq", "valid integer"),
    ("x" * 70_000, None, "", "message of 70000 bytes exceeds the limit of 65536"),
]


@pytest.mark.parametrize("raw, seq, field, reason", BAD, ids=[b[3][:30] for b in BAD])
def test_bad_message_gets_a_precise_error(server: Server, raw: str, seq, field: str, reason: str) -> None:
    """Each kind of bad message is answered with its seq, the field and why; it is counted per
    monitor and kept for diagnosis, and the connection and later messages carry on."""
    mon = RawMonitor(server)
    answer = mon.send(raw)
    assert answer["type"] == "error" and answer["seq"] == seq and answer["field"] == field
    assert reason in answer["reason"]
    assert mon.send(numerics(6, T0, HR=70)) == {"type": "ack", "seq": 6}
    counts = server.get("/api/monitors")[0]
    assert counts["refused"] == 1 and counts["refused_by"] == {field or "message": 1}
    assert counts["last_error"]["reason"] == answer["reason"]
    kept = server.get("/api/monitors/mon-1/errors")
    assert kept[0]["reason"] == answer["reason"] and kept[0]["raw"][:20] == raw[:20]


def test_binary_frame_is_refused(server: Server) -> None:
    """A binary frame (e.g. a serial bridge writing raw bytes) is refused with a reason."""
    mon = RawMonitor(server)
    answer = mon.send(b"\x00\xff\x13")  # type: ignore[arg-type]
    assert answer["type"] == "error" and "binary frames" in answer["reason"]


def test_first_message_must_be_hello(server: Server) -> None:
    """A connection that does not start with hello is closed with 1008 and a reason."""
    from websockets.sync.client import connect

    token = server.device_token("mon-1")
    with connect(f"{server.ws}/ws/ingest", additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        ws.send(json.dumps(numerics(1, T0, HR=70)))
        error = json.loads(ws.recv(timeout=5))
        assert error["field"] == "type" and "must be 'hello'" in error["reason"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1008


def test_monitor_that_keeps_sending_garbage_is_disconnected(server: Server) -> None:
    """More than 50 refused messages in 10 s closes the connection with 1008 and a reason."""
    mon = RawMonitor(server)
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(60):
            mon.send("not json")
    assert closed.value.rcvd.code == 1008
    assert "refused messages" in closed.value.rcvd.reason
    assert server.get("/api/monitors")[0]["refused"] == 51


def test_flood_is_limited_without_disturbing_other_monitors(server: Server) -> None:
    """A monitor flooding far beyond any device's rate is refused beyond the limit and cut off,
    while another monitor's readings keep being stored and shown."""
    dash = Dashboard(server)
    flooder = RawMonitor(server, monitor_id="flood", room="Room F")
    calm = RawMonitor(server, monitor_id="calm", room="Room C")
    for i in range(1500):  # sent without waiting for answers
        try:
            flooder.ws.send(json.dumps(numerics(i + 1, T0 + i, HR=70)))
        except ConnectionClosed:
            break
    for i in range(5):
        assert calm.send(numerics(i + 1, T0 + i, HR=60 + i)) == {"type": "ack", "seq": i + 1}
    dash.wait(lambda m: m["type"] == "numerics" and m["room"] == "Room C" and m["values"]["HR"] == 64)
    answers = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            answers.append(json.loads(flooder.ws.recv(timeout=10)))
    assert closed.value.rcvd.code == 1008
    refused = [a for a in answers if a["type"] == "error"]
    assert refused and "messages a second" in refused[0]["reason"]
    assert sum(a["type"] == "ack" for a in answers) >= 400  # the burst allowance went through


def test_oversized_frame_closes_with_1009(server: Server) -> None:
    """A frame beyond the websocket limit (1 MiB) is refused by closing with 1009."""
    mon = RawMonitor(server)
    with pytest.raises(ConnectionClosed) as closed:
        mon.send("x" * (2**20 + 10))
    assert closed.value.rcvd.code == 1009
