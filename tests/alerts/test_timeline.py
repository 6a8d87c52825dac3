"""The rules file's session timeline: the clinical basis's phases, and a bad one refused."""

from __future__ import annotations

import pytest
import yaml

from alerts import rules


def test_default_timeline_follows_the_clinical_basis() -> None:
    """Dosing from the dose, peak from 30 min, recovery from 45; discharge 120 min after the dose
    or 60 after an infusion's end (clinical basis section 1)."""
    tl = rules.load().timeline
    assert [(p.key, p.from_min) for p in tl.phases] == [("dosing", 0), ("peak", 30), ("recovery", 45)]
    assert (tl.discharge_after_dose_min, tl.discharge_after_infusion_min) == (120, 60)


@pytest.mark.parametrize("phases, why", [
    ([{"key": "dosing", "label": "DOSING", "from_min": 0}, {"key": "peak", "label": "PEAK", "from_min": 0}],
     "in order"),
    ([{"key": "peak", "label": "PEAK", "from_min": 30}], "starts at the dose"),
])
def test_a_timeline_out_of_order_is_refused_with_its_line(phases: list, why: str) -> None:
    """Phases out of order, or not starting at the dose, refuse the rules file naming the line."""
    data = yaml.safe_load(rules.DEFAULT_RULES.read_text(encoding="utf-8"))
    data["timeline"]["phases"] = phases
    with pytest.raises(rules.RulesError, match=rf"clinic.yaml: line \d+: timeline: .*{why}"):
        rules.loads(yaml.safe_dump(data), "clinic.yaml")
