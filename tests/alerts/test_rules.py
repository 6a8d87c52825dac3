"""The rules file: the defaults load, and a bad file is refused naming file, line and reason."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from alerts import rules
from alerts.expression import parse

# The clinical basis rule table, every id; G2's HR/SpO2 gate is G2V (a rule is cuff or continuous).
CLINICAL_IDS = {"G1", "G2", "G2V", "B1", "B2", "B3", "B4", "B5", "B6", "H1", "H2", "H3", "O1", "O2",
                "O3", "R1", "R2", "C1", "C2", "T1", "T2", "T3", "T4"}


def test_default_rules_keep_the_clinical_ids() -> None:
    """The built-in rules file loads and carries the clinical basis rule ids it can express (and
    the rules added beside them, each disclosed in docs/alarms.md)."""
    rs = rules.load()
    # T5: a device lost behind a live adapter; T9: dosed without a pre-dose cuff baseline; the
    # alarm-safety rules; A1/A2: the cuff limits applied to an arterial line; D1-D3: alarm delivery
    # supervised; N1: the bus between instances lost (docs/alarms.md, docs/cluster.md); N2: a
    # site's link lost (docs/deploy.md)
    assert set(rs.rules) == (CLINICAL_IDS | {"T5", "T9"} | {"H4", "V1", "R3", "T6", "T7", "T8"}
                             | {"A1", "A2"} | {"D1", "D2", "D3"} | {"N1", "N2"})
    assert rs.rules["O3"].priority == "high" and rs.rules["O3"].delay_s == 5


def test_no_clinical_limit_is_written_in_code() -> None:
    """Limits live in the rules file: no number in the alarm code equals a default limit."""
    limits = set()
    for rule in rules.load().rules.values():
        for expr in (rule.when, rule.clear, rule.confirm_unless):
            limits |= {t.limit for t in expr.terms} if expr else set()
    # "RR < 1" and "MAP < 60" are limits, but 0, 1 and 60 (seconds a minute) are everywhere in code
    limits -= {0, 1, 60}
    for path in Path(rules.__file__).parent.glob("*.py"):
        numbers = {
            node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)
        }
        assert not numbers & limits, f"{path.name} hard-codes {numbers & limits}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("priority: urgent", "line 6: rule H1: priority: Input should be 'low', 'medium' or 'high'"),
        ("when: HRX > 120", "line 6: rule H1: when: unknown parameter 'HRX'"),
        ("delay_s: -1", "line 6: rule H1: delay_s: Input should be greater than or equal to 0"),
        ("colour: red", "line 6: rule H1: colour: Extra inputs are not permitted"),
        ("when: HR > 1 or SpO2 < 2 and RR < 3", "mixes 'and' with 'or'"),
        ("when: SBP > 1 or HR > 2", "mixes cuff pressures with continuous parameters"),
        ("signal: smoke", "unknown signal 'smoke'"),
    ],
)
def test_bad_rule_is_refused_with_file_line_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    """Each kind of mistake in a rules file is named with the file, the line, the rule and why."""
    key = text.split(":")[0]
    body = {"priority": "medium", "when": "HR > 120", "delay_s": "1"}
    body[key] = text.split(": ", 1)[1]
    if key == "signal":
        del body["when"]
    lines = ["version: 1", "rules:", "  H1:", "    title: Tachycardia", "    kind: physiological"]
    lines += [f"    {k}: {v}" for k, v in body.items() if k != key] if key in body else []
    lines.insert(5, f"    {text}")
    if key not in ("priority",):
        lines.append("    priority: medium")
    path = tmp_path / "clinic.yaml"
    path.write_text("\n".join(dict.fromkeys(lines)) + "\n")
    with pytest.raises(rules.RulesError) as err:
        rules.load(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_yaml_syntax_error_and_duplicate_rule_are_refused(tmp_path: Path) -> None:
    """Broken YAML and a rule id given twice (which plain YAML would let override) are refused."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  H1: [unclosed\n")
    with pytest.raises(rules.RulesError, match=r"bad.yaml: line \d+: not valid YAML"):
        rules.load(bad)
    dup = tmp_path / "dup.yaml"
    rule = "    title: x\n    kind: physiological\n    priority: low\n    when: HR > 1\n"
    dup.write_text(f"version: 1\nrules:\n  H1:\n{rule}  H1:\n{rule}")
    with pytest.raises(rules.RulesError, match=r"dup.yaml: line 8: duplicate key 'H1'"):
        rules.load(dup)


def test_missing_file_is_named() -> None:
    """A rules file that does not exist is refused with its path."""
    with pytest.raises(rules.RulesError, match="nowhere.yaml: cannot read"):
        rules.load("/nowhere.yaml")


def test_expression_evaluation() -> None:
    """'or' holds if any known term holds; 'and' needs every parameter; no value says nothing."""
    either = parse("SBP >= 160 or DBP >= 100")
    assert either.evaluate({"SBP": 150, "DBP": 101})[0] is True
    assert either.evaluate({"SBP": 150, "DBP": 90})[0] is False
    assert either.evaluate({"SBP": None, "DBP": None}) == (None, None)
    assert either.evaluate({"SBP": None, "DBP": 90})[0] is None
    both = parse("SBP < 155 and DBP < 95")
    assert both.evaluate({"SBP": 150, "DBP": 90})[0] is True
    assert both.evaluate({"SBP": 150, "DBP": None})[0] is None
    assert both.evaluate({"SBP": 160, "DBP": None})[0] is False


def test_every_rule_is_disclosed_in_docs_alarms_md() -> None:
    """docs/alarms.md names exactly the rules of the default rules file."""
    doc = (Path(rules.__file__).parent.parent / "docs" / "alarms.md").read_text()
    documented = set(re.findall(r"^\| ([A-Z]\d+V?) \|", doc, re.MULTILINE))
    assert documented == set(rules.load().rules)


DEFAULT_TEXT = rules.DEFAULT_RULES.read_text()
# A rule of the test's own, appended to the default file, so the checks are shown on a rule whose
# text no later change of the defaults will move.
EXTRA = ("  X1:\n    title: Test rule\n    kind: physiological\n    priority: medium\n"
         "    when: {when}\n    clear: {clear}\n")


def _drop_rule(text: str, rule_id: str) -> str:
    lines = text.splitlines(keepends=True)
    start = lines.index(f"  {rule_id}:\n")
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"  \S", lines[i])), len(lines))
    return "".join(lines[:start] + lines[end:])


def _set(text: str, rule_id: str, key: str, value: str) -> str:
    """The rules text with one field of one rule set (added after the rule's title if absent)."""
    lines = text.splitlines(keepends=True)
    start = lines.index(f"  {rule_id}:\n")
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"  \S", lines[i])), len(lines))
    for i in range(start + 1, end):
        if lines[i].startswith(f"    {key}:"):
            lines[i] = f"    {key}: {value}\n"
            return "".join(lines)
    title = next(i for i in range(start, end) if lines[i].startswith("    title:"))
    lines.insert(title + 1, f"    {key}: {value}\n")
    return "".join(lines)


# name, the edited rules text, where the error is (the first line starting with the text, at or
# after the rule's own line), the message expected
X1 = "  X1:"
REFUSED = [
    ("T4 removed", lambda s: _drop_rule(s, "T4"), (None, "rules:"),
     "rule T4 (no data or heartbeat from the monitor) is required supervision and is missing"),
    ("T4 disabled", lambda s: _set(s, "T4", "enabled", "false"), ("  T4:", "    enabled: false"),
     "rule T4 (no data or heartbeat from the monitor) is required supervision and cannot be disabled"),
    ("T5 removed", lambda s: _drop_rule(s, "T5"), (None, "rules:"),
     "rule T5 (the adapter has lost its device (unplugged, silent, unreadable)) is required supervision and is missing"),
    ("T5 watching another signal", lambda s: _set(s, "T5", "signal", "probe_off"), ("  T5:", "  T5:"),
     ("rule T5 (the adapter has lost its device (unplugged, silent, unreadable)) is required supervision: "
      "it must watch signal 'device_lost'")),
    ("an or-condition whose low limit is above its high limit",
     lambda s: s + EXTRA.format(when="HR < 130 or HR > 120", clear="HR < 100"), (X1, "    when:"),
     "rule X1: when: 'HR < 130 or HR > 120' holds for every HR value"),
    ("an or-condition meeting itself at an inclusive limit",
     lambda s: s + EXTRA.format(when="HR <= 120 or HR >= 120", clear="HR < 100"), (X1, "    when:"),
     "rule X1: when: 'HR <= 120 or HR >= 120' holds for every HR value"),
    ("an and-condition that can never hold",
     lambda s: s + EXTRA.format(when="HR > 120", clear="HR > 130 and HR < 120"), (X1, "    clear:"),
     "rule X1: clear: 'HR > 130 and HR < 120' holds for no HR value"),
    ("a clear limit past the raise limit",
     lambda s: s + EXTRA.format(when="HR > 120", clear="HR < 125"), (X1, "    clear:"),
     ("rule X1: clear: 'HR < 125' clears on values that 'HR > 120' raises on: the clear limit must be at "
      "or below the raise limit (hysteresis, not overlap)")),
    ("a clear limit meeting an inclusive raise limit",
     lambda s: s + EXTRA.format(when="HR >= 120", clear="HR <= 120"), (X1, "    clear:"),
     "rule X1: clear: 'HR <= 120' clears on values that 'HR >= 120' raises on"),
    ("a low-side clear limit past the raise limit",
     lambda s: _set(s, "B5", "clear", "SBP > 85 and MAP > 65"), ("  B5:", "    clear:"),
     ("rule B5: clear: 'SBP > 85' clears on values that 'SBP < 90' raises on: the clear limit must be at "
      "or above the raise limit")),
    ("a relative clear limit past its relative raise limit",
     lambda s: _set(s, "B2", "clear", "SBP < BL.SBP + 45 and DBP < BL.DBP + 20"), ("  B2:", "    clear:"),
     "rule B2: clear: 'SBP < BL.SBP + 45' clears on values that 'SBP >= BL.SBP + 40' raises on"),
    ("repeat_within_s on a continuous rule",
     lambda s: s + EXTRA.format(when="HR > 120", clear="HR < 115") + "    repeat_within_s: 60\n", (X1, X1),
     "rule X1: 'repeat_within_s' applies to cuff rules (SBP, DBP, MAP) only"),
    ("repeat_within_s shorter than the confirmation spacing",
     lambda s: _set(s, "B4", "repeat_within_s", "60"), ("  B4:", "  B4:"),
     "rule B4: 'repeat_within_s' (60) is shorter than 'confirm_min_apart_s' (120)"),
    ("a baseline cap on a continuous value",
     lambda s: s.replace("caps: {SBP: 160, DBP: 100}", "caps: {SBP: 160, HR: 100}"), (None, "  caps:"),
     "baseline.caps: caps apply to cuff pressures (DBP, MAP, SBP), not 'HR'"),
]


@pytest.mark.parametrize("name, edit, where, expected", REFUSED, ids=[c[0] for c in REFUSED])
def test_unsafe_rules_file_is_refused_naming_file_line_rule_and_why(
        tmp_path: Path, name: str, edit, where: tuple, expected: str) -> None:
    """A rules file without the required supervision (T4, T5), or with a condition that always or
    never holds, a clear limit past its raise limit, or a cuff clock that cannot work, is refused
    with the file, the line, the rule and the reason."""
    text = edit(DEFAULT_TEXT)
    assert text != DEFAULT_TEXT
    path = tmp_path / "clinic.yaml"
    path.write_text(text)
    with pytest.raises(rules.RulesError) as err:
        rules.load(path)
    rows = text.splitlines()
    anchor, line_text = where
    first = rows.index(anchor) if anchor else 0
    line = next(i for i in range(first, len(rows)) if rows[i].startswith(line_text)) + 1
    assert f"{path}: line {line}: {expected}" in str(err.value), str(err.value)


def test_the_shipped_defaults_pass_every_check() -> None:
    """The default rules file passes the supervision, limit and clock checks it ships with."""
    assert rules.loads(DEFAULT_TEXT, "default-rules.yaml").rules["T4"].enabled


# a session's own change, the message expected
OVERRIDES = [
    ({"T4": {"enabled": False}}, ("rule T4 (no data or heartbeat from the monitor) is required supervision "
                                  "and cannot be disabled")),
    ({"B5": {"clear": "SBP > 85 and MAP > 65"}}, "'SBP > 85' clears on values that 'SBP < 90' raises on"),
    ({"B1": {"when": "SBP >= 150 or DBP >= 100"}}, "'SBP < 155' clears on values that 'SBP >= 150' raises on"),
    ({"B5": {"when": "SBP < 90 or SBP > 80"}}, "'SBP < 90 or SBP > 80' holds for every SBP value"),
]


@pytest.mark.parametrize("change, expected", OVERRIDES)
def test_session_changes_go_through_the_same_checks(change: dict, expected: str) -> None:
    """A session's own limits are refused on the same grounds as a rules file: no switching off
    feed supervision, no overlapping clear limit, no condition that always holds."""
    with pytest.raises(rules.RulesError, match=re.escape(expected)):
        rules.load().with_overrides(change)


@pytest.mark.parametrize("change, why", [
    ({"priority": "low"}, "rule T4 (no data or heartbeat from the monitor) is required supervision: its priority must be at least medium"),
    ({"delay_s": 86400}, "its delay may be at most 45 s"),
    ({"delay_s": float("inf")}, "finite number"),
])
def test_feed_supervision_cannot_be_weakened_into_silence(tmp_path: Path, change: dict, why: str) -> None:
    """T4 at low priority, or with a delay of a day or of infinity, is refused in a rules file
    and as a session's own change, like a T4 removed: a dead monitor must alarm within seconds."""
    data = yaml.safe_load(rules.DEFAULT_RULES.read_text(encoding="utf-8"))
    data["rules"]["T4"].update(change)
    path = tmp_path / "weak-t4.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(rules.RulesError) as refused:
        rules.load(path)
    assert why in str(refused.value) and "line " in str(refused.value)
    with pytest.raises(rules.RulesError):
        rules.load().with_overrides({"T4": change})
