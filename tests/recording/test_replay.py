"""`vitalwatch replay`: a recording through the live path, as a monitor in replay mode."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from monitors.replay import MAX_CHUNK_S, merge_waves
from tests.conftest import Server
from tests.recording.helpers import START, cli, replay, surge_recording


def test_replay_joins_the_room_as_a_replay_monitor_from_the_given_moment(server: Server, tmp_path: Path) -> None:
    """``--from 2:00 --room`` streams the recording from two minutes in into that room, as monitor
    ``replay-<recording's monitor>`` in replay mode, with the recording's values."""
    rec = surge_recording(tmp_path / "surge.jsonl", minutes=4, waveforms=False)
    result = replay(server, rec, "--from", "2:00", "--room", "Review 1")
    assert result.returncode == 0, result.stderr
    assert "× real time" in result.stdout
    (session,) = server.get("/api/sessions")
    assert (session["room"], session["mode"]) == ("Review 1", "replay")
    (monitor,) = server.get("/api/monitors", role="admin")
    assert (monitor["monitor_id"], monitor["mode"], monitor["refused"]) == ("replay-sim-7", "replay", 0)
    numerics = server.get(f"/api/sessions/{session['id']}/readings", params="HR")["numerics"]
    assert len(numerics) == 120  # minutes 2 to 4, one a second

    from monitors import recording

    _, records = recording.read(rec)
    hr = [r["values"]["HR"]["value"] for r in records if r["type"] == "numerics" and r["t"] >= START + 120]
    assert [n["value"] for n in numerics] == hr


def test_replay_without_a_known_token_stops_with_the_reason(server: Server, tmp_path: Path) -> None:
    """A replay the server refuses (no token, or a token for another monitor) stops at once with
    exit code 2 and the server's reason, instead of retrying for ever; nothing is stored."""
    rec = surge_recording(tmp_path / "surge.jsonl", minutes=1, waveforms=False)
    none = cli("replay", str(rec), "--server", server.ws, "--speed", "100", timeout=30)
    assert none.returncode == 2
    assert "HTTP 401" in none.stderr and "vitalwatch device add replay-sim-7" in none.stderr
    other = cli("replay", str(rec), "--server", server.ws, "--token", server.device_token("someone-else"),
                timeout=30)
    assert other.returncode == 2 and "belongs to monitor 'someone-else'" in other.stderr
    assert server.get("/api/sessions") == []


def test_merged_waveform_chunks_keep_every_sample_and_every_gap() -> None:
    """At high speed consecutive chunks of a wave are merged into longer ones (up to the span and
    4096 samples), never across a gap, and no sample is lost or moved."""
    chunks = [{"type": "waveform", "t": START + 0.4 * i, "wave": "PLETH", "rate": 125.0,
               "samples": [float(i)] * 50} for i in range(200) if i != 100]  # a 0.4 s gap at 40 s
    records = sorted(chunks + [{"type": "numerics", "t": START + s, "values": {}} for s in range(80)],
                     key=lambda r: r["t"])

    async def run() -> list[dict]:
        async def source():
            for r in records:
                yield r

        return [r async for r in merge_waves(source(), span_s=MAX_CHUNK_S)]

    # In a thread of its own: the browser tests' Playwright keeps an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        out = pool.submit(lambda: asyncio.run(run())).result()
    waves = [r for r in out if r["type"] == "waveform"]
    assert len([r for r in out if r["type"] == "numerics"]) == 80
    assert all(len(w["samples"]) <= 4096 and len(w["samples"]) / 125 <= MAX_CHUNK_S + 0.4 for w in waves)
    assert len(waves) < 10
    samples = {}
    for w in waves:
        for k, s in enumerate(w["samples"]):
            samples[round((w["t"] - START) * 125) + k] = s
    expected = {i * 50 + k: float(i) for i in range(200) if i != 100 for k in range(50)}
    assert samples == expected
