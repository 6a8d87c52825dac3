"""`vitalwatch monitor hl7` as a real subprocess between a real MLLP client (``hl7.client``)
sending the real PCD-01 messages of tests/data/hl7 and a real server: the values appear on the
central station's REST snapshot, each equipment id in its own room, and a device that stops
sending is reported lost."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import hl7
import pytest
from hl7.client import MLLPClient
from websockets.sync.client import connect

from monitors.hl7.mllp import frame
from tests.conftest import ROOT, Server, free_port, seconds, wait_for
from tests.security.test_tls import self_signed

DATA = ROOT / "tests" / "data" / "hl7"
_DTM = re.compile(r"(?<![0-9])(?:19|20)\d{12}(?:[+-]\d{4})?(?![0-9])")


def message(name: str, at: float) -> str:
    """A shared message with every time in it moved to ``at`` (the files are from 2008–2009, and
    the server refuses live readings a day old); nothing else is changed."""
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y%m%d%H%M%S+0000")
    return _DTM.sub(stamp, (DATA / name).read_bytes().decode())


class Listener:
    def __init__(self, server: Server, tmp: Path, silent_s: float, *extra: str) -> None:
        bed = server.device_token("hl7-bed-1", ("Room H1",))
        gateway = server.device_token("hl7-gw-2", ("Room H2",))
        devices = tmp / "devices.txt"
        devices.write_text("# equipment id    monitor id  room       token\n"
                           f'0123456789ABCDEF  hl7-bed-1   "Room H1"  {bed}\n'
                           f'080019FFFF4F6AC0  hl7-gw-2    "Room H2"  env:GW_TOKEN\n')
        self.port = free_port()
        self.log = tmp / "hl7.log"
        cmd = [sys.executable, "-m", "app.cli", "monitor", "hl7", "--listen",
               f"127.0.0.1:{self.port}", "--devices", str(devices), "--server", server.ws,
               "--silent-after", str(silent_s), *extra]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         env={"PATH": "/usr/bin:/bin", "GW_TOKEN": gateway})
        wait_for(lambda: b"listening on" in self.log.read_bytes() or self.proc.poll() is not None,
                 timeout=20, what="the HL7 listener to start")
        assert self.proc.poll() is None, self.log.read_text()

    def send(self, text: str) -> str:
        with MLLPClient("127.0.0.1", self.port) as client:
            client.socket.settimeout(seconds(10))
            return client.send_message(text).decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=seconds(15))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def listener(server: Server, tmp_path: Path) -> Iterator[Listener]:
    lst = Listener(server, tmp_path, silent_s=3)
    try:
        yield lst
    finally:
        lst.stop()


def msa(ack: str) -> list[str]:
    """The acknowledgement's MSA fields, unescaped (MSA[1] is the code)."""
    parsed = hl7.parse(ack.strip("\x0b\x1c\r"))
    segment = parsed.segment("MSA")
    return [parsed.unescape(str(f)) for f in segment]


def room(server: Server, name: str) -> dict | None:
    return next((r for r in server.get("/api/rooms") if r["room"] == name), None)


def test_shared_messages_reach_the_central_station(server: Server, listener: Listener) -> None:
    """The cuff reading (measured two minutes before it is sent, and kept at that time), the
    oximeter's SpO2 of the same device and the gateway's HR and arterial pressures are each
    acknowledged AA and appear in their device's room with their values."""
    now = time.time()
    for name, at in (("valid-pcd01-request.hl7v2", now - 120), ("valid-oximeter-continua-wan.hl7v2", now),
                     ("valid-pcd01-request2.hl7v2", now)):
        ack = listener.send(message(name, at))
        assert msa(ack)[1] == "AA", ack
    assert msa(ack)[2] == "12d15a9:11df9e61347:-7fee:30456965"  # MSA-2 echoes MSH-10

    def both_rooms() -> tuple[dict, dict] | None:
        h1, h2 = room(server, "Room H1"), room(server, "Room H2")
        ok = h1 and h2 and h1["nibp"] and "SpO2" in h1["latest"] and "ABPmean" in h2["latest"]
        return (h1, h2) if ok else None

    h1, h2 = wait_for(both_rooms, timeout=20, what="both rooms with their values")
    assert (h1["nibp"]["sys"], h1["nibp"]["dia"], h1["nibp"]["map"]) == (120, 80, 100)
    assert h1["nibp"]["t_device"] == pytest.approx(now - 120, abs=1.5)  # the device's time, not arrival
    assert h1["latest"]["SpO2"]["value"] == 80.5
    assert h1["monitors"][0]["monitor_id"] == "hl7-bed-1"
    values = {p: v["value"] for p, v in h2["latest"].items()}
    assert values == {"HR": 60, "ABPsys": 120, "ABPdia": 80, "ABPmean": 92}
    assert h2["monitors"][0]["monitor_id"] == "hl7-gw-2"


def test_refusals_are_acknowledged_with_the_reason(server: Server, listener: Listener) -> None:
    """A message of another type, one from equipment not in the device map, and one with an
    impossible value get AR, AR and AE, each with MSA-3 and an ERR naming where; the AE's good
    readings still arrive."""
    now = time.time()
    adt = message("valid-pcd01-request.hl7v2", now).replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01")
    ack = listener.send(adt)
    assert msa(ack)[1] == "AR" and "ADT^A01 is not supported" in msa(ack)[3], ack
    assert "ERR||MSH^1^9|200^" in ack
    stranger = message("valid-pcd01-request.hl7v2", now).replace("0123456789ABCDEF", "FEEDFACE00000001")
    ack = listener.send(stranger)
    assert msa(ack)[1] == "AR" and "FEEDFACE00000001 is not in this listener's device map" in ack
    bad = message("valid-pcd01-request2.hl7v2", now).replace("|1.3.1.1|92|", "|1.3.1.1|9a2|")
    ack = listener.send(bad)
    assert msa(ack)[1] == "AE" and "ERR||OBX^3^5|102^" in ack and "'9a2' is not a number" in ack, ack
    h2 = wait_for(lambda: (r := room(server, "Room H2")) and "ABPsys" in r["latest"] and r,
                  timeout=20, what="the AE message's other readings")
    assert "ABPmean" not in h2["latest"] and h2["latest"]["HR"]["value"] == 60


def test_a_silent_device_is_reported_lost_and_recovers(server: Server, listener: Listener) -> None:
    """A device that stops sending is reported device_lost after --silent-after (3 s) and the
    server raises its technical alarm (T5); the next message ends the condition."""
    sent = time.monotonic()
    listener.send(message("valid-oximeter-continua-wan.hl7v2", time.time()))
    wait_for(lambda: (r := room(server, "Room H1")) and "SpO2" in r["latest"], timeout=20,
             what="the first reading")
    r = wait_for(lambda: (r := room(server, "Room H1")) and any(
        s["code"] == "device_lost" for s in r["statuses"]) and r, timeout=20, what="device_lost")
    assert time.monotonic() - sent >= 3  # not before the device has been silent that long
    assert "no HL7 message from equipment 0123456789ABCDEF" in r["statuses"][0]["text"]
    wait_for(lambda: any(a["rule"] == "T5" for a in room(server, "Room H1")["alarms"]),
             timeout=20, what="the T5 alarm")
    listener.send(message("valid-oximeter-continua-wan.hl7v2", time.time()))
    wait_for(lambda: not room(server, "Room H1")["statuses"], timeout=20,
             what="device_lost to end")


@pytest.mark.parametrize(("version", "welcomed"), [(1, True), (2, True), (3, False)])
def test_protocol_versions(server: Server, version: int, welcomed: bool) -> None:
    """The server welcomes version-1 adapters beside version-2 ones (ABP numerics) and refuses an
    unknown version on field ``protocol``, naming the versions it takes."""
    headers = {"Authorization": f"Bearer {server.device_token('mon-v')}"}
    with connect(f"{server.ws}/ws/ingest", additional_headers=headers) as ws:
        ws.send(json.dumps({"type": "hello", "seq": 0, "protocol": version, "monitor_id": "mon-v",
                            "stream": f"s{version}", "room": "Room V", "mode": "test"}))
        answer = json.loads(ws.recv(timeout=seconds(10)))
        if not welcomed:
            assert answer["field"] == "protocol" and "speaks 1, 2" in answer["reason"]
            return
        assert answer["type"] == "welcome"
        if version == 2:
            ws.send(json.dumps({"type": "numerics", "seq": 1, "t": time.time(), "values": {
                "ABPmean": {"value": -16, "unit": "mmHg"}, "ABPsys": {"value": 16, "unit": "kPa"}}}))
            assert json.loads(ws.recv(timeout=seconds(10))) == {"type": "ack", "seq": 1}
            values = wait_for(lambda: (r := room(server, "Room V")) and r["latest"], what="ABP")
            assert values["ABPmean"]["value"] == -16 and values["ABPsys"]["value"] == 120.01


def test_tls(server: Server, tmp_path: Path) -> None:
    """With --certfile/--keyfile the listener speaks MLLP over TLS: a client that trusts the
    certificate gets its AA and the reading reaches the room; a plain-TCP client gets no ACK."""
    cert, key = self_signed(tmp_path)
    lst = Listener(server, tmp_path, 30, "--certfile", str(cert), "--keyfile", str(key))
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", lst.port), timeout=seconds(10)) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(frame(message("valid-oximeter-continua-wan.hl7v2", time.time()).encode()))
            ack = tls.recv(65536).decode()
        assert msa(ack)[1] == "AA", ack
        wait_for(lambda: (r := room(server, "Room H1")) and "SpO2" in r["latest"], timeout=20,
                 what="the reading sent over TLS")
        with socket.create_connection(("127.0.0.1", lst.port), timeout=seconds(5)) as plain:
            plain.sendall(frame(message("valid-pcd01-request.hl7v2", time.time()).encode()))
            try:
                answer = plain.recv(65536)
            except (ConnectionError, TimeoutError):
                answer = b""
        assert b"MSA" not in answer
    finally:
        lst.stop()
