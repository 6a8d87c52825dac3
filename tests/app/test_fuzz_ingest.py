"""A fuzz corpus against a real server: mutations of valid frames (wrong types, boundary numbers,
deep nesting, huge integers, unicode, truncation, …). Every frame gets an ack or a precise error,
no connection is dropped, the server log holds no traceback, and every value stored has the type
its column promises. The corpus has 20,480 frames; CI sends one in twenty, the soak run
(VITALWATCH_SOAK=1) all of them."""

from __future__ import annotations

import copy
import json
import math
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import connect

from monitors.protocol import MAX_SEQ, Param
from tests.conftest import Server, seconds

SOAK = os.environ.get("VITALWATCH_SOAK") == "1"
CORPUS_SIZE = 20_480
FRAMES_PER_CONNECTION = 40  # below the 50 refusals in 10 s that close a connection for policy
SEQ = "__SEQ__"  # replaced by the connection's next seq when the frame is sent


def _valid(t: float) -> list[dict[str, Any]]:
    return [
        {"type": "numerics", "seq": SEQ, "t": t, "values": {
            "HR": {"value": 72, "unit": "/min"}, "SpO2": {"value": 97.5, "unit": "%"},
            "EtCO2": {"value": 5.1, "unit": "kPa"}, "TEMP": {"value": 36.8, "unit": "Cel"}}},
        {"type": "numerics", "seq": SEQ, "t": t, "values": {"PR": {"value": None, "unit": "bpm"}}},
        {"type": "nibp", "seq": SEQ, "t": t, "status": "ok", "sys": 121, "dia": 79, "map": 93},
        {"type": "nibp", "seq": SEQ, "t": t, "status": "failed", "reason": "motion"},
        {"type": "waveform", "seq": SEQ, "t": t, "wave": "PLETH", "rate": 125,
         "samples": [0.5, None, 1.25, -3.0] * 10},
        {"type": "status", "seq": SEQ, "t": t, "code": "probe_off", "active": True, "text": "probe"},
        {"type": "mark", "seq": SEQ, "t": t, "what": "note", "text": "note text"},
        {"type": "heartbeat", "seq": SEQ, "t": t},
    ]


ODD_VALUES: list[Any] = [
    True, False, None, "72", "", "NaN", [], {}, [72], {"value": 72}, 0, -0.0, -1, 1.5, 72,
    2**31, 2**53 - 1, 2**53, 2**63, 2**64, 10**30, -(10**30), 1e300, -1e300, 5e-324, 3.5e38,
    "\u00e9\u4e2d\U0001f600", "\u202e\u0000", "x" * 600, 350, 350.001, 100, 100.0001, 15, 46.01,
    946_684_799, 946_684_800, 4_102_444_800, 4_102_444_801,
]


def _paths(obj: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _set(obj: Any, path: tuple, value: Any) -> None:
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value


def _delete(obj: Any, path: tuple) -> None:
    for p in path[:-1]:
        obj = obj[p]
    del obj[path[-1]]


def mutate(rng: random.Random, frame: dict[str, Any]) -> str | bytes:
    """One mutation of a valid frame, as the text (or bytes) to send."""
    f = copy.deepcopy(frame)
    paths = list(_paths(f))
    kind = rng.randrange(14)
    if kind == 0:
        return json.dumps(f)  # valid as it is
    if kind in (1, 2):  # a field gets a value of another type or at a boundary
        _set(f, rng.choice(paths), rng.choice(ODD_VALUES))
    elif kind == 3:  # a field gets a random number, of any magnitude
        _set(f, rng.choice(paths), rng.choice([rng.uniform(-500, 500), rng.randint(-10**6, 10**6),
                                               rng.random() * 10 ** rng.randint(-300, 308)]))
    elif kind == 4:  # a field missing
        _delete(f, rng.choice(paths))
    elif kind == 5:  # an unknown field, or an unknown enum
        target = rng.choice([f, f.get("values", f)])
        target[rng.choice(["extra", "HRX", "wave", "type", "\U0001f600"])] = rng.choice(ODD_VALUES)
    elif kind == 6:  # deep nesting
        depth = rng.choice([10, 100, 999, 2000, 10_000])
        return json.dumps(f)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    elif kind == 7:  # huge integers written out
        digits = rng.choice([20, 400, 4300, 5000])
        key = rng.choice(["seq", "t", "rate"])
        text = json.dumps({**f, key: 0})
        return text.replace(f'"{key}": 0', f'"{key}": {"9" * digits}')
    elif kind == 8:  # truncated
        text = json.dumps(f)
        return text[: rng.randrange(len(text))]
    elif kind == 9:  # a character changed
        text = json.dumps(f)
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(['"', "{", "]", ",", "\\", "\u00ff", "0", " "]) + text[i + 1:]
    elif kind == 10:  # unicode in strings, including escapes of lone surrogates
        junk = rng.choice(["\U0001f600", "\\ud800", "\\udfff", "\u0000", "\u2028", "é" * 300])
        text = json.dumps({**f, "type": f["type"]})
        field = rng.choice(['"text": "', '"unit": "', '"reason": "', '"code": "', '"type": "'])
        return text.replace(field, field + junk, 1) if field in text else text + junk
    elif kind == 11:  # seq out of range or out of order
        f["seq"] = rng.choice([-1, 0, MAX_SEQ, MAX_SEQ + 1, 2**64, "1", 1.0, True, None])
    elif kind == 12:  # non-finite or special numbers written out
        text = json.dumps(f)
        return text.replace(": 72", rng.choice([": NaN", ": Infinity", ": -Infinity", ": 1e400",
                                                 ": -1e400", ": 1E-400"]), 1)
    elif kind == 13:  # not an object at all, binary, or too big
        return rng.choice([b"\x00\x01binary", "[]", "null", "72", '"text"', "x" * 70_000,
                           json.dumps([f]), json.dumps({"type": "hello", "seq": 0})])
    return json.dumps(f)


def corpus(seed: int, t: float, size: int = CORPUS_SIZE) -> list[str | bytes]:
    """The deterministic fuzz corpus: ``size`` mutations of the valid frames at time ``t``."""
    rng = random.Random(seed)
    valid = _valid(t)
    return [mutate(rng, rng.choice(valid)) for _ in range(size)]


def _send_all(server: Server, frames: list[str | bytes], monitor: str, mode: str) -> dict[str, int]:
    """Send ``frames``, FRAMES_PER_CONNECTION per connection (a new stream each), one at a time;
    check each gets one answer, an ack or an error with a field and a reason."""
    token = server.device_token(monitor)
    counts = {"ack": 0, "error": 0, "deferred": 0, "connections": 0}
    for start in range(0, len(frames), FRAMES_PER_CONNECTION):
        with connect(f"{server.ws}/ws/ingest", max_size=None,
                     additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            counts["connections"] += 1
            ws.send(json.dumps({"type": "hello", "seq": 0, "protocol": 1, "monitor_id": monitor,
                                "stream": uuid.uuid4().hex, "room": f"Fuzz {monitor}",
                                "mode": mode}))
            assert json.loads(ws.recv(timeout=seconds(10)))["type"] == "welcome"
            next_seq, stored = 1, set()
            for frame in frames[start:start + FRAMES_PER_CONNECTION]:
                if isinstance(frame, str):
                    frame = frame.replace(f'"{SEQ}"', str(next_seq))
                ws.send(frame)
                answer = json.loads(ws.recv(timeout=seconds(10)))  # a dropped connection raises
                if answer["type"] == "ack":
                    # The next seq is stored; an earlier one is acknowledged only if it was stored.
                    assert answer["seq"] == next_seq or answer["seq"] in stored, (frame, answer)
                    counts["ack"] += 1
                    if answer["seq"] == next_seq:
                        stored.add(next_seq)
                        next_seq += 1
                    continue
                assert answer["type"] == "error", (frame, answer)
                assert isinstance(answer["reason"], str) and answer["reason"], (frame, answer)
                assert isinstance(answer["field"], str)
                if answer["retry"]:
                    counts["deferred"] += 1
                else:
                    counts["error"] += 1
                    if answer["seq"] == next_seq:
                        next_seq += 1
    return counts


def _check_stored(server: Server) -> int:
    """Every stored value has its column's type and is in range; returns the rows checked."""
    params = {p.value for p in Param}
    db = sqlite3.connect(server.data_dir / "vitalwatch.sqlite3")
    try:
        rows = db.execute("SELECT typeof(t), t, param, typeof(value), value FROM numerics").fetchall()
        for tt, t, param, vt, value in rows:
            assert tt == "real" and 9e8 < t < 4.2e9 and param in params
            assert vt in ("real", "null") and (value is None or math.isfinite(value)), (param, value)
        nibp = db.execute("SELECT typeof(t), typeof(sys), typeof(dia), typeof(map), status, "
                          "typeof(reason) FROM nibp").fetchall()
        for tt, *kinds, status, reason in nibp:
            assert tt == "real" and all(k in ("real", "null") for k in kinds)
            assert status in ("ok", "failed") and reason == "text"
        waves = db.execute("SELECT typeof(t), wave, typeof(rate), samples FROM waveforms").fetchall()
        for tt, wave, rt, samples in waves:
            assert tt == "real" and rt == "real" and wave in ("PLETH", "ECG_II", "RESP", "CO2", "ABP")
            values = np.frombuffer(samples, np.float32)
            assert np.all(np.isfinite(values) | np.isnan(values))  # NaN is a gap (null)
        statuses = db.execute("SELECT typeof(t), typeof(active), active, typeof(text) FROM statuses").fetchall()
        assert all(s[0] == "real" and s[1] == "integer" and s[2] in (0, 1) and s[3] == "text"
                   for s in statuses)
        marks = db.execute("SELECT typeof(t), typeof(text), what FROM marks").fetchall()
        assert all(m[0] == "real" and m[1] == "text" for m in marks)
        return len(rows) + len(nibp) + len(waves) + len(statuses) + len(marks)
    finally:
        db.close()


def _fuzz(server: Server, every: int) -> None:
    began = time.monotonic()
    total = {"ack": 0, "error": 0, "deferred": 0, "connections": 0}
    for mode, t in (("test", 1_800_000_000.0), ("live", time.time())):
        frames = corpus(12, t)[::every]
        for k, v in _send_all(server, frames, f"fuzz-{mode}", mode).items():
            total[k] += v
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "Exception" not in log, log[-3000:]
    stored = _check_stored(server)
    assert total["ack"] > 0 and stored > 0 and total["error"] > total["ack"] / 10
    print(f"fuzz: {2 * CORPUS_SIZE // every} frames over {total['connections']} connections in "
          f"{time.monotonic() - began:.1f} s: {total}, {stored} rows checked")


def test_corpus_is_large_and_deterministic() -> None:
    """The corpus has at least 20,000 frames, over 5,000 of them distinct, and the same seed
    gives the same frames."""
    frames = corpus(12, 1_800_000_000.0)
    assert len(frames) >= 20_000 and frames[:50] == corpus(12, 1_800_000_000.0, 50)
    assert len(set(map(str, frames))) > 5_000


@pytest.mark.soak
def test_fuzz_corpus(server: Server) -> None:
    """The corpus in test and in live mode — one frame in twenty, or all 20,480 with
    VITALWATCH_SOAK=1: every frame answered, no connection dropped, no traceback, every stored
    value of the right type."""
    _fuzz(server, every=1 if SOAK else 20)
