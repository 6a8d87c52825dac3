"""The demo's rules (app/demo.py ``demo_rules``): the clinic rules with the walk-through's waits
laid over them, and nothing else changed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerts.rules import RulesError, load
from app.demo import DEMO_TIMINGS, demo_rules


def test_the_demo_shortens_waits_and_keeps_every_limit(tmp_path: Path) -> None:
    """The merged file loads as a rules file; its rest, quiet time, REMS reading and IV timeline
    are the timings file's, and every rule (limits, delays, priorities) is the clinic's."""
    clinic = load(None)
    demo = load(demo_rules(tmp_path, DEMO_TIMINGS))
    assert demo.baseline.rest_min == 1 and demo.discharge.quiet_min == 2
    assert demo.schedule.required_reading is not None and demo.schedule.required_reading.at_min == 4
    assert demo.timeline.for_route("iv").discharge_after_dose_min == 5
    # Sessions not checked in (the other demo rooms) keep the clinic's timeline.
    assert demo.timeline.for_route(None) == clinic.timeline.for_route(None)
    assert demo.rules == clinic.rules
    assert demo.delivery == clinic.delivery and demo.signals == clinic.signals


def test_a_timings_file_that_breaks_the_rules_stops_the_demo(tmp_path: Path) -> None:
    """Timings are checked like any rules file: an IV discharge before its last phase starts is
    refused with the field named, and the server would not start on it."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"timeline": {"routes": {"iv": {"discharge_after_dose_min": 1}}}}))
    with pytest.raises(RulesError, match="routes.iv"):
        load(demo_rules(tmp_path, bad))
