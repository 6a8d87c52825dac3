"""The emulator as a host sees it: a serial port that answers the handshakes, survives the host
closing and reopening it, and stops cleanly."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import serial

from monitors.devices import PROTOCOLS
from monitors.devices.events import Numerics
from tests.conftest import seconds
from tests.monitors.serial.helpers import Emulator, Process


def first_numerics(path: str, protocol: str, timeout: float = 5) -> Numerics:
    """Open ``path`` as a host would, do the protocol's handshake, return the first values."""
    spec = PROTOCOLS[protocol]
    parser = spec.parser()
    if spec.start_command:
        parser.start()
    with serial.Serial(path, spec.baud, parity=spec.parity, timeout=0.05) as port:
        port.write(parser.data_to_send())
        deadline = time.monotonic() + seconds(timeout)
        while time.monotonic() < deadline:
            parser.receive_data(port.read(4096))
            port.write(parser.data_to_send())  # IntelliVue: the answer to the MDS Create event
            for event in parser.events_received():
                if isinstance(event, Numerics) and event.values.get("SpO2") is not None:
                    return event
    raise AssertionError(f"no numerics from the {protocol} emulator within {timeout} s")


@pytest.mark.parametrize("protocol", ["contec", "intellivue"])
def test_handshake_is_answered_again_after_the_host_reopens_the_port(tmp_path: Path,
                                                                      protocol: str) -> None:
    """A Contec (start command) or IntelliVue (association) emulator serves a host that closed
    and reopened the port, and exits 0 on SIGINT."""
    emulator = Emulator(protocol, tmp_path / "emulator.log")
    try:
        for _ in range(2):
            values = first_numerics(emulator.path, protocol).values
            assert 90 <= values["SpO2"] <= 100 and 40 <= values["PR"] <= 140  # type: ignore[operator]
            time.sleep(0.2)  # long enough for the emulator to see the port closed
    finally:
        rc = emulator.stop(signal.SIGINT)
    assert rc == 0, emulator.log.read_text()
    assert emulator.log.read_text().count("host opened the port") == 2


def test_unknown_scenario_is_refused_before_any_port_is_made(tmp_path: Path) -> None:
    """A scenario the simulator does not know exits 2 with the known names, printing no path."""
    proc = Process(["emulate", "masimo", "--scenario", "no-such-scenario"], tmp_path / "emu.log")
    assert proc.proc.wait(timeout=seconds(20)) == 2
    assert "typical-responder" in proc.log.read_text() and "/dev/" not in proc.log.read_text()
