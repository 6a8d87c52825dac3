"""The generic line protocol (docs/devices.md): JSON and CSV records become events, and anything
unknown or impossible becomes Garbage with a reason, never an exception."""

from __future__ import annotations

import json

import pytest

from monitors.devices.events import DeviceStatus, Garbage, Nibp, Numerics, WaveChunk
from monitors.devices.generic import GenericParser


def parse(*lines: str) -> list:
    p = GenericParser()
    p.receive_data("".join(line + "\n" for line in lines).encode())
    return p.events_received()


def test_json_record_with_everything():
    """A JSON record gives numerics (null = no value), a cuff result, a wave and statuses."""
    record = {"HR": 72, "SpO2": 97, "RR": None, "time": "2025-03-01T04:20:48",
              "nibp": {"sys": 120, "dia": 80, "map": 93},
              "wave": {"name": "PLETH", "rate": 100, "samples": [500, None, 510]},
              "status": ["motion"]}
    assert parse(json.dumps(record)) == [
        Numerics({"HR": 72.0, "SpO2": 97.0, "RR": None}, "2025-03-01T04:20:48"),
        Nibp(120.0, 80.0, 93.0, "ok"),
        WaveChunk("PLETH", 100.0, (500.0, None, 510.0)),
        DeviceStatus("motion", True, ""),
    ]


def test_json_names_are_case_insensitive_and_status_can_end():
    """"spo2" means SpO2; a later record without the status ends it, one without the key
    leaves it alone."""
    events = parse('{"spo2": 96, "status": {"probe_off": "finger out"}}',
                   '{"spo2": 95}', '{"spo2": 97, "status": []}')
    assert events == [
        Numerics({"SpO2": 96.0}), DeviceStatus("probe_off", True, "finger out"),
        Numerics({"SpO2": 95.0}),
        Numerics({"SpO2": 97.0}), DeviceStatus("probe_off", False, "finger out"),
    ]


def test_failed_cuff_measurement():
    """A failed cuff measurement carries no values and status "failed"."""
    assert parse('{"nibp": {"status": "failed"}}') == [Nibp(None, None, None, "failed")]


def test_csv_with_header():
    """A header names the columns; empty or dashed fields are no value; nibp only when given."""
    events = parse("HR,SpO2,EtCO2,nibp_sys,nibp_dia,nibp_map,status",
                   "72,97,38,,,,", "73,--,37,120,80,93,probe_off|motion")
    assert events == [
        Numerics({"HR": 72.0, "SpO2": 97.0, "EtCO2": 38.0}),
        Numerics({"HR": 73.0, "SpO2": None, "EtCO2": 37.0}),
        Nibp(120.0, 80.0, 93.0, "ok"),
        DeviceStatus("motion", True, ""),
        DeviceStatus("probe_off", True, ""),
    ]


def test_csv_header_can_be_resent():
    """A bridge that restarts sends its header again, possibly different; it replaces the old."""
    events = parse("HR,SpO2", "72,97", "# bridge restarted", "SpO2;PR", "96;70")
    assert events == [Numerics({"HR": 72.0, "SpO2": 97.0}), Numerics({"SpO2": 96.0, "PR": 70.0})]


@pytest.mark.parametrize("lines,reason", [
    (['{"HR": 72, "BP": 120}'], "unknown key 'BP'"),
    (['{"HR": "fast"}'], "HR: not a number"),
    (['{"HR": 1000}'], "HR 1000 is impossible (0-350)"),
    (['{"SpO2": NaN}'], "SpO2: not a number"),
    (['{"nibp": {"sys": 80, "dia": 120}}'], "nibp: dia must be below sys"),
    (['{"wave": {"name": "EEG", "rate": 100, "samples": [1]}}'], "wave: unknown name 'EEG'"),
    (['{"wave": {"name": "PLETH", "rate": 0, "samples": [1]}}'],
     "wave: rate is impossible for PLETH"),
    (['{"status": ["on_fire"]}'], "status: unknown code 'on_fire'"),
    (["[1, 2]"], "no header line yet"),
    (['{"HR": 72'], "bad JSON"),
    (["72,97"], "no header line yet"),
    (["HR,SpO2", "72"], "1 fields, header has 2"),
])
def test_impossible_records_are_garbage(lines, reason):
    """Unknown names and impossible values drop the whole record with a reason."""
    events = parse(*lines)
    assert [e for e in events if isinstance(e, Garbage)] == [
        Garbage(len(lines[-1]) + 1, reason)]
    assert not [e for e in events if not isinstance(e, Garbage)]


def test_a_bad_record_does_not_half_apply():
    """When one value of a record is impossible, none of its other values are used."""
    assert not [e for e in parse('{"HR": 72, "SpO2": 130}') if isinstance(e, Numerics)]


def test_crlf_blank_lines_comments_and_bad_utf8():
    """CR LF endings, blank lines and comments are fine; bytes that are not UTF-8 are Garbage."""
    p = GenericParser()
    p.receive_data(b'\r\n# hello\r\n{"HR": 60}\r\n\xff\xfe\n')
    assert p.events_received() == [Numerics({"HR": 60.0}), Garbage(3, "not UTF-8")]


def test_endless_line_is_bounded():
    """A line that never ends is discarded once past the limit instead of growing memory."""
    p = GenericParser()
    for _ in range(100):
        p.receive_data(b"1" * 1000)
    assert len(p._buf) <= 65536
    assert p.events_received()[0].reason == "line too long"
