"""The PCD-01 parser on the real messages of tests/data/hl7, on vendor variations made from
them, and on fuzzed and truncated input: values, units, device times, equipment ids, counted
unknown codes and the acknowledgement of each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.hl7 import pcd01
from monitors.protocol import monitor_message
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "hl7"
FUZZ = settings(max_examples=200, deadline=None)


def text(name: str) -> str:
    return (DATA / name).read_bytes().decode()


def utc(*args: int, offset_h: int = 0) -> float:
    return datetime(*args, tzinfo=timezone(timedelta(hours=offset_h))).timestamp()


BP = text("valid-pcd01-request.hl7v2")
GATEWAY = text("valid-pcd01-request2.hl7v2")
MAXIMUM = text("valid-pcd01-MaximumRequest2.hl7")
OXIMETER = text("valid-oximeter-continua-wan.hl7v2")


def test_cuff_pressure_message() -> None:
    """The cuff message becomes one nibp 120/80 (100) at its NIBP row's OBX-14 (a +0500 time),
    from the device in OBX-18, acknowledged AA."""
    p = pcd01.parse(BP)
    assert p.verdict == "AA" and p.equipment == "0123456789ABCDEF" and p.control_id == "MSGID1234"
    assert p.messages == [{"type": "nibp", "t": utc(2009, 8, 13, 9, 57, 15, offset_h=5),
                           "status": "ok", "sys": 120.0, "dia": 80.0, "map": 100.0}]
    assert not p.unknown and not p.not_carried


def test_gateway_message_with_arterial_pressure() -> None:
    """The gateway's HR and arterial pressures become one numerics at OBR-7 (no OBX-14, no
    offset: local time), from the EUI-64 in MSH-3; the PVC count, the pulmonary pressures and
    the arterial pulse rate are counted per code as not carried."""
    p = pcd01.parse(GATEWAY, tz=UTC)
    assert p.verdict == "AA" and p.equipment == "080019FFFF4F6AC0"
    assert p.messages == [{"type": "numerics", "t": utc(2008, 12, 11, 14, 45), "values": {
        "HR": {"value": 60.0, "unit": "/min"}, "ABPmean": {"value": 92.0, "unit": "mmHg"},
        "ABPsys": {"value": 120.0, "unit": "mmHg"}, "ABPdia": {"value": 80.0, "unit": "mmHg"}}}]
    assert sorted(code.split()[0] for code in p.not_carried) == [
        "148065", "149522", "150045", "150046", "150047"]


def test_oximeter_message() -> None:
    """SpO2 80.5 % at its OBX-14; the pleth array (no sample rate in PCD-01) is counted as not
    carried, not dropped unseen."""
    p = pcd01.parse(OXIMETER)
    assert p.verdict == "AA" and p.equipment == "0123456789ABCDEF"
    assert p.messages == [{"type": "numerics", "t": utc(2009, 7, 15, 7, 7, 7),
                           "values": {"SpO2": {"value": 80.5, "unit": "%"}}}]
    assert list(p.not_carried) == [("150452 MDC_PULS_OXIM_PLETH: pleth samples: PCD-01 sends no "
                                   "sample rate with them")]


def test_message_with_every_field_filled() -> None:
    """Two OBR groups with NTE segments: the first group's cuff reading keeps sys (status C) and
    mean (F) at the NIBP row's time, its diastolic (status D, deleted) is counted as withdrawn;
    the second group's codes are not MDC codes and are counted per code."""
    p = pcd01.parse(MAXIMUM)
    assert p.verdict == "AA"
    assert p.messages == [{"type": "nibp", "t": utc(2009, 8, 13, 9, 57, 15, offset_h=5),
                           "status": "ok", "sys": 140.0, "map": 100.0}]
    assert p.not_carried == {"150022 MDC_PRESS_BLD_NONINV_DIA: result status D (withdrawn)": 1}
    assert p.unknown == {"528391 MDC_DEV_SPEC_PROFILE_BP": 1, "1500212 MDC_PRESS_BLD_NONINV_SYS": 2,
                         "1500232 MDC_PRESS_BLD_NONINV_MEAN": 1}


def test_without_obr_grouping() -> None:
    """Bare OBX segments after PID (no OBR) read as with it, their time from MSH-7."""
    bare = "\r".join(s for s in BP.split("\r") if not s.startswith("OBR"))
    bare = bare.replace("|||20090813095715+0500", "|||")  # and no OBX-14 either
    p = pcd01.parse(bare)
    assert p.verdict == "AA"
    assert p.messages[0]["t"] == utc(2009, 7, 13, 9, 0, 30, offset_h=5)
    assert (p.messages[0]["sys"], p.messages[0]["dia"]) == (120.0, 80.0)


def test_repeated_obx_per_channel() -> None:
    """A value repeated in a second channel at the same time is taken once (the first) and the
    repetition counted."""
    lines = GATEWAY.split("\r")
    hr = next(s for s in lines if "147842" in s)
    repeated = "\r".join([*lines[:5], hr.replace("|1.6.1.1|60|", "|1.7.1.1|61|"), *lines[5:]])
    p = pcd01.parse(repeated)
    assert p.verdict == "AA" and p.messages[0]["values"]["HR"]["value"] == 60.0
    assert p.duplicates == {"HR": 1}


def test_cuff_units_and_codes_variants() -> None:
    """MDC_PRESS_CUFF_* codes (150301–150303) read like MDC_PRESS_BLD_NONINV_*, UCUM and kPa units
    are converted, LF line ends are read like CR."""
    variant = (BP.replace("150021^MDC_PRESS_BLD_NONINV_SYS", "150301^MDC_PRESS_CUFF_SYS")
               .replace("150022^MDC_PRESS_BLD_NONINV_DIA", "150302^MDC_PRESS_CUFF_DIA")
               .replace("150023^MDC_PRESS_BLD_NONINV_MEAN", "150303^MDC_PRESS_CUFF_MEAN")
               .replace("|120|266016^MDC_DIM_MMHG^MDC|", "|16|kPa^kPa^UCUM|")
               .replace("\r", "\n"))
    p = pcd01.parse(variant)
    assert p.verdict == "AA"
    assert (p.messages[0]["sys"], p.messages[0]["dia"], p.messages[0]["map"]) == (120.01, 80.0, 100.0)


def test_no_value_status_x() -> None:
    """Result status X (the device could not obtain a value) is "no value", never 0: a cuff
    measurement of nothing but X is a failed one."""
    failed = BP.replace("|||||R\r", "|||||X\r").replace("|||||R", "|||||X")
    p = pcd01.parse(failed)
    assert p.messages[0]["status"] == "failed" and "no value" in p.messages[0]["reason"]
    spo2 = pcd01.parse(OXIMETER.replace("|||||R|||20090715070707+0000\rOBX|3", "|||||X|||20090715070707+0000\rOBX|3"))
    assert spo2.messages[0]["values"]["SpO2"]["value"] is None


@pytest.mark.parametrize(("change", "where", "says"), [
    (("|1.3.1.1|92|", "|1.3.1.1|9a2|"), "OBX^3^5", "'9a2' is not a number"),
    (("|1.3.1.1|92|mm[Hg]^mm[Hg]", "|1.3.1.1|92|fur^fur"), "OBX^3^6", "unit 'fur^fur^UCUM' is not known"),
    (("|1.6.1.1|60|", "|1.6.1.1|900|"), "OBX^1^5", "HR 900 /min is physiologically impossible"),
    (("OBX|1|NM|147842", "OBX|1|ST|147842"), "OBX^1^2", "value type 'ST' is not numeric"),
    (("|20081211144500\rOBX", "|2008121114450X\rOBX"), "OBR^1^7", "is not an HL7 time"),
])
def test_field_errors_give_ae_naming_the_field(change: tuple[str, str], where: str, says: str) -> None:
    """A field that cannot be taken makes the message AE; the ERR segment names segment,
    occurrence and field, and the other readings are kept."""
    bad = GATEWAY.replace(*change)
    assert bad != GATEWAY
    p = pcd01.parse(bad)
    assert p.verdict == "AE", p.reason
    ack = pcd01.acknowledgement(p, "A1", datetime.now(UTC))
    parsed = hl7.parse(ack)
    errors = {str(e[2]): parsed.unescape(str(e[8])) for e in parsed.segments("ERR")}
    assert says in errors[where], ack
    assert p.messages and p.messages[0]["values"]


def test_cuff_dia_above_sys_is_ae() -> None:
    """A cuff reading the protocol would refuse (diastolic above systolic) is not sent: AE."""
    p = pcd01.parse(BP.replace("|1.0.1.2|80|", "|1.0.1.2|130|"))
    assert p.verdict == "AE" and not p.messages and "dia" in p.reason


@pytest.mark.parametrize(("message", "says"), [
    ("", "does not begin with an MSH segment"),
    ("PID|||1", "does not begin with an MSH segment"),
    ("MSH", "does not begin with an MSH segment"),
    ("MSH|^^^^|x", "encoding characters"),
    (BP.replace("ORU^R01^ORU_R01", "ADT^A01"), "message type ADT^A01 is not supported"),
    (BP.replace("ORU^R01^ORU_R01", ""), "message type none is not supported"),
])
def test_unprocessable_messages_are_ar(message: str, says: str) -> None:
    """What cannot be processed at all is AR, with the reason in MSA-3 and an ERR segment."""
    p = pcd01.parse(message)
    assert p.verdict == "AR" and says in p.reason and not p.messages
    ack = pcd01.acknowledgement(p, "A1", datetime.now(UTC))
    parsed = hl7.parse(ack)
    assert str(parsed.segment("MSA")[1]) == "AR"
    assert says in parsed.unescape(str(parsed.segment("MSA")[3]))
    assert parsed.segment("ERR")


def test_acknowledgement_echoes_and_escapes() -> None:
    """The ACK answers MSH-3/4 with MSH-5/6, echoes MSH-10 in MSA-2, and escapes delimiters in
    the text so the ACK itself parses."""
    p = pcd01.parse(GATEWAY.replace("|1.3.1.1|92|", "|1.3.1.1|9&2|"))
    ack = pcd01.acknowledgement(p, "VW-1", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    parsed = hl7.parse(ack)
    msh = parsed.segment("MSH")
    assert str(msh[5]) == "HL7^080019FFFF4F6AC0^EUI-64" and str(msh[6]) == "MMS"
    assert str(msh[7]) == "20260102030405+0000" and str(msh[9]) == "ACK^R01^ACK"
    assert str(parsed.segment("MSA")[2]) == "12d15a9:11df9e61347:-7fee:30456965"
    assert "'9&2' is not a number" in parsed.unescape(str(parsed.segment("MSA")[3]))


def test_times() -> None:
    """HL7 times of every precision, with and without an offset, and impossible ones refused."""
    assert pcd01.parse_time("20090813095715+0500") == utc(2009, 8, 13, 9, 57, 15, offset_h=5)
    assert pcd01.parse_time("20090813095715.25-0130") == pytest.approx(
        datetime(2009, 8, 13, 11, 27, 15, 250000, tzinfo=UTC).timestamp())
    assert pcd01.parse_time("200908130957", UTC) == utc(2009, 8, 13, 9, 57)
    for bad in ("2009-08-13", "20091313000000", "20090813095715+9900", "abc"):
        with pytest.raises(ValueError):
            pcd01.parse_time(bad)


def check(p: pcd01.Parsed) -> None:
    """Whatever the input, a verdict, messages the protocol takes, and an ACK that parses."""
    assert p.verdict in ("AA", "AE", "AR")
    assert (p.verdict == "AR") <= (not p.messages)
    for msg in p.messages:
        monitor_message.validate_python({**msg, "seq": 1, "t": msg["t"] or 1e9})
    ack = pcd01.acknowledgement(p, "X", datetime.now(UTC))
    assert hl7.parse(ack).segment("MSA")


@FUZZ
@given(st.sampled_from([BP, GATEWAY, MAXIMUM, OXIMETER]), st.integers(0, 3000))
def test_truncated_messages(message: str, cut: int) -> None:
    """Every truncation of every real message is read without raising."""
    check(pcd01.parse(message[:cut]))


@FUZZ
@given(st.sampled_from([BP, GATEWAY, MAXIMUM, OXIMETER]),
       st.lists(st.tuples(st.integers(0, 3000), st.sampled_from("|^~\\&\r\n0123456789.-+XAZ \x00é")),
                max_size=12))
def test_corrupted_messages(message: str, edits: list[tuple[int, str]]) -> None:
    """Real messages with characters replaced (delimiters, digits, NUL, non-ASCII) never raise and
    never yield a reading the protocol would refuse."""
    chars = list(message)
    for at, ch in edits:
        chars[at % len(chars)] = ch
    check(pcd01.parse("".join(chars)))


@FUZZ
@given(st.text(max_size=400))
def test_random_text(message: str) -> None:
    """Random text, with or without an MSH in front, never raises."""
    check(pcd01.parse(message))
    check(pcd01.parse("MSH|^~\\&|a||||20200101||ORU^R01|1|P|2.6\r" + message))


def test_time_the_protocol_cannot_carry_is_ae_at_the_obx() -> None:
    """Readings timed in 1998 (before the protocol's 2000) are not sent: AE, located at the
    group's first OBX, field 14."""
    p = pcd01.parse(GATEWAY.replace("|20081211144500\rOBX", "|19981211144500\rOBX"))
    assert p.verdict == "AE" and not p.messages
    assert [(x.segment, x.index, x.field) for x in p.problems] == [("OBX", 1, 14)]
    assert "not a time between 2000 and 2100" in p.problems[0].text
