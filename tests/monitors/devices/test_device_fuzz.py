"""Property tests over every parser: random, truncated, re-chunked and corrupted input never
raises, never grows memory without bound, and never yields a value from a damaged frame."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.devices import PROTOCOLS
from monitors.devices.contec import ContecParser
from monitors.devices.contec_device import ContecDevice, encode_legacy, encode_realtime
from monitors.devices.events import (
    STATUS_CODES,
    DeviceStatus,
    Garbage,
    Nibp,
    Numerics,
    Pressure,
    WaveChunk,
)
from monitors.devices.intellivue import IntelliVueParser, frame
from monitors.devices.intellivue_device import IntelliVueDevice, nu_obs, poll_result
from monitors.devices.masimo_device import encode_line
from monitors.protocol import UNITS, Status

FUZZ = settings(max_examples=150, deadline=None)
PARSERS = {name: proto.parser for name, proto in PROTOCOLS.items()}


def check_events(events: list) -> None:
    """Every event is well-formed: known types, protocol status codes, values in range."""
    for e in events:
        assert isinstance(e, (Numerics, Nibp, Pressure, WaveChunk, DeviceStatus, Garbage))
        if isinstance(e, Numerics):
            for param, value in e.values.items():
                _, _, low, high = UNITS[param]
                assert value is None or low <= value <= high
        elif isinstance(e, DeviceStatus):
            assert e.code in STATUS_CODES
        elif isinstance(e, Garbage):
            assert e.n_bytes > 0 and e.reason


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def values(events: list) -> list:
    return [e for e in events if not isinstance(e, Garbage)]


def feed_all(parser, pieces: list[bytes]) -> list:
    events = []
    for piece in pieces:
        parser.receive_data(piece)
        events += parser.events_received()
    return events


def sample_stream(name: str) -> bytes:
    """A valid stream of each protocol, written by the device-side encoders."""
    if name == "masimo":
        return b"".join(encode_line(datetime(2024, 5, 6, 7, 8, s), spo2=90 + s % 10, pr=60 + s,
                                    pi=s / 10, exc=0x800 | (s % 3 == 0) * 0x20)
                        for s in range(5))
    if name == "contec":
        return b"".join(encode_realtime(spo2=90 + i % 10, pr=60 + i, pi=i / 10, pleth=i,
                                        probe_error=i % 7 == 0) for i in range(40))
    if name == "contec_legacy":
        return b"".join(encode_legacy(spo2=90 + i % 10, pr=60 + i, pleth=i) for i in range(40))
    if name == "intellivue":
        return b"".join(numerics_frame(i, 80 + i) for i in range(5))
    return (b'{"HR": 72, "SpO2": 97, "nibp": {"sys": 120, "dia": 80}}\n'
            b"HR,SpO2,status\n70,96,probe_off\n71,,\n")


def numerics_frame(i: int, spo2: float) -> bytes:
    return frame(poll_result(1, 1, 6, 0x0803, 8000 * i, [(1975, [(0x0950, nu_obs(
        0x4BB8, 0x0220, spo2))])], sequence=i))


@FUZZ
@given(name=st.sampled_from(sorted(PARSERS)), data=st.binary(max_size=2000))
def test_random_bytes_never_raise(name, data):
    """Any bytes at all produce only well-formed events and no exception."""
    parser = PARSERS[name]()
    parser.receive_data(data)
    check_events(parser.events_received())
    assert isinstance(parser.data_to_send(), bytes)


@FUZZ
@given(name=st.sampled_from(sorted(PARSERS)),
       prefix=st.binary(max_size=300), cut=st.integers(0, 10_000))
def test_truncated_and_noisy_streams_resynchronise(name, prefix, cut):
    """Noise then a stream cut at a random point: no exception, and a whole valid stream sent
    afterwards still produces values (the parser found its footing again)."""
    stream = sample_stream(name)
    parser = PARSERS[name]()
    parser.receive_data(prefix + stream[: cut % (len(stream) + 1)])
    check_events(parser.events_received())
    # A line-based protocol needs a line end to leave the damaged line behind.
    parser.receive_data(b"\r\n" + stream if name in ("masimo", "generic") else stream)
    events = parser.events_received()
    check_events(events)
    assert any(isinstance(e, Numerics) for e in events)


@FUZZ
@given(name=st.sampled_from(sorted(PARSERS)), cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_chunking_does_not_change_the_values(name, cuts):
    """However the transport splits the bytes, the same values come out."""
    stream = sample_stream(name)
    whole = values(feed_all(PARSERS[name](), [stream]))
    assert whole
    assert values(feed_all(PARSERS[name](), chunks(stream, cuts))) == whole


@FUZZ
@given(name=st.sampled_from(sorted(PARSERS)), size=st.integers(70_000, 200_000))
def test_buffers_stay_bounded(name, size):
    """A long run of one repeated byte (no frame end, no line end) is discarded, not stored."""
    parser = PARSERS[name]()
    for _ in range(size // 10_000):
        parser.receive_data(b"\x42" * 10_000)
    buffered = [len(getattr(parser, attr)) for attr in ("_buf",) if hasattr(parser, attr)]
    if hasattr(parser, "_deframer"):
        buffered.append(len(parser._deframer._buf))
    assert all(n <= 65_536 for n in buffered)
    assert sum(e.n_bytes for e in parser.events_received() if isinstance(e, Garbage)) > 0


@settings(max_examples=300, deadline=None)
@given(target=st.integers(0, 4), position=st.integers(0, 10_000), xor=st.integers(1, 255))
def test_intellivue_corrupted_frame_yields_no_value(target, position, xor):
    """One damaged byte anywhere in a frame (delimiters included): that frame's SpO2 never
    appears, and the next frame after the damaged one still decodes."""
    frames = [numerics_frame(i, 80 + i) for i in range(5)]
    damaged = bytearray(frames[target])
    damaged[position % len(damaged)] ^= xor
    frames[target] = bytes(damaged)
    parser = IntelliVueParser()
    parser.receive_data(b"".join(frames))
    events = parser.events_received()
    check_events(events)
    seen = [e.values["SpO2"] for e in events if isinstance(e, Numerics)]
    assert 80 + target not in seen
    if target < 4:
        assert 80 + target + 1 in seen


@settings(max_examples=300, deadline=None)
@given(target=st.integers(0, 9), position=st.integers(0, 8))
def test_contec_packet_with_broken_sync_yields_no_value(target, position):
    """A packet whose sync bits are damaged (a data byte losing bit 7, or the type byte gaining
    it) is discarded whole; neighbours are unaffected."""
    packets = [bytearray(encode_realtime(spo2=60 + i, pr=100, pi=None)) for i in range(10)]
    packets[target][position] ^= 0x80
    parser = ContecParser()
    parser.receive_data(b"".join(bytes(p) for p in packets))
    events = parser.events_received()
    check_events(events)
    seen = [e.values["SpO2"] for e in events if isinstance(e, Numerics)]
    assert 60 + target not in seen
    assert [v for v in seen if v != 60 + target] == [60 + i for i in range(10) if i != target]
    assert any(isinstance(e, Garbage) for e in events)


@FUZZ
@given(data=st.binary(max_size=1000))
def test_device_side_receivers_never_raise(data):
    """The emulated devices ignore garbage from the host instead of failing."""
    for device in (ContecDevice(), IntelliVueDevice(), PROTOCOLS["masimo"].device()):
        device.receive_data(data)
        assert isinstance(device.data_to_send(), bytes)


def test_registry_settings_and_interface():
    """Every registered protocol has a parser with the shared interface, pyserial-style port
    settings, and a start() method exactly when the host must start the device."""
    assert {"masimo", "contec", "intellivue", "generic"} <= set(PROTOCOLS)
    for name, proto in PROTOCOLS.items():
        parser = proto.parser()
        for method in ("receive_data", "events_received", "data_to_send"):
            assert callable(getattr(parser, method)), (name, method)
        assert proto.parity in ("N", "E", "O") and proto.bytesize in (7, 8)
        assert proto.stopbits in (1, 2) and proto.baud in (4800, 9600, 19200, 115200)
        assert hasattr(parser, "start") == proto.start_command, name
    assert (PROTOCOLS["masimo"].baud, PROTOCOLS["contec"].baud) == (9600, 115200)
    assert (PROTOCOLS["contec_legacy"].baud, PROTOCOLS["contec_legacy"].parity) == (19200, "O")


def test_status_codes_match_the_wire_protocol():
    """The parsers' status codes are exactly the wire protocol's, so every DeviceStatus can be
    sent as a Status message."""
    assert set(get_args(Status.model_fields["code"].annotation)) == STATUS_CODES
