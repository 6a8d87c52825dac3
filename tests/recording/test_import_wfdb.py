"""`vitalwatch import wfdb`: real PhysioNet records, checked value by value against wfdb itself."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():
    # wfdb 4.3.1 calls a pandas method with a keyword pandas 3.1 deprecates, once, at import.
    warnings.simplefilter("ignore")
    import wfdb

from monitors import recording
from tests.recording.helpers import DATA, cli

# wfdb 4.3.1 calls pandas methods with a keyword pandas 3.1 deprecates (writing records, too).
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

S25047 = DATA / "s25047" / "s25047-2704-05-04-10-44"
P000878 = DATA / "p000878" / "p000878-2137-10-26-16-57"


def imported(record: Path, tmp_path: Path) -> tuple[recording.Header, list[dict], str]:
    out = tmp_path / f"{record.name}.jsonl.gz"
    result = cli("import", "wfdb", str(record), "--out", str(out))
    assert result.returncode == 0, result.stderr
    header, records = recording.read(out)
    return header, list(records), result.stderr


def epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


def wave_samples(records: list[dict], wave: str, start: float, fs: float) -> dict[int, float | None]:
    """Sample index (from ``start`` at ``fs``) -> value, over every chunk of ``wave``."""
    out = {}
    for r in records:
        if r["type"] == "waveform" and r["wave"] == wave:
            first = round((r["t"] - start) * fs)
            assert abs(first - (r["t"] - start) * fs) < 1e-3, "chunks fall on sample times"
            out.update({first + k: s for k, s in enumerate(r["samples"])})
    return out


def test_numerics_record_zeros_are_no_value_and_cuff_readings_are_sparse(tmp_path: Path) -> None:
    """The s25047 trend record imports one numerics message a minute with every value equal to
    what wfdb reads, its zeros as null, and the NBP columns as sparse cuff readings."""
    header, records, err = imported(Path(f"{S25047}n"), tmp_path)
    rec = wfdb.rdrecord(f"{S25047}n")
    start = epoch("2704-05-04 10:44:18.529")
    assert header.start == pytest.approx(start) and header.meta["kind"] == "numerics"
    numerics = [r for r in records if r["type"] == "numerics"]
    assert len(numerics) == rec.sig_len == 72
    column = {name: i for i, name in enumerate(rec.sig_name)}
    for k, msg in enumerate(numerics):
        assert msg["t"] == pytest.approx(start + 60 * k)
        for param, name in (("HR", "HR"), ("PR", "PULSE"), ("RR", "RESP"), ("SpO2", "SpO2")):
            raw = rec.p_signal[k, column[name]]
            expected = None if raw == 0 or math.isnan(raw) else round(raw, 1)
            assert msg["values"][param]["value"] == expected, (k, param)
    assert sum(m["values"]["HR"]["value"] is None for m in numerics) == 28  # HR missing for the last half hour
    assert "HR: 28 values of 0 or blank read as 'no value'" in err

    cuffs = {round((r["t"] - start) / 60): r for r in records if r["type"] == "nibp"}
    for k in range(rec.sig_len):
        parts = [rec.p_signal[k, column[n]] for n in ("NBPSys", "NBPDias", "NBPMean")]
        if all(math.isnan(p) for p in parts):
            assert k not in cuffs
            continue
        got = cuffs[k]
        assert got["status"] == "ok"
        assert [got["sys"], got["dia"], got["map"]] == [None if math.isnan(p) else p for p in parts]
    assert cuffs[5] == {**cuffs[5], "sys": None, "dia": None, "map": 94.0}  # a mean alone is a reading
    times = [r["t"] for r in records]
    assert times == sorted(times)


def test_multi_segment_waveform_record_matches_wfdb_m2s(tmp_path: Path) -> None:
    """The 18-segment s25047 waveform record imports ECG II and ABP sample for sample as
    ``wfdb.rdrecord(m2s=True)`` reads them, at their true times; lead V is named as not imported."""
    header, records, err = imported(S25047, tmp_path)
    merged = wfdb.rdrecord(str(S25047), m2s=True)
    start = epoch("2704-05-04 10:44:18.529")
    assert header.start == pytest.approx(start)
    assert "signal 'V' not imported" in err and header.meta["not_imported"].keys() == {"V"}
    for wave, name in (("ECG_II", "II"), ("ABP", "ABP")):
        got = wave_samples(records, wave, start, 125)
        want = merged.p_signal[:, merged.sig_name.index(name)]
        present = np.flatnonzero(~np.isnan(want))
        assert set(present.tolist()) <= set(got), f"{wave}: every sample wfdb has is imported"
        values = np.array([np.nan if got[i] is None else got[i] for i in present])
        assert np.allclose(values, want[present], atol=0.01), wave
    first = min(r["t"] for r in records)
    assert first == pytest.approx(start + 25740 / 125)  # the record opens with a 206 s gap
    abp = [r["t"] for r in records if r["type"] == "waveform" and r["wave"] == "ABP"]
    assert min(abp) == pytest.approx(epoch("2704-05-04 11:43:44.449"), abs=0.01)  # segment 17's own header


def test_single_segment_record_maps_abp_and_resp_and_names_mcl1(tmp_path: Path) -> None:
    """03700181 imports its ABP and RESP waves as wfdb reads them, and reports MCL1 (an ECG lead
    protocol v1 has no wave for) by name instead of dropping it silently."""
    header, records, err = imported(DATA / "03700181", tmp_path)
    rec = wfdb.rdrecord(str(DATA / "03700181"))
    start = epoch("1994-08-15 17:27:45.000")
    assert header.start == pytest.approx(start)
    assert "signal 'MCL1' not imported: an ECG lead other than II" in err
    for wave, name in (("ABP", "ABP"), ("RESP", "RESP")):
        got = wave_samples(records, wave, start, 125)
        assert len(got) == rec.sig_len == 75000
        want = rec.p_signal[:, rec.sig_name.index(name)]
        values = [np.nan if got[i] is None else got[i] for i in range(rec.sig_len)]
        assert np.allclose(values, want, atol=1e-3, equal_nan=True), wave
    chunk = next(r for r in records if r["type"] == "waveform")
    assert len(chunk["samples"]) == 50 and chunk["rate"] == 125  # 0.4 s, as a monitor sends


def test_missing_segments_are_skipped_reported_and_keep_the_timing(tmp_path: Path) -> None:
    """p000878 lists 32 segments of which two are present: the 30 missing ones are reported, and
    the two present ones are imported at their own times with wfdb's values."""
    header, records, err = imported(P000878, tmp_path)
    assert "30 segments missing from the folder" in err and "3269321_0003: from 0:01:00 for 10:50:03" in err
    missing = header.meta["missing_segments"]
    assert len(missing) == 30 and missing[0]["name"] == "3269321_0003"
    start = epoch("2137-10-26 16:57:09.000")
    for segment, offset in (("3269321_0001", 3750), ("3269321_0002", 5750)):
        seg = wfdb.rdrecord(str(DATA / "p000878" / segment))
        seg_start = start + offset / 125
        assert seg_start == pytest.approx(epoch(f"2137-10-26 {seg.base_time}.000"))  # its own header agrees
        for wave, name in (("PLETH", "PLETH"), ("ECG_II", "II")):
            if name not in seg.sig_name:
                continue
            got = wave_samples(records, wave, start, 125)
            want = seg.p_signal[:, seg.sig_name.index(name)]
            values = [got[offset + i] for i in range(seg.sig_len)]
            assert np.allclose([np.nan if v is None else v for v in values], want, atol=1e-3, equal_nan=True)
    assert max(r["t"] for r in records) < start + 46 + 15  # nothing invented past the present segments


def test_impossible_values_become_null_and_unknown_signals_are_named(tmp_path: Path) -> None:
    """In a trend record, a value outside what a body can produce becomes null and is counted, a
    diastolic above the systolic voids the pair, and a signal the map does not know is named."""
    signals = np.array([[72, 97, 120, 80, 93, 1], [400, 101, 90, 95, 91, 1], [0, 95, 0, 0, 70, 1]], float)
    wfdb.wrsamp("trend", fs=1 / 60, units=["bpm", "%", "mmHg", "mmHg", "mmHg", "x"],
                sig_name=["HR (bpm)", "SpO2 %", "NBP Sys", "NBP Dias", "NBP Mean", "Mystery"],
                p_signal=signals, fmt=["16"] * 6, adc_gain=[10, 10, 1, 1, 1, 1], baseline=[0] * 6,
                write_dir=str(tmp_path), base_time=datetime(2024, 1, 1, 8).time(),
                base_date=datetime(2024, 1, 1).date())
    _, records, err = imported(tmp_path / "trend", tmp_path)
    numerics = [r["values"] for r in records if r["type"] == "numerics"]
    assert [n["HR"]["value"] for n in numerics] == [72, None, None]
    assert [n["SpO2"]["value"] for n in numerics] == [97, None, 95]
    cuffs = [(r["sys"], r["dia"], r["map"]) for r in records if r["type"] == "nibp"]
    assert cuffs == [(120, 80, 93), (None, None, 91), (None, None, 70)]
    assert "HR: 1 impossible values made 'no value' (null), e.g. 400" in err
    assert "SpO2: 1 impossible values" in err and "SBP/DBP (dia >= sys): 1" in err
    assert "signal 'Mystery' not imported: not in the signal-name map" in err


def test_a_record_that_is_not_there_fails_clearly(tmp_path: Path) -> None:
    """Importing a record that does not exist fails with exit code 2, says so, and leaves no file."""
    result = cli("import", "wfdb", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2 and "cannot read" in result.stderr
    assert not list(tmp_path.iterdir())
