"""Rule language v2: slip hints, coded literals, number sets, bounded arithmetic, failures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import rules
from rules import ExpressionError, compile_expression
from rules.model import TestCase as EmbeddedTest
from tests.rules.conftest import BASE

NOW = datetime(2026, 2, 2, 8, 30, tzinfo=UTC)


def one_error(text: str) -> dict[str, object]:
    with pytest.raises(rules.RuleSetError) as caught:
        rules.load_ruleset(text)
    [issue] = caught.value.errors
    return issue.as_dict()


def rule(when: str) -> str:
    return BASE + f"  - id: r2\n    when: {when}\n    then: [{{send_tip: walk}}]\n"


@pytest.mark.parametrize(
    ("when", "slip", "advice"),
    [
        ("pain.latest = 7", "=", "write '==' to compare"),
        ("pain.latest > 7 && time.hour > 9", "&&", "write 'and' instead of '&&'"),
        ("pain.latest > 7 || time.hour > 9", "||", "write 'or' instead of '||'"),
        ("pain.latest > 7 AND time.hour > 9", "AND", "write 'and' (lower case)"),
        ("pain.latest > 7 OR time.hour > 9", "OR", "write 'or' (lower case)"),
        ("pain.red_flags contains 'fever'", "contains", "write 'CODE in SET'"),
        ("pain.latest between 2 and 5", "between", "write a chained comparison"),
        ("steps.today < plan.target * 80%", "80%", "write 0.8 instead of '80%'"),
        ("time.hour > 1 and !pain.red_flag", "!", "write 'not' instead of '!'"),
        ("pain.latest => 7", "=>", "write '>=' instead of '=>'"),
        ("pain.latest <> 7", "<>", "write '!=' instead of '<>'"),
    ],
)
def test_it_says_what_to_write_instead_of_a_common_slip(when: str, slip: str, advice: str) -> None:
    text = rule(when)
    error = one_error(text)
    line = text.splitlines().index(f"    when: {when}") + 1
    assert (error["line"], error["column"]) == (line, len("    when: ") + when.index(slip) + 1)
    assert str(error["message"]).startswith(advice)


def test_it_does_not_mistake_valid_operators_or_quoted_text_for_slips() -> None:
    assert compile_expression("pain.latest != 7", want="bool").evaluate({"pain.latest": 6})
    assert compile_expression("steps.today % 7 == 0", want="bool").evaluate({"steps.today": 14})
    with pytest.raises(ExpressionError) as caught:
        compile_expression("'a=b && c' in pain.red_flags", want="bool")
    assert caught.value.message.startswith("'a=b && c' is not a code of pain.red_flags")


@pytest.mark.parametrize(
    ("when", "quoted", "message"),
    [
        (
            "'saddle_numbness' in pain.red_flags",
            "'saddle_numbness'",
            "'saddle_numbness' is not a code of pain.red_flags (did you mean 'numbness_saddle'?)",
        ),
        (
            "'stenosis' not in patient.conditions",
            "'stenosis'",
            "'stenosis' is not a code of patient.conditions (did you mean 'spinal_stenosis'?)",
        ),
        (
            "trigger == 'pain_reprot'",
            "'pain_reprot'",
            "'pain_reprot' is not a code of trigger (did you mean 'pain_report'?)",
        ),
        (
            "trigger in ['schedule', 'nightly']",
            "'nightly'",
            "'nightly' is not a code of trigger (codes: schedule, pain_report, activity, "
            "exercise_report)",
        ),
    ],
)
def test_it_checks_quoted_codes_against_the_fact_they_meet(
    when: str, quoted: str, message: str
) -> None:
    text = rule(f'"{when}"')
    error = one_error(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if when in row)
    assert error["line"] == line
    assert error["column"] == text.splitlines()[line - 1].index(quoted) + 1
    assert error["message"] == message


def test_it_refuses_an_unknown_code_in_embedded_test_facts() -> None:
    text = rule("pain.latest > 1") + (
        "tests:\n  - name: t\n    facts: {pain.red_flags: [saddle_numbness]}\n"
        "    expect: {fires: []}\n"
    )
    error = one_error(text)
    assert "did you mean 'numbness_saddle'" in str(error["message"])


def test_it_accepts_literal_sets_of_numbers() -> None:
    weekday = compile_expression("time.weekday in [2, 5]", want="bool")
    assert weekday.evaluate({"time.weekday": 5}) is True
    assert weekday.evaluate({"time.weekday": 3}) is False
    assert weekday.evaluate({}) is False  # null is in no set
    outside = compile_expression("pain.change not in [-1, 0.5]", want="bool")
    assert outside.evaluate({"pain.change": -1}) is False
    assert outside.evaluate({"pain.change": 2}) is True
    [entry] = weekday.trace({"time.weekday": 5})
    assert entry.values == "5 in {2, 5}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time.weekday in [2, 'x']", "a literal set holds either quoted strings or numbers"),
        ("'a' in [1, 2]", "'in' needs a string and a set, or a number and a list of numbers"),
        ("time.weekday in pain.red_flags", "'in' needs a string and a set"),
        ("time.weekday in [1e300]", "number out of range"),
    ],
)
def test_it_type_checks_literal_sets(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, want="bool")
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    "text",
    [
        "plan.target * 1000000000000 > 1",
        "steps.today * steps.today * steps.today > 1",
        "pain.latest / 0.000000000000001 * 1000 > 1",
        "max(1000000000000000, 1) * 2 > 1",
        "-(1000000000000000 + 1) < 0",
        "1e300 > 1",
    ],
)
def test_it_refuses_arithmetic_that_can_overflow_at_validation(text: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, want="bool")
    assert "beyond the limit" in caught.value.message or "out of range" in caught.value.message


def test_it_bounds_settings_by_their_values() -> None:
    ruleset = rules.load_ruleset(rule("settings.target.max * 1000000 > plan.target"))
    assert ruleset.rule("r2").when.evaluate({"plan.target": 1}) is True
    error = one_error(rule("settings.target.max * 1000000000000 > plan.target"))
    assert "beyond the limit of 1e15" in str(error["message"])


def test_it_accepts_everyday_arithmetic() -> None:
    for text in [
        "steps.today < plan.target * 0.4",
        "steps.avg_7d / steps.avg_prev_7d - 1 > 0.3",
        "round(plan.target * 1.1) > steps.today",
        "steps.today / (steps.avg_7d / 7 - 1) > 2",
    ]:
        assert compile_expression(text, want="bool").kind == "bool"


def test_it_raises_a_runtime_error_naming_the_rule_and_expression() -> None:
    ruleset = rules.load_ruleset(BASE)
    with pytest.raises(rules.RuleRuntimeError) as caught:
        ruleset.evaluate({"pain.latest": "eight"}, now=NOW)
    assert caught.value.rule_id == "flare"
    assert caught.value.expression == "pain.latest >= 7"
    with pytest.raises(rules.RuleRuntimeError) as target:
        ruleset.evaluate({"pain.latest": 8, "plan.target": 10**400}, now=NOW)
    assert (target.value.rule_id, target.value.expression) == ("flare", "plan.target * 0.8")
    with pytest.raises(rules.RuleRuntimeError) as text:
        ruleset.evaluate({"pain.latest": float("inf")}, now=NOW)
    assert text.value.expression == "Pain {pain.latest}/10"


def test_it_reports_a_runtime_error_in_an_embedded_test_as_a_failure() -> None:
    ruleset = rules.load_ruleset(BASE)
    ruleset.tests.append(
        EmbeddedTest(
            "odd facts", "schedule", {"pain.latest": "eight"}, ("flare",), (), None, False, None
        )
    )
    [(index, problem)] = rules.run_tests(ruleset)
    assert index == 0
    assert problem.startswith("test 'odd facts' failed: rule 'flare': pain.latest >= 7:")


def test_it_explains_a_condition_as_an_and_or_tree() -> None:
    expression = compile_expression(
        "not plan.progression_held and (pain.change is null or pain.change < 1)", want="bool"
    )
    lines = expression.tree({"plan.progression_held": False, "pain.change": 0.5})
    assert lines == [
        "and  ->  true",
        "  not  ->  true",
        "    plan.progression_held  ->  false  ->  false",
        "  or  ->  true",
        "    pain.change is null  ->  0.5 is null  ->  false",
        "    pain.change < 1  ->  0.5 < 1  ->  true",
    ]
