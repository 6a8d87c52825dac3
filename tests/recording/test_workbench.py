"""`vitalwatch evaluate --report`: the rule workbench, two rule sets side by side in one file."""

from __future__ import annotations

import html
import re
from pathlib import Path

from plotly.offline import get_plotlyjs

from alerts.rules import DEFAULT_RULES, load
from monitors import recording
from monitors.simulator import generate
from offline.evaluate import evaluate_file, quality
from tests.recording.helpers import cli


def test_report_compares_rule_sets_side_by_side_offline(tmp_path: Path) -> None:
    """Two rule files over two simulated sessions give a self-contained HTML report: what differs
    between the rules, each set's alarms per hour, time in alarm and sensitivity against ground
    truth, and each session's trends with its alarms, with plotly.js embedded (no network)."""
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text(DEFAULT_RULES.read_text().replace("when: SBP >= 160 or DBP >= 100",
                                                        "when: SBP >= 250 or DBP >= 150"))
    files = []
    for scenario in ("vasovagal", "hypertensive-surge"):
        header, records = generate(scenario, 1, minutes=20, pre_dose_minutes=1)
        files.append(tmp_path / f"{scenario}.jsonl")
        recording.write(files[-1], header, records)
    out = tmp_path / "report.html"
    result = cli("evaluate", *map(str, files), "--rules", str(DEFAULT_RULES), "--rules", str(quiet),
                 "--report", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines(), "the first rule set's changes still go to stdout"

    page = out.read_text()
    bundle = get_plotlyjs()
    assert bundle in page  # plotly.js itself is inside: the report opens offline, alone
    rest = page.replace(bundle, "")
    assert not re.search(r"<script[^>]*\bsrc=", rest) and "Plotly.newPlot" in rest
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "SBP >= 160 or DBP >= 100" in text and "SBP >= 250 or DBP >= 150" in text  # what differs
    expected = [quality([evaluate_file(f, load(r)) for f in files], load(r)) for r in (DEFAULT_RULES, quiet)]
    assert "B1" in expected[0]["alarms_per_hour_by_rule"] and "B1" not in expected[1]["alarms_per_hour_by_rule"]
    row = re.search(r"alarms per hour \(all\)\s+([\d.]+)\s+([\d.]+)", text)
    assert row and [float(x) for x in row.groups()] == [
        round(sum(e["alarms_per_hour"].values()), 2) for e in expected]
    assert re.search(r"sensitivity: vasovagal \(1 events\)\s+1\.0\s+1\.0", text)
    assert page.count('class="plotly-graph-div"') == 3  # the rates, then one figure per session
    assert "vasovagal.jsonl" in text and "hypertensive-surge.jsonl" in text
