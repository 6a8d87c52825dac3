"""The alarm engine on the default rules: each rule raises after its delay and clears by its
hysteresis, with time passed in as an argument."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.engine import AlarmEngine, Transition
from alerts.rules import Cycle, load

RULES = load()
T0 = 1_000_000.0

# rule, parameter, a value that meets `when`, a value that meets `clear`, priority
CONTINUOUS = [
    ("H1", "HR", 134, 100, "medium"),
    ("H2", "HR", 155, 100, "high"),
    ("H3", "HR", 45, 70, "medium"),
    ("O1", "SpO2", 92, 97, "low"),
    ("O2", "SpO2", 88, 97, "medium"),
    ("O3", "SpO2", 84, 97, "high"),
    ("R1", "RR", 6, 14, "medium"),
    ("C1", "EtCO2", 55, 38, "medium"),
]


def run(engine: AlarmEngine, param: str, values: list[float | None], start: float = T0) -> list[Transition]:
    out = []
    for i, v in enumerate(values):
        out += engine.numerics(start + i, {param: v})
    return out


def only(rule: str, transitions: list[Transition]) -> list[Transition]:
    return [t for t in transitions if t.rule == rule]


@pytest.mark.parametrize("rule, param, bad, good, priority", CONTINUOUS)
def test_continuous_rule_raises_after_its_delay_and_clears_after_hysteresis(
    rule: str, param: str, bad: float, good: float, priority: str
) -> None:
    """A continuous rule raises when its condition has held for delay_s, not a second earlier,
    names value and limit, and clears once the clear condition has held for clear_for_s."""
    r = RULES.rules[rule]
    engine = AlarmEngine(RULES)
    n_bad = int(r.delay_s) + 3
    out = only(rule, run(engine, param, [bad] * n_bad))
    assert [t.event for t in out] == ["raised"]
    assert out[0].t == T0 + r.delay_s and out[0].onset == T0 and out[0].priority == priority
    assert f"{bad:g}" in out[0].message and out[0].message.startswith(param)  # plain: no priority marker
    assert out[0].param == ("HR" if param == "HRbest" else param)
    out = only(rule, run(engine, param, [good] * (int(r.clear_for_s) + 2), start=T0 + n_bad))
    assert [t.event for t in out] == ["cleared"]
    assert out[0].t == T0 + n_bad + r.clear_for_s


@pytest.mark.parametrize("rule, param, bad, good, priority", CONTINUOUS)
def test_a_dip_shorter_than_the_delay_raises_nothing(rule, param, bad, good, priority) -> None:
    """A condition that stops before its delay has run out raises no alarm (persistence)."""
    delay = int(RULES.rules[rule].delay_s)
    if delay == 0:
        pytest.fail("every continuous default rule has a delay")
    engine = AlarmEngine(RULES)
    assert only(rule, run(engine, param, [bad] * delay + [good] + [bad] * delay)) == []


def test_missing_value_restarts_a_pending_condition_only_after_a_long_gap() -> None:
    """'No value' is not evidence: a pending condition survives a gap up to the blank tolerance
    (onset kept), starts over after a longer one, and an active alarm stays through any gap."""
    tol = int(RULES.derived.blank_tolerance_s)
    engine = AlarmEngine(RULES)
    out = only("O2", run(engine, "SpO2", [88] * 10 + [None] * tol + [88] * 10))
    assert [(t.event, t.onset) for t in out] == [("raised", T0)]
    engine = AlarmEngine(RULES)
    assert only("O2", run(engine, "SpO2", [88] * 10 + [None] * (tol + 1) + [88] * 10)) == []
    start = T0 + 21 + tol
    assert [t.event for t in only("O2", run(engine, "SpO2", [88] * 6, start=start))] == ["raised"]
    assert only("O2", run(engine, "SpO2", [None] * 60, start=start + 6)) == []


def nibp(engine: AlarmEngine, readings: list[tuple[float, float, float]], ok: bool = True) -> list[Transition]:
    out = []
    for t, sbp, dbp in readings:
        out += engine.nibp(T0 + t, ok, {"SBP": sbp, "DBP": dbp, "MAP": (sbp + 2 * dbp) / 3})
    return out


@pytest.mark.parametrize(
    "rule, readings, events",
    [
        ("B1", [(0, 165, 85), (300, 150, 90)], ["raised", "cleared"]),
        ("B1", [(0, 158, 85)], []),
        ("B3", [(0, 185, 95), (60, 165, 100), (120, 165, 100)], ["raised", "cleared"]),
        ("B3", [(0, 185, 95), (60, 165, 100), (120, 175, 100)], ["raised"]),
        ("B4", [(0, 190, 100), (60, 190, 100)], []),  # confirmation needs 2 min between readings
        ("B4", [(0, 190, 100), (60, 190, 100), (130, 190, 100)], ["raised"]),
        ("B4", [(0, 205, 100)], ["raised"]),  # SBP >= 200: one reading is enough
        ("B4", [(0, 205, 100), (300, 170, 100), (600, 170, 100)], ["raised", "cleared"]),
        ("B5", [(0, 85, 55), (120, 86, 55), (240, 100, 70)], ["raised", "cleared"]),
        ("B5", [(0, 85, 55), (120, 100, 70)], []),
        ("B6", [(0, 75, 45), (120, 95, 60)], ["raised", "cleared"]),
    ],
)
def test_cuff_rule(rule: str, readings: list, events: list[str]) -> None:
    """Cuff rules count readings: confirmation, the single-reading exception and clearing."""
    engine = AlarmEngine(RULES)
    assert [t.event for t in only(rule, nibp(engine, readings))] == events


def test_failed_cuff_reading_is_a_technical_alarm_until_a_valid_one() -> None:
    """T2: a failed NIBP measurement raises a technical alarm that a valid reading clears."""
    engine = AlarmEngine(RULES)
    raised = only("T2", engine.nibp(T0, False, {"SBP": None, "DBP": None, "MAP": None}))
    assert [(t.event, t.kind) for t in raised] == [("raised", "technical")]
    cleared = only("T2", nibp(engine, [(60, 120, 80)]))
    assert [t.event for t in cleared] == ["cleared"]


def test_probe_off_raises_after_delay_and_escalates() -> None:
    """T1: probe off for 10 s raises a low technical alarm, medium after 60 s, clear on return."""
    engine = AlarmEngine(RULES)
    engine.dose(T0 - 600)  # T1 escalates only within 120 min of the dose
    assert only("T1", engine.status(T0, "probe_off", True)) == []
    assert only("T1", engine.tick(T0 + 9)) == []
    raised = only("T1", engine.tick(T0 + 10))
    assert [(t.rule, t.event, t.priority) for t in raised] == [("T1", "raised", "low")]
    esc = only("T1", engine.tick(T0 + 60))
    assert [(t.rule, t.event, t.priority) for t in esc] == [("T1", "escalated", "medium")]
    assert not esc[0].message.startswith("*") and esc[0].param is None  # a signal rule watches no parameter
    assert only("T1", engine.status(T0 + 65, "no_signal", True)) == []
    assert only("T1", engine.status(T0 + 70, "probe_off", False)) == []  # no signal still on
    assert [t.event for t in only("T1", engine.status(T0 + 75, "no_signal", False))] == ["cleared"]


def test_feed_lost_is_medium_then_high() -> None:
    """T4: a feed silent since t raises medium 10 s later and high after 60 s."""
    engine = AlarmEngine(RULES, only={"T4"})
    assert engine.signal(T0, "feed_lost", True) == []
    assert [t.priority for t in engine.tick(T0 + 10)] == ["medium"]
    assert [t.priority for t in engine.tick(T0 + 60)] == ["high"]
    assert [t.event for t in engine.signal(T0 + 61, "feed_lost", False)] == ["cleared"]


def test_restored_alarm_clears_by_its_rule() -> None:
    """An alarm restored after a restart is active at once and clears by its own clear rule."""
    engine = AlarmEngine(RULES)
    engine.restore("O3", onset=T0 - 100, priority="high", message="*** SpO2 84 <= 85")
    assert [a.rule for a in engine.active()] == ["O3"]
    out = only("O3", run(engine, "SpO2", [97] * 11))
    assert [t.event for t in out] == ["cleared"] and out[0].onset == T0 - 100
    assert out[0].message == "SpO2 84 <= 85"  # the old log's priority marker is stripped


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(60, 100)), min_size=1, max_size=120))
def test_no_alarm_unless_its_condition_held_for_its_delay(spo2: list[int | None]) -> None:
    """Property: every raised SpO2 alarm's condition held on every reading for its delay."""
    engine = AlarmEngine(RULES)
    tol = RULES.derived.blank_tolerance_s
    for tr in run(engine, "SpO2", spo2):
        rule = RULES.rules[tr.rule]
        if tr.event != "raised" or rule.when is None:
            continue
        window = spo2[int(tr.onset - T0): int(tr.t - T0) + 1]
        assert tr.t - tr.onset >= rule.delay_s
        assert window[-1] is not None  # raised on a reading, never during a gap
        assert all(v is None or rule.when.evaluate({"SpO2": v})[0] for v in window)
        gaps = "".join("n" if v is None else "v" for v in window).split("v")
        assert max(len(g) for g in gaps) <= tol  # no gap longer than the tolerance


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(20, 200)), min_size=1, max_size=100))
def test_evaluation_is_deterministic(hr: list[int | None]) -> None:
    """Property: the same readings at the same times give the same transitions."""
    assert run(AlarmEngine(RULES), "HR", hr) == run(AlarmEngine(RULES), "HR", hr)


BL = {"SBP": 125.0, "DBP": 80.0, "MAP": 95.0, "HR": 72.0, "SpO2": 98.0, "RR": 14.0, "EtCO2": 38.0}


def with_baseline() -> AlarmEngine:
    engine = AlarmEngine(RULES)
    engine.set_baseline(BL)
    engine.dose(T0 - 60)
    return engine


@pytest.mark.parametrize(
    "rule, readings, events",
    [
        ("B2", [(0, 166, 85), (300, 150, 85)], ["raised", "cleared"]),  # +41 over BL, then +25
        ("B2", [(0, 160, 85)], []),  # +35: below the rise limit
        ("B6", [(0, 85, 60)], ["raised"]),  # 85 < 0.7 x 125 = 87.5, though not below 80
    ],
)
def test_baseline_relative_cuff_rules(rule: str, readings: list, events: list[str]) -> None:
    """Limits relative to the baseline take their value from it (B2 rise, B6 fall of 30 %)."""
    assert [t.event for t in only(rule, nibp(with_baseline(), readings))] == events


def test_relative_limit_names_its_baseline() -> None:
    """An alarm on a relative limit names the value, the computed limit and its origin."""
    raised = only("B2", nibp(with_baseline(), [(0, 166, 85)]))
    assert raised[0].message == "SBP 166 >= 165 (BL+40)" and raised[0].limit == 165


def test_b2_escalates_to_medium_90_minutes_after_the_dose() -> None:
    """B2 is low, and medium if the rise is still present more than 90 min after the dose."""
    engine = with_baseline()
    nibp(engine, [(0, 170, 85)])
    assert only("B2", engine.tick(T0 + 5000)) == []
    esc = only("B2", engine.tick(T0 - 60 + 5400))
    assert [(t.event, t.priority) for t in esc] == [("escalated", "medium")]


@pytest.mark.parametrize(
    "rule, param, values, raised",
    [
        ("O1", "SpO2", [94] * 35, True),  # 94 <= 98 - 4, though not below 93
        ("O1", "SpO2", [95] * 35, False),
        ("C1", "EtCO2", [48] * 35, True),  # 48 >= 38 + 10, though not 50
        ("R2", "RR", [0] * 2, True),  # no breath: the capnograph already waited its timeout
    ],
)
def test_baseline_relative_and_breathing_rules(rule, param, values, raised) -> None:
    """O1 and C1 use the baseline; R2 raises at once on "no breath" (RR 0)."""
    out = only(rule, run(with_baseline(), param, values))
    assert [t.event for t in out] == (["raised"] if raised else [])


def test_cannula_displaced_needs_breathing_and_low_etco2() -> None:
    """C2: EtCO2 below 15 while RR is still detected is a low technical alarm after 30 s."""
    engine = with_baseline()
    out = []
    for i in range(32):
        out += engine.numerics(T0 + i, {"EtCO2": 10, "RR": 14})
    assert [(t.rule, t.kind, t.priority) for t in only("C2", out)] == [("C2", "technical", "low")]
    quiet = AlarmEngine(RULES)
    assert only("C2", [t for i in range(32) for t in quiet.numerics(T0 + i, {"EtCO2": 10, "RR": 0})]) == []


def test_pre_dose_gates_stop_at_the_dose() -> None:
    """G1 and G2 judge pre-dose readings (2 confirming readings); after the dose they are off."""
    engine = AlarmEngine(RULES)
    out = nibp(engine, [(0, 185, 95), (120, 186, 96)])
    assert {t.rule for t in out if t.event == "raised"} >= {"G1", "G2"}
    after = AlarmEngine(RULES)
    after.dose(T0 - 1)
    assert not {t.rule for t in nibp(after, [(0, 185, 95), (120, 186, 96)])} & {"G1", "G2"}


def test_two_failed_cuff_readings_escalate_t2() -> None:
    """T2: one failed reading is low; the second failure in a row makes it medium."""
    engine = AlarmEngine(RULES)
    first = only("T2", engine.nibp(T0, False, {}))
    second = only("T2", engine.nibp(T0 + 30, False, {}))
    assert [(t.event, t.priority) for t in first + second] == [("raised", "low"), ("escalated", "medium")]


def test_nibp_overdue_against_the_schedule() -> None:
    """T3: after the dose a reading is due every 5 min; 5 + 3 min without one raises T3, and a
    valid reading clears it."""
    engine = AlarmEngine(RULES)
    engine.dose(T0)
    nibp(engine, [(60, 120, 80)])
    assert only("T3", engine.tick(T0 + 60 + 480)) == []
    raised = only("T3", engine.tick(T0 + 60 + 481))
    assert [(t.event, t.priority, t.kind) for t in raised] == [("raised", "medium", "technical")]
    assert [t.event for t in only("T3", nibp(engine, [(600, 120, 80)]))] == ["cleared"]


def test_missed_40_minute_reading_raises_t3() -> None:
    """T3: no valid reading within 35-45 min after the dose raises T3 at 45 min, even when the
    clinic's cycle (here every 15 min) would not yet call the next reading overdue."""
    slow = RULES.model_copy(update={"schedule": RULES.schedule.model_copy(
        update={"nibp": [Cycle(every_min=15)]})})
    engine = AlarmEngine(slow)
    engine.dose(T0)
    out = nibp(engine, [(0, 120, 80), (15 * 60, 120, 80), (30 * 60, 120, 80)])
    for second in range(30 * 60, 45 * 60 + 1):
        out += engine.tick(T0 + second)
    raised = only("T3", out)
    assert [(t.event, t.t - T0) for t in raised] == [("raised", 45 * 60)]


def test_baseline_is_captured_at_the_dose_from_what_came_before() -> None:
    """At the dose the baseline is the mean of the last two cuff readings and of each continuous
    value over the last 5 min; a second dose mark changes nothing."""
    engine = AlarmEngine(RULES)
    nibp(engine, [(-900, 150, 95), (-400, 130, 84), (-100, 126, 80)])
    for i in range(-600, 0):
        engine.numerics(T0 + i, {"HR": 70 if i < -300 else 80, "SpO2": 97})
    engine.dose(T0)
    assert engine.baseline["SBP"] == 128 and engine.baseline["DBP"] == 82
    assert engine.baseline["HR"] == 80 and engine.baseline["SpO2"] == 97 and engine.baseline["EtCO2"] is None
    engine.numerics(T0 + 1, {"HR": 150})
    engine.dose(T0 + 300)
    assert engine.dose_t == T0 and engine.baseline["HR"] == 80


def test_pulse_guard_holds_spo2_alarms_while_pulse_disagrees_with_heart_rate() -> None:
    """A falsely low SpO2 while the oximeter's pulse rate disagrees with the ECG (motion) raises
    nothing, until the pulse has agreed for the guard's hold time and then for the rule's delay
    (the onset stays where the low SpO2 began); without an ECG heart rate the guard is off."""
    guard = RULES.rules["O3"].pulse_guard
    motion = [{"SpO2": 80, "HR": 75, "PR": 110}] * 20
    engine = AlarmEngine(RULES)
    assert only("O3", [t for i, v in enumerate(motion) for t in engine.numerics(T0 + i, v)]) == []
    after = [{"SpO2": 80, "HR": 75, "PR": 76}] * 40  # the averaging tail, then a true low
    out = only("O3", [t for i, v in enumerate(after) for t in engine.numerics(T0 + 20 + i, v)])
    delay = RULES.rules["O3"].delay_s
    assert [t.event for t in out] == ["raised"] and out[0].onset == T0
    assert out[0].t == T0 + 20 + guard.hold_s + delay  # the jump back at T0 + 20 is a jump too
    no_ecg = AlarmEngine(RULES)
    out = only("O3", [t for i in range(8) for t in no_ecg.numerics(T0 + i, {"SpO2": 80, "PR": 110})])
    assert [t.event for t in out] == ["raised"]


def test_pre_dose_vital_sign_gate_g2v() -> None:
    """G2V: before the dose, HR above 120 for 30 s says "do not dose"; after the dose it is off."""
    before = only("G2V", run(AlarmEngine(RULES), "HR", [125] * 32))
    assert [(t.event, t.priority) for t in before] == [("raised", "medium")]
    assert "do not dose" in before[0].message
    after = AlarmEngine(RULES)
    after.dose(T0 - 1)
    assert only("G2V", run(after, "HR", [125] * 32)) == []


def test_device_lost_raises_t5_within_seconds() -> None:
    """T5: an adapter's device_lost status raises a medium technical alarm after 2 s, high after
    60 s, and clears when the device is back."""
    engine = AlarmEngine(RULES)
    assert only("T5", engine.status(T0, "device_lost", True)) == []
    assert [(t.event, t.priority, t.kind) for t in only("T5", engine.tick(T0 + 2))] == [
        ("raised", "medium", "technical")]
    assert [t.priority for t in only("T5", engine.tick(T0 + 60))] == ["high"]
    assert [t.event for t in only("T5", engine.status(T0 + 61, "device_lost", False))] == ["cleared"]


def test_pre_dose_gate_alarms_end_at_the_dose() -> None:
    """A pre-dose gate's alarm (G2V) ends when the dose is marked: its question is answered."""
    engine = AlarmEngine(RULES)
    assert [t.event for t in only("G2V", run(engine, "SpO2", [88] * 32))] == ["raised"]
    assert [t.event for t in only("G2V", engine.dose(T0 + 40))] == ["cleared"]


def test_condition_states_move_only_by_their_table() -> None:
    """A condition is raised only from pending and cleared only while active: any move the
    transition table lacks is refused with IllegalTransition."""
    from alerts.engine import PHASES, Phase, Step, _State
    from alerts.signal import IllegalTransition

    for phase in Phase:
        for step in Step:
            st = _State(phase=phase)
            if (phase, step) in PHASES:
                assert st.move(step, "X") == PHASES[(phase, step)]
            else:
                with pytest.raises(IllegalTransition, match=f"X: a condition that is {phase.value}"):
                    st.move(step, "X")
                assert st.phase == phase
    assert (Phase.IDLE, Step.RAISE) not in PHASES and (Phase.PENDING, Step.CLEAR) not in PHASES

