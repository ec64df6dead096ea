"""Loading and validation: every error kind, with its exact line and column."""

from __future__ import annotations

import time

import pytest

import rules
from tests.rules.conftest import BASE, yaml_text


def errors_of(text: str) -> list[dict[str, object]]:
    with pytest.raises(rules.RuleSetError) as caught:
        rules.load_ruleset(text, source="demo.yaml")
    return [issue.as_dict() for issue in caught.value.errors]


def one_error(text: str) -> dict[str, object]:
    errors = errors_of(text)
    assert len(errors) == 1, errors
    return errors[0]


def rule(when: str, extra: str = "", then: str = "[{send_tip: walk}]") -> str:
    return f"  - id: r2\n    when: {when}\n    then: {then}\n{extra}"


def test_it_loads_the_base_rule_set(base_text: str) -> None:
    ruleset = rules.load_ruleset(base_text)
    assert ruleset.slug == "demo"
    assert [r.id for r in ruleset.rules] == ["flare"]
    assert ruleset.settings.max_tips_per_day == 2


def test_it_points_inside_the_expression_at_an_unknown_fact() -> None:
    error = one_error(yaml_text(rule("steps.today > 1 and pain.lastest > 3")))
    assert error == {
        "line": 31,
        "column": 31,
        "path": "rules[1].when",
        "message": "unknown fact 'pain.lastest' (did you mean 'pain.latest'?)",
    }


def test_it_reports_type_errors_at_the_bad_operand_inside_quotes() -> None:
    error = one_error(yaml_text(rule("\"pain.latest + 'a' > 1\"")))
    assert (error["line"], error["column"], error["path"]) == (31, 26, "rules[1].when")
    assert error["message"] == "'+' needs numbers, got string"


def test_it_refuses_a_non_boolean_condition() -> None:
    error = one_error(yaml_text(rule("pain.latest + 1")))
    assert (error["line"], error["column"]) == (31, 11)
    assert error["message"] == "condition must be boolean, got number"


def test_it_refuses_duplicate_rule_ids() -> None:
    error = one_error(yaml_text(rule("pain.latest > 1").replace("id: r2", "id: flare")))
    assert error == {
        "line": 30,
        "column": 9,
        "path": "rules[1].id",
        "message": "duplicate rule id 'flare'",
    }


def test_it_refuses_unknown_tip_ids_with_a_suggestion() -> None:
    error = one_error(yaml_text(rule("pain.latest > 1", then="[{send_tip: wlak}]")))
    assert error["path"] == "rules[1].then[0].send_tip"
    assert error["message"] == "unknown tip 'wlak' (did you mean 'walk'?)"
    assert (error["line"], error["column"]) == (32, 23)


def test_it_points_at_unknown_keys() -> None:
    error = one_error(yaml_text(rule("pain.latest > 1", extra="    prio: 3\n")))
    assert error == {
        "line": 33,
        "column": 5,
        "path": "rules[1].prio",
        "message": "unknown key 'prio'",
    }


def test_it_refuses_wrong_types() -> None:
    error = one_error(yaml_text(rule("pain.latest > 1", extra="    priority: high\n")))
    assert error == {
        "line": 33,
        "column": 15,
        "path": "rules[1].priority",
        "message": "must be a whole number",
    }


@pytest.mark.parametrize("duration", ["2x", "0d", "1.5h", "d"])
def test_it_refuses_bad_durations(duration: str) -> None:
    error = one_error(yaml_text(rule("pain.latest > 1", extra=f"    cooldown: {duration}\n")))
    assert (error["line"], error["column"], error["path"]) == (33, 15, "rules[1].cooldown")
    assert str(error["message"]).startswith(f"bad duration '{duration}'")


def test_it_refuses_bad_times() -> None:
    error = one_error(BASE.replace('"15:00"', '"25:00"'))
    assert error == {
        "line": 4,
        "column": 29,
        "path": "settings.decision_times[1]",
        "message": "bad time '25:00': use HH:MM, 00:00 to 23:59",
    }


def test_it_checks_template_placeholders() -> None:
    then = '\n      - alert_clinician: {severity: info, message: "Pain {pain.lates} now"}'
    error = one_error(yaml_text(rule("pain.latest > 1", then=then)))
    assert error["path"] == "rules[1].then[0].alert_clinician.message"
    assert (error["line"], error["column"]) == (33, 59)
    assert error["message"] == "unknown fact 'pain.lates' (did you mean 'pain.latest'?)"


def test_it_reports_failing_embedded_tests() -> None:
    tests = (
        "tests:\n  - name: should fire\n    facts: {pain.latest: 3}\n    expect: {fires: [flare]}\n"
    )
    error = one_error(yaml_text(tests))
    assert (error["line"], error["column"], error["path"]) == (31, 5, "tests[0]")
    assert (
        error["message"] == "test 'should fire' failed: expected 'flare' to fire (condition false)"
    )


def test_it_refuses_unknown_facts_in_tests() -> None:
    tests = "tests:\n  - name: t\n    facts: {pain.lattest: 3}\n    expect: {fires: []}\n"
    error = one_error(yaml_text(tests))
    assert error["path"] == "tests[0].facts.pain.lattest"
    assert error["message"] == "unknown fact 'pain.lattest' (did you mean 'pain.latest'?)"


def test_it_reports_yaml_syntax_errors_with_the_yaml_mark() -> None:
    error = one_error(BASE.replace("title: Demo", "title: [Demo"))
    assert (error["line"], error["column"]) == (3, 9)
    assert str(error["message"]).startswith("YAML syntax error")


def test_it_reports_missing_keys_at_the_parent() -> None:
    error = one_error(BASE.replace("    when: pain.latest >= 7\n", ""))
    assert error == {
        "line": 24,
        "column": 5,
        "path": "rules[0].when",
        "message": "missing required key 'when'",
    }


def test_it_refuses_alias_bombs_fast() -> None:
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    started = time.perf_counter()
    error = one_error(bomb)
    assert time.perf_counter() - started < 0.5
    assert error == {"line": 2, "column": 8, "path": "", "message": "aliases are not allowed"}


def test_it_bounds_nesting_and_size() -> None:
    assert one_error("a: " + "[" * 100 + "]" * 100)["message"] == "nesting deeper than 24 levels"
    assert one_error("a: '" + "x" * 300_000 + "'")["message"] == "rule set larger than 256 KiB"


def test_it_never_constructs_python_objects() -> None:
    error = one_error("!!python/object/apply:os.system ['echo hi']\n")
    assert (
        error["message"]
        == "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"
    )


def test_it_refuses_duplicate_yaml_keys() -> None:
    errors = errors_of(BASE.replace("title: Demo\n", "title: Demo\ntitle: Again\n"))
    assert errors[0] == {
        "line": 3,
        "column": 1,
        "path": "title",
        "message": "duplicate key 'title'",
    }


def test_it_keeps_on_as_a_key_not_a_boolean() -> None:
    ruleset = rules.load_ruleset(
        yaml_text(rule("pain.latest > 1", extra="    on: [pain_report]\n"))
    )
    assert ruleset.rule("r2").on == frozenset({"pain_report"})


def test_it_formats_issues_for_the_command_line() -> None:
    with pytest.raises(rules.RuleSetError) as caught:
        rules.load_ruleset(yaml_text(rule("pain.lastest > 3")), source="demo.yaml")
    assert str(caught.value) == (
        "demo.yaml:31:11: rules[1].when: unknown fact 'pain.lastest' (did you mean 'pain.latest'?)"
    )


def test_it_collects_several_errors_at_once() -> None:
    text = yaml_text(rule("pain.lastest > 3", then="[{send_tip: nope}]"))
    paths = [error["path"] for error in errors_of(text)]
    assert paths == ["rules[1].when", "rules[1].then[0].send_tip"]


def test_it_loads_and_passes_the_default_rule_set() -> None:
    ruleset = rules.load_ruleset(rules.default_ruleset_text())
    assert ruleset.slug == "low-back-walking"
    assert len(ruleset.tests) >= 2 * len(ruleset.rules)
    assert rules.run_tests(ruleset) == []
    tested = {rule_id for case in ruleset.tests for rule_id in (*case.fires, *case.not_fires)}
    assert tested == {rule.id for rule in ruleset.rules}
    fires = {rule_id for case in ruleset.tests for rule_id in case.fires}
    assert fires == {rule.id for rule in ruleset.rules}


def test_it_runs_embedded_tests_with_rules_in_cooldown() -> None:
    cooled = yaml_text(
        "    cooldown: 2d\n"
        "tests:\n  - name: cooling flare stays quiet\n    facts: {pain.latest: 9}\n"
        "    cooling: [flare]\n    expect: {not_fires: [flare]}\n"
    )
    assert rules.load_ruleset(cooled).tests[0].cooling == ("flare",)
    # The same expectation without `cooling` fails: the flare rule would fire.
    error = one_error(cooled.replace("    cooling: [flare]\n", ""))
    assert (
        error["message"] == "test 'cooling flare stays quiet' failed: expected 'flare' not to fire"
    )


def test_it_refuses_unknown_rules_in_cooling() -> None:
    tests = "tests:\n  - name: t\n    cooling: [flair]\n    expect: {fires: []}\n"
    error = one_error(yaml_text(tests))
    assert (error["path"], error["message"]) == ("tests[0].cooling[0]", "unknown rule 'flair'")
