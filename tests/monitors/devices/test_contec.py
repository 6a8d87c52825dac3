"""Contec CMS50D+/CMS50E: the documented vectors decode as EXPECTED.md says, the host commands are
byte-exact, and the device side answers the host as the vendor document describes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.devices.contec import (
    ContecLegacyParser,
    ContecParser,
    command,
    decode_payload,
    encode_packet,
)
from monitors.devices.contec_device import (
    ContecDevice,
    ContecLegacyDevice,
    encode_legacy,
    encode_realtime,
)
from monitors.devices.events import DeviceStatus, Garbage, Numerics, WaveChunk

DATA = Path(__file__).parents[2] / "data" / "serial" / "contec_cms50"


def vectors() -> dict[str, bytes]:
    """The synthetic vectors file: description -> packet bytes."""
    out = {}
    for line in (DATA / "synthetic_contec_vectors.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        hex_part, _, description = line.partition("#")
        out[description.strip()] = bytes.fromhex(hex_part)
    return out


VECTORS = vectors()


def find(prefix: str) -> bytes:
    matches = [v for k, v in VECTORS.items() if k.startswith(prefix)]
    assert len(matches) == 1, prefix
    return matches[0]


def events_of(parser, data: bytes) -> list:
    parser.receive_data(data)
    return parser.events_received()


def test_host_commands_match_vectors():
    """start, stop, PC-connected, identifier and PI-support commands are byte-identical."""
    for cmd in (0xA1, 0xA2, 0xAF, 0xAA, 0xAC):
        assert command(cmd) == find(f"host->dev V7 cmd 0x{cmd:02X}")


def test_parser_queues_start_keepalive_stop_without_timers():
    """start()/keepalive()/stop() only queue bytes; data_to_send() hands them over once."""
    p = ContecParser()
    assert p.data_to_send() == b""
    p.start()
    p.keepalive()
    p.stop()
    assert p.data_to_send() == command(0xA1) + command(0xAF) + command(0xA2)
    assert p.data_to_send() == b""


def test_realtime_normal_packet():
    """SpO2 97, PR 72, PI 1.25 %; the pleth sample 50 goes into the pleth chunk."""
    p = ContecParser()
    events = events_of(p, find("dev->host V7 real-time: SpO2 97") * 15)
    assert events[0] == Numerics({"SpO2": 97.0, "PR": 72.0, "PI": 1.25})
    assert events[-1] == WaveChunk("PLETH", 60.0, (50.0,) * 15)
    assert p.realtime_packets == 15


def test_realtime_pr_200_uses_high_bits_byte():
    """PR 200 needs bit 7 from the high-bits byte; a parser that ignores it would say 72."""
    events = events_of(ContecParser(), find("dev->host V7 real-time: SpO2 88"))
    assert events == [Numerics({"SpO2": 88.0, "PR": 200.0, "PI": 0.8})]


def test_probe_error_gives_none_and_probe_off_status():
    """Probe error: SpO2, PR, PI are None (not 0, not 127/255) and probe_off begins, then ends."""
    p = ContecParser()
    events_of(p, find("dev->host V7 real-time: SpO2 97"))
    events = events_of(p, find("dev->host V7 real-time: probe error"))
    assert events == [Numerics({"SpO2": None, "PR": None, "PI": None}),
                      DeviceStatus("probe_off", True, "probe error / finger out")]
    events = events_of(p, find("dev->host V7 real-time: SpO2 97"))
    assert DeviceStatus("probe_off", False, "probe error / finger out") in events


def test_searching_packet_is_pulse_search():
    """The searching packet (PI unsupported) reports pulse_search and no PI key at all."""
    events = events_of(ContecParser(), find("dev->host V7 real-time: searching"))
    assert events == [Numerics({"SpO2": None, "PR": None}),
                      DeviceStatus("pulse_search", True, "searching for pulse")]


def test_trailing_ff_ff_is_invalid_pi_not_a_delimiter():
    """Back-to-back packets ending in ff ff still decode one by one (ff ff is PI invalid)."""
    probe = find("dev->host V7 real-time: probe error")
    p = ContecParser()
    events_of(p, probe * 3)
    assert p.realtime_packets == 3


def test_truncated_packet_is_garbage_and_next_packet_decodes():
    """A packet cut short by the next type byte is discarded whole; decoding restarts there."""
    good = find("dev->host V7 real-time: SpO2 97")
    events = events_of(ContecParser(), good[:5] + good)
    assert events[0] == Garbage(5, "truncated packet")
    assert events[1] == Numerics({"SpO2": 97.0, "PR": 72.0, "PI": 1.25})


def test_numerics_repeat_once_a_second_when_unchanged():
    """Unchanged values are re-sent every 60 packets, not 60 times a second."""
    events = events_of(ContecParser(), find("dev->host V7 real-time: SpO2 97") * 120)
    assert sum(isinstance(e, Numerics) for e in events) == 2
    assert sum(isinstance(e, WaveChunk) for e in events) == 8


def test_legacy_vectors():
    """The three old 5-byte packets: normal, PR 200 via byte 2 bit 6, and no finger."""
    p = ContecLegacyParser()
    assert events_of(p, find("dev->host OLD 5-byte live: SpO2 97")) == [
        Numerics({"SpO2": 97.0, "PR": 72.0})]
    assert events_of(p, find("dev->host OLD 5-byte live: SpO2 88")) == [
        Numerics({"SpO2": 88.0, "PR": 200.0})]
    assert events_of(p, find("dev->host OLD 5-byte live: no finger")) == [
        Numerics({"SpO2": None, "PR": None}),
        DeviceStatus("probe_off", True, "probe error / finger out")]


def test_encoders_reproduce_vectors():
    """The device encoders write the documented vectors byte for byte."""
    assert encode_realtime(spo2=97, pr=72, pi=1.25, pleth=50, bar=5, signal=4) == find(
        "dev->host V7 real-time: SpO2 97")
    assert encode_realtime(spo2=88, pr=200, pi=0.8, pleth=100, bar=9, signal=6, beep=True,
                           low_spo2=True) == find("dev->host V7 real-time: SpO2 88")
    assert encode_realtime(spo2=None, pr=None, pi=None, probe_error=True, signal=0) == find(
        "dev->host V7 real-time: probe error")
    assert encode_realtime(spo2=None, pr=None, pi=None, searching=True,
                           searching_too_long=True, signal=0) == find(
        "dev->host V7 real-time: searching")
    assert encode_legacy(spo2=97, pr=72, pleth=50, bar=5) == find(
        "dev->host OLD 5-byte live: SpO2 97")
    assert encode_legacy(spo2=88, pr=200, pleth=100, bar=9, signal=6, beep=True,
                         spo2_dropping=True) == find("dev->host OLD 5-byte live: SpO2 88")
    assert encode_legacy(spo2=None, pr=None, probe_error=True, searching=True,
                         signal=0) == find("dev->host OLD 5-byte live: no finger")


def test_device_streams_only_between_start_and_stop():
    """The emulated device is silent until "start", answers "stop" with 0C, and is silent again."""
    host, device = ContecParser(), ContecDevice()
    device.sample(spo2=97, pr=72)
    assert device.data_to_send() == b""
    host.start()
    device.receive_data(host.data_to_send())
    device.sample(spo2=97, pr=72, pi=2.5, pleth=10)
    assert events_of(host, device.data_to_send())[0] == Numerics(
        {"SpO2": 97.0, "PR": 72.0, "PI": 2.5})
    host.stop()
    device.receive_data(host.data_to_send())
    assert device.data_to_send() == encode_packet(0x0C, b"")
    device.sample(spo2=97, pr=72)
    assert device.data_to_send() == b""


def test_device_answers_identifier_and_unsupported_commands():
    """The device answers "identifier?" with a type-04 packet the host stores, and refuses an
    unknown command with a 0B feedback that the host reports."""
    host, device = ContecParser(), ContecDevice(identifier="CMS50E")
    host.ask_identifier()
    device.receive_data(host.data_to_send() + command(0xB5))
    events = events_of(host, device.data_to_send())
    assert host.identifier == "CMS50E"
    assert events == [DeviceStatus("other", True, "command 0xb5 refused (reason 0x05)")]


def test_legacy_device_round_trip():
    """The old-format device's packets read back through the legacy parser."""
    device = ContecLegacyDevice()
    device.sample(spo2=95, pr=130, pleth=64)
    assert events_of(ContecLegacyParser(), device.data_to_send()) == [
        Numerics({"SpO2": 95.0, "PR": 130.0})]


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(min_size=0, max_size=7), kind=st.integers(0, 0x7F))
def test_high_bits_packing_round_trips(payload, kind):
    """Every payload survives the bit-7 move into the high-bits byte, and every wire byte after
    the type has bit 7 set."""
    packet = encode_packet(kind, payload)
    assert decode_payload(packet) == payload
    assert all(b & 0x80 for b in packet[1:])


@settings(max_examples=200, deadline=None)
@given(
    spo2=st.none() | st.integers(1, 100),
    pr=st.none() | st.integers(1, 254),
    pi=st.none() | st.integers(0, 2000).map(lambda x: x / 100),
    pleth=st.integers(0, 127),
)
def test_realtime_round_trip(spo2, pr, pi, pleth):
    """Values the encoder writes are the values the parser reads (None stays None)."""
    events = events_of(ContecParser(), encode_realtime(spo2=spo2, pr=pr, pi=pi, pleth=pleth))
    expected = {"SpO2": None if spo2 is None else float(spo2),
                "PR": None if pr is None else float(pr)}
    if pi is not None:
        expected["PI"] = pi
    assert events[0] == Numerics(expected)
