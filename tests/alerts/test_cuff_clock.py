"""Cuff confirmations have a clock: a repeat reading a cuff rule asks for is due by a deadline,
and time alone acts when it does not come (issue 11, class 7), and cuff time never runs back."""

from __future__ import annotations

import pytest

from alerts.engine import AlarmEngine, Transition
from alerts.rules import load

RULES = load()
T0 = 1_000_000.0
GRACE = RULES.schedule.repeat_grace_s
BL = {"SBP": 115.0, "DBP": 75.0, "MAP": 88.0, "HR": 72.0, "SpO2": 98.0, "RR": 14.0, "EtCO2": 38.0}
WATCHED = {"B3", "B4", "B5", "B6", "T3"}


def recovery() -> AlarmEngine:
    """An engine 70 min after the dose (recovery: the cuff cycles every 15 min), its 40-min
    reading taken, the last scheduled reading 15 min ago: T3 has nothing to say until ~T0 + 18 min."""
    engine = AlarmEngine(RULES)
    engine.set_baseline(BL)
    engine.dose(T0 - 70 * 60)
    for ago in (40, 15):
        engine.nibp(T0 - ago * 60, True, {"SBP": 118, "DBP": 76, "MAP": 90})
    return engine


def play(engine: AlarmEngine, cuffs: list[tuple[float, float | None, float | None]], until: float) -> list[Transition]:
    """Feed cuff readings ((t, SBP, DBP); SBP None is a failed measurement) and a tick every
    second up to ``until`` (seconds after T0); the watched rules' transitions."""
    out: list[Transition] = []
    pending = sorted(cuffs)
    for second in range(int(until) + 1):
        while pending and pending[0][0] <= second:
            t, sbp, dbp = pending.pop(0)
            if sbp is None:
                out += engine.nibp(T0 + t, False, {"SBP": None, "DBP": None, "MAP": None})
            else:
                out += engine.nibp(T0 + t, True, {"SBP": sbp, "DBP": dbp, "MAP": round((sbp + 2 * dbp) / 3)})
        out += engine.tick(T0 + second)
    return [tr for tr in out if tr.rule in WATCHED]


def events(out: list[Transition]) -> list[tuple[str, str, str, float]]:
    return [(tr.rule, tr.event, tr.priority, tr.t - T0) for tr in out]


DEADLINE = 120 + GRACE  # B3, B4, B5: repeat_within_s 120 in the default rules

# name, cuff readings (t, SBP, DBP), seconds to run, the transitions of B3-B6 and T3 expected
CASES = [
    ("sustained 84/50 in recovery, no repeat: B5 at the deadline, not 15 min later",
     [(0, 84, 50), (900, 84, 50)], 960,
     [("B5", "raised", "medium", DEADLINE), ("T3", "raised", "medium", DEADLINE),
      ("T3", "cleared", "medium", 900)]),
    ("84/50 repeated within 2 min: B5 confirmed by the repeat, no T3",
     [(0, 84, 50), (100, 85, 51)], 400,
     [("B5", "raised", "medium", 100)]),
    ("84/50 then a normal repeat: nothing",
     [(0, 84, 50), (100, 112, 72)], 400, []),
    ("84/50, the repeat fails (no value): a failed measurement is no repeat",
     [(0, 84, 50), (100, None, None)], 400,
     [("B5", "raised", "medium", DEADLINE), ("T3", "raised", "medium", DEADLINE)]),
    ("a single 196/124, never repeated: B3 at once; B4 unconfirmed and T3 at the deadline",
     [(0, 196, 124)], 400,
     [("B3", "raised", "medium", 0), ("B4", "raised", "high", DEADLINE), ("T3", "raised", "medium", DEADLINE)]),
    ("196/124 re-measured at 90 s to 150/90: B3 stays (it clears on two readings), no B4, no T3",
     [(0, 196, 124), (90, 150, 90)], 400,
     [("B3", "raised", "medium", 0)]),
    ("196/124 repeated too early (60 s) and not after: B4 still needs its 2-min confirmation",
     [(0, 196, 124), (60, 194, 122)], 400,
     [("B3", "raised", "medium", 0), ("B4", "raised", "high", DEADLINE), ("T3", "raised", "medium", DEADLINE)]),
    ("196/124 confirmed 130 s later: B4 by confirmation, no T3",
     [(0, 196, 124), (130, 195, 123)], 400,
     [("B3", "raised", "medium", 0), ("B4", "raised", "high", 130)]),
    ("a single 205/110 raises B4 at once; its repeat is still asked for",
     [(0, 205, 110)], 400,
     [("B3", "raised", "medium", 0), ("B4", "raised", "high", 0), ("T3", "raised", "medium", DEADLINE)]),
]


@pytest.mark.parametrize("name, cuffs, until, expected", CASES, ids=[c[0] for c in CASES])
def test_a_repeat_that_is_asked_for_has_a_deadline(name: str, cuffs: list, until: float, expected: list) -> None:
    """A cuff reading that needs a repeat gets it by repeat_within_s plus the grace, or the
    pending rule is raised on the unconfirmed reading and T3 says the repeat is missing."""
    assert events(play(recovery(), cuffs, until)) == expected


def test_unconfirmed_alarm_says_so_and_names_its_reading() -> None:
    """An alarm raised at the deadline names the reading it stands on and that it is unconfirmed."""
    raised = [tr for tr in play(recovery(), [(0, 84, 50)], 200) if tr.rule == "B5"]
    assert raised[0].message == "SBP 84 < 90 (unconfirmed: no repeat reading)"
    assert raised[0].value == 84 and raised[0].onset == T0


def test_the_deadline_is_time_driven_before_any_further_reading() -> None:
    """The deadline fires on a tick alone (no new reading), one second late is not needed."""
    engine = recovery()
    engine.nibp(T0, True, {"SBP": 84, "DBP": 50, "MAP": 61})
    assert [tr.rule for tr in engine.tick(T0 + DEADLINE - 1)] == []
    assert sorted(tr.rule for tr in engine.tick(T0 + DEADLINE)) == ["B5", "T3"]


# Cuff readings in the order they arrive, (t, SBP, DBP), and B4's expected transitions.
REORDERED = [
    ("a crisis reading stamped 3 min early, after a normal one, cannot confirm B4 with the next",
     [(0, 118, 76), (-180, 196, 124), (10, 196, 124)], []),
    ("a crisis reading stamped in 1970 cannot confirm B4 with a reading 10 s later",
     [(-T0, 196, 124), (10, 196, 124)], []),
    ("after a reordered reading, B4 confirms on a reading truly 2 min after the first in order",
     [(0, 196, 124), (-180, 196, 124), (60, 196, 124), (125, 196, 124)], [("B4", "raised", "high", 125)]),
]


@pytest.mark.parametrize("name, cuffs, expected", REORDERED, ids=[c[0] for c in REORDERED])
def test_a_reading_stamped_before_the_previous_one_cannot_hasten_a_confirmation(
        name: str, cuffs: list, expected: list) -> None:
    """Cuff time never runs back: a reading stamped earlier than the last is evidence, but its
    time is not, so B4's "2 readings >= 2 min apart" keeps its real spacing."""
    engine = recovery()
    engine.tick(T0)  # the engine's time, as the numerics every second keep it
    out: list[Transition] = []
    for t, sbp, dbp in cuffs:
        out += engine.nibp(T0 + t, True, {"SBP": sbp, "DBP": dbp, "MAP": round((sbp + 2 * dbp) / 3)})
    assert [e for e in events(out) if e[0] == "B4"] == expected


def test_a_reordered_reading_is_still_evidence_and_its_repeat_is_still_due() -> None:
    """A reordered 196/124 still raises B3 at once, and its repeat deadline counts from when the
    engine got it, neither from its stale stamp (which would fire at once) nor never."""
    engine = recovery()
    engine.nibp(T0, True, {"SBP": 118, "DBP": 76, "MAP": 90})
    raised = engine.nibp(T0 - 600, True, {"SBP": 196, "DBP": 124, "MAP": 148})
    assert "B3" in [tr.rule for tr in raised if tr.event == "raised"]
    assert engine.tick(T0 + DEADLINE - 1) == []
    assert sorted(tr.rule for tr in engine.tick(T0 + DEADLINE)) == ["B4", "T3"]


def test_one_future_stamped_reading_decides_only_its_neighbour() -> None:
    """A single cuff reading stamped a day ahead does not hold back later readings: the next two
    real readings still confirm B5, and the schedule counts from the last real reading (T3 at its
    15 + 3 min), not from the stray stamp."""
    engine = recovery()
    engine.nibp(T0 + 86_400, True, {"SBP": 118, "DBP": 76, "MAP": 90})
    engine.nibp(T0 + 10, True, {"SBP": 84, "DBP": 50, "MAP": 61})
    raised = [tr.rule for tr in engine.nibp(T0 + 100, True, {"SBP": 84, "DBP": 50, "MAP": 61})
              if tr.event == "raised"]
    assert "B5" in raised
    engine.nibp(T0 + 200, True, {"SBP": 118, "DBP": 76, "MAP": 90})
    due = T0 + 200 + RULES.schedule.interval_s(80) + RULES.schedule.overdue_grace_min * 60
    assert [tr.rule for tr in engine.tick(due) if tr.event == "raised"] == []
    assert [tr.rule for tr in engine.tick(due + 1) if tr.event == "raised"] == ["T3"]
