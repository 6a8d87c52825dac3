"""The alarm communication manager channel (alerts/delivery/pcd04.py): the ORU^R40 it sends, read
field by field by a real MLLP listener standing in for the manager; the ACK handling (accepted,
refused, silent, absent, restarted); the PCD-05 status listener; fuzzed status messages."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hl7
import pytest
from hl7.mllp import open_hl7_connection, start_hl7_server
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.delivery import pcd04
from alerts.delivery.config import Channels, Pcd04Target
from alerts.delivery.wire import Notice, State, StatusReport
from monitors.hl7 import mdc
from tests.conftest import free_port, seconds
from tests.security.test_tls import self_signed

T0 = 1_780_000_000.0


def notice(**changes: Any) -> Notice:
    base: dict[str, Any] = {
        "delivery_id": 41, "alarm_id": 7, "log_id": 90, "event": "raised", "session_id": 12,
        "room": "Room 3", "rule": "O3", "param": "SpO2", "priority": "high",
        "kind": "physiological", "message": "SpO2 84 % ≤ 85", "value": 84.0, "limit": 85.0,
        "mode": "live", "step": "site", "decided_server": T0}
    return Notice(**{**base, **changes})


PROBE_OFF: dict[str, Any] = {"rule": "T1", "param": None, "priority": "low", "kind": "technical",
                              "message": "SpO2 probe off", "value": None, "limit": None}


class Manager:
    """The alarm manager's side: an hl7.mllp server on a free port that keeps every message it
    reads and answers it as ``answer`` says (``silent``: never)."""

    def __init__(self, answer: str = "AA", reason: str = "") -> None:
        self.answer, self.reason = answer, reason
        self.drop_next = False  # close the connection on the next message, without an answer
        self.received: list[hl7.Message] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[Any] = set()

    async def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self._server = await start_hl7_server(self._client, "127.0.0.1", port, encoding="utf-8",
                                              ssl=tls)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _client(self, reader: Any, writer: Any) -> None:
        self._writers.add(writer)
        try:
            while True:
                message = await reader.readmessage()
                self.received.append(message)
                if self.drop_next:
                    self.drop_next = False
                    break
                if self.answer == "stale":  # first the answer to some earlier message
                    writer.writeblock(b"MSH|^~\\&|ACM|HOSP|||20260101||ACK|Z|P|2.6\rMSA|AR|0.9")
                    writer.writeblock(b"not an ACK at all")
                if self.answer != "silent":
                    writer.writemessage(self._ack(message))
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _ack(self, message: hl7.Message) -> hl7.Message:
        control = str(message.segment("MSH")[10])
        code = "AA" if self.answer == "stale" else self.answer
        text = (f"MSH|^~\\&|ACM|HOSP|||20260101000000||ACK^R40^ACK|A{len(self.received)}|P|2.6\r"
                f"MSA|{code}|{control}|{self.reason}")
        if self.answer not in ("AA", "stale"):
            text += ("\rERR||PV1^1^3|207^Application internal error^HL70357|E||||"
                     "no routing for this location")
        return hl7.parse(text)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()


def run(body: Callable[..., Awaitable[None]], *args: Any) -> None:
    asyncio.run(asyncio.wait_for(body(*args), seconds(20)))


def sender_for(port: int, timeout_s: float = 5.0, status_port: int | None = None,
               reports: list[StatusReport] | None = None, tls: bool = False,
               context: ssl.SSLContext | None = None) -> pcd04.Pcd04Sender:
    target = Pcd04Target(host="127.0.0.1", port=port, status_port=status_port, facility="CLINIC",
                         tls=tls)
    sink = reports if reports is not None else []
    return pcd04.Pcd04Sender(target, seconds(timeout_s), sink.append, status_host="127.0.0.1",
                             tls=context)


def field(segment: Any, n: int) -> str:
    return str(segment[n])


def obx_rows(message: hl7.Message) -> list[Any]:
    return [s for s in message if str(s[0]) == "OBX"]


# --- What is sent -----------------------------------------------------------------------------


def test_physiological_alarm_field_by_field() -> None:
    """SpO2 low at high priority reaches the manager as an ORU^R40 laid out as PCD-04 says: the
    profile and acknowledgement modes in MSH, no name in PID, the room in PV1-3, the alarm id in
    OBR-3 and the delivery id in OBR-2, and the seven alert OBX with their 11073 codes; the AA
    makes the delivery delivered."""
    async def body() -> None:
        manager = Manager()
        await manager.start()
        sender = sender_for(manager.port)
        outcome = await sender.send(notice())
        await sender.close()
        await manager.stop()
        assert outcome.state is State.delivered and not outcome.retry
        (m,) = manager.received
        msh = m.segment("MSH")
        assert field(msh, 9) == "ORU^R40^ORU_R40" and field(msh, 4) == "CLINIC"
        assert field(msh, 11) == "P" and field(msh, 12) == "2.6"
        assert (field(msh, 15), field(msh, 16)) == ("AL", "NE")
        assert field(msh, 21) == "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO"
        assert field(msh, 10).startswith("41.")
        pid = m.segment("PID")
        assert field(pid, 3) == "12^^^CLINIC^VN" and len(pid) <= 4  # no PID-5: no name
        assert field(m.segment("PV1"), 3) == "^Room 3^^CLINIC"
        obr = m.segment("OBR")
        assert field(obr, 2) == "41^CLINIC" and field(obr, 3) == "7^CLINIC"
        assert field(obr, 4) == "196616^MDC_EVT_ALARM^MDC" and field(obr, 7) == "20260528202640+0000"
        rows = [[field(s, n) for n in (1, 2, 3, 4, 5, 6, 7, 8, 11)] for s in obx_rows(m)]
        assert rows == [
            ["1", "ST", "196674^MDC_EVT_LO_VAL_LT_LIM^MDC", "1.1.1.1.1", "SpO2 84 % ≤ 85", "", "",
             "L~PH~SP", "F"],
            ["2", "NM", "150456^MDC_PULS_OXIM_SAT_O2^MDC", "1.1.1.1.2", "84",
             "262688^MDC_DIM_PERCENT^MDC", ">85", "", "F"],
            ["3", "ST", "68481^MDC_ATTR_EVENT_PHASE^MDC", "1.1.1.1.3", "start", "", "", "", "F"],
            ["4", "ST", "68482^MDC_ATTR_ALARM_STATE^MDC", "1.1.1.1.4", "active", "", "", "", "F"],
            ["5", "ST", "68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC", "1.1.1.1.5", "enabled", "",
             "", "", "F"],
            ["6", "ST", "68484^MDC_ATTR_ALARM_PRIORITY^MDC", "1.1.1.1.6", "PH", "", "", "", "F"],
            ["7", "ST", "68485^MDC_ATTR_ALERT_TYPE^MDC", "1.1.1.1.7", "SP", "", "", "", "F"],
        ]
        assert all(field(s, 14) == "20260528202640+0000" for s in obx_rows(m))
    run(body)


def test_technical_alarm_and_demo_session() -> None:
    """A technical alarm carries its 11073 event (probe off: MDC_EVT_SENSOR_DISCONN), type ST and
    the monitor as its source; one 11073 has no event for (feed lost) is MDC_EVT_ALARM with its
    text; a demo session's alarm is training data (MSH-11 T) and says DEMO in its text."""
    async def body() -> None:
        manager = Manager()
        await manager.start()
        sender = sender_for(manager.port)
        assert (await sender.send(notice(**PROBE_OFF))).state is State.delivered
        feed_lost = notice(**{**PROBE_OFF, "rule": "T4", "priority": "medium",
                              "message": "Monitor feed lost", "mode": "demo"})
        assert (await sender.send(feed_lost)).state is State.delivered
        await sender.close()
        await manager.stop()
        probe, lost = manager.received
        rows = obx_rows(probe)
        assert field(rows[0], 3) == "196916^MDC_EVT_SENSOR_DISCONN^MDC"
        assert field(rows[0], 5) == "SpO2 probe off" and field(rows[0], 8) == "PL~ST"
        assert field(rows[1], 2) == "CWE" and field(rows[1], 3) == "68480^MDC_ATTR_ALERT_SOURCE^MDC"
        assert field(rows[1], 5) == "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC"
        assert [field(r, 5) for r in rows[2:]] == ["start", "active", "enabled", "PL", "ST"]
        assert field(probe.segment("MSH"), 11) == "P"
        rows = obx_rows(lost)
        assert field(rows[0], 3) == "196616^MDC_EVT_ALARM^MDC"
        assert field(rows[0], 5) == "[DEMO] Monitor feed lost" and field(rows[0], 8) == "PM~ST"
        assert field(lost.segment("MSH"), 11) == "T"
    run(body)


def test_updates_of_one_alarm() -> None:
    """The acknowledgement and the end of an alarm are messages about the same alarm id (OBR-3),
    each its own delivery (OBR-2) and control id: acknowledged is an update, still active,
    alert-acknowledged; cleared is the end, inactive."""
    async def body() -> None:
        manager = Manager()
        await manager.start()
        sender = sender_for(manager.port)
        for event, delivery in (("raised", 41), ("acknowledged", 42), ("cleared", 43)):
            sent = await sender.send(notice(event=event, delivery_id=delivery))
            assert sent.state is State.delivered
        await sender.close()
        await manager.stop()
        assert len({field(m.segment("MSH"), 10) for m in manager.received}) == 3
        assert [field(m.segment("OBR"), 3) for m in manager.received] == ["7^CLINIC"] * 3
        assert [field(m.segment("OBR"), 2) for m in manager.received] == [
            "41^CLINIC", "42^CLINIC", "43^CLINIC"]
        facets = [[field(r, 5) for r in obx_rows(m)[2:5]] for m in manager.received]
        assert facets == [["start", "active", "enabled"],
                          ["update", "active", "alert-acknowledged"],
                          ["end", "inactive", "enabled"]]
    run(body)


def test_text_with_separators_reads_back() -> None:
    """A room and an alarm text holding HL7's separators are escaped, and read back as written."""
    room, text = "Room|3^A&B", "SpO2 ~84 \\ check | probe"
    message = hl7.parse(pcd04.build_r40(notice(room=room, message=text), "CL|NIC", T0, "1.1"))
    assert message.unescape(str(message.segment("PV1")[3][0][1])) == room
    assert message.unescape(str(obx_rows(message)[0][5])) == text
    assert message.unescape(str(message.segment("MSH")[4])) == "CL|NIC"


def test_parameter_codes_read_back_as_the_parameter() -> None:
    """Every parameter's outbound MDC code is one the PCD-01 reader takes as that parameter, and
    every parameter with a unit has a unit code."""
    for param, (code, _) in mdc.PARAM_CODES.items():
        known = mdc.CODES[code]
        assert mdc.NIBP_PARAMS.get(known.name, known.name) == param
        assert pcd04._unit(param) is not None


# --- The manager's answers ----------------------------------------------------------------------


def test_refusal_is_failed_with_the_reason() -> None:
    """An AR with an ERR segment fails the delivery without a retry, with MSA-3 and the ERR's text
    as the reason."""
    async def body() -> None:
        manager = Manager(answer="AR", reason="unknown location")
        await manager.start()
        sender = sender_for(manager.port)
        outcome = await sender.send(notice())
        await sender.close()
        await manager.stop()
        assert outcome.state is State.failed and not outcome.retry
        assert outcome.detail.startswith("AR: unknown location")
        assert "no routing for this location" in outcome.detail
    run(body)


def test_ack_is_matched_by_control_id() -> None:
    """An answer to another message (MSA-2 not this message's MSH-10) and an answer that is not
    HL7 are skipped and counted; the message's own AA delivers it."""
    async def body() -> None:
        manager = Manager(answer="stale")
        await manager.start()
        sender = sender_for(manager.port)
        outcome = await sender.send(notice())
        await sender.close()
        await manager.stop()
        assert outcome.state is State.delivered, outcome.detail
        assert sender.counts["stale_acks"] == 1 and sender.counts["garbage"] == 1
    run(body)


def test_silent_manager_fails_within_the_timeout() -> None:
    """A manager that takes the message and never answers: failed, worth a retry, once the timeout
    is over and not much later."""
    async def body() -> None:
        manager = Manager(answer="silent")
        await manager.start()
        sender = sender_for(manager.port, timeout_s=0.3)
        start = time.monotonic()
        outcome = await sender.send(notice())
        elapsed = time.monotonic() - start
        await sender.close()
        await manager.stop()
        assert outcome.state is State.failed and outcome.retry and "no ACK" in outcome.detail
        assert seconds(0.3) <= elapsed < seconds(0.3) + seconds(1)
        assert len(manager.received) == 1
    run(body)


def test_concurrent_sends_go_one_at_a_time() -> None:
    """Alarms sent at once go one message at a time, each delivered by its own ACK; behind a
    silent manager the one waiting its turn fails at its own timeout, saying why, unsent."""
    async def body() -> None:
        manager = Manager()
        await manager.start()
        sender = sender_for(manager.port)
        outcomes = await asyncio.gather(*(sender.send(notice(delivery_id=d)) for d in (41, 42, 43)))
        assert [o.state for o in outcomes] == [State.delivered] * 3
        assert sorted(field(m.segment("OBR"), 2) for m in manager.received) == [
            "41^CLINIC", "42^CLINIC", "43^CLINIC"]
        manager.answer = "silent"
        late = sender_for(manager.port, timeout_s=0.3)
        first, second = await asyncio.gather(late.send(notice()), late.send(notice(delivery_id=42)))
        for s in (sender, late):
            await s.close()
        await manager.stop()
        assert "no ACK" in first.detail and "still waiting for the ACK" in first.detail
        assert second.retry and "earlier message still waited" in second.detail
        assert len(manager.received) == 4
    run(body)


def test_nothing_listening_fails_with_retry() -> None:
    """No manager on the port: failed at once, worth a retry, saying it cannot connect."""
    async def body() -> None:
        sender = sender_for(free_port())
        outcome = await sender.send(notice())
        await sender.close()
        assert outcome.state is State.failed and outcome.retry
        assert "cannot connect" in outcome.detail and outcome.detail.startswith("pcd04 127.0.0.1:")
    run(body)


def test_restarted_manager_is_reached_again() -> None:
    """The manager restarts between two alarms (closing the connection): the next send opens a
    new connection and is delivered."""
    async def body() -> None:
        manager = Manager()
        await manager.start()
        sender = sender_for(manager.port)
        assert (await sender.send(notice())).state is State.delivered
        await manager.stop()
        await asyncio.sleep(seconds(0.05))
        again = Manager()
        await again.start(manager.port)
        outcome = await sender.send(notice(delivery_id=42, event="acknowledged"))
        await sender.close()
        await again.stop()
        assert outcome.state is State.delivered, outcome.detail
        assert len(again.received) == 1 and sender.counts["connections"] == 2
    run(body)


def test_connection_closed_under_a_message_is_tried_once_more() -> None:
    """A manager that closes an idle connection just as the next message arrives: the message is
    sent once more on a new connection and delivered (the manager may see it twice)."""
    async def body() -> None:
        manager = Manager()
        await manager.start()
        sender = sender_for(manager.port)
        assert (await sender.send(notice())).state is State.delivered
        manager.drop_next = True
        outcome = await sender.send(notice(delivery_id=42, event="acknowledged"))
        await sender.close()
        await manager.stop()
        assert outcome.state is State.delivered, outcome.detail
        assert [field(m.segment("OBR"), 2) for m in manager.received] == [
            "41^CLINIC", "42^CLINIC", "42^CLINIC"]
        assert sender.counts["reconnects"] == 1
    run(body)


def test_tls_manager(tmp_path: Path) -> None:
    """With ``tls`` the message goes over TLS: delivered when the manager's certificate is
    trusted; refused without a retry, saying why, when it is not (the system's CAs do not know a
    self-signed one)."""
    cert, key = self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)

    async def body() -> None:
        manager = Manager()
        await manager.start(tls=server)
        trusting = sender_for(manager.port, tls=True,
                              context=ssl.create_default_context(cafile=str(cert)))
        delivered = await trusting.send(notice())
        stranger = sender_for(manager.port, tls=True)
        refused = await stranger.send(notice(delivery_id=42))
        for sender in (trusting, stranger):
            await sender.close()
        await manager.stop()
        assert delivered.state is State.delivered, delivered.detail
        assert refused.state is State.failed and not refused.retry
        assert "certificate" in refused.detail
        assert len(manager.received) == 1
    run(body)


def test_senders_from_the_channels_file() -> None:
    """The factory makes one sender per manager of the channels file, named by host and port."""
    channels = Channels(pcd04=[Pcd04Target(host="acm.example", port=2575),
                               Pcd04Target(host="acm2.example", port=2577, status_port=0)])
    made = pcd04.senders(channels, 5.0, lambda report: None)
    assert [s.destination for s in made] == ["pcd04 acm.example:2575", "pcd04 acm2.example:2577"]
    assert all(s.channel.value == "pcd04" for s in made)


# --- The manager's status (PCD-05) --------------------------------------------------------------


def status(state: str, delivery: str = "41", by: str = "ann^Nurse^Ann", kind: str = "ORU^R41",
           control: str = "S1") -> str:
    return (f"MSH|^~\\&|ACM|HOSP|vitalwatch|CLINIC|20260101000000||{kind}^ORU_R41|{control}|P|2.6\r"
            f"PID|||12^^^CLINIC^VN\r"
            f"OBR|1|{delivery}^CLINIC|7^CLINIC|196616^MDC_EVT_ALARM^MDC\r"
            f"OBX|1|ST|^ALERT_DISSEMINATION_STATUS|1|{state}|||||||||||{by}\r")


def test_status_messages_are_reported_and_acknowledged() -> None:
    """The manager's status messages on the status port become StatusReports for the delivery
    (delivered, read, accepted by a user, rejected) and each is answered ACK^R41 AA echoing its
    control id; a status that moves nothing is AA without a report."""
    async def body() -> None:
        reports: list[StatusReport] = []
        sender = sender_for(free_port(), status_port=0, reports=reports)
        await sender.start()
        assert sender.status_port
        reader, writer = await open_hl7_connection("127.0.0.1", sender.status_port,
                                                   encoding="utf-8")
        acks = []
        for n, state in enumerate(["Delivered to endpoint", "Read", "Accepted", "received",
                                   "Rejected by user"]):
            writer.writemessage(hl7.parse(status(state, control=f"S{n}")))
            await writer.drain()
            acks.append(await reader.readmessage())
        writer.close()
        await sender.close()
        assert [str(a.segment("MSA")[1]) for a in acks] == ["AA"] * 5
        assert [str(a.segment("MSA")[2]) for a in acks] == [f"S{n}" for n in range(5)]
        assert str(acks[0].segment("MSH")[9]) == "ACK^R41^ACK"
        assert [(r.delivery_id, r.state, r.by) for r in reports] == [
            (41, State.delivered, "ann"), (41, State.seen, "ann"), (41, State.acknowledged, "ann"),
            (41, State.failed, "ann")]
        assert reports[3].detail == "Rejected by user"
    run(body)


def test_garbage_on_the_status_port_is_refused_not_fatal() -> None:
    """Bytes that are not a status message — not HL7, another message type, no delivery id, an
    unknown status, bytes outside a frame — each get an AR or AE with the reason, and the
    listener still reads the next good message."""
    async def body() -> None:
        reports: list[StatusReport] = []
        sender = sender_for(free_port(), status_port=0, reports=reports)
        await sender.start()
        assert sender.status_port
        reader, writer = await open_hl7_connection("127.0.0.1", sender.status_port)
        answers = []
        for data in (b"\x0bhello\x1c\r", status("Read", kind="ADT^A01").encode(),
                     status("Read", delivery="x").encode(), status("sideways").encode(),
                     b"no frame at all\x1c\r", status("Read").encode()):
            writer.write(data if data.startswith(b"\x0b") or data.endswith(b"\x1c\r")
                         else b"\x0b" + data + b"\x1c\r")
            await writer.drain()
            answers.append(pcd04.parse_ack(await reader.readblock()))
        writer.close()
        await sender.close()
        assert [a.code if a else None for a in answers] == ["AR", "AR", "AE", "AE", "AR", "AA"]
        assert answers[1] is not None and "ADT^A01" in answers[1].detail
        assert answers[2] is not None and "OBR-2" in answers[2].detail
        assert [r.state for r in reports] == [State.seen]
        assert sender.counts["status_AR"] == 3 and sender.counts["status_AE"] == 2
    run(body)


def test_oversized_status_frame_is_refused() -> None:
    """A frame far over a status message's size is refused AR saying so, and the next message on
    the connection is still read."""
    async def body() -> None:
        reports: list[StatusReport] = []
        sender = sender_for(free_port(), status_port=0, reports=reports)
        await sender.start()
        assert sender.status_port
        reader, writer = await open_hl7_connection("127.0.0.1", sender.status_port)
        writer.write(b"\x0b" + b"x" * (pcd04.MAX_STATUS + 5000) + b"\x1c\r")
        writer.write(b"\x0b" + status("Read").encode() + b"\x1c\r")
        await writer.drain()
        answers = []
        while not answers or answers[-1].code != "AA":
            answer = pcd04.parse_ack(await reader.readblock())
            assert answer is not None
            answers.append(answer)
        writer.close()
        await sender.close()
        assert "over" in answers[0].detail and answers[0].code == "AR"
        assert [r.state for r in reports] == [State.seen]
    run(body)


def test_status_only_from_the_manager() -> None:
    """A status connection from an address that is not the manager's is closed unanswered and
    counted (a forged "accepted" would stop an escalation); a status naming another facility's
    delivery is refused AE."""
    async def body() -> None:
        reports: list[StatusReport] = []
        sender = sender_for(free_port(), status_port=0, reports=reports)
        await sender.start()
        assert sender.status_port
        reader, writer = await open_hl7_connection("127.0.0.1", sender.status_port,
                                                   local_addr=("127.0.0.2", 0))
        writer.write(b"\x0b" + status("Accepted").encode() + b"\x1c\r")
        with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
            await reader.readblock()
        writer.close()
        reader, writer = await open_hl7_connection("127.0.0.1", sender.status_port)
        writer.write(b"\x0b" + status("Accepted", delivery="41^OTHER").encode() + b"\x1c\r")
        answer = pcd04.parse_ack(await reader.readblock())
        writer.close()
        await sender.close()
        assert reports == [] and sender.counts["status_refused_peers"] == 1
        assert answer is not None and answer.code == "AE" and "OTHER" in answer.detail
    run(body)


def test_a_report_that_cannot_be_recorded_is_ae() -> None:
    """When the server cannot take the report, the manager is told AE, not AA."""
    def broken(report: StatusReport) -> None:
        raise RuntimeError("database is locked")
    target = Pcd04Target(host="127.0.0.1", port=1, status_port=0, facility="CLINIC")
    sender = pcd04.Pcd04Sender(target, 1.0, broken)
    answer = pcd04.parse_ack(sender.receive_status(status("Read").encode()))
    assert answer is not None and answer.code == "AE" and "could not be recorded" in answer.detail


def test_closed_sender_stops_listening() -> None:
    """close() closes the status port."""
    async def body() -> None:
        sender = sender_for(free_port(), status_port=0)
        await sender.start()
        port = sender.status_port
        await sender.close()
        with pytest.raises(OSError):
            await open_hl7_connection("127.0.0.1", port)
    run(body)


GOOD = status("Accepted by user").encode()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.integers(0, len(GOOD)).map(lambda n: GOOD[:n]),
                 st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)).map(
                     lambda c: GOOD[:c[0]] + bytes([c[1]]) + GOOD[c[0] + 1:])))
def test_parse_status_never_raises(data: bytes) -> None:
    """Random bytes, truncated and altered status messages: parse_status answers a StatusReport
    or None, counted, and never raises."""
    counts: Counter[str] = Counter()
    result = pcd04.parse_status(data, T0, counts)
    assert result is None or isinstance(result, StatusReport)
    assert sum(counts[v] for v in ("AA", "AE", "AR")) == 1
    assert pcd04.parse_status(GOOD, T0) == StatusReport(
        delivery_id=41, state=State.acknowledged, t_server=T0, by="ann")


def test_probe_finds_a_lost_manager_between_alarms() -> None:
    """Between alarms the probe answers whether the manager can be reached: delivered while it
    listens (no message is sent: the manager gets nothing), failed once it has gone away (its
    closing of the connection is noticed, and nothing listens), delivered again once it is back."""
    async def body() -> None:
        manager = Manager()
        await manager.start()
        sender = sender_for(manager.port, timeout_s=2)
        assert (await sender.probe()).state is State.delivered
        await manager.stop()
        await asyncio.sleep(seconds(0.05))
        lost = await sender.probe()
        assert lost.state is State.failed and lost.retry and "unreachable" in lost.detail
        again = Manager()
        await again.start(manager.port)
        back = await sender.probe()
        await sender.close()
        await again.stop()
        assert back.state is State.delivered, back.detail
        assert manager.received == [] and again.received == []
    run(body)
