"""Refused messages by role: clinical roles read why (with the values sent), admins only counts,
field names and the kind of error — never a value."""

from __future__ import annotations

import json

import httpx
import pytest

from app.refusals import KINDS
from tests.app.helpers import RawMonitor, numerics
from tests.conftest import SSL_CONTEXT, Server, seconds

T0 = 1_800_000_000.0
MONITOR = "mon-err"

# Each bad message, the field it is refused for, its kind, a value it carries that must not reach
# an admin (chosen to appear nowhere else in the answer), and whether the reason quotes it. A
# stream's seqs run in order; a frame that cannot be read at all settles no seq, so the messages
# after it are numbered as if it had not been sent (``sent``).
BAD = [
    ({"type": "nibp", "seq": 1, "t": T0 + 1, "status": "ok", "sys": 123.4, "dia": 133.7},
     "dia", "impossible value", "133.7", True),
    ({"type": "numerics", "seq": 2, "t": T0 + 2, "values": {"SpO2": {"value": 96.5, "unit": "furlongs"}}},
     "values.SpO2", "unknown unit", "furlongs", True),
    ('{"type": "numerics", "seq": 3, "t": 18000000, "values": {"HR": 6262', "", "not JSON", "6262", False),
    ({"type": "numerics", "seq": 3, "t": T0 + 3, "values": {"HR": {"value": 88.25, "unit": "/min"}},
      "note": "Mrs Example"}, "note", "unexpected field", "Mrs Example", False),
    (numerics(4, T0 + 4, HR=417), "values.HR", "impossible value", "417", True),
]
READABLE = sum(1 for message, *_ in BAD if not isinstance(message, str))


def first_of_stream(message: dict | str) -> str:
    """``message`` as the first message of a fresh stream (seq 1)."""
    return message if isinstance(message, str) else json.dumps({**message, "seq": 1})


def monitors(server: Server, role: str) -> httpx.Response:
    return httpx.get(f"{server.http}/api/monitors", headers=server.headers(role), timeout=seconds(10),
                     verify=SSL_CONTEXT)


def carries(body: str, value: str) -> bool:
    """Whether the JSON ``body`` carries ``value``: in any text, or as a number equal to it. Not
    a plain substring test: a timestamp such as 1796355658.0417175 holds "417" by chance."""
    def walk(node: object) -> bool:
        if isinstance(node, dict):
            return any(walk(k) or walk(v) for k, v in node.items())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        if isinstance(node, str):
            return value in node
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            try:
                return node == float(value)
            except ValueError:
                return False
        return False
    return walk(json.loads(body))


def mine(body: str) -> dict:
    return next(m for m in json.loads(body) if m["monitor_id"] == MONITOR)


@pytest.fixture(scope="module")
def refused(shared: Server) -> Server:
    """The shared server after MONITOR sent each BAD message, then one good reading."""
    mon = RawMonitor(shared, MONITOR, room="Room E")
    for message, field, *_ in BAD:
        error = mon.send(message if isinstance(message, str) else json.dumps(message))
        assert error["type"] == "error" and error["field"] == field, error
    assert mon.send(numerics(READABLE + 1, T0 + 10, HR=71))["type"] == "ack"
    mon.close()
    return shared


@pytest.mark.parametrize("n", range(len(BAD)))
def test_admin_sees_the_kind_and_field_of_each_refusal_but_no_value(shared: Server, n: int) -> None:
    """After each kind of bad message, an admin's /api/monitors names its field and kind and
    contains no value from it; a clinician's gives the reason, with the value if it quotes one."""
    mon = RawMonitor(shared, f"mon-one-{n}", room=f"Room O{n}")
    message, field, kind, value, quoted = BAD[n]
    mon.send(first_of_stream(message))
    mon.close()
    admin = monitors(shared, "admin")
    assert admin.status_code == 200 and not carries(admin.text, value)
    m = next(x for x in admin.json() if x["monitor_id"] == f"mon-one-{n}")
    assert m["last_error"] == {"seq": None if field == "" else 1, "field": field, "kind": kind}
    assert m["refused"] == 1 and m["refused_by"] == {field or "message": 1}
    clinician = next(x for x in monitors(shared, "clinician").json() if x["monitor_id"] == f"mon-one-{n}")
    assert clinician["last_error"]["kind"] == kind
    assert (value in clinician["last_error"]["reason"]) is quoted


@pytest.mark.parametrize("role", ["clinician", "nurse"])
def test_clinical_roles_see_the_full_reason(refused: Server, role: str) -> None:
    """Clinicians and nurses get the last refusal's reason, with the value that was sent."""
    r = monitors(refused, role)
    assert r.status_code == 200
    m = mine(r.text)
    assert m["refused"] == len(BAD) and m["accepted"] == 1
    assert m["last_error"] == {"seq": 4, "field": "values.HR", "kind": "impossible value",
                               "reason": "HR 417 /min is physiologically impossible (possible: 0–350 /min)"}


def test_admin_sees_counts_fields_and_kind_only(refused: Server) -> None:
    """An admin's view of the monitors has the counts by field and the last error's seq, field and
    kind, and none of the values any refused message carried."""
    r = monitors(refused, "admin")
    assert r.status_code == 200
    for _, _, _, value, _ in BAD:
        assert not carries(r.text, value), value
    m = mine(r.text)
    assert m["refused"] == len(BAD) and m["accepted"] == 1
    assert m["refused_by"] == {"values.HR": 1, "dia": 1, "values.SpO2": 1, "message": 1, "note": 1}
    assert m["last_error"] == {"seq": 4, "field": "values.HR", "kind": "impossible value"}
    assert m["last_error"]["kind"] in KINDS


@pytest.mark.parametrize(("role", "status"), [("admin", 403), ("kiosk", 403), ("reviewer", 200),
                                              ("clinician", 200), ("nurse", 200)])
def test_refused_contents_are_for_clinical_roles(refused: Server, role: str, status: int) -> None:
    """The refused messages themselves (/api/monitors/{id}/errors) are for the roles that read
    stored vital signs (clinicians, nurses, reviewers), not for admins or kiosks."""
    r = httpx.get(f"{refused.http}/api/monitors/{MONITOR}/errors", headers=refused.headers(role),
                  timeout=seconds(10))
    assert r.status_code == status
    if status == 200:
        assert "417" in r.text and "Mrs Example" in r.text


@pytest.mark.parametrize("role", ["reviewer", "kiosk"])
def test_roles_without_monitor_view_get_nothing(refused: Server, role: str) -> None:
    """Reviewers and kiosks cannot list the monitors at all."""
    assert monitors(refused, role).status_code == 403


def test_a_reason_of_unknown_wording_is_an_invalid_message() -> None:
    """A refusal whose wording the vocabulary does not know gets the kind "invalid message", so
    a new reason can never carry its values to an admin as its kind."""
    from app.refusals import kind

    assert kind("HR 123 was odd for Mrs Example") == "invalid message" == KINDS[-1]


def test_refusals_by_made_up_field_names_are_counted_in_bounded_memory(shared: Server) -> None:
    """A device that sends ever new unknown field names gets each refused, but the counts keep at
    most MAX_FIELDS names and count the rest as "(other fields)"."""
    from app.refusals import MAX_FIELDS, OTHER_FIELDS

    mon = RawMonitor(shared, "mon-names", room="Room N")
    n = MAX_FIELDS + 8
    for i in range(n):
        error = mon.send(json.dumps({**numerics(i + 1, T0 + i, HR=70), f"made_up_{i}": 1}))
        assert error["type"] == "error" and error["field"] == f"made_up_{i}", error
    mon.close()
    m = next(x for x in monitors(shared, "admin").json() if x["monitor_id"] == "mon-names")
    assert m["refused"] == n and len(m["refused_by"]) == MAX_FIELDS + 1
    assert m["refused_by"][OTHER_FIELDS] == n - MAX_FIELDS
    assert m["refused_by"]["made_up_0"] == 1 and m["last_error"]["field"] == f"made_up_{n - 1}"
