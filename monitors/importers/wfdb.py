"""Import a PhysioNet WFDB record (read with the ``wfdb`` package).

Three kinds of record:

- a **numerics** (trend) record, sampled at 1 Hz or slower (MIMIC's ``…n`` records: one value a
  minute): numerics and cuff measurements. A 0 in such a record means "no value" (MIMIC's
  convention), so it becomes null; NBP signals become sparse ``nibp`` records.
- a single-segment **waveform** record: waveform chunks of 0.4 s. A **multi-rate** record (a
  signal stored with several samples per frame: ECG at 250 Hz beside respiration at 62.5 Hz)
  keeps every signal at its own rate (``samps_per_frame`` × the frame rate), read unsmoothed.
- a **multi-segment** waveform record: each segment read on its own and placed at its offset in
  the record (the sum of the lengths before it), so a segment missing from the folder — its
  header, or its data file behind a header that is there — is skipped and reported and the ones
  after it keep their true times. Gaps (``~``) stay gaps.

The header's comments (diagnoses, ages, alarm notes: MIMIC writes them there) are kept in the
recording's ``meta.comments``; a multi-segment record's own and its layout header's.

Signals are placed by ``names.classify``; those that cannot be are reported by name. A record
without a date (only a time of day) is placed on 1970-01-01, UTC, and says so in ``meta``.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import wfdb

from monitors.importers import build
from monitors.importers.names import Target, classify
from monitors.importers.report import Report
from monitors.recording import Header

BLOCK_S = 600  # read long segments this many seconds at a time: memory stays bounded


def _record_name(path: str) -> str:
    return re.sub(r"\.(hea|dat)$", "", str(path))


def _start(hdr: Any) -> tuple[float, bool]:
    """The record's start as epoch seconds (UTC), and whether its date is known."""
    if hdr.base_time is None:
        return 0.0, False
    day = hdr.base_date or date(1970, 1, 1)
    return build.epoch(datetime.combine(day, hdr.base_time)), hdr.base_date is not None


def _targets(names: list[str], waveform: bool, report: Report | None = None) -> dict[int, Target]:
    """Signal index -> target; a parameter claimed twice goes to the preferred signal. What is
    left out is told to ``report`` (once: ``read`` asks with it, the readers without)."""
    def left_out(name: str, why: str) -> None:
        if report is not None:
            report.unmapped_signal(name, why)

    chosen: dict[tuple[str, str], tuple[int, Target]] = {}
    for i, name in enumerate(names):
        target = classify(name, waveform)
        if target.kind in ("unsupported", "unknown"):
            left_out(name, target.name)
            continue
        key = (target.kind, target.name)
        if key in chosen:
            j, other = chosen[key]
            if target.preference < other.preference:
                left_out(names[j], f"{name} is preferred for {target.name}")
                chosen[key] = (i, target)
            else:
                left_out(name, f"{names[j]} is preferred for {target.name}")
            continue
        chosen[key] = (i, target)
    return dict(chosen.values())


def read(path: str, report: Report) -> tuple[Header, Iterator[dict[str, Any]]]:
    """The record's header and its records, lazily, in time order. Raises OSError/ValueError
    when the record cannot be read at all."""
    name = _record_name(path)
    hdr = wfdb.rdheader(name)
    start, dated = _start(hdr)
    folder = Path(name).parent
    base = Path(name).name
    meta: dict[str, Any] = {"importer": "wfdb", "record": base, "fs": hdr.fs, "date_known": dated,
                            "signals": list(getattr(hdr, "sig_name", None) or [])}
    if isinstance(hdr, wfdb.MultiRecord):
        kind = "multi-segment waveform"
        segments = list(zip(hdr.seg_name, hdr.seg_len, strict=True))
        offset = 0
        present: set[str] = set()
        for seg, n in segments:
            if seg != "~" and n:
                why = _segment_missing(folder, seg)
                if why:
                    report.missing_segment(seg, offset / hdr.fs, n / hdr.fs, why)
                else:
                    present.add(seg)
            offset += n
        for seg, _n in segments:
            if seg in present:
                _targets(wfdb.rdheader(str(folder / seg)).sig_name, True, report)
        records = _multi(folder, segments, hdr.fs, start, report, present)
        layout = [s for s, n in segments if n == 0 and s != "~"]
        comments = list(hdr.comments or [])
        if layout and (folder / f"{layout[0]}.hea").exists():
            layout_hdr = wfdb.rdheader(str(folder / layout[0]))
            meta["signals"] = layout_hdr.sig_name
            comments += [c for c in layout_hdr.comments or [] if c not in comments]
        meta["comments"] = comments
    elif hdr.fs <= 1:
        kind = "numerics"
        rec = wfdb.rdrecord(name)
        records = _numerics(rec, start, report)
        meta["comments"] = list(hdr.comments or [])
    else:
        kind = "waveform"
        records = _segment(name, hdr, start, report, 0, 1)
        meta["comments"] = list(hdr.comments or [])
        meta["rates"] = _rates(hdr)
    meta["kind"] = kind
    # Names and missing segments are known from the headers alone; the header records them.
    if kind == "numerics":
        _targets(rec.sig_name, False, report)
    elif kind == "waveform":
        _targets(hdr.sig_name, True, report)
    meta.update(report.meta())
    monitor = re.sub(r"[^A-Za-z0-9_.:\-]", "-", f"wfdb-{base}")[:64]
    header = Header(room=base[:64], monitor_id=monitor, mode="replay", start=start,
                    source=f"PhysioNet WFDB record {base}", meta=meta)
    return header, records


def _numerics(rec: Any, start: float, report: Report) -> Iterator[dict[str, Any]]:
    targets = _targets(rec.sig_name, False)
    signal = rec.p_signal
    columns = []
    for i, target in targets.items():
        param = target.name if target.kind == "numerics" else build.NIBP_PARAM[target.name]
        factor = build.unit_factor(param, target.unit or rec.units[i], rec.sig_name[i], report)
        columns.append((target, param, factor, build.decimals_for(rec.adc_gain[i]), signal[:, i].tolist()))
    for k in range(rec.sig_len):
        t = round(start + k / rec.fs, 3)
        values: dict[str, float | None] = {}
        parts: dict[str, float | None] = {}
        for target, param, factor, decimals, col in columns:
            v = build.value(param, col[k], factor, zero_is_none=True, decimals=decimals, report=report)
            if target.kind == "numerics":
                values[param] = v
            else:
                parts[target.name] = v
        yield from build.at(t, values, parts, report)


def _rates(hdr: Any) -> dict[str, float]:
    """Each signal's sample rate: the frame rate times its samples per frame."""
    spf = hdr.samps_per_frame or [1] * len(hdr.sig_name)
    return {name: float(hdr.fs) * (n or 1) for name, n in zip(hdr.sig_name, spf, strict=True)}


def _segment_missing(folder: Path, seg: str) -> str:
    """Why a segment of a multi-segment record cannot be read ("" if it can)."""
    if not (folder / f"{seg}.hea").exists():
        return "header missing"
    try:
        files = set(wfdb.rdheader(str(folder / seg)).file_name or [])
    except (OSError, ValueError) as e:
        return f"header unreadable ({e})"
    absent = sorted(f for f in files if f and not (folder / f).exists())
    return f"header present, data file {', '.join(absent)} missing" if absent else ""


def _segment(name: str, hdr: Any, t0: float, report: Report, index: int,
             count: int) -> Iterator[dict[str, Any]]:
    """The waveform chunks of one single-segment record starting at ``t0``, each signal at its
    own rate (a multi-rate record's signals are read unsmoothed: every sample as stored)."""
    targets = _targets(hdr.sig_name, True)
    rates = list(_rates(hdr).values())
    waves = []
    for i, target in targets.items():
        if (why := build.wave_ok(target.name, rates[i])) is not None:
            report.unmapped_signal(hdr.sig_name[i], why)
            continue
        waves.append((i, target.name))
    if not waves:
        return
    multi_rate = len({rates[i] for i, _ in waves}) > 1 or any(rates[i] != hdr.fs for i, _ in waves)
    block = int(BLOCK_S * hdr.fs)
    chunk = max(1, round(hdr.fs * build.CHUNK_S))
    block -= block % chunk  # blocks hold whole chunks, so chunk times stay on the 0.4 s grid
    for a in range(0, hdr.sig_len, block):
        b = min(hdr.sig_len, a + block)
        channels = [i for i, _ in waves]
        rec = wfdb.rdrecord(name, sampfrom=a, sampto=b, channels=channels,
                            smooth_frames=not multi_rate)
        gains = rec.adc_gain
        columns = rec.e_p_signal if multi_rate else [rec.p_signal[:, j] for j in range(len(waves))]
        per_wave = [build.wave_chunks(t0 + a / hdr.fs, wave, rates[i], columns[j],
                                      build.decimals_for(gains[j]))
                    for j, (i, wave) in enumerate(waves)]
        # Interleave the waves' chunks by time (at different rates their chunks need not line up).
        for _, _, msg in heapq.merge(*([(t, j, m) for t, m in chunks] for j, chunks in enumerate(per_wave))):
            yield msg
        report.progress(index + b / hdr.sig_len, count, f"segment {index + 1} of {count}")


def _multi(folder: Path, segments: list[tuple[str, int]], fs: float, start: float,
           report: Report, present: set[str]) -> Iterator[dict[str, Any]]:
    offset = 0
    done = 0
    for seg, n in segments:
        if seg in present:
            path = str(folder / seg)
            hdr = wfdb.rdheader(path)
            yield from _segment(path, hdr, start + offset / fs, report, done, len(present))
            done += 1
        offset += n

