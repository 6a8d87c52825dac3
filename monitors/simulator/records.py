"""A simulated session as recording records (monitors/recording.py), in time order.

Wire messages (numerics, nibp, waveform, status) are exactly what an adapter would send, less
the ``seq`` that the adapter numbers them with; ``mark`` and ``truth`` are recording-only.
Records at the same time come in a fixed order (mark, status, nibp, numerics, waveforms, truth);
a truth interval comes once it has ended, at its end time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numpy as np

from ..recording import Header
from .session import Session
from .waveforms import Wave

SIMULATOR_VERSION = 2  # 2: failure scenarios, room parameter sets, new artifacts, dosing gate
CHUNK_S = 0.4  # waveform records of 0.4 s: 50 pleth, 100 ECG, 10 respiration samples
UNITS = {"HR": "/min", "PR": "/min", "SpO2": "%", "RR": "/min", "EtCO2": "mmHg"}
# Order of records at the same time; the four waves take _WAVE to _WAVE + 3.
_MARK, _STATUS, _NIBP, _NUMERICS, _WAVE, _TRUTH = 0, 1, 2, 3, 4, 9


def header(session: Session, start: float) -> Header:
    """The recording header; ``meta`` says who the patient is and what was scripted."""
    plan = session.plan
    meta = {
        "simulator": SIMULATOR_VERSION,
        "scenario": session.scenario,
        "seed": session.seed,
        "route": session.route,
        "dose_time": start + session.dose,
        "minutes": session.n / 60,
        "waveforms": session.waves is not None,
        "patient": plan.patient.meta(),
        "response": plan.response.meta(),
        "devices": {"spo2_averaging_s": plan.device.spo2_averaging,
                    "spo2_on_cuff_arm": plan.device.same_arm},
    } | plan.notes
    return Header(room="Simulator", monitor_id=f"sim-{session.scenario}", mode="demo", start=start,
                  source=f"simulator {session.scenario} seed {session.seed}", meta=meta)


def _integers(values: np.ndarray) -> list[int | None]:
    """Displayed integers, None where the device shows no value."""
    missing = np.isnan(values)
    ints = np.rint(np.where(missing, 0.0, values)).astype(np.int64).tolist()
    return [None if m else v for v, m in zip(ints, missing.tolist())]


def _numerics(session: Session, start: float) -> Iterator[tuple]:
    d = session.display
    # Only what the room's devices measure: an oximeter-only room never sends HR at all.
    columns = [(name, _integers(getattr(d, name.lower())), unit) for name, unit in UNITS.items()
               if name in session.plan.params]
    for i in range(session.n):
        t = start + i
        yield t, _NUMERICS, {"type": "numerics", "t": t,
                             "values": {name: {"value": col[i], "unit": unit} for name, col, unit in columns}}


def _waves(wave: Wave, start: float, name: str, order: int) -> Iterator[tuple]:
    size = round(wave.rate * CHUNK_S)
    samples = wave.samples.tolist()
    valid = wave.valid
    count = -(-valid.size // size)
    padded = np.concatenate([valid, np.ones(count * size - valid.size, dtype=bool)]).reshape(count, size)
    # numpy's stubs type a reduction over one axis as possibly a scalar (whose tolist() is a bool).
    all_valid: list[bool] = padded.all(axis=1).tolist()  # type: ignore[assignment]
    any_valid: list[bool] = padded.any(axis=1).tolist()  # type: ignore[assignment]
    for c in range(count):
        i = c * size
        if all_valid[c]:
            chunk = samples[i:i + size]
        elif not any_valid[c]:
            chunk = [None] * len(samples[i:i + size])
        else:
            chunk = [s if ok else None for s, ok in zip(samples[i:i + size], valid[i:i + size].tolist())]
        t = round(start + c * CHUNK_S, 6)
        rec = {"type": "waveform", "t": t, "wave": name, "rate": wave.rate, "samples": chunk}
        yield t, _WAVE + order, rec


def _sparse(session: Session, start: float) -> list[tuple]:
    out = []
    for t, what, text in session.marks:
        at = round(start + t, 3)
        out.append((at, _MARK, {"type": "mark", "t": at, "what": what, "text": text}))
    for t, code, active, text in session.display.statuses:
        at = round(start + t, 3)
        out.append((at, _STATUS, {"type": "status", "t": at, "code": code, "active": active, "text": text}))
    for r in session.display.nibp:
        at = round(start + r.end, 3)
        if r.ok:
            rec = {"type": "nibp", "t": at, "status": "ok", "sys": r.sys, "dia": r.dia, "map": r.map}
        else:
            rec = {"type": "nibp", "t": at, "status": "failed", "reason": r.reason}
        out.append((at, _NIBP, rec))
    for lab in session.labels:
        a, b = round(start + lab.start, 3), round(start + lab.end, 3)
        out.append((b, _TRUTH, {"type": "truth", "label": lab.label, "kind": lab.kind, "start": a, "end": b}))
    out.sort(key=lambda x: (x[0], x[1]))
    return out


def records(session: Session, start: float) -> Iterator[dict]:
    """Every record of the session in time order, built lazily from its arrays."""
    streams = [_sparse(session, start), _numerics(session, start)]
    if session.waves is not None:
        streams += [_waves(wave, start, name, k) for k, (name, wave) in enumerate(session.waves.items())]
    for _, _, rec in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
        yield rec
