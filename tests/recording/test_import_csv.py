"""`vitalwatch import csv` and `vitalwatch import vital`: other people's files as recordings."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from monitors import recording
from tests.recording.helpers import cli


def imported(fmt: str, path: Path, tmp_path: Path) -> tuple[recording.Header, list[dict], str]:
    out = tmp_path / "out.jsonl"
    result = cli("import", fmt, str(path), "--out", str(out))
    assert result.returncode == 0, result.stderr
    header, records = recording.read(out)
    return header, list(records), result.stderr


def test_csv_with_iso_times_units_and_sparse_cuff_columns(tmp_path: Path) -> None:
    """A CSV's columns are placed by name and unit (kPa converted), an empty cell is "not
    reported", NA is null, impossible values become null and are counted, and columns that name
    nothing known are named on stderr."""
    src = tmp_path / "obs.csv"
    src.write_text(
        "Time,HR (bpm),SpO2 %,Resp Rate,NBP Sys [kPa],NBP Dias [kPa],NBP Mean,Comment,PLETH\n"
        "2024-03-01T10:00:00Z,72,98,14,,,,calm,1\n"
        "2024-03-01T10:00:01Z,73,97,NA,16,10.6,,,2\n"
        "2024-03-01T10:00:02Z,0,101,15,,,,,3\n"
        "2024-03-01T10:00:03Z,400,96,15,,,70,,4\n")
    header, records, err = imported("csv", src, tmp_path)
    t0 = 1709287200.0
    assert header.start == t0 and header.meta["time_column"] == "Time"
    assert [(r["type"], r["t"] - t0) for r in records] == [
        ("numerics", 0), ("nibp", 1), ("numerics", 1), ("numerics", 2), ("nibp", 3), ("numerics", 3)]
    values = [{p: v["value"] for p, v in r["values"].items()} for r in records if r["type"] == "numerics"]
    assert values == [{"HR": 72, "SpO2": 98, "RR": 14}, {"HR": 73, "SpO2": 97, "RR": None},
                      {"HR": 0, "SpO2": None, "RR": 15}, {"HR": None, "SpO2": 96, "RR": 15}]
    cuffs = [(r["sys"], r["dia"], r["map"]) for r in records if r["type"] == "nibp"]
    assert cuffs == [(pytest.approx(120.01), pytest.approx(79.507), None), (None, None, 70)]
    assert "HR: 1 impossible values made 'no value' (null), e.g. 400" in err
    assert "SpO2: 1 impossible values made 'no value' (null), e.g. 101" in err
    assert "column 'Comment' not imported: not in the signal-name map" in err
    assert "column 'PLETH' not imported: a waveform column" in err


def test_csv_with_seconds_semicolons_and_rows_out_of_order(tmp_path: Path) -> None:
    """Times in seconds work, semicolon-separated files work, and rows out of order are sorted
    (and said to be)."""
    src = tmp_path / "export.csv"
    src.write_text("seconds;HR;SpO2\n120;80;95\n60;78;96\n")
    _, records, err = imported("csv", src, tmp_path)
    assert [(r["t"], r["values"]["HR"]["value"]) for r in records] == [(60.0, 78.0), (120.0, 80.0)]
    assert "rows are not in time order: sorted" in err


def test_csv_without_any_known_column_fails_clearly(tmp_path: Path) -> None:
    """A CSV none of whose columns names a parameter fails with exit code 2 and the header it saw."""
    src = tmp_path / "notes.csv"
    src.write_text("time,colour\n1,red\n")
    result = cli("import", "csv", str(src), "--out", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2 and "no column names a parameter (header: time, colour)" in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_vital_file_tracks_become_numerics_cuff_readings_and_waves(tmp_path: Path) -> None:
    """A VitalDB .vital file (written here by the vitaldb package itself) imports its numeric
    tracks grouped by time, its cuff tracks as nibp records and its wave track in 0.4 s chunks,
    and names the tracks it cannot place."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import vitaldb
    t0 = 1_700_000_000.0
    vf = vitaldb.VitalFile()
    vf.add_track("Solar8000/HR", [{"dt": t0 + 2 * i, "val": 70.0 + i} for i in range(5)], unit="/min")
    vf.add_track("Solar8000/PLETH_SPO2", [{"dt": t0 + 2 * i, "val": 97.0} for i in range(5)], unit="%")
    vf.add_track("Solar8000/NIBP_SBP", [{"dt": t0 + 4, "val": 131.0}], unit="mmHg")
    vf.add_track("Solar8000/NIBP_DBP", [{"dt": t0 + 4, "val": 82.0}], unit="mmHg")
    wave = (np.sin(np.arange(200) / 10) * 50 + 50).astype(np.float32)
    vf.add_track("SNUADC/PLETH", [{"dt": t0, "val": wave}], srate=100)
    vf.add_track("BIS/BIS", [{"dt": t0, "val": 45.0}])
    path = tmp_path / "case1.vital"
    vf.to_vital(str(path))

    header, records, err = imported("vital", path, tmp_path)
    assert header.start == t0
    numerics = [(r["t"] - t0, r["values"]["HR"]["value"], r["values"]["SpO2"]["value"])
                for r in records if r["type"] == "numerics"]
    assert numerics == [(0, 70, 97), (2, 71, 97), (4, 72, 97), (6, 73, 97), (8, 74, 97)]
    assert [(r["t"] - t0, r["sys"], r["dia"], r["map"]) for r in records if r["type"] == "nibp"] == [
        (4, 131, 82, None)]
    chunks = [r for r in records if r["type"] == "waveform"]
    assert [len(c["samples"]) for c in chunks] == [40] * 5 and chunks[1]["t"] == pytest.approx(t0 + 0.4)
    assert np.allclose([s for c in chunks for s in c["samples"]], wave, atol=1e-3)
    assert "track 'BIS/BIS' not imported: not in the signal-name map" in err


def test_vital_import_of_a_damaged_file_fails_clearly(tmp_path: Path) -> None:
    """A file that is not a .vital file fails with exit code 2 and says so."""
    bad = tmp_path / "bad.vital"
    bad.write_bytes(b"not a vital file at all")
    result = cli("import", "vital", str(bad), "--out", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2 and "bad.vital" in result.stderr
