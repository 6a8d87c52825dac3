"""Alarm safety on the default rules, one table per class of failure: a blank monitor, heart rate
from the best source, asystole and its false twin, the bounded pulse guard, brief blanks, a lost
capnogram and time that runs backwards. Each row also names how the fix is undone, and the row
must fail then: the table proves its own cases can fail."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from alerts.rules import RuleSet
from tests.alerts.safety import RULES, T0, Room, Values, normal, raised


def _without(*ids: str) -> Callable[[RuleSet], RuleSet]:
    return lambda rules: rules.with_overrides({i: {"enabled": False} for i in ids})


def _ecg_only_heart_rate(rules: RuleSet) -> RuleSet:
    """The heart-rate rules as they were: on the ECG heart rate alone."""
    return rules.with_overrides({
        "H1": {"when": "HR > 120", "clear": "HR < 115"},
        "H2": {"when": "HR > 150 or HR < 40", "clear": "HR <= 150 and HR >= 40"},
        "H3": {"when": "HR < 50", "clear": "HR > 55"},
    })


def _guard_as_it_was(rules: RuleSet) -> RuleSet:
    """The pulse guard unbounded and keyed on any ECG-to-pulse gap."""
    old = {"pulse_guard": {"within": 15, "hold_s": 20}}
    return rules.with_overrides(dict.fromkeys(("O1", "O2", "O3"), old))


def _gap_irregularity_ignored(rules: RuleSet) -> RuleSet:
    """The pulse guard taking an irregular ECG-to-pulse gap (atrial fibrillation) for motion."""
    return rules.with_overrides({
        r: {"pulse_guard": {**rules.rules[r].pulse_guard.model_dump(), "irregular_mad": None}}
        for r in ("O1", "O2", "O3")})


def _af_gap(s: int) -> float:
    """A pulse deficit that varies from beat to beat, as in atrial fibrillation: 0 to 50 /min."""
    return 25 + 25 * math.sin(s * 1.7) * math.cos(s * 0.31)


def _no_blank_tolerance(rules: RuleSet) -> RuleSet:
    return rules.model_copy(update={"derived": rules.derived.model_copy(update={"blank_tolerance_s": 0})})


@dataclass
class Case:
    name: str
    room: Room
    must: dict[str, tuple[str, float]]  # rule -> (priority, raised by this second)
    never: set[str] = field(default_factory=set)
    revert: Callable[[RuleSet], RuleSet] | None = None
    earliest: dict[str, float] = field(default_factory=dict)  # rule -> not raised before this second

    def holds(self, rules: RuleSet = RULES) -> list[str]:
        """What is wrong with the alarms of this room under ``rules`` (empty: all as required)."""
        first = raised(self.room.run(rules))
        wrong = []
        for rule, (priority, by) in self.must.items():
            tr = first.get(rule)
            if tr is None:
                wrong.append(f"{rule} not raised")
            elif tr.priority != priority or tr.t - T0 > by:
                wrong.append(f"{rule} raised {tr.priority} at {tr.t - T0:g} s (want {priority} by {by:g})")
            elif tr.t - T0 < self.earliest.get(rule, -1):
                wrong.append(f"{rule} raised early at {tr.t - T0:g} s")
        wrong += [f"{rule} raised: {first[rule].message}" for rule in self.never if rule in first]
        return wrong


def run_table(cases: list[Case], case: Case) -> None:
    assert case.holds() == []
    if case.revert is not None:
        assert case.holds(case.revert(RULES)) != [], "the row passes without its fix"


def after(s0: int, before: Callable[[int], Values | None], then: Callable[[int], Values | None]):
    return lambda s: before(s) if s < s0 else then(s)


# 1. A blank monitor ------------------------------------------------------------------------------

BLANK = {"HR": None, "PR": None, "SpO2": None, "RR": 14, "EtCO2": 38}
CLASS_1 = [
    Case("all three vitals go to no value: V1 high within 10 s",
         Room(120, after(60, normal, lambda s: BLANK)), {"V1": ("high", 71)},
         earliest={"V1": 70}, revert=_without("V1")),
    Case("all three vitals stop being sent at all: V1 high (after the 3-s staleness)",
         Room(120, after(60, normal, lambda s: {"RR": 14, "EtCO2": 38})), {"V1": ("high", 74)},
         revert=_without("V1")),
    Case("an oximeter-only room goes blank: V1 high",
         Room(120, after(60, lambda s: {"PR": 76, "SpO2": 98}, lambda s: {"PR": None, "SpO2": None})),
         {"V1": ("high", 71)}, revert=_without("V1")),
    Case("pulse search is T8 medium, not the low probe-off T1",
         Room(120, after(60, normal, lambda s: {**normal(s), "PR": None, "SpO2": None}),
              statuses=[(60, "pulse_search", True)]),
         {"T8": ("medium", 71)}, never={"T1", "T7", "V1"}, revert=_without("T8")),
    Case("one signal blank for > 30 s with no device status: T7 low, not before 30 s",
         Room(150, after(60, normal, lambda s: {**normal(s), "SpO2": None})),
         {"T7": ("low", 91)}, earliest={"T7": 90}, never={"V1", "T1"}, revert=_without("T7")),
    Case("a probe off is T1's, not T7's",
         Room(150, after(60, normal, lambda s: {**normal(s), "SpO2": None, "PR": None}),
              statuses=[(60, "probe_off", True)]),
         {"T1": ("low", 71)}, never={"T7", "V1", "T8"}),
    Case("the probe pulled with its status: the flat pleth is the probe's, T1 low and no V1",
         Room(120, after(60, normal, lambda s: {**normal(s), "PR": None, "SpO2": None}),
              pleth=lambda s: 76 if s < 60 else 0, statuses=[(60, "probe_off", True)]),
         {"T1": ("low", 71)}, never={"V1", "H4"}),
    Case("a blank shorter than V1's delay raises nothing",
         Room(120, lambda s: BLANK if 60 <= s < 68 else normal(s)), {}, never={"V1", "T7", "H4"}),
]


@pytest.mark.parametrize("case", CLASS_1, ids=[c.name for c in CLASS_1])
def test_blank_monitor(case: Case) -> None:
    """A monitor showing no heart rate, pulse or SpO2 is a high alarm (V1); pulse search is its
    own medium T8; one signal long blank without a device status is T7, naming it."""
    run_table(CLASS_1, case)


def test_signal_absent_names_the_signal() -> None:
    """T7's text says which signal has had no value, and for how long."""
    first = raised(CLASS_1[4].room.run())
    assert re.search(r"Signal absent: SpO2 no value for 3\d s", first["T7"].message)


# 2. Heart rate from the best source --------------------------------------------------------------

def oximeter(pr: float) -> Callable[[int], Values]:
    return lambda s: {"PR": pr, "SpO2": 97}


CLASS_2 = [
    Case("oximeter-only room, pulse 35 for 3 min: H2 high", Room(180, oximeter(35)),
         {"H2": ("high", 6)}, revert=_ecg_only_heart_rate),
    Case("oximeter-only room, pulse rate 0 with SpO2 still held: H2 high, as for a pulse of 35",
         Room(60, after(20, oximeter(76), oximeter(0))), {"H2": ("high", 26)}),
    Case("oximeter-only room, pulse 45: H3 medium", Room(60, oximeter(45)),
         {"H3": ("medium", 11)}, never={"H2"}, revert=_ecg_only_heart_rate),
    Case("oximeter-only room, pulse 135: H1 medium", Room(60, oximeter(135)),
         {"H1": ("medium", 11)}, never={"H2"}, revert=_ecg_only_heart_rate),
    Case("ECG lead off: T6 low; the pulse rate keeps watching the heart rate",
         Room(120, after(30, normal, lambda s: {**normal(s), "HR": None, "PR": 35}),
              statuses=[(30, "lead_off", True)]),
         {"T6": ("low", 46), "H2": ("high", 36)}, never={"V1", "H4", "T7"}, revert=_without("T6")),
    Case("ECG and pulse agree on 45: H3 medium from the ECG",
         Room(60, lambda s: {**normal(s), "HR": 45, "PR": 45}), {"H3": ("medium", 11)}, never={"H2"}),
]


@pytest.mark.parametrize("case", CLASS_2, ids=[c.name for c in CLASS_2])
def test_heart_rate_from_the_best_source(case: Case) -> None:
    """Heart-rate rules watch the ECG rate when there is one, else the oximeter's pulse rate;
    a lead off is a low technical alarm (T6)."""
    run_table(CLASS_2, case)


def test_heart_rate_alarm_says_where_the_rate_came_from() -> None:
    """An alarm on the oximeter's pulse rate says so, in the text clinicians read."""
    tr = raised(CLASS_2[0].room.run())["H2"]
    assert tr.message.startswith("HR 35 < 40") and "pulse rate" in tr.message


# 3. Asystole and its false twin ------------------------------------------------------------------

def ecg_zero(pr: float | None, spo2: float | None) -> Callable[[int], Values]:
    return lambda s: {"HR": 0, "PR": pr, "SpO2": spo2, "RR": 14, "EtCO2": 38}


CLASS_3 = [
    Case("ECG 0 while PR 76, SpO2 98 and the pleth pulses: no H2/H4, T6 'check leads'",
         Room(120, after(30, normal, ecg_zero(76, 98)), pleth=lambda s: 76),
         {"T6": ("low", 46)}, never={"H2", "H3", "H4", "V1"}, revert=_ecg_only_heart_rate),
    Case("ECG 0, oximeter blank, but the pleth pulses: no asystole",
         Room(120, after(30, normal, ecg_zero(None, None)), pleth=lambda s: 76),
         {"T6": ("low", 46)}, never={"H2", "H4", "V1"}),
    Case("true asystole: ECG 0, no pulse rate, no SpO2, flat pleth: H4 high within 5 s",
         Room(90, after(30, normal, ecg_zero(None, None)), pleth=lambda s: 76 if s < 30 else 0),
         {"H4": ("high", 35.5)}, never={"T6"}, revert=_without("H4")),
    Case("asystole without waveforms: ECG 0 and the oximeter blank: H4 high",
         Room(90, after(30, normal, ecg_zero(None, None))), {"H4": ("high", 35)},
         revert=_without("H4")),
    Case("arrest with no ECG value (no lead-off status), PR 0, flat pleth: H4 high",
         Room(90, after(30, normal, lambda s: {"HR": None, "PR": 0, "SpO2": None}),
              pleth=lambda s: 76 if s < 30 else 0),
         {"H4": ("high", 35.5)}, revert=_without("H4")),
    Case("arrest as a monitor shows it: ECG 0 at once, the oximeter holds its values 10 s: H4 "
         "within 5 s of the oximeter blanking, and no 'check leads' first",
         Room(120, lambda s: normal(s) if s < 30 else ecg_zero(76, 97)(s) if s < 40
              else ecg_zero(None, None)(s),
              pleth=lambda s: 76 if s < 30 else 0),
         {"H4": ("high", 45)}, never={"T6", "H2"}),
    Case("ECG-only room, ECG 0: H4 high", Room(60, after(20, lambda s: {"HR": 80}, lambda s: {"HR": 0})),
         {"H4": ("high", 25)}),
]


@pytest.mark.parametrize("case", CLASS_3, ids=[c.name for c in CLASS_3])
def test_asystole_and_false_asystole(case: Case) -> None:
    """ECG 0 is asystole (H4, high, within 5 s) only when nothing shows a pulse; when the pulse
    rate or the pleth shows one, it is a technical 'check leads' (T6) and no high alarm."""
    run_table(CLASS_3, case)


# 4. The bounded pulse guard ----------------------------------------------------------------------

def motion_jumps(spo2: float, hr: float = 75) -> Callable[[int], Values]:
    """Motion as the oximeter shows it: the pulse rate jumping ±30 every 3 s."""
    return lambda s: {"HR": hr, "PR": hr + (30 if (s // 3) % 2 else -30), "SpO2": spo2, "RR": 14}


GUARD = RULES.rules["O3"].pulse_guard
MAX_S, DEEP_S = GUARD.max_s, GUARD.deep_max_s


def _no_deep_bound(rules: RuleSet) -> RuleSet:
    return rules.with_overrides({r: {"pulse_guard": {**GUARD.model_dump(), "deep_below": None}}
                                 for r in ("O1", "O2", "O3")})


CLASS_4 = [
    Case("SpO2 70 with pulse-rate jumps throughout: O3 high by the deep bound (60 s)",
         Room(360, motion_jumps(70)), {"O3": ("high", DEEP_S)}, earliest={"O3": DEEP_S},
         revert=_no_deep_bound),
    Case("movement for 3 min (a vomiting episode) with false SpO2 82 and rate jumps: no SpO2 alarm",
         Room(400, lambda s: motion_jumps(82)(s) if 60 <= s < 240 else {**normal(s), "EtCO2": None}),
         {}, never={"O1", "O2", "O3"}),
    Case("SpO2 80 for 6 min, pulse-rate jumps throughout: O3 high by the guard's cap",
         Room(360, motion_jumps(80)), {"O3": ("high", MAX_S)}, revert=_guard_as_it_was),
    Case("SpO2 80 for 6 min with a motion status throughout (no rate jump): O3 high by the cap",
         Room(360, lambda s: {"HR": 75, "PR": 75, "SpO2": 80}, statuses=[(0, "motion", True)]),
         {"O3": ("high", MAX_S)}, earliest={"O3": MAX_S}),
    Case("atrial fibrillation with a pulse deficit (HR 110, PR 80 steady), then SpO2 88: O2 on "
         "its normal delay",
         Room(300, lambda s: {"HR": 110, "PR": 80, "SpO2": 97 if s < 200 else 88}),
         {"O2": ("medium", 216)}, revert=_guard_as_it_was),
    Case("atrial fibrillation with an irregular pulse deficit (gap 0-50 /min), then SpO2 84: "
         "O3 on its normal delay",
         Room(700, lambda s: {"HR": 110, "PR": round(110 - _af_gap(s)), "SpO2": 97 if s < 400 else 84}),
         {"O3": ("high", 406)}, revert=_gap_irregularity_ignored),
    Case("T-wave double counting (HR 148, PR 74 steady), then SpO2 84: O3 on its normal delay",
         Room(300, lambda s: {"HR": 148, "PR": 74, "SpO2": 97 if s < 200 else 84}),
         {"O3": ("high", 206)}, revert=_guard_as_it_was),
    Case("a 25-s motion burst with false SpO2 80 and rate jumps: no SpO2 alarm",
         Room(200, lambda s: motion_jumps(80)(s) if 120 <= s < 145 else {**normal(s), "EtCO2": None}),
         {}, never={"O1", "O2", "O3"}),
    Case("a 25-s burst flagged by a motion status, false SpO2 80, no rate jump: no SpO2 alarm",
         Room(200, lambda s: {**normal(s), "SpO2": 80 if 120 <= s < 145 else 97},
              statuses=[(120, "motion", True), (145, "motion", False)]),
         {}, never={"O1", "O2", "O3"}),
]


@pytest.mark.parametrize("case", CLASS_4, ids=[c.name for c in CLASS_4])
def test_pulse_guard_is_bounded(case: Case) -> None:
    """The pulse guard holds back SpO2 alarms during motion, but never for longer than its cap,
    and a steady ECG-to-pulse gap does not switch it on."""
    run_table(CLASS_4, case)


# 5. Brief blanks ----------------------------------------------------------------------------------

TOLERANCE = RULES.derived.blank_tolerance_s
CLASS_5 = [
    Case("SpO2 88 for 30 min with a 1-s dropout every 12 s: O2 medium",
         Room(1800, lambda s: {**normal(s), "SpO2": None if s % 12 == 11 else 88}),
         {"O2": ("medium", 16), "O1": ("low", 31)}, revert=_no_blank_tolerance),
    Case("HR 130 with a 1-s ECG dropout every 5 s: H1 medium (the pulse rate fills in, too)",
         Room(120, lambda s: {"HR": None if s % 5 == 4 else 130, "SpO2": 97}),
         {"H1": ("medium", 11)}, revert=_no_blank_tolerance),
    Case("SpO2 84 stretches of 4 s between 1-s dropouts: O3 high",
         Room(120, lambda s: {**normal(s), "SpO2": None if s % 5 == 4 else 84}),
         {"O3": ("high", 6)}, revert=_no_blank_tolerance),
    Case("a gap longer than the tolerance starts the delay over: 10-s stretches of SpO2 88 "
         "between 12-s gaps never alarm O2",
         Room(300, lambda s: {**normal(s), "SpO2": 88 if s % 22 < 10 else None}), {}, never={"O2"}),
]


@pytest.mark.parametrize("case", CLASS_5, ids=[c.name for c in CLASS_5])
def test_brief_blanks_keep_persistence(case: Case) -> None:
    """A 'no value' gap up to the tolerance keeps a pending condition pending with its onset;
    a longer gap starts it over."""
    run_table(CLASS_5, case)


def test_onset_survives_a_brief_blank() -> None:
    """The raised alarm's onset is where the condition began, before the dropouts."""
    tr = raised(CLASS_5[0].room.run())["O2"]
    assert tr.onset == T0 and tr.t == T0 + RULES.rules["O2"].delay_s


# 6. A lost capnogram -----------------------------------------------------------------------------

CLASS_6 = [
    Case("EtCO2 and RR go to no value: R3 high at 15 s, not before",
         Room(120, after(60, normal, lambda s: {**normal(s), "EtCO2": None, "RR": None})),
         {"R3": ("high", 75)}, earliest={"R3": 75}, never={"R2", "T7"}, revert=_without("R3")),
    Case("the capnograph stops sending: R3 high",
         Room(120, after(60, normal, lambda s: {"HR": 75, "PR": 75, "SpO2": 97})),
         {"R3": ("high", 79)}, revert=_without("R3")),
    Case("only EtCO2 lost while RR still comes: no R3 (T7 names EtCO2)",
         Room(120, after(60, normal, lambda s: {**normal(s), "EtCO2": None})),
         {"T7": ("low", 91)}, never={"R3"}),
    Case("a room without a capnograph loses its RR: no R3",
         Room(120, after(60, lambda s: {"HR": 75, "RR": 14}, lambda s: {"HR": 75, "RR": None})),
         {}, never={"R3"}),
    Case("a 10-s capnogram dropout: nothing",
         Room(120, lambda s: {**normal(s), "EtCO2": None, "RR": None} if 60 <= s < 70 else normal(s)),
         {}, never={"R3", "R2", "T7"}),
]


@pytest.mark.parametrize("case", CLASS_6, ids=[c.name for c in CLASS_6])
def test_capnogram_lost(case: Case) -> None:
    """EtCO2 and RR without a value for 15 s, after the room had EtCO2, is R3 (high)."""
    run_table(CLASS_6, case)


# Time running backwards ---------------------------------------------------------------------------

def test_interleaved_monitors_with_skewed_clocks_still_alarm() -> None:
    """Two monitors of one room, one clock 0.7 s behind the other (the oximeter's readings come
    stamped earlier than the ECG's): SpO2 88 and HR 130 still alarm on their delays."""
    from alerts.engine import AlarmEngine

    def first_raises(rules: RuleSet) -> dict:
        engine = AlarmEngine(rules)
        out = []
        for s in range(60):
            out += engine.numerics(T0 + s, {"HR": 130})
            out += engine.numerics(T0 + s - 0.7, {"SpO2": 88, "PR": 130})
        return raised(out)

    first = first_raises(RULES)
    assert first["O2"].t - first["O2"].onset >= RULES.rules["O2"].delay_s
    assert first["O2"].t <= T0 + 17 and first["H1"].t <= T0 + 11
    # Each monitor's messages lack the other's values: without the blank tolerance every
    # message would start the other's conditions over.
    assert "O2" not in first_raises(_no_blank_tolerance(RULES))


def test_a_clock_running_ahead_does_not_hold_an_alarm_back() -> None:
    """A first reading stamped an hour ahead (a monitor with a wrong clock), then readings on the
    right clock: the pending condition restarts at the earlier time and raises on its delay,
    instead of waiting an hour for a negative elapsed time to turn positive."""
    from alerts.engine import AlarmEngine
    engine = AlarmEngine(RULES)
    out = engine.numerics(T0 + 3600, {"SpO2": 84})
    for s in range(10):
        out += engine.numerics(T0 + s, {"SpO2": 84})
    first = raised(out)
    assert first["O3"].t == T0 + RULES.rules["O3"].delay_s and first["O3"].onset == T0
    assert all(tr.t >= tr.onset for tr in out)


def test_a_stray_old_time_stamp_does_not_make_an_alarm_early() -> None:
    """A reading stamped a minute before a pending onset, then readings on the right clock: the
    condition starts over (the minute between is unobserved) rather than counting that minute."""
    from alerts.engine import AlarmEngine
    engine = AlarmEngine(RULES)
    out = engine.numerics(T0 + 100, {"SpO2": 84})
    out += engine.numerics(T0 + 40, {"SpO2": 84})
    for s in range(101, 110):
        out += engine.numerics(T0 + s, {"SpO2": 84})
    first = raised(out)
    assert first["O3"].onset == T0 + 101 and first["O3"].t == T0 + 101 + RULES.rules["O3"].delay_s


def test_a_long_silence_starts_a_pending_condition_over() -> None:
    """Readings that stop for longer than the blank tolerance (no message at all) and resume
    still low: the delay counts again from the first reading after the silence."""
    from alerts.engine import AlarmEngine
    engine = AlarmEngine(RULES)
    out = [tr for s in range(10) for tr in engine.numerics(T0 + s, {"SpO2": 88})]
    resume = T0 + 10 + TOLERANCE + 5
    out += [tr for s in range(20) for tr in engine.numerics(resume + s, {"SpO2": 88})]
    first = raised(out)
    assert first["O2"].onset == resume and first["O2"].t == resume + RULES.rules["O2"].delay_s


def test_signal_conditions_follow_a_clock_running_ahead_back() -> None:
    """A technical condition first seen on a clock an hour ahead restarts at the right clock's
    time and raises on its delay (no negative elapsed time)."""
    from alerts.engine import AlarmEngine
    engine = AlarmEngine(RULES)
    out = engine.status(T0 + 3600, "pulse_search", True)
    for s in range(12):
        out += engine.tick(T0 + s)
    assert raised(out)["T8"].t == T0 + RULES.rules["T8"].delay_s


def test_evaluate_feeds_the_pleth_to_the_alarm_system() -> None:
    """`vitalwatch evaluate` passes waveform records to the alarm system, as the live pipeline
    does: an ECG rate of 0 under a pulsing pleth raises no asystole when the pleth is fed, and
    does when it is left out (so the pleth is what prevents it)."""
    from alerts.intake import Clock
    from alerts.system import AlarmSystem
    from monitors.protocol import UNITS
    from offline.evaluate import feed
    from tests.alerts.safety import pleth_chunk

    records = []
    for k in range(150):  # 60 s
        t = T0 + k * 0.4
        if k % 5 == 0:
            values = {"HR": 0, "PR": None, "SpO2": None} if t >= T0 + 20 else normal(0)
            records.append({"type": "numerics", "t": t,
                            "values": {p: {"value": v, "unit": UNITS[p][0]} for p, v in values.items()}})
        records.append({"type": "waveform", "t": t, "wave": "PLETH", "rate": 125.0,
                        "samples": pleth_chunk(t, 76)})

    def rules_raised(recs: list[dict]) -> set[str]:
        system, clock = AlarmSystem(RULES), Clock()
        shift = 1_800_000_000.0 - T0  # into the protocol's time range, as evaluate shifts old files
        return {c.rule for rec in recs for c in feed(system, clock, rec, shift) if c.event == "raised"}

    assert "H4" not in rules_raised(records)
    assert "H4" in rules_raised([r for r in records if r["type"] != "waveform"])
