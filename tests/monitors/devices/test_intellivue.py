"""Philips IntelliVue: framing and FCS against the captured frame, numerics and waves against the
decoded capture session (rebuilt into bytes here), and a whole host <-> monitor conversation."""

from __future__ import annotations

import base64
import json
import struct
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from monitors.devices.events import (
    DeviceStatus,
    EventQueue,
    Garbage,
    Nibp,
    Numerics,
    Pressure,
    WaveChunk,
)
from monitors.devices.intellivue import (
    FCS_GOOD_RESIDUE,
    MDS,
    RELEASE_RESPONSE,
    Deframer,
    IntelliVueParser,
    association_message,
    association_request,
    decode_abs_time,
    decode_float,
    decode_message,
    fcs16,
    frame,
    mds_create_result,
    user_info,
)
from monitors.devices.intellivue_device import (
    AARE_PRESENTATION,
    IntelliVueDevice,
    nu_obs,
    poll_result,
)

DATA = Path(__file__).parents[2] / "data" / "serial" / "philips_intellivue"


# --- Rebuilding wire bytes from the decoded capture (session_messages.ndjson) --------------------
# Written independently of the device encoder: names are mapped by hand and FLOATs are written
# with exponent -1 (every value in the capture has at most one decimal).

PHYSIO = {
    "NOM_PULS_OXIM_SAT_O2": 0x4BB8, "NOM_PLETH_PULS_RATE": 0x4822,
    "NOM_PULS_OXIM_PERF_REL": 0x4BB0, "NOM_ECG_CARD_BEAT_RATE": 0x4182, "NOM_RESP_RATE": 0x500A,
    "NOM_PRESS_BLD_NONINV_SYS": 0x4A05, "NOM_PRESS_BLD_NONINV_DIA": 0x4A06,
    "NOM_PRESS_BLD_NONINV_MEAN": 0x4A07, "NOM_PRESS_BLD_NONINV_PULS_RATE": 0xF0E5,
    "NOM_ECG_ELEC_POTL_II": 0x0102, "NOM_PLETH": 0x4BB4, "NOM_RESP": 0x5000,
}
STATES = {"VALID": 0x0000, "INVALID": 0x8000, "UNAVAILABLE": 0x2000}
GROUPS = {"NOM_ATTR_GRP_METRIC_VAL_OBS": 0x0803}
ABS_FIELDS = ("Century", "Year", "Month", "Day", "Hour", "Minute", "Second", "Milliseconds")


class NotRebuilt(Exception):
    """A message holding structures these tests do not rebuild (the alert lists)."""


def sized(count: int, body: bytes, declared: int) -> bytes:
    assert len(body) == declared, "rebuilt length differs from the capture's"
    return struct.pack(">HH", count, len(body)) + body


def nu(v: dict) -> bytes:
    value = v["Value"]["Value"]
    word = 0x007FFFFF if value == "NaN" else (0xFF << 24) | (round(value * 10) & 0xFFFFFF)
    state = v["State"] if isinstance(v["State"], int) else STATES[v["State"]]
    return struct.pack(">HHHI", PHYSIO[v["PhysioId"]], state, v["UnitCode"], word)


def sa(v: dict) -> bytes:
    samples = v["Values"]["Values"]
    state = STATES[v["State"]]
    raw = struct.pack(f">{len(samples)}H", *samples)
    assert len(raw) == v["Values"]["Length"]
    return struct.pack(">HHH", PHYSIO[v["PhysioId"]], state, len(raw)) + raw


def attr_value(a: dict) -> bytes:
    v, aid = a["AttributeValue"], a["AttributeId"]
    if "Data" in v:
        return base64.b64decode(v["Data"])
    if aid == 0x0950:
        return nu(v)
    if aid == 0x094B:
        return sized(v["Count"], b"".join(nu(x) for x in v["Values"]), v["Length"])
    if aid == 0x0990:
        return bytes(v[k] for k in ABS_FIELDS)  # the JSON shows the raw BCD bytes as numbers
    if aid == 0x096E:
        return sa(v)
    if aid == 0x0967:
        return sized(v["Count"], b"".join(sa(x) for x in v["Values"]), v["Length"])
    raise NotRebuilt(hex(aid))


def attributes(al: dict) -> bytes:
    body = b""
    for a in al["Values"]:
        value = attr_value(a)
        assert len(value) == a["Length"]
        body += struct.pack(">HH", a["AttributeId"], len(value)) + value
    return sized(al["Count"], body, al["Length"])


def rebuild(msg: dict) -> bytes:
    """The user data of one decoded data-export message."""
    rod = msg["RemoteOperationData"]
    data = rod["Data"]
    if rod["CommandType"] == "ConfirmedEventReport":  # the MDS Create event
        info = MDS + attributes(data["Data"]["AttributeList"])
        assert len(info) == data["Length"]
        arg = MDS + struct.pack(">IHH", data["EventTime"]["Ticks"], 0x0D06, len(info)) + info
        ro_type, command = 1, 1
    else:
        d = data["Data"]
        contexts = b""
        for ctx in d["PollContexts"]["Values"]:
            obs = b"".join(struct.pack(">H", o["Handle"]) + attributes(o["Attributes"])
                           for o in ctx["Observations"]["Values"])
            contexts += struct.pack(">H", ctx["ContextId"]) + sized(
                ctx["Observations"]["Count"], obs, ctx["Observations"]["Length"])
        group = GROUPS.get(d["AttributeGroup"])
        if group is None:
            raise NotRebuilt(d["AttributeGroup"])
        reply = struct.pack(">HHI", d["PollNumber"], d["SequenceNumber"],
                            d["RelativeTimeStamp"]["Ticks"])
        reply += bytes(d["AbsoluteTimeStamp"][k] for k in ABS_FIELDS)
        reply += struct.pack(">HHH", 1, d["ObjectType"]["Code"], group)
        reply += sized(d["PollContexts"]["Count"], contexts, d["PollContexts"]["Length"])
        assert len(reply) == data["Length"]
        arg = MDS + struct.pack(">HH", 0xF13B, len(reply)) + reply
        ro_type, command = 2, 7
    assert len(arg) == rod["Length"]
    ro = struct.pack(">HHH", rod["InvokeId"], command, len(arg)) + arg
    assert len(ro) == msg["RemoteOperationHeader"]["Length"]
    return struct.pack(">HHHH", 0xE100, 2, ro_type, len(ro)) + ro


@cache
def session() -> list[dict]:
    with open(DATA / "session_messages.ndjson") as f:
        return [json.loads(line) for line in f]


def object_class(msg: dict) -> int | None:
    d = msg.get("RemoteOperationData", {}).get("Data", {}).get("Data", {})
    return d.get("ObjectType", {}).get("Code") if isinstance(d, dict) else None


def feed(parser: IntelliVueParser, user_data: bytes) -> list:
    parser.receive_data(frame(user_data))
    return parser.events_received()


# Expected values: EXPECTED.md §3b, message index -> (relative time s, SpO2, PR, Perf).
EXPECTED_NUMERICS = {
    2: (11059.776, 100, 60, 1.0), 5: (11060.800, 100, 60, 1.0), 8: (11061.824, 100, 60, 1.0),
    13: (11062.848, 100, 60, 1.0), 19: (11063.872, 100, 59, 1.1), 25: (11064.896, 100, 59, 1.1),
    31: (11065.920, 100, 58, 1.2), 37: (11066.944, 99.6, 56, 1.3), 43: (11067.968, 99.1, 54, 1.3),
    49: (11068.992, 98.9, 52, 1.3), 55: (11070.016, 98.9, 51, 1.4), 61: (11071.040, 99.1, 50, 1.4),
    67: (11072.064, 99.3, 50, 1.4), 73: (11073.088, 99.6, 50, 1.4), 79: (11074.112, 99.8, 50, 1.5),
    85: (11075.136, 99.9, 50, 1.5), 91: (11076.160, 100, 51, 1.5), 100: (11524.672, 95.6, 58, 2.9),
    103: (11525.696, 96.2, 60, 2.2), 106: (11526.720, 96.6, 61, 1.8),
    111: (11527.744, 97.1, 62, 1.3), 117: (11528.768, 97.7, 62, 1.3),
    126: (11787.840, 99.7, 56, 1.3), 129: (11788.864, 99.7, 56, 1.3),
}


# --- Frames and FCS --------------------------------------------------------------------------------

def test_fcs_is_crc16_x25():
    """The FCS is CRC-16/X-25: its standard check value over "123456789" is 0x906E."""
    assert fcs16(b"123456789") ^ 0xFFFF == 0x906E


def test_unescaped_capture_gives_two_restarts_and_a_bad_checksum():
    """The logged (already unescaped) frame holds two raw C0 bytes: a wire parser sees two
    restarted frames and a 50-byte fragment failing the FCS, and no value (EXPECTED.md §3a)."""
    p = IntelliVueParser()
    p.receive_data((DATA / "pt_demog_frame_unescaped.bin").read_bytes())
    assert p.events_received() == [
        Garbage(238, "frame restarted"), Garbage(10, "frame restarted"),
        Garbage(52, "bad checksum")]


def test_reescaped_capture_is_one_good_frame():
    """The wire form is exactly one frame: FCS residue 0xF0B8, a single-poll result whose
    relative time is 11787.840 s, and nothing discarded."""
    wire = (DATA / "pt_demog_frame_wire_reescaped.bin").read_bytes()
    p = IntelliVueParser()
    p.receive_data(wire)
    assert p.events_received() == []
    assert p.relative_time == pytest.approx(11787.840)
    content = (DATA / "pt_demog_frame_unescaped.bin").read_bytes()[1:-1]
    assert fcs16(content) == FCS_GOOD_RESIDUE
    assert content[:4] == bytes.fromhex("11010124")  # protocol 11, type 01, length 292


def test_frame_encoder_matches_the_wire_capture():
    """Framing the captured user data reproduces the wire bytes: FCS low byte first and
    transparency applied to the two inner C0 bytes."""
    content = (DATA / "pt_demog_frame_unescaped.bin").read_bytes()[1:-1]
    user_data = content[4:-2]
    assert frame(user_data) == (DATA / "pt_demog_frame_wire_reescaped.bin").read_bytes()
    msg = decode_message(user_data)
    assert msg.poll is not None and msg.poll.obj_class == 0x2A and msg.poll.group == 0x0807
    assert len(msg.poll.observations) == 1 and len(msg.poll.observations[0][1]) == 26


def test_escape_then_abort_discards_frame():
    """7D C1 aborts the frame in progress; the next frame is read normally."""
    good = frame(poll_result(1, 1, 6, 0x0803, 8000, [(1975, [(0x0950, nu_obs(0x4BB8, 0x0220,
                                                                              97))])],
                             sequence=0))
    p = IntelliVueParser()
    p.receive_data(good[:20] + b"\x7d\xc1" + good)
    events = p.events_received()
    assert events == [Garbage(22, "frame aborted"), Numerics({"SpO2": 97.0})]


def test_corrupted_frame_yields_no_value():
    """One changed byte inside a numerics frame fails the FCS: Garbage, no Numerics."""
    good = bytearray(frame(poll_result(1, 1, 6, 0x0803, 8000, [(1975, [(0x0950, nu_obs(
        0x4BB8, 0x0220, 97))])], sequence=0)))
    good[-5] ^= 0x01
    p = IntelliVueParser()
    p.receive_data(bytes(good))
    assert p.events_received() == [Garbage(len(good), "bad checksum")]


def test_runaway_frame_is_bounded():
    """A BOF never followed by EOF is dropped past the frame limit instead of growing."""
    p = IntelliVueParser()
    p.receive_data(b"\xc0" + b"\x00" * 20000)
    assert len(p._deframer._buf) <= 8192
    assert any(isinstance(e, Garbage) and e.reason == "frame too long"
               for e in p.events_received())


# --- Basic types --------------------------------------------------------------------------------

def test_float_type():
    """FLOAT-Type decodes exactly (FF0003E7 = 99.9) and its special words mean no value."""
    assert decode_float(0xFF0003E7) == Decimal("99.9")
    assert decode_float(0xFF0003D1) == Decimal("97.7")
    assert decode_float(0x00000048) == 72
    assert decode_float(0xFEFFFF9C) == Decimal("-1.00")
    for special in (0x007FFFFF, 0x00800000, 0x007FFFFE, 0x00800002, 0x00800001):
        assert decode_float(special) is None


def test_abs_time_is_bcd():
    """NBP time bytes 20 25 02 23 09 00 51 00 are BCD for 2025-02-23 09:00:51; all FF is unset."""
    assert decode_abs_time(bytes.fromhex("2025022309005100")) == "2025-02-23T09:00:51"
    assert decode_abs_time(b"\xff" * 8) is None
    assert decode_abs_time(bytes(8)) is None  # the invalid date of the demographics frame


# --- The captured session --------------------------------------------------------------------------

def test_session_numerics_match_expected_values():
    """All 24 numerics results of the capture decode to EXPECTED.md's SpO2, PR and Perf; HR
    (state 0x8201) and RR (invalid) are None; the NaN/unavailable NBP makes no Nibp event."""
    p = IntelliVueParser()
    seen = {}
    for i, msg in enumerate(session()):
        if object_class(msg) == 6:
            events = feed(p, rebuild(msg))
            seen[i] = (p.relative_time, events)
    assert set(seen) == set(EXPECTED_NUMERICS)
    for i, (rel, spo2, pr, perf) in EXPECTED_NUMERICS.items():
        rel_seen, events = seen[i]
        assert rel_seen == pytest.approx(rel)
        assert events == [Numerics({"HR": None, "PI": perf, "PR": pr, "RR": None, "SpO2": spo2})]


def test_session_waves():
    """Pleth arrives 32 samples per block at 125/s starting 2599, 2593, 2589; ECG II and Resp
    are flagged invalid, so their samples are None; blocks are 0.256 s apart."""
    p = IntelliVueParser()
    pleth, ecg, times = [], [], []
    for msg in session():
        if object_class(msg) != 9:
            continue
        for e in feed(p, rebuild(msg)):
            if e.wave == "PLETH":
                pleth.append(e)
                times.append(p.relative_time)
            elif e.wave == "ECG_II":
                ecg.append(e)
    assert len(pleth) == 68
    assert pleth[0].rate == 125.0 and pleth[0].samples[:3] == (2599.0, 2593.0, 2589.0)
    assert all(len(c.samples) == 32 for c in pleth)
    assert all(s is None for c in ecg for s in c.samples) and len(ecg[0].samples) == 128
    assert times[1] - times[0] == pytest.approx(0.256)


def test_session_mds_create_is_answered_as_documented():
    """The captured MDS Create event (M8000, monitoring mode) is answered with the documented
    result echoing its invoke id and time, followed by an extended numerics poll of 30 s."""
    msg = session()[1]
    p = IntelliVueParser()
    p.state = "associated"
    assert feed(p, rebuild(msg)) == []
    assert p.device == {"operating_mode": 0x4000, "model": "Philips M8000",
                        "system_id": "00:09:fb:9b:b0:76"}
    sent = p.data_to_send()
    ticks = msg["RemoteOperationData"]["Data"]["EventTime"]["Ticks"]
    expected = bytes.fromhex("E100000200020014 0001 0001000E 002100000000") + struct.pack(
        ">I", ticks) + bytes.fromhex("0D060000")
    assert sent.startswith(frame(expected))
    poll = decode_message(_frames(sent[len(frame(expected)):])[0])
    assert poll.action == 0xF13B and poll.request is not None
    body = poll.request.take(poll.request.remaining())
    assert body[2:6] == bytes.fromhex("00010006")  # partition 1, class numerics
    assert body[8:] == bytes.fromhex("00010008F13E00040003A980")  # poll for 30 s
    assert p.state == "polling"


def test_device_association_answer_matches_capture():
    """The emulated monitor's association response carries the captured presentation header
    and user-info start (versions, server system type), and its release response is the
    captured one."""
    accepted = session()[0]
    assert accepted["SessionHeader"]["Type"] == "AssociationAccepted"
    device = IntelliVueDevice()
    device.receive_data(frame(association_request()))
    answer = _frames(device.data_to_send())[0]
    assert answer[0] == 0x0E and answer[1] == accepted["SessionHeader"]["Length"]["Length"]
    assert answer[2:16] == base64.b64decode(accepted["SessionData"]["Payload"])
    presentation = base64.b64decode(accepted["PresentationHeader"]["Payload"])
    assert answer[16:16 + len(presentation)] == presentation
    assert presentation[2:] == AARE_PRESENTATION
    # The capture's "trailer" is really the first 16 bytes of the user info (the logger skipped
    # the user info of an accept), so it pins the versions and the server system type.
    user = answer[16 + len(presentation):]
    assert user[:16] == base64.b64decode(accepted["PresentationTrailer"]["Payload"])
    released = session()[97]
    assert bytes([0x0A, 0x18]) + base64.b64decode(
        released["PresentationHeader"]["Payload"]) + base64.b64decode(
        released["PresentationTrailer"]["Payload"]) == RELEASE_RESPONSE


def test_association_request_carries_client_system_type_and_poll_profile():
    """The request holds the values the monitor insists on: client system type 0x80000000,
    min poll period 2500 (312.5 ms), MTU 2500/1000, numerics every second."""
    req = association_request()
    assert req[:2] == bytes([0x0D, len(req) - 2]) and req[2:16] == bytes.fromhex(
        "0508130100160102800014020002")
    info = user_info(0x80000000, 2500, 2500, 1000, 0x80000000)
    assert req.endswith(bytes([len(info)]) + info + bytes(16))
    assert struct.unpack(">I", info[12:16])[0] == 0x80000000


def _frames(data: bytes) -> list[bytes]:
    """The user data of each good frame in ``data``."""
    out: list[bytes] = []
    Deframer(EventQueue(), lambda user_data, _: out.append(user_data)).feed(data)
    return out


# --- A whole conversation with the emulated monitor ------------------------------------------------

def converse(host: IntelliVueParser, device: IntelliVueDevice, rounds: int = 4) -> list:
    events = []
    for _ in range(rounds):
        device.receive_data(host.data_to_send())
        host.receive_data(device.data_to_send())
        events += host.events_received()
    return events


def connected(waves: bool = False, **device_args) -> tuple[IntelliVueParser, IntelliVueDevice]:
    host, device = IntelliVueParser(waves=waves), IntelliVueDevice(**device_args)
    host.start()
    converse(host, device)
    assert host.state == "polling"
    return host, device


def test_round_trip_numerics_nibp_abp_and_waves():
    """Values the emulated monitor sends come out of the parser: numerics in canonical units,
    the cuff result once per measurement, the arterial line, and the pleth wave."""
    host, device = connected(waves=True)
    when = datetime(2025, 3, 1, 4, 20, 48)
    device.advance(1.024)
    values = {"HR": 72, "SpO2": 97.7, "PR": 71, "PI": 1.3, "RR": None, "EtCO2": 38, "TEMP": 36.8}
    device.numerics(values, nibp=(120, 80, 93), nibp_time=when, abp=(118, 76, 90))
    device.wave("PLETH", list(range(100, 132)))
    events = converse(host, device, 1)
    assert events == [
        Numerics({"EtCO2": 38.0, "HR": 72.0, "PI": 1.3, "PR": 71.0, "RR": None, "SpO2": 97.7,
                  "TEMP": 36.8}),
        Pressure("ABP", 118.0, 76.0, 90.0),
        Nibp(120.0, 80.0, 93.0, "ok"),
        WaveChunk("PLETH", 125.0, tuple(float(x) for x in range(100, 132))),
    ]
    assert host.relative_time == pytest.approx(1.024)
    device.numerics({"HR": 73}, nibp=(120, 80, 93), nibp_time=when)  # the same cuff result again
    assert converse(host, device, 1) == [Numerics({"HR": 73.0})]
    device.numerics({}, nibp=(121, 80, 93), nibp_time=datetime(2025, 3, 1, 4, 30))
    assert converse(host, device, 1) == [Nibp(121.0, 80.0, 93.0, "ok")]


def test_keepalive_and_release():
    """keepalive() polls the MDS and gets an answer; release() ends in the idle state."""
    host, device = connected()
    host.keepalive()
    assert converse(host, device, 1) == []
    host.release()
    converse(host, device, 1)
    assert host.state == "idle" and not device.associated


def test_nothing_is_sent_before_polling():
    """poll() and keepalive() queue nothing until the association is up."""
    host = IntelliVueParser()
    host.poll()
    host.keepalive()
    assert host.data_to_send() == b""


def test_refused_association_is_reported():
    """A monitor that refuses (here: a request not marked as client) is reported as a status."""
    host, device = IntelliVueParser(), IntelliVueDevice()
    host.start()
    host.data_to_send()
    bad = association_message(0x0D, association_request()[18:18 + 131],
                              user_info(0x00800000, 2500, 2500, 1000, 0x80000000))
    device.receive_data(frame(bad))
    host.receive_data(device.data_to_send())
    assert host.events_received() == [
        DeviceStatus("other", True, "monitor refused the association")]
    assert host.state == "idle"


def test_demo_mode_is_flagged():
    """A monitor in demo mode (operating mode 0x2000) is reported: its values are simulated."""
    host, device = IntelliVueParser(), IntelliVueDevice(operating_mode=0x2000)
    host.start()
    events = converse(host, device)
    assert DeviceStatus("other", True, "monitor in demo mode: its values are simulated") in events


def test_linked_results_and_errors():
    """A linked-result piece carries numerics like a result; a remote error becomes a status."""
    p = IntelliVueParser()
    linked = poll_result(1, 1, 6, 0x0803, 8000, [(1975, [(0x0950, nu_obs(0x4BB8, 0x0220, 95))])],
                         sequence=0, linked=(1, 2))
    assert feed(p, linked) == [Numerics({"SpO2": 95.0})]
    error = struct.pack(">HHHH", 0xE100, 2, 3, 6) + struct.pack(">HHH", 7, 3, 0)
    assert feed(p, error) == [DeviceStatus("other", True, "monitor returned error 3 for request 7")]


@pytest.mark.parametrize("state,unit,value,expected", [
    (0x0400, 0x0220, 97, None),  # demo data: never shown as a real value
    (0x4000, 0x0220, 97, None),  # questionable
    (0x0080, 0x0220, 97, 97.0),  # validated: a low-byte flag, still valid
    (0x0000, 0x0AA0, 97, None),  # SpO2 in bpm: unit not accepted
])
def test_measurement_state_and_unit(state, unit, value, expected):
    """Only values with a clear high state byte and an accepted unit are used."""
    reply = poll_result(1, 1, 6, 0x0803, 0, [(1975, [(0x0950, nu_obs(0x4BB8, unit, value,
                                                                      state))])], sequence=0)
    events = feed(IntelliVueParser(), reply)
    assert [e for e in events if isinstance(e, Numerics)] == [Numerics({"SpO2": expected})]
    if unit == 0x0AA0:
        assert DeviceStatus("other", True, "value in unsupported unit 0x0aa0 ignored") in events


def test_nbp_in_kpa_is_converted():
    """Trust the unit that comes with the value: an NBP in kPa arrives in mmHg."""
    cmp = [nu_obs(0x4A05, 0x0F03, 16), nu_obs(0x4A06, 0x0F03, 10.7), nu_obs(0x4A07, 0x0F03, 12.4)]
    body = b"".join(cmp)
    reply = poll_result(1, 1, 6, 0x0803, 0, [(2860, [(0x094B, struct.pack(">HH", 3, len(body))
                                                      + body)])], sequence=0)
    assert feed(IntelliVueParser(), reply) == [Nibp(120.01, 80.257, 93.008, "ok")]


def test_impossible_values_are_dropped_and_reported():
    """An SpO2 of 140 or a cuff result with dia above sys is not passed on; a status says so."""
    cmp = [nu_obs(0x4A05, 0x0F20, 80), nu_obs(0x4A06, 0x0F20, 120), nu_obs(0x4A07, 0x0F20, 90)]
    body = b"".join(cmp)
    reply = poll_result(1, 1, 6, 0x0803, 0, [
        (1975, [(0x0950, nu_obs(0x4BB8, 0x0220, 140))]),
        (2860, [(0x094B, struct.pack(">HH", 3, len(body)) + body)])], sequence=0)
    events = feed(IntelliVueParser(), reply)
    assert Numerics({"SpO2": None}) in events
    assert not [e for e in events if isinstance(e, Nibp)]
    statuses = [e for e in events if isinstance(e, DeviceStatus)]
    assert statuses[-1] == DeviceStatus("other", True, "impossible NBP (dia >= sys) ignored; "
                                        "impossible SpO2 value from the monitor ignored")


def test_malformed_message_is_garbage():
    """A frame with a good FCS but a truncated message is Garbage, not an exception."""
    p = IntelliVueParser()
    data = frame(bytes.fromhex("E1000002000200FF0001"))
    p.receive_data(data)
    assert p.events_received() == [Garbage(len(data), "malformed message")]


def test_mds_create_result_layout():
    """The host's MDS Create answer is the 28-byte message of the protocol reference."""
    assert mds_create_result(1, 0x000ABD00) == bytes.fromhex(
        "E10000020002001400010001000E00210000000000 0ABD000D060000".replace(" ", ""))
