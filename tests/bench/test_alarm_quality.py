"""The alarm-quality benchmark (bench/alarm_quality.py) passes with the default rules and fails when
the rules are made worse: every physiological rule demoted to low, the pulse guard unbounded, or
one rule that matters removed.

The weakened rule files are built from alerts/default-rules.yaml as it is when the test runs, so
they stay weakened whatever fields the rules gain.

The default rules' run checks every target (T1-T7) on one seed of every fixed scenario and one
random patient per route in CI; the soak run (VITALWATCH_SOAK=1) uses the benchmark's --short form
(two of each).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alerts.rules import DEFAULT_RULES, load
from tests.conftest import seconds

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "alarm_quality.py"
HUGE = 1e9
TINY = 1e-6


def _bench_module():
    spec = importlib.util.spec_from_file_location("alarm_quality", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def _defaults() -> dict:
    return yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load(path)  # a weakened file the loader refused would test nothing
    return path


# Every scenario and route once, and the §2 statistics over the short form's 400 sessions a route:
# each target is checked. The short form runs each twice (and is the soak run's).
ONCE = ("--seeds", "1", "--population", "1", "--stats", "400")
DEFAULT_FORM = ("--short",) if os.environ.get("VITALWATCH_SOAK") == "1" else ONCE


# A weakened rule file needs only the scenarios whose events it would miss, once each: the
# benchmark over everything is the default rules' test.
def _focused(*scenarios: str) -> tuple[str, ...]:
    return ("--seeds", "1", "--population", "0", "--stats", "0", "--scenarios", ",".join(scenarios))


def _run(rules: Path | None, tmp_path: Path, *form: str) -> tuple[int, dict, str]:
    out = tmp_path / "report.json"
    args = [sys.executable, str(BENCH), "--json", str(out), *form]
    if rules is not None:
        args += ["--rules", str(rules)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, check=False, text=True, timeout=seconds(280))
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(out.read_text(encoding="utf-8")), done.stdout


def demoted(data: dict) -> dict:
    """Every physiological rule at low priority, with no escalation out of it."""
    for rule in data["rules"].values():
        if rule.get("kind") == "physiological":
            rule["priority"] = "low"
            rule.pop("escalate", None)
    return data


def unbounded_guard(data: dict) -> dict:
    """Every pulse guard that never lets a reading through: its agreement tolerance(s) tiny, and
    every other number (hold time, and any cap or bound it has) huge; a switch that turns a
    bound on is turned off."""
    guards = 0
    for rule in data["rules"].values():
        guard = rule.get("pulse_guard")
        if not isinstance(guard, dict):
            continue
        guards += 1
        for key, value in guard.items():
            if isinstance(value, bool):
                guard[key] = False
            elif isinstance(value, (int, float)):
                guard[key] = TINY if key.startswith("within") or "tolerance" in key else HUGE
    assert guards, "the default rules have no pulse guard left to weaken"
    return data


def removed(rule_id: str):
    def change(data: dict) -> dict:
        assert rule_id in data["rules"]
        data["rules"][rule_id]["enabled"] = False
        return data
    return change


@pytest.mark.soak
def test_default_rules_meet_every_target(tmp_path):
    """With alerts/default-rules.yaml the benchmark over every scenario and route meets every
    target and exits 0."""
    rc, report, stdout = _run(None, tmp_path, *DEFAULT_FORM)
    assert report["failures"] == [], stdout
    assert rc == 0


def test_all_physiological_rules_demoted_to_low_fail_the_benchmark(tmp_path):
    """With every physiological rule at low priority the benchmark misses events and exits 1."""
    path = _write(tmp_path, demoted(_defaults()), "demoted")
    assert all(r.priority == "low" for r in load(path).rules.values() if r.kind == "physiological")
    rc, report, stdout = _run(path, tmp_path, *_focused("cardiac-arrest", "hypertensive-surge", "flicker"))
    assert rc == 1, stdout
    assert any(f["target"] in ("T1", "T2") for f in report["failures"]), stdout


def test_an_unbounded_pulse_guard_fails_the_benchmark(tmp_path):
    """A pulse guard that never lets an SpO2 reading count makes desaturations go unalarmed: exit 1."""
    path = _write(tmp_path, unbounded_guard(_defaults()), "guard")
    rc, report, stdout = _run(path, tmp_path, *_focused("desaturation-under-motion", "pulse-deficit"))
    assert rc == 1, stdout
    missed = [e for e in report["events"] if e["shown"] and not e["detected"]]
    assert any("desaturation" in e["label"] for e in missed), stdout


@pytest.mark.parametrize("rule_id, scenario", [("O2", "flicker"), ("H2", "oximeter-only"),
                                               ("R3", "capnogram-loss")])
def test_removing_one_rule_that_matters_fails_the_benchmark(tmp_path, rule_id, scenario):
    """Switching off O2, H2 or R3 makes the benchmark exit 1 on a scenario that needs it."""
    path = _write(tmp_path, removed(rule_id)(_defaults()), f"without-{rule_id}")
    assert not load(path).rules[rule_id].enabled
    rc, _, stdout = _run(path, tmp_path, *_focused(scenario))
    assert rc == 1, stdout


def test_an_alarm_below_the_required_priority_does_not_detect():
    """The same SBP ≥ 180 events count as detected with B3 and B4 at their priorities and as missed
    once both are low, although the alarms are still raised."""
    bench = _bench_module()
    rules = load()
    weak = rules.with_overrides({"B3": {"priority": "low"}, "B4": {"priority": "low", "escalate": None}})
    for ruleset, expected in ((rules, True), (weak, False)):
        session = bench.run_session("hypertensive-surge", 0, ruleset)
        outcomes, _ = bench.score(session, ruleset)
        sbp = [o for o in outcomes if o.label == "SBP >= 180"]
        assert sbp and all(o.shown for o in sbp)
        assert all(o.detected is expected for o in sbp)
        assert any(c.rule == "B3" and c.event == "raised" for c in session.changes)


def test_an_event_the_devices_never_showed_is_not_scored_as_missed():
    """A label whose condition no displayed value met (the vasovagal faint's 30 s at SBP 78, which
    the cuff reading may miss) is 'not shown' exactly when no reading in its window is below 80."""
    bench = _bench_module()
    rules = load()
    for seed in range(4):
        session = bench.run_session("vasovagal", seed, rules)
        outcomes, _ = bench.score(session, rules)
        (severe,) = [o for o in outcomes if o.label == "severe hypotension"]
        event = next(e for e in session.truth if e["label"] == "severe hypotension")
        lo, hi = bench.window(event)
        low = [r for r in session.nibp if r["status"] == "ok" and lo <= r["t"] <= hi and r["sys"] < 80]
        assert severe.shown is bool(low)
