"""The wire protocol models: what they accept, what they refuse and why, and the exported schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitors.protocol import Nibp, Numerics, json_schema, monitor_message

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "protocol.schema.json"
T = 1_800_000_000.0


def numerics(**values: object) -> dict:
    return {"type": "numerics", "seq": 1, "t": T,
            "values": {k: (v if isinstance(v, dict) else {"value": v, "unit": "/min"}) for k, v in values.items()}}


def test_units_are_converted_to_the_canonical_unit() -> None:
    """EtCO2 in kPa is stored in mmHg; bpm is accepted for a rate."""
    msg = monitor_message.validate_python(numerics(HR={"value": 72, "unit": "bpm"},
                                                   EtCO2={"value": 5.0, "unit": "kPa"}))
    assert isinstance(msg, Numerics)
    assert msg.values["EtCO2"].value == pytest.approx(37.503) and msg.values["EtCO2"].unit == "mmHg"


def test_no_value_stays_no_value() -> None:
    """A value the device marks invalid (null) is kept as None, never turned into zero."""
    msg = monitor_message.validate_python(numerics(SpO2={"value": None, "unit": "%"}))
    assert msg.values["SpO2"].value is None


@pytest.mark.parametrize(
    "message, field_in_error",
    [
        (numerics(SpO2={"value": 120, "unit": "%"}), "SpO2 120 % is physiologically impossible"),
        (numerics(HR=-5), "HR -5 /min is physiologically impossible"),
        (numerics(HR={"value": 72, "unit": "furlongs"}), "unknown unit 'furlongs' for HR"),
        (numerics(XX=1), "values.XX"),
        ({"type": "numerics", "seq": 1, "values": {}}, "t"),
        ({"type": "nibp", "seq": 1, "t": T, "status": "ok"}, "at least one of sys, dia, map"),
        ({"type": "nibp", "seq": 1, "t": T, "status": "ok", "sys": 80, "dia": 120}, "dia: 120 must be below sys 80"),
        ({"type": "waveform", "seq": 1, "t": T, "wave": "PLETH", "rate": 0, "samples": [1]}, "rate: 0 Hz"),
        ({"type": "heartbeat", "seq": 1, "t": T, "extra": 1}, "extra"),
        ({"type": "teleport", "seq": 1}, "teleport"),
        # No coercion: JSON's other types are not numbers, booleans or strings.
        (numerics(HR=True), "must be a number, not a boolean"),
        (numerics(HR="72"), "must be a number, not a string"),
        (numerics(HR=70) | {"t": "1800000000"}, "must be a number, not a string"),
        (numerics(HR=70) | {"seq": True}, "valid integer"),
        (numerics(HR=70) | {"seq": "1"}, "valid integer"),
        (numerics(HR=70) | {"seq": 1.0}, "valid integer"),
        (numerics(HR={"value": 70, "unit": 1}), "valid string"),
        ({"type": "status", "seq": 1, "t": T, "code": "motion", "active": "false"}, "valid boolean"),
        ({"type": "status", "seq": 1, "t": T, "code": "motion", "active": 0}, "valid boolean"),
        ({"type": "mark", "seq": 1, "t": T, "what": "note", "text": 5}, "valid string"),
        # Bounds: seq, time, samples.
        (numerics(HR=70) | {"seq": 2**53}, "less than or equal to 9007199254740991"),
        (numerics(HR=70) | {"seq": -1}, "greater than or equal to 0"),
        (numerics(HR=70) | {"t": 0}, "is not a time between 2000 and 2100"),
        (numerics(HR=70) | {"t": 10**400}, "must be a number of at most 1e308"),
        ({"type": "waveform", "seq": 1, "t": T, "wave": "PLETH", "rate": 100, "samples": [1, 1e300]},
         "beyond the float32 range"),
        ({"type": "waveform", "seq": 1, "t": T, "wave": "PLETH", "rate": 100, "samples": [True]},
         "must be a number, not a boolean"),
        ({"type": "hello", "seq": 0, "protocol": 1, "monitor_id": "m", "stream": "s", "room": "r",
          "mode": "test", "resume_from": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_messages_are_refused_with_the_reason(message: dict, field_in_error: str) -> None:
    """Impossible values, unknown units, missing and extra fields are refused with a reason."""
    with pytest.raises(ValidationError) as err:
        monitor_message.validate_python(message)
    assert field_in_error in str(err.value)


def test_failed_cuff_measurement_needs_no_values() -> None:
    """A failed NIBP measurement is a valid message with no values."""
    msg = monitor_message.validate_python({"type": "nibp", "seq": 3, "t": T, "status": "failed",
                                           "reason": "motion"})
    assert isinstance(msg, Nibp) and msg.sys is None


def test_integers_are_numbers_and_limits_are_inclusive() -> None:
    """Strictness refuses other JSON types, not integers: an int is a valid float; the largest
    seq, the float32 maximum and the time range's ends are accepted."""
    msg = monitor_message.validate_python(numerics(HR=72) | {"seq": 2**53 - 1, "t": 946_684_800})
    assert isinstance(msg, Numerics) and msg.values["HR"].value == 72.0 and msg.seq == 2**53 - 1
    wave = monitor_message.validate_python({"type": "waveform", "seq": 1, "t": 4_102_444_800,
                                            "wave": "PLETH", "rate": 100,
                                            "samples": [3.4028234663852886e38, None, 0]})
    assert wave.samples[0] == 3.4028234663852886e38 and wave.samples[1] is None


def test_exported_schema_matches_the_models() -> None:
    """docs/protocol.schema.json is what the models export (run `make schema` after a change)."""
    assert json.loads(SCHEMA.read_text()) == json.loads(json.dumps(json_schema()))


def test_paced_source_starting_late_still_sends_earlier_marks() -> None:
    """A simulated session joined part-way (--from) still tells the server about the dose given
    before the starting point, at its own (past) time; earlier readings are skipped."""
    import asyncio

    from monitors.adapter import Identity, Paced

    records = [{"type": "numerics", "t": 100.0 + i, "values": {"HR": {"value": 70, "unit": "/min"}}}
               for i in range(10)]
    records.insert(3, {"type": "mark", "t": 102.5, "what": "dose", "text": ""})

    async def collect() -> list[dict]:
        return [r async for r in Paced(Identity("m", "r"), records, speed=1e6, clock=lambda: 1000.0, skip_s=5)]

    out = asyncio.run(collect())
    assert out[0] == {"type": "mark", "t": 997.5, "what": "dose", "text": ""}
    assert [r["t"] for r in out[1:]] == [1000.0 + i for i in range(5)]


def test_paced_source_with_history_sends_the_skipped_readings_first_but_no_waveforms() -> None:
    """With ``history`` (the demo), a session joined part-way first sends every skipped reading
    and mark in order at its own past time, so the room has its baseline and cuff readings, but
    no skipped waveform; then the rest paced as before."""
    import asyncio

    from monitors.adapter import Identity, Paced

    records: list[dict] = []
    for i in range(10):
        records.append({"type": "numerics", "t": 100.0 + i, "values": {"HR": {"value": 70, "unit": "/min"}}})
        records.append({"type": "waveform", "t": 100.0 + i, "wave": "PLETH", "rate": 125, "samples": [1.0]})
    records.insert(5, {"type": "nibp", "t": 102.2, "status": "ok", "sys": 120, "dia": 80, "map": 93})
    records.insert(7, {"type": "mark", "t": 102.5, "what": "dose", "text": ""})

    async def collect() -> list[dict]:
        return [r async for r in Paced(Identity("m", "r"), records, speed=1e6, clock=lambda: 1000.0,
                                       skip_s=5, history=True)]

    out = asyncio.run(collect())
    before = [(r["type"], r["t"]) for r in out if r["t"] < 1000.0]
    assert before == [("numerics", 995.0), ("numerics", 996.0), ("numerics", 997.0), ("nibp", 997.2),
                      ("mark", 997.5), ("numerics", 998.0), ("numerics", 999.0)], before
    after = [(r["type"], r["t"]) for r in out if r["t"] >= 1000.0]
    assert after == [(k, 1000.0 + i) for i in range(5) for k in ("numerics", "waveform")], after
