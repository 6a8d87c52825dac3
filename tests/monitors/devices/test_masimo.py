"""Masimo ASCII: the shipped example lines decode to the values in EXPECTED.md, and the device-side
encoder writes lines the parser reads back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.devices.events import DeviceStatus, Garbage, Numerics
from monitors.devices.masimo import MasimoParser, parse_value
from monitors.devices.masimo_device import MasimoDevice, encode_line

DATA = Path(__file__).parents[2] / "data" / "serial" / "masimo"


def parse(data: bytes) -> list:
    p = MasimoParser()
    p.receive_data(data)
    return p.events_received()


def numerics(events: list) -> list[Numerics]:
    return [e for e in events if isinstance(e, Numerics)]


def test_remkolems_lines_decode_by_key_with_missing_values_as_none():
    """The three Rad-8/Radical-7 lines give the EXPECTED.md values; dashes are None, never 0."""
    events = parse((DATA / "remkolems_examples.txt").read_bytes())
    n = numerics(events)
    assert [x.device_time for x in n] == [
        "2016-03-17T19:19:36", "2016-03-19T13:37:12", "2007-05-15T08:12:21"]
    assert n[0].values == {"SpO2": 98.0, "PR": 123.0, "PI": 0.55}
    assert n[1].values == {"SpO2": None, "PR": None}  # "BPM=---%" with its stray %; no PI key
    assert n[2].values == {"SpO2": None, "PR": None, "PI": None}
    assert not [e for e in events if isinstance(e, Garbage)]


def test_remkolems_exc_bits_become_status_transitions():
    """EXC 0xC00 reports low signal IQ (0x800 Masimo SET is no fault); EXC 0x1 is probe off."""
    statuses = [e for e in parse((DATA / "remkolems_examples.txt").read_bytes())
                if isinstance(e, DeviceStatus)]
    assert statuses == [
        DeviceStatus("other", True, "low signal IQ"),
        DeviceStatus("other", False, "low signal IQ"),
        DeviceStatus("probe_off", True, "no sensor"),
        DeviceStatus("probe_off", False, "no sensor"),
    ]


def test_radical7_example_sensor_off():
    """The MD PnP Radical-7 string decodes to SpO2 98, PR 240, PI 20 with EXC 0x820 sensor off."""
    events = parse((DATA / "mdpnp_radical7_example.txt").read_bytes())
    assert events == [
        Numerics({"SpO2": 98.0, "PR": 240.0, "PI": 20.0}, "2005-12-01T11:56:29"),
        DeviceStatus("probe_off", True, "sensor off"),
    ]


def test_radical5_example_short_hex_fields():
    """The Radical-5 line (2-digit ALARM, 3-digit EXC, no SN) decodes; ALARM 0x20 is silenced."""
    events = parse((DATA / "mdpnp_radical5_example.txt").read_bytes())
    assert events == [
        Numerics({"SpO2": 97.0, "PR": 64.0, "PI": 11.82}, "2010-09-15T15:10:29"),
        DeviceStatus("other", True, "alarms silenced on the device"),
    ]


def test_partial_first_line_is_garbage_then_stream_resynchronises():
    """A line joined mid-way (no timestamp) is dropped as Garbage and the next line is used."""
    line = (DATA / "mdpnp_radical5_example.txt").read_bytes()
    events = parse(line[25:] + line)
    assert events[0] == Garbage(len(line) - 25, "no timestamp")
    assert numerics(events)[0].values["SpO2"] == 97.0


def test_malformed_value_drops_whole_line():
    """A corrupt value (no checksum to catch it) drops the whole line rather than part of it."""
    events = parse(b"09/15/10 15:10:29 SPO2=0x7% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n")
    assert events == [Garbage(64, "bad SPO2 value")]


@pytest.mark.parametrize("line", [
    b"13/45/10 15:10:29 SPO2=097% BPM=064\r\n",  # impossible date
    b"09/15/10 15:10:29 SPO2=197% BPM=064\r\n",  # SpO2 above 100
    b"09/15/10 15:10:29 SPO2=097% EXC=XYZ\r\n",  # EXC not hex
    b"09/15/10 15:10:29 SPO2=097\xff BPM=064\r\n",  # not ASCII
])
def test_impossible_lines_are_garbage(line):
    """Lines that match the timestamp pattern but cannot be true yield Garbage, no values."""
    events = parse(line)
    assert len(events) == 1 and isinstance(events[0], Garbage)


def test_endless_line_is_bounded():
    """Bytes with no line end are discarded once past the line limit, not kept forever."""
    p = MasimoParser()
    for _ in range(100):
        p.receive_data(b"x" * 100)
    assert len(p._buf) <= 512
    assert sum(e.n_bytes for e in p.events_received() if isinstance(e, Garbage)) >= 9000


def test_parse_value_signs_and_dashes():
    """Signed values keep their sign; a sign followed by dashes is no value."""
    assert parse_value("-02") == -2.0
    assert parse_value("+--") is None
    assert parse_value("--.-%") is None
    assert parse_value("00.55") == 0.55


def test_encoder_reproduces_mdpnp_examples_byte_for_byte():
    """The device encoder writes exactly the MD PnP Radical-7 and Radical-5 example lines."""
    r7 = encode_line(datetime(2005, 12, 1, 11, 56, 29), sn="0123456789", spo2=98, pr=240,
                     pi=20.0, spco=1.0, spmet=0.5, desat=1, pidelta=-2, pvi=27, alarm=0,
                     exc=0x820)
    assert r7 == (DATA / "mdpnp_radical7_example.txt").read_bytes()
    r5 = encode_line(datetime(2010, 9, 15, 15, 10, 29), spo2=97, pr=64, pi=11.82, alarm=0x20,
                     exc=0x800, model="radical5")
    assert r5 == (DATA / "mdpnp_radical5_example.txt").read_bytes()


def test_encoder_writes_dashes_for_no_value():
    """No value is written the way the device writes it, and reads back as None."""
    line = encode_line(datetime(2024, 1, 2, 3, 4, 5), exc=0x021)
    assert b"SPO2=---% BPM=--- PI=--.--%" in line and b"PIDELTA=+--" in line
    assert numerics(parse(line))[0].values == {"SpO2": None, "PR": None, "PI": None}


@settings(max_examples=150, deadline=None)
@given(
    spo2=st.none() | st.integers(0, 100),
    pr=st.none() | st.integers(0, 350),
    pi=st.none() | st.integers(0, 2000).map(lambda x: x / 100),
    model=st.sampled_from(["radical7", "radical5"]),
    ts=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
)
def test_round_trip(spo2, pr, pi, model, ts):
    """Whatever the device encoder writes, the parser reads back unchanged."""
    device = MasimoDevice(model=model)
    device.send(ts.replace(microsecond=0), spo2=spo2, pr=pr, pi=pi)
    events = parse(device.data_to_send())
    assert events[0] == Numerics(
        {"SpO2": None if spo2 is None else float(spo2), "PR": None if pr is None else float(pr),
         "PI": pi}, ts.replace(microsecond=0).isoformat())
