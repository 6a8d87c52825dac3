"""The check-in room's patient (monitors/simulator/checkin.py): a borderline resting BP read in
the cuff cycle asked for, numerics every second, nothing of a dose, the same records each time."""

from __future__ import annotations

import itertools
import statistics

import pytest

from monitors.simulator.checkin import checkin
from monitors.simulator.parameters import CHECKIN_BP

T0 = 1_800_000_000.0


def head(n: int, **kw: object) -> list[dict]:
    return list(itertools.islice(checkin(3, T0, **kw), n))  # type: ignore[arg-type]


def test_the_cuff_reads_in_the_cycle_asked_for_and_nothing_says_dose() -> None:
    """With a 60-s cycle, a cuff reading at every 60 s from the start's first cycle on, in time
    order with numerics once a second; no mark, truth or scheduled cuff of the simulated session
    it draws on; across chunks (30 min each) the stream goes on without a gap."""
    recs = head(40_000, cuff_every_s=60, waveforms=False)
    assert {r["type"] for r in recs} <= {"numerics", "nibp", "status"}
    cuffs = [r["t"] - T0 for r in recs if r["type"] == "nibp"]
    assert cuffs == [60.0 * k for k in range(1, len(cuffs) + 1)]
    seconds = [r["t"] - T0 for r in recs if r["type"] == "numerics"]
    assert seconds == [float(i) for i in range(len(seconds))] and len(seconds) > 3600
    assert [r["t"] for r in recs] == sorted(r["t"] for r in recs)


def test_the_resting_bp_is_borderline_raised() -> None:
    """The readings scatter around 146/92 with the cuff's error: their mean is above G1's 140/90
    and below B1's 160/100, the reading a prescriber is asked to sign off before the dose."""
    cuffs = [r for r in head(20_000, cuff_every_s=30, waveforms=False) if r["type"] == "nibp"]
    sbp = statistics.mean(r["sys"] for r in cuffs)
    dbp = statistics.mean(r["dia"] for r in cuffs)
    assert abs(sbp - CHECKIN_BP["SBP"]) < 3 and abs(dbp - CHECKIN_BP["DBP"]) < 3, (sbp, dbp)
    assert all(r["dia"] < r["map"] < r["sys"] for r in cuffs)


def test_same_arguments_same_records_and_waveforms_on_request() -> None:
    """Deterministic for its arguments, and with waveforms the pleth among them."""
    assert head(3000, cuff_every_s=10) == head(3000, cuff_every_s=10)
    assert any(r["type"] == "waveform" and r["wave"] == "PLETH" for r in head(3000))


def test_a_cycle_under_five_seconds_is_refused() -> None:
    """A cycle of 1 s would flood the room with readings no cuff can take: ValueError."""
    with pytest.raises(ValueError, match="cuff_every_s"):
        next(checkin(1, T0, cuff_every_s=1))
