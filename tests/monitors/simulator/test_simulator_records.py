"""The simulator's output is a valid recording: wire messages the protocol accepts, in time order."""

from __future__ import annotations

import math

import pytest

from monitors import recording
from monitors.protocol import monitor_message
from monitors.simulator import ROUTES, SCENARIOS, generate

RECORDING_ONLY = {"truth", "mark"}


def _time(rec: dict) -> float:
    return rec["end"] if rec["type"] == "truth" else rec["t"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_record_validates_against_the_protocol(scenario):
    """Every wire record of a 90-minute session with waveforms validates once a seq is added."""
    _header, records = generate(scenario, 3, waveforms=True)
    seen = set()
    for seq, rec in enumerate(records):
        assert "seq" not in rec
        seen.add(rec["type"])
        if rec["type"] in RECORDING_ONLY:
            continue
        monitor_message.validate_python(rec | {"seq": seq})
    assert {"numerics", "nibp", "waveform", "mark"} <= seen


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_recording_only_records_have_the_documented_shape(scenario):
    """Truth and mark records carry exactly the fields of the recording format."""
    _, records = generate(scenario, 4)
    for rec in records:
        if rec["type"] == "truth":
            assert set(rec) == {"type", "label", "kind", "start", "end"}
            assert rec["kind"] in ("event", "artifact") and rec["start"] <= rec["end"]
        elif rec["type"] == "mark":
            assert set(rec) == {"type", "t", "what", "text"} and rec["text"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_records_are_in_time_order_with_numerics_every_second(scenario):
    """Records come in time order (truth at its end) and numerics exactly once a second."""
    start = 1_800_000_000.0
    _, records = generate(scenario, 5, minutes=30, waveforms=True, start=start)
    records = list(records)
    times = [_time(r) for r in records]
    assert times == sorted(times)
    numerics = [r["t"] for r in records if r["type"] == "numerics"]
    assert numerics == [start + i for i in range(30 * 60)]
    chunks = [r for r in records if r["type"] == "waveform" and r["wave"] == "PLETH"]
    assert len(chunks) == 30 * 60 / 0.4 and all(len(c["samples"]) == 50 for c in chunks)
    assert all(start <= t < start + 30 * 60 + 1e-6 for t in times)


def test_header_names_the_session_and_the_patient():
    """The header meta holds scenario, seed, route, the patient's baseline and the dose time."""
    header, _ = generate("random", 11, start=1000.0, pre_dose_minutes=7, route="esketamine")
    meta = header.meta
    assert (meta["scenario"], meta["seed"], meta["route"]) == ("random", 11, "esketamine")
    assert meta["dose_time"] == 1000.0 + 7 * 60
    assert set(meta["patient"]) == {"age", "hypertensive", "baseline"}
    assert {"SBP", "DBP", "MAP", "HR", "RR", "SpO2", "EtCO2"} <= set(meta["patient"]["baseline"])
    assert header.start == 1000.0 and header.to_json()["format"] == recording.FORMAT


@pytest.mark.parametrize("route", ROUTES)
def test_dose_mark_is_at_the_dose_time(route):
    """The first dose mark is at start + pre_dose_minutes * 60 and names the route's dose."""
    header, records = generate("typical-responder", 0, route=route, start=50.0, pre_dose_minutes=12)
    marks = [r for r in records if r["type"] == "mark" and r["what"] == "dose"]
    assert marks[0]["t"] == 50.0 + 12 * 60 == header.meta["dose_time"]
    if route == "iv":
        assert marks[0]["text"] == "ketamine 0.5 mg/kg IV over 40 min"
    if route == "esketamine":
        assert [m["t"] - marks[0]["t"] for m in marks] == [0.0, 300.0, 600.0]


def test_a_recording_file_round_trips(tmp_path):
    """A generated session written with recording.write reads back record for record."""
    header, records = generate("sensor-disconnect", 2, minutes=15, waveforms=True, pre_dose_minutes=1)
    records = list(records)
    path = tmp_path / "sim.jsonl"
    assert recording.write(path, header, records) == len(records)
    header2, records2 = recording.read(path)
    assert header2.meta == header.meta
    assert list(records2) == records


@pytest.mark.parametrize("kwargs", [
    {"scenario": "no-such-scenario"},
    {"seed": -1},
    {"minutes": 0},
    {"pre_dose_minutes": 90},
    {"route": "oral"},
])
def test_bad_arguments_are_refused(kwargs):
    """An unknown scenario or route, a negative seed or a dose outside the session raise ValueError."""
    args = {"scenario": "random", "seed": 1} | kwargs
    scenario, seed = args.pop("scenario"), args.pop("seed")
    with pytest.raises(ValueError):
        generate(scenario, seed, **args)


def test_numeric_values_are_integers_or_no_value():
    """Displayed numerics are whole numbers (as devices show them) or null, never NaN."""
    _, records = generate("random", 21)
    for rec in records:
        if rec["type"] == "numerics":
            for m in rec["values"].values():
                v = m["value"]
                assert v is None or (isinstance(v, int) and not math.isnan(v))


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return type(value) in (int, float, str, bool, type(None))


@pytest.mark.parametrize("scenario", ["random", "hypertensive-surge"])
def test_header_and_records_hold_only_plain_json_types(scenario):
    """Header meta and records contain only dict, list, str, int, float, bool and None (no numpy scalars)."""
    header, records = generate(scenario, 12, minutes=20, waveforms=True)
    assert _plain(header.to_json())
    assert all(_plain(r) for r in records)
