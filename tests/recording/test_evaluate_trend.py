"""`vitalwatch evaluate` on a real ICU trend (PhysioNet MIMIC s25047, one record a minute):
persistence judged on the trend's own cadence, "no value" runs and missed records raising the
technical alarms a live silence raises, and no pre-dose gate where there is no dose."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from alerts.rules import load
from monitors import recording
from offline.evaluate import evaluate_file, is_session
from tests.recording.helpers import DATA, cli

TREND = DATA / "s25047" / "s25047-2704-05-04-10-44n"


def imported(tmp_path: Path) -> Path:
    out = tmp_path / "trend.jsonl.gz"
    result = cli("import", "wfdb", str(TREND), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_an_icu_trend_alarms_on_its_own_cadence_and_never_says_do_not_dose(tmp_path: Path) -> None:
    """Evaluated, the imported trend raises the desaturation alarm a minute into its SpO2 of
    71-43 % (the value stands for its minute), the vital-signs-absent alarm on the second record
    of an all-"no value" run and signal-absent for a heart rate gone blank, no stale-value alarm
    between regular records, and no pre-dose gate ("do not dose"): it has no dose."""
    trend = imported(tmp_path)
    result = cli("evaluate", str(trend))
    assert result.returncode == 0, result.stderr
    assert "not a session (no dose mark): pre-dose gates not applied" in result.stderr
    assert "printed in the file's own times" in result.stderr  # MIMIC's year 2704, shifted back
    header, records = recording.read(trend)
    numerics = [r for r in records if r["type"] == "numerics"]
    # When a record follows one that had a parameter with "no value".
    after_blank = {round(b["t"] - header.start) for a, b in itertools.pairwise(numerics)
                   if any(v["value"] is None for v in a["values"].values())}
    changes = [json.loads(line) for line in result.stdout.splitlines()]
    raised = {(c["rule"], round(c["t"] - header.start)) for c in changes if c["event"] == "raised"}
    assert not [r for r in raised if r[0].startswith("G")], raised
    assert ("O3", 2460) in raised  # SpO2 71 % at 2400 s, 43 % at 2460 s
    assert ("V1", 3960) in raised  # HR, PR and SpO2 all "no value" from 3900 s
    assert ("T7", 2760) in raised and any(
        c["rule"] == "T7" and "heart rate (ECG) no value" in c["message"] for c in changes)
    # The first minute is judged as a monitor's (its interval is not known yet); after it,
    # nothing goes stale between records a minute apart: a technical alarm is a "no value".
    assert not [r for r in raised if r[0] in ("V1", "T7") and r[1] >= 120 and r[1] not in after_blank], raised
    summary, _ = json.JSONDecoder().raw_decode(result.stderr)
    assert summary["refused_records"] == 0 and summary["by_rule"]["O3"]["raised"] >= 1


def test_the_same_trend_as_a_session_is_gated(tmp_path: Path) -> None:
    """Recorded as a session (or with a dose mark), the same readings do raise the pre-dose gate
    G2V on its low SpO2 and heart rate, so the trend above is quiet about dosing because it is no
    session, not because the gate cannot see its values."""
    header, records = recording.read(imported(tmp_path))
    records = list(records)
    session = tmp_path / "session.jsonl"
    header.mode = "test"
    recording.write(session, header, records)
    dosed = tmp_path / "dosed.jsonl"
    header.mode = "replay"
    mark = {"type": "mark", "t": header.start + 3600, "what": "dose", "text": "test"}
    recording.write(dosed, header, sorted([*records, mark], key=lambda r: r.get("t", 0)))
    for path in (session, dosed):
        assert is_session(path)
        result = evaluate_file(path, load())
        assert result.gates and "G2V" in {c.rule for c in result.changes if c.event == "raised"}
