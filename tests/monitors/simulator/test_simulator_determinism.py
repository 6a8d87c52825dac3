"""The simulator is deterministic: the seed and arguments fix every byte of the output."""

from __future__ import annotations

import json

from monitors.simulator import SCENARIOS, generate


def _dump(scenario, seed, **kwargs) -> tuple[str, list[str]]:
    header, records = generate(scenario, seed, **kwargs)
    return json.dumps(header.to_json()), [json.dumps(r, allow_nan=False) for r in records]


def test_same_arguments_give_byte_identical_records():
    """Two runs with the same scenario, seed and arguments serialise to the same bytes."""
    for scenario in SCENARIOS:
        assert _dump(scenario, 7, minutes=20) == _dump(scenario, 7, minutes=20)
    assert _dump("random", 8, minutes=15, waveforms=True) == _dump("random", 8, minutes=15, waveforms=True)


def test_different_seeds_give_different_sessions():
    """Another seed gives other noise in a named scenario and another patient in random."""
    assert _dump("typical-responder", 1, minutes=15)[1] != _dump("typical-responder", 2, minutes=15)[1]
    h1, h2 = generate("random", 1)[0], generate("random", 2)[0]
    assert h1.meta["patient"] != h2.meta["patient"]


def test_waveforms_do_not_change_the_other_records():
    """Switching waveforms on adds waveform records and leaves every other record as it was."""
    _, plain = _dump("vomiting-movement", 3, minutes=60)
    _, with_waves = _dump("vomiting-movement", 3, minutes=60, waveforms=True)
    assert [r for r in with_waves if '"type": "waveform"' not in r] == plain


def test_start_only_shifts_the_times():
    """Moving the start moves every timestamp by the same amount and changes nothing else."""
    def shifted(start):
        _, records = generate("airway-obstruction", 4, minutes=40, start=start)
        out = []
        for r in records:
            r = dict(r)
            for key in ("t", "start", "end"):
                if key in r:
                    r[key] = round(r[key] - start, 3)
            out.append(r)
        return out
    assert shifted(0.0) == shifted(1_800_000_000.0)
