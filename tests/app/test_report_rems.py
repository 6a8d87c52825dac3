"""The REMS fields as pure functions of cuff rows, the dose time and the rules file."""

from __future__ import annotations

from typing import Any

from alerts.rules import load
from app.report import rems

RULES = load()
DOSE = 1_800_000_000.0
AT, WINDOW = RULES.schedule.required_reading.at_min, RULES.schedule.required_reading.window_min  # type: ignore[union-attr]


def cuff(minutes: float, sys: float | None = 130, dia: float | None = 80, status: str = "ok") -> dict[str, Any]:
    return {"t": DOSE + minutes * 60, "status": status, "sys": sys, "dia": dia, "map": 95}


def test_the_40_min_reading_is_the_nearest_inside_the_rules_window() -> None:
    """Nearest to the rules' required minute wins, a tie goes to the earlier reading, and a
    reading just outside the window is never taken."""
    rows = [cuff(AT - 3, 131), cuff(AT + 3, 132), cuff(AT + 4, 133)]
    assert rems.around(rows, DOSE, RULES).value.sys == 131  # type: ignore[union-attr]
    assert rems.around([cuff(AT + WINDOW + 0.1)], DOSE, RULES).value is None
    assert rems.around([cuff(AT + WINDOW)], DOSE, RULES).value is not None


def test_failed_or_incomplete_cuffs_are_never_chosen() -> None:
    """A failed measurement, or one without both pressures, is not a valid reading for any field."""
    rows = [cuff(-2, 120), cuff(-1, status="failed", sys=None, dia=None), cuff(AT, sys=None),
            cuff(90, 125), cuff(95, status="failed", sys=None, dia=None)]
    assert rems.pre_dose(rows, DOSE).value.sys == 120  # type: ignore[union-attr]
    assert rems.around(rows, DOSE, RULES).value is None
    assert rems.at_end(rows, DOSE, ended=True).value.sys == 125  # type: ignore[union-attr]


def test_no_dose_leaves_the_dose_fields_missing() -> None:
    """Without a dose time no reading is called pre-dose or ~40 min; the source says so."""
    rows = [cuff(-2), cuff(AT)]
    for field in (rems.pre_dose(rows, None), rems.around(rows, None, RULES)):
        assert field.value is None and "no dose" in field.source


def test_acceptable_is_judged_by_the_rules_file() -> None:
    """Pre-dose, a reading over G1's limit is not acceptable and names G1; at the end, one over
    B3's is not; a missing reading is neither acceptable nor not."""
    high = rems.BloodPressure(value=rems.Cuff(t=DOSE, sys=150, dia=85, map=100), source="")
    judged = rems.judge(high, RULES, "pre_dose", None)
    assert judged.acceptable is False and judged.held[0].startswith("G1 ")
    crisis = rems.BloodPressure(value=rems.Cuff(t=DOSE, sys=185, dia=100, map=120), source="")
    assert "B3" in " ".join(rems.judge(crisis, RULES, "post_dose", {"SBP": 130, "DBP": 80}).held)
    assert rems.judge(rems.BloodPressure(value=None, source="none"), RULES, "pre_dose", None).acceptable is None
