"""Import a VitalDB ``.vital`` file (read with the ``vitaldb`` package, entirely offline).

A .vital file holds tracks named ``Device/TRACK``: numeric tracks (a value with its own time,
every second or two) and wave tracks (blocks of samples at a rate). Tracks are placed by the
signal-name map (``names.py``; the device prefix is dropped, so ``Solar8000/PLETH_SPO2`` is SpO2,
``Solar8000/NIBP_SBP`` a cuff systolic, ``SNUADC/ECG_II`` the ECG_II wave, ``SNUADC/ART`` ABP).
Numeric values with the same time (to the millisecond) form one numerics message; cuff values
one ``nibp`` record. String tracks (events typed by the anaesthetist) and tracks the map does not
know are reported by name. Zeros are values here: VitalDB has no zero-means-missing convention.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np

from monitors.importers import build
from monitors.importers.names import classify
from monitors.importers.report import Report, Unreadable
from monitors.recording import Header

WAVE, NUMERIC, STRING = 1, 2, 5  # VitalDB track types
_NIBP, _NUMERICS, _WAVE = 0, 1, 2  # order of records at the same time


def _open(path: str) -> Any:
    try:
        import vitaldb
    except ImportError:
        raise Unreadable("the vitaldb package is not installed (pip install vitaldb); "
                         "it reads .vital files offline") from None
    if not Path(path).is_file():
        raise Unreadable(f"no file {path}")
    try:
        return vitaldb.VitalFile(str(path))
    except Exception as e:  # noqa: BLE001 - the package raises anything on a damaged file
        raise Unreadable(f"{path} is not a readable .vital file ({type(e).__name__}: {e})") from None


def read(path: str, report: Report) -> tuple[Header, Iterator[dict[str, Any]]]:
    vf = _open(path)
    report.noun = "track"
    numeric: list[tuple[str, str, str, float, Any]] = []  # (track, kind, target, factor, track obj)
    waves: list[tuple[str, str, Any]] = []
    claimed: dict[tuple[str, str], str] = {}
    for name, trk in vf.trks.items():
        if trk.type == STRING:
            report.unmapped_signal(name, "a text (event) track")
            continue
        target = classify(name, waveform=trk.type == WAVE)
        if target.kind in ("unsupported", "unknown"):
            report.unmapped_signal(name, target.name)
            continue
        key = (target.kind, target.name)
        if key in claimed:
            report.unmapped_signal(name, f"track {claimed[key]!r} already gives {target.name}")
            continue
        if target.kind == "wave":
            if (why := build.wave_ok(target.name, trk.srate)) is not None:
                report.unmapped_signal(name, why)
                continue
            claimed[key] = name
            waves.append((name, target.name, trk))
        else:
            claimed[key] = name
            param = target.name if target.kind == "numerics" else build.NIBP_PARAM[target.name]
            factor = build.unit_factor(param, target.unit or trk.unit, name, report)
            numeric.append((name, target.kind, target.name, factor, trk))
    if not claimed:
        raise Unreadable(f"{path}: no track names a parameter or a wave (tracks: {', '.join(vf.trks)})")
    stem = Path(path).stem
    meta = {"importer": "vital", "file": Path(path).name, "tracks": {v: k[1] for k, v in claimed.items()},
            **report.meta()}
    header = Header(room=stem[:64], monitor_id=f"vital-{stem}"[:64], mode="replay",
                    start=float(vf.dtstart or 0.0), source=f"VitalDB file {Path(path).name}", meta=meta)
    streams = [_numerics(numeric, report)] + [_wave(trk, wave) for _, wave, trk in waves]
    return header, (rec for _, _, rec in heapq.merge(*streams, key=lambda x: (x[0], x[1])))


def _numerics(tracks: list, report: Report) -> Iterator[tuple[float, int, dict[str, Any]]]:
    def values(kind: str, name: str, factor: float, trk: Any) -> Iterator[tuple[float, str, str, float, Any]]:
        for rec in sorted(trk.recs, key=lambda r: r["dt"]):
            yield round(float(rec["dt"]), 3), kind, name, factor, rec["val"]

    merged = heapq.merge(*(values(k, n, f, trk) for _, k, n, f, trk in tracks), key=lambda x: x[0])
    for t, group in groupby(merged, key=lambda x: x[0]):
        nums: dict[str, float | None] = {}
        parts: dict[str, float | None] = {}
        for _, kind, name, factor, raw in group:
            param = name if kind == "numerics" else build.NIBP_PARAM[name]
            v = build.value(param, None if raw is None else float(raw), factor, report=report)
            if kind == "numerics":
                nums[name] = v
            else:
                parts[name] = v
        if parts and (cuff := build.nibp(t, parts, report)) is not None:
            yield t, _NIBP, cuff
        if (msg := build.numerics(t, nums)) is not None:
            yield t, _NUMERICS, msg


def _wave(trk: Any, wave: str) -> Iterator[tuple[float, int, dict[str, Any]]]:
    for rec in sorted(trk.recs, key=lambda r: r["dt"]):
        x = np.asarray(rec["val"], dtype=np.float64)
        if trk.fmt > 2:  # stored as integers: VitalDB's own conversion to physical units
            x = x * trk.gain + trk.offset
        x[np.isinf(x) | (x > 4e9)] = np.nan
        for t, msg in build.wave_chunks(float(rec["dt"]), wave, float(trk.srate), x, decimals=4):
            yield t, _WAVE, msg
