"""The rules file: the defaults load, and a bad file is refused naming file, line and reason."""

from __future__ import annotations

import ast
import re

from pathlib import Path

import pytest

from alerts import rules
from alerts.expression import parse

# The clinical basis rule table, every id; G2's HR/SpO2 gate is G2V (a rule is cuff or continuous).
CLINICAL_IDS = {"G1", "G2", "G2V", "B1", "B2", "B3", "B4", "B5", "B6", "H1", "H2", "H3", "O1", "O2",
                "O3", "R1", "R2", "C1", "C2", "T1", "T2", "T3", "T4"}


def test_default_rules_keep_the_clinical_ids() -> None:
    """The built-in rules file loads and carries the clinical basis rule ids it can express (and
    the rules added beside them, each disclosed in docs/alarms.md)."""
    rs = rules.load()
    # T5: a device lost behind a live adapter; T9: dosed without a pre-dose cuff baseline
    assert CLINICAL_IDS | {"T5", "T9"} <= set(rs.rules)
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
    documented = set(re.findall(r"^\| ([A-Z]\d+V?) \|", doc, re.M))
    assert documented == set(rules.load().rules)
