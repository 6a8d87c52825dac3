"""Bad input on the ingest socket: a precise error back, counted, kept, and nothing else disturbed."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from tests.app.helpers import Dashboard, RawMonitor, numerics
from tests.conftest import Server, free_port

T0 = 1_800_000_000.0

WAVE = {"type": "waveform", "seq": 1, "t": T0, "wave": "PLETH", "rate": 100, "samples": [500] * 10}

# (frame, the seq the error names, field, reason). A frame whose seq can be read is sent as seq 1.
BAD = [
    ('{"type": "numerics", "seq": 1, ', None, "", "malformed JSON"),
    ('[1, 2, 3]', None, "", "a message must be a JSON object, not an array"),
    ('"hello"', None, "", "a message must be a JSON object, not a string"),
    (json.dumps({"type": "teleport", "seq": 1}), 1, "type", "unknown message type 'teleport'"),
    (json.dumps({"seq": 1, "t": T0}), 1, "type", "Unable to extract tag using discriminator"),
    (json.dumps({"type": "numerics", "seq": 1, "values": {"HR": {"value": 1, "unit": "/min"}}}),
     1, "t", "Field required"),
    (json.dumps(numerics(1, T0, HR=70) | {"extra": 1}), 1, "extra", "Extra inputs are not permitted"),
    (json.dumps({"type": "numerics", "seq": 1, "t": T0, "values": {"HR": {"value": 70, "unit": "Hz"}}}),
     1, "values.HR", "unknown unit 'Hz' for HR"),
    ('{"type": "numerics", "seq": 1, "t": 1, "values": {"HR": {"value": NaN, "unit": "/min"}}}',
     None, "", "NaN is not a number JSON allows"),
    ('{"type": "numerics", "seq": 1, "t": Infinity, "values": {}}', None, "", "Infinity is not a number"),
    (json.dumps(numerics(1, T0, SpO2=120)), 1, "values.SpO2", "SpO2 120 % is physiologically impossible"),
    (json.dumps(numerics(1, T0, HR=-5)), 1, "values.HR", "HR -5 /min is physiologically impossible"),
    (json.dumps({"type": "nibp", "seq": 1, "t": T0, "status": "ok", "sys": 90, "dia": 120}),
     1, "dia", "120 must be below sys 90"),
    ("x" * 70_000, None, "", "message of 70000 bytes exceeds the limit of 65536"),
    # No coercion: a boolean or a string is not a number, a number is not a boolean.
    (json.dumps(numerics(1, T0, HR=True)), 1, "values.HR.value", "must be a number, not a boolean"),
    (json.dumps(numerics(1, T0) | {"values": {"HR": {"value": "72", "unit": "/min"}}}), 1,
     "values.HR.value", "must be a number, not a string"),
    (json.dumps(numerics(1, T0, HR=70) | {"t": str(T0)}), 1, "t", "must be a number, not a string"),
    (json.dumps({"type": "status", "seq": 1, "t": T0, "code": "motion", "active": 1}), 1, "active",
     "valid boolean"),
    (json.dumps({"type": "nibp", "seq": 1, "t": T0, "status": "ok", "sys": "120"}), 1, "sys",
     "must be a number, not a string"),
    # Samples are stored as float32: finite and within its range.
    (json.dumps(WAVE | {"samples": [500, 1e300]}), 1, "samples.1", "beyond the float32 range"),
    (f'{{"type":"waveform","seq":1,"t":{T0!r},"wave":"PLETH","rate":100,"samples":[1e400]}}',
     1, "samples.0", "beyond the float32 range"),
    # Times: 1970 (or milliseconds) is a broken clock in any mode.
    (json.dumps(numerics(1, 0, HR=70)), 1, "t", "is not a time between 2000 and 2100"),
    (json.dumps(numerics(1, T0 * 1000, HR=70)), 1, "t", "is not a time between 2000 and 2100"),
    # Seqs: integers from 0 to 2^53 - 1, read before anything else.
    (json.dumps(numerics(1, T0, HR=70) | {"seq": "five"}), None, "seq", "valid integer"),
    (json.dumps(numerics(1, T0, HR=70) | {"seq": True}), None, "seq", "valid integer"),
    (json.dumps(numerics(1, T0, HR=70) | {"seq": 1.0}), None, "seq", "valid integer"),
    (json.dumps(numerics(1, T0, HR=70) | {"seq": -1}), None, "seq", "between 0 and 9007199254740991"),
    (json.dumps(numerics(1, T0, HR=70) | {"seq": 2**64}), None, "seq", "between 0 and"),
    (json.dumps(numerics(1, T0, HR=70) | {"seq": 10**100}), None, "seq", "a number of 101 digits"),
    ('{"type":"heartbeat","seq":' + "9" * 5000 + ',"t":1}', None, "", "malformed JSON"),
    (json.dumps({"type": "heartbeat"}), None, "seq", "Field required"),
    (json.dumps(numerics(0, T0, HR=70)), 0, "seq", "seq 0 is the hello's"),
    # Deep nesting: Python's parser gives up; that is an error, not a dropped connection.
    ("[" * 10_000 + "]" * 10_000, None, "", "nested too deeply"),
    (f'{{"type":"numerics","seq":1,"t":{T0!r},"values":{"[" * 5000 + "]" * 5000}}}',
     None, "", "nested too deeply"),
    (f'{{"type":"numerics","seq":1,"t":{T0!r},"values":{{"HR":{"[" * 900 + "]" * 900}}}}}',
     1, "values.HR", "valid dictionary"),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the bad-message cases, each case on a monitor (and room) of its own."""
    srv = Server(free_port(), tmp_path_factory.mktemp("bad") / "data").start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


@pytest.mark.parametrize("case", range(len(BAD)), ids=[b[3][:30] for b in BAD])
def test_bad_message_gets_a_precise_error(shared: Server, case: int) -> None:
    """Each kind of bad message is answered with its seq, the field and why (refused for good:
    retry false); it is counted per monitor and kept for diagnosis, and the connection and later
    messages carry on, the next seq after a readable one."""
    raw, seq, field, reason = BAD[case]
    mid = f"bad-{case}"
    mon = RawMonitor(shared, monitor_id=mid, room=f"Room B{case}")
    answer = mon.send(raw)
    assert answer["type"] == "error" and answer["seq"] == seq and answer["field"] == field, answer
    assert reason in answer["reason"] and answer["retry"] is False
    following = 2 if seq == 1 else 1
    assert mon.send(numerics(following, T0, HR=70)) == {"type": "ack", "seq": following}
    counts = next(m for m in shared.get("/api/monitors") if m["monitor_id"] == mid)
    assert counts["refused"] == 1 and counts["refused_by"] == {field or "message": 1}
    assert counts["last_error"]["reason"] == answer["reason"]
    kept = shared.get(f"/api/monitors/{mid}/errors")
    assert kept[0]["reason"] == answer["reason"] and kept[0]["raw"][:20] == raw[:20]
    assert "Traceback" not in shared.log.read_text()
    mon.close()


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
    for i in range(2000):  # sent without waiting for answers, ignoring every retry_after_s
        try:
            flooder.ws.send(json.dumps(numerics(i + 1, T0 + i, HR=70)))
        except ConnectionClosed:
            break
    for i in range(5):
        assert calm.send(numerics(i + 1, T0 + i, HR=60 + i)) == {"type": "ack", "seq": i + 1}
    dash.wait(lambda m: m["type"] == "numerics" and m["room"] == "Room C" and m["readings"]["HR"]["value"] == 64)
    answers = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            answers.append(json.loads(flooder.ws.recv(timeout=10)))
    assert closed.value.rcvd.code == 1008 and "retry_after_s ignored" in closed.value.rcvd.reason
    refused = [a for a in answers if a["type"] == "error"]
    assert refused and "messages a second" in refused[0]["reason"]
    # A refusal for the rate names the seq it refuses and says when to try again, and is not
    # settled: no acknowledgement ever comes for a seq at or after the first one refused.
    assert refused[0]["retry"] is True and refused[0]["retry_after_s"] > 0
    first = refused[0]["seq"]
    acked = [a["seq"] for a in answers if a["type"] == "ack"]
    assert len(acked) >= 400 and max(acked) < first  # the burst allowance went through


def test_oversized_frame_closes_with_1009(server: Server) -> None:
    """A frame beyond the websocket limit (1 MiB) is refused by closing with 1009."""
    mon = RawMonitor(server)
    with pytest.raises(ConnectionClosed) as closed:
        mon.send("x" * (2**20 + 10))
    assert closed.value.rcvd.code == 1009
