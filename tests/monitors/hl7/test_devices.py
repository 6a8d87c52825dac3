"""The HL7 listener's device map: quoted rooms, tokens from the environment, and every mistake
named by line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitors.hl7.devices import DeviceMapError, load


def test_reads_devices(tmp_path: Path) -> None:
    """Comments, blank lines, a quoted room and an env: token."""
    f = tmp_path / "devices.txt"
    f.write_text('# equipment  monitor  room  token\n\n0123456789ABCDEF bed-1 "Room 1" vwd_abc\n'
                 "080019FFFF4F6AC0\tgw-2\tICU env:GW  # the gateway\n")
    devices = load(f, environ={"GW": "vwd_gw"})
    assert devices["0123456789ABCDEF"].room == "Room 1"
    assert devices["0123456789ABCDEF"].token == "vwd_abc"
    assert devices["080019FFFF4F6AC0"].monitor_id == "gw-2"
    assert devices["080019FFFF4F6AC0"].token == "vwd_gw"


@pytest.mark.parametrize(("text", "says"), [
    ("A bed-1 Room 1 tok\n", ":1: 5 fields, expected 4"),
    ("A bed-1\n", ":1: room: missing"),
    ('A bed-1 "Room 1\n', ":1: No closing quotation"),
    ("A bad/id R tok\n", ":1: monitor id: 'bad/id' must be"),
    ("A bed-1 R env:NOPE\n", ":1: token: the environment variable 'NOPE' is not set"),
    ("A bed-1 R t\nA bed-2 R t\n", ":2: equipment id: 'A' is already on line 1"),
    ("A bed-1 R t\nB bed-1 R t\n", ":2: monitor id: 'bed-1' is already on line 1"),
    ("# nothing\n", "no devices"),
])
def test_errors_name_line_and_field(tmp_path: Path, text: str, says: str) -> None:
    """Each mistake is refused with the file, the line and the field."""
    f = tmp_path / "devices.txt"
    f.write_text(text)
    with pytest.raises(DeviceMapError) as e:
        load(f, environ={})
    assert says in str(e.value)


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is an error naming it, not a traceback."""
    with pytest.raises(DeviceMapError, match="cannot read the device map"):
        load(tmp_path / "nope.txt")
