"""`vitalwatch import wfdb`: real PhysioNet records, checked value by value against wfdb itself."""

from __future__ import annotations

import math
import os
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():
    # wfdb 4.3.1 calls a pandas method with a keyword pandas 3.1 deprecates, once, at import.
    warnings.simplefilter("ignore")
    import wfdb
    from wfdb.io.convert.matlab import wfdb_to_mat

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
    the protocol has no wave for) by name instead of dropping it silently."""
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


def imported_any(record: Path, tmp_path: Path) -> tuple[int, str, Path]:
    out = tmp_path / f"{record.name}.jsonl.gz"
    result = cli("import", "wfdb", str(record), "--out", str(out))
    return result.returncode, result.stderr, out


def test_multi_rate_record_keeps_every_signal_at_its_own_rate(tmp_path: Path) -> None:
    """A record made by wfdb with ECG II stored 4 samples a frame (250 Hz) beside RESP at the
    62.5 Hz frame rate imports each at its own rate, every sample as wfdb reads it unsmoothed."""
    frames = 62 * 20  # ~20 s
    rng = np.random.default_rng(7)
    ecg = np.round(np.sin(np.arange(frames * 4) / 8) + rng.normal(0, 0.05, frames * 4), 3)
    resp = np.round(np.cos(np.arange(frames) / 30) * 2, 2)
    wfdb.wrsamp("multirate", fs=62.5, units=["mV", "NU"], sig_name=["II", "RESP"],
                e_p_signal=[ecg, resp], samps_per_frame=[4, 1], fmt=["16", "16"],
                adc_gain=[1000, 100], baseline=[0, 0], write_dir=str(tmp_path),
                base_time=datetime(2024, 1, 1, 8).time(), base_date=datetime(2024, 1, 1).date())
    header, records, _ = imported(tmp_path / "multirate", tmp_path)
    want = wfdb.rdrecord(str(tmp_path / "multirate"), smooth_frames=False)
    start = epoch("2024-01-01 08:00:00.000")
    assert header.meta["rates"] == {"II": 250.0, "RESP": 62.5}
    for wave, name, rate in (("ECG_II", "II", 250), ("RESP", "RESP", 62.5)):
        chunks = [r for r in records if r["type"] == "waveform" and r["wave"] == wave]
        assert {r["rate"] for r in chunks} == {rate}
        got = wave_samples(records, wave, start, rate)
        signal = want.e_p_signal[want.sig_name.index(name)]
        assert len(got) == len(signal) == frames * (4 if wave == "ECG_II" else 1)
        assert np.allclose([got[i] for i in range(len(signal))], signal, atol=1e-3), wave
    times = [r["t"] for r in records]
    assert times == sorted(times)  # the two rates' chunks interleaved in time order


def test_mat_format_record_imports_as_wfdb_reads_it(tmp_path: Path) -> None:
    """03700181 converted by wfdb to its .mat format (``wfdb_to_mat``) imports ABP and RESP with
    the values wfdb reads from the .mat record."""
    for ext in ("hea", "dat"):
        shutil.copy(DATA / f"03700181.{ext}", tmp_path / f"03700181.{ext}")
    cwd = Path.cwd()
    try:  # wfdb_to_mat writes into the working directory
        os.chdir(tmp_path)
        wfdb_to_mat("03700181", sampto=12500)
    finally:
        os.chdir(cwd)
    mat = tmp_path / "03700181m"
    assert (tmp_path / "03700181m.mat").exists()
    header, records, _ = imported(mat, tmp_path)
    rec = wfdb.rdrecord(str(mat))
    start = header.start
    for wave, name in (("ABP", "ABP"), ("RESP", "RESP")):
        got = wave_samples(records, wave, start, 125)
        want = rec.p_signal[:, rec.sig_name.index(name)]
        assert len(got) == rec.sig_len == 12500
        values = [np.nan if got[i] is None else got[i] for i in range(rec.sig_len)]
        assert np.allclose(values, want, atol=1e-3, equal_nan=True), wave


def test_segment_whose_data_file_is_missing_is_skipped_with_a_report(tmp_path: Path) -> None:
    """p000878 with segment 3269321_0001's header kept but its .dat deleted: the import goes on,
    reports that segment like a missing header (naming the missing file) and imports the other
    one with wfdb's values at its own time."""
    folder = tmp_path / "p000878"
    shutil.copytree(DATA / "p000878", folder)
    (folder / "3269321_0001.dat").unlink()
    header, records, err = imported(folder / P000878.name, tmp_path)
    assert "3269321_0001: from 0:00:30 for 0:00:16 (header present, data file 3269321_0001.dat missing)" in err
    missing = {m["name"]: m for m in header.meta["missing_segments"]}
    assert len(missing) == 31 and missing["3269321_0001"]["why"].startswith("header present")
    seg = wfdb.rdrecord(str(folder / "3269321_0002"))
    start = epoch("2137-10-26 16:57:09.000")
    got = wave_samples(records, "PLETH", start, 125)
    want = seg.p_signal[:, seg.sig_name.index("PLETH")]
    assert sorted(got) == list(range(5750, 5750 + seg.sig_len))
    assert np.allclose([np.nan if got[5750 + i] is None else got[5750 + i] for i in range(seg.sig_len)],
                       want, atol=1e-3, equal_nan=True)


def test_arterial_pressure_numerics_become_abp_parameters(tmp_path: Path) -> None:
    """A trend record's ABP Sys/Dias/Mean become the ABPsys/ABPdia/ABPmean numerics with wfdb's
    values (a disconnected line's negative pressure kept, a MIMIC zero made null), not dropped."""
    signals = np.array([[120, 80, 93], [-16, -16, -16], [0, 0, 0], [135, 70, 92]], float)
    wfdb.wrsamp("abp_trend", fs=1 / 60, units=["mmHg"] * 3, sig_name=["ABP Sys", "ABP Dias", "ABP Mean"],
                p_signal=signals, fmt=["16"] * 3, adc_gain=[1, 1, 1], baseline=[0] * 3,
                write_dir=str(tmp_path), base_time=datetime(2024, 1, 1, 8).time(),
                base_date=datetime(2024, 1, 1).date())
    _, records, err = imported(tmp_path / "abp_trend", tmp_path)
    rec = wfdb.rdrecord(str(tmp_path / "abp_trend"))
    numerics = [r["values"] for r in records if r["type"] == "numerics"]
    for param, name in (("ABPsys", "ABP Sys"), ("ABPdia", "ABP Dias"), ("ABPmean", "ABP Mean")):
        want = [None if v == 0 else v for v in rec.p_signal[:, rec.sig_name.index(name)]]
        assert [n[param]["value"] for n in numerics] == want
        assert numerics[0][param]["unit"] == "mmHg"
    assert "not imported" not in err


def test_header_comments_are_kept_in_the_metadata(tmp_path: Path) -> None:
    """The record header's comments (diagnoses, alarm notes) are in the recording's meta, for a
    single-segment record and for the real s25047 multi-segment one."""
    wfdb.wrsamp("noted", fs=125, units=["mV"], sig_name=["II"], p_signal=np.zeros((250, 1)),
                fmt=["16"], adc_gain=[200], baseline=[0], write_dir=str(tmp_path),
                comments=["Diagnosis: sinus rhythm", "Alarm: SpO2 LOW at 00:01:30"])
    header, _, _ = imported(tmp_path / "noted", tmp_path)
    assert header.meta["comments"] == ["Diagnosis: sinus rhythm", "Alarm: SpO2 LOW at 00:01:30"]
    header, _, _ = imported(S25047, tmp_path)
    assert header.meta["comments"] == wfdb.rdheader(str(S25047)).comments == ["<age>: ?? <sex>: ?"]


def test_nothing_imported_exits_non_zero_and_says_so(tmp_path: Path) -> None:
    """A record whose every signal is left out writes no file, names each signal and why, and
    exits 1 ('nothing imported'), not 0."""
    wfdb.wrsamp("useless", fs=125, units=["mV", "NU"], sig_name=["V5", "Mystery"],
                p_signal=np.zeros((250, 2)), fmt=["16", "16"], adc_gain=[200, 1], baseline=[0, 0],
                write_dir=str(tmp_path))
    code, err, out = imported_any(tmp_path / "useless", tmp_path)
    assert code == 1 and "nothing imported" in err and not out.exists()
    assert "2 signals not imported" in err
    assert "signal 'V5' not imported: an ECG lead other than II" in err
    assert "signal 'Mystery' not imported: not in the signal-name map" in err


@pytest.mark.parametrize("record", [
    "s25047/s25047-2704-05-04-10-44n", "s25047/s25047-2704-05-04-10-44", "03700181",
    "p000878/p000878-2137-10-26-16-57", "3000003_0003"])
def test_every_real_record_imports_with_its_rates_and_sample_counts(tmp_path: Path, record: str) -> None:
    """Every real PhysioNet record of the shared data imports: each imported wave at the rate wfdb
    gives it and with as many samples as wfdb reads (segment by segment for multi-segment
    records, of which p000878 has only two present), each numerics signal one value per frame."""
    path = DATA / record
    header, records, _ = imported(path, tmp_path)
    hdr = wfdb.rdheader(str(path))
    if header.meta["kind"] == "numerics":
        assert len([r for r in records if r["type"] == "numerics"]) == hdr.sig_len
        return
    if isinstance(hdr, wfdb.MultiRecord):
        parts = [wfdb.rdrecord(str(path.parent / seg), smooth_frames=False)
                 for seg, n in zip(hdr.seg_name, hdr.seg_len, strict=True)
                 if seg != "~" and n and (path.parent / f"{seg}.hea").exists()]
    else:
        parts = [wfdb.rdrecord(str(path), smooth_frames=False)]
    names = {"ECG_II": "II", "PLETH": "PLETH", "ABP": "ABP", "RESP": "RESP"}
    waves = {r["wave"] for r in records if r["type"] == "waveform"}
    assert waves
    for wave in waves:
        chunks = [r for r in records if r["type"] == "waveform" and r["wave"] == wave]
        rates = {part.fs * part.samps_per_frame[part.sig_name.index(names[wave])]
                 for part in parts if names[wave] in part.sig_name}
        assert {r["rate"] for r in chunks} == rates
        want = sum(int(np.count_nonzero(~np.isnan(np.asarray(part.e_p_signal[part.sig_name.index(names[wave])]))))
                   for part in parts if names[wave] in part.sig_name)
        got = sum(1 for r in chunks for s in r["samples"] if s is not None)
        assert got == want, wave
