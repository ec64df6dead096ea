"""Patient-facing text: labels not codes, rounded numbers, and never null (SPEC §11.2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rules
from rules import CATALOGUE, EvaluationState
from rules.codes import LABELS
from rules.templates import compile_template
from tests.rules.conftest import BASE

NOW = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
DEFAULT = rules.load_ruleset(rules.default_ruleset_text())


def render(text: str, **facts: object) -> str:
    template = compile_template(text)
    return template.render({k.replace("__", "."): v for k, v in facts.items()})


def test_it_renders_codes_as_labels_in_a_sentence() -> None:
    flags = frozenset({"numbness_saddle", "bladder_bowel_change"})
    text = render("You told us about {pain.red_flags}.", pain__red_flags=flags)
    assert text == (
        "You told us about a change in bladder or bowel control and numbness in the groin or "
        "between the legs (the saddle area)."
    )
    assert render("{patient.conditions}", patient__conditions=frozenset()) == "none"
    assert render("After {trigger}", trigger="pain_report") == "After a pain report"
    assert all("_" not in label for label in LABELS.values())


def test_it_rounds_numbers_as_people_write_them() -> None:
    assert render("{steps.today}", steps__today=12345) == "12,345"
    assert render("{steps.avg_7d}", steps__avg_7d=4321.6) == "4,322"
    assert render("{plan.target * 0.8}", plan__target=5000) == "4,000"
    assert render("{pain.avg_7d}", pain__avg_7d=6.349) == "6.3"
    assert render("{pain.avg_7d}", pain__avg_7d=6.0) == "6"
    assert render("{pain.change}", pain__change=-0.04) == "0"
    assert render("{shoes.km}", shoes__km=1234.56) == "1,234.6"
    assert render("{round(pain.avg_7d, 3)}", pain__avg_7d=2.3456) == "2.3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Flag: {pain.red_flag}", "a true/false value reads badly in a text"),
        ("Nothing: {null}", "this placeholder is always null"),
        ("You said night_pain.", "'night_pain' is a code; write what a patient reads"),
    ],
)
def test_it_refuses_texts_a_patient_should_not_read(text: str, message: str) -> None:
    with pytest.raises(rules.ExpressionError) as caught:
        compile_template(text)
    assert caught.value.message.startswith(message)


def with_rule(when: str, text: str, *, alert: str | None = None) -> str:
    then = (
        "[{send_tip: note}]"
        if alert is None
        else f'[{{alert_clinician: {{severity: info, message: "{alert}"}}}}]'
    )
    return (
        BASE.replace(
            "tips:\n",
            f'tips:\n  note:\n    category: general\n    title: Note\n    text: "{text}"\n',
        )
        + f"  - id: r2\n    when: {when}\n    then: {then}\n"
    )


def errors_of(text: str) -> list[dict[str, object]]:
    with pytest.raises(rules.RuleSetError) as caught:
        rules.load_ruleset(text)
    return [issue.as_dict() for issue in caught.value.errors]


def test_it_refuses_a_template_that_can_render_null_with_its_place() -> None:
    text = with_rule("time.hour >= 14", "You walked {steps.today} steps")
    [error] = errors_of(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "You walked" in row)
    assert error["line"] == line
    assert error["column"] == text.splitlines()[line - 1].index("steps.today") + 1
    assert error["path"] == "tips.note.text"
    assert "add 'steps.today is not null' to its when" in str(error["message"])
    assert "rule 'r2'" in str(error["message"])


@pytest.mark.parametrize(
    "when",
    [
        "steps.today is not null",
        "steps.today < 2000",
        "time.hour >= 14 and steps.today + 1 > 0",
        "(steps.today > 10 and pain.latest > 1) or (steps.today < 5 and time.hour > 1)",
        "not (steps.today is null)",
        "not (steps.today is null or pain.latest is null)",
    ],
)
def test_it_accepts_a_template_its_rule_guards(when: str) -> None:
    ruleset = rules.load_ruleset(with_rule(when, "You walked {steps.today} steps"))
    assert ruleset.rule("r2").when.text == when


@pytest.mark.parametrize(
    ("when", "text"),
    [
        ("steps.today > 10 or pain.latest > 1", "{steps.today}"),
        ("not steps.today > 10", "{steps.today}"),
        ("steps.today > 0", "{steps.today / steps.days_with_data_7d}"),
        ("pain.latest is null", "{pain.latest}"),
    ],
)
def test_it_refuses_a_template_its_rule_does_not_guard(when: str, text: str) -> None:
    [error] = errors_of(with_rule(when, text))
    assert "can show null to the patient" in str(error["message"])


def test_it_accepts_facts_that_are_never_null_and_guarded_branches() -> None:
    text = "{steps.days_with_data_7d} days; {steps.today if steps.today is not null else 0}"
    ruleset = rules.load_ruleset(with_rule("time.hour > 3", text))
    decision = ruleset.evaluate(
        {"time.hour": 9, "steps.days_with_data_7d": 3, "pain.latest": 1}, now=NOW
    )
    assert [tip.text for tip in decision.tips] == ["3 days; 0"]


def test_it_checks_clinician_alerts_and_reasons_for_nulls_too() -> None:
    [error] = errors_of(with_rule("time.hour > 3", "ok", alert="Pain {pain.latest}"))
    assert "can show null to the clinician" in str(error["message"])
    reason = BASE + (
        "  - id: r2\n    when: time.hour > 3\n    reason: At {steps.today}\n"
        "    then: [{hold_progression: 2}]\n"
    )
    [error] = errors_of(reason)
    assert error["path"] == "rules[1].reason"


# --- property tests: no patient text shows null, None, a code or an unrounded number -----------

_BAD = [
    re.compile(r"\bnull\b"),
    re.compile(r"\bNone\b"),
    re.compile(r"\b(?:nan|inf)\b"),
    re.compile(r"\b[a-z]+_[a-z_]+\b"),  # a raw code
    re.compile(r"\d\.\d{2,}"),  # more than one decimal
]


def bad_text(text: str) -> str | None:
    """The first thing in `text` a patient must never read."""
    for pattern in _BAD:
        found = pattern.search(text)
        if found:
            return found.group(0)
    return None


def fact_value(name: str) -> st.SearchStrategy[object]:
    fact = CATALOGUE[name]
    if fact.type == "set":
        # A set without codes holds names (exercise.kinds_7d): they read as they are.
        return st.frozensets(st.sampled_from(sorted(fact.codes or {"bird-dog", "glute bridge"})))
    if fact.type == "bool":
        return st.booleans()
    if fact.type == "string":
        return st.sampled_from(sorted(fact.codes or {"schedule"}))
    low, high = fact.low or 0, fact.high or 100
    value: st.SearchStrategy[object] = (
        st.integers(int(low), int(high))
        if fact.grid >= 1
        else st.floats(low, high, allow_nan=False, allow_infinity=False)
    )
    return st.one_of(st.none(), value) if fact.nullable else value


catalogue_facts = st.fixed_dictionaries(
    {name: fact_value(name) for name in CATALOGUE if name != "trigger"}
)
states = st.builds(
    EvaluationState,
    last_fired=st.dictionaries(
        st.sampled_from([r.id for r in DEFAULT.rules]),
        st.integers(0, 96).map(lambda hours: NOW - timedelta(hours=hours)),
    ),
    last_variant=st.dictionaries(st.sampled_from(sorted(DEFAULT.tips)), st.integers(0, 4)),
    tips_sent_today=st.integers(0, 5),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogue_facts, st.sampled_from(rules.facts.TRIGGERS), states)
def test_it_never_shows_a_patient_null_a_code_or_an_unrounded_number(
    facts: dict[str, Any], trigger: str, state: EvaluationState
) -> None:
    decision = DEFAULT.evaluate(facts, trigger, state, NOW)
    for tip in decision.tips:
        for text in (tip.title, tip.text, tip.why):
            assert bad_text(text) is None, (tip.tip_id, text)
    for alert in decision.alerts:
        assert bad_text(alert.message) is None, alert.message


arithmetic = st.recursive(
    st.one_of(
        st.sampled_from(["steps.today", "pain.avg_7d", "shoes.km", "pain.change", "plan.target"]),
        st.sampled_from(["0.8", "1.1", "3", "7", "0.333"]),
    ),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        inner.map(lambda x: f"round({x}, 2)"),
    ),
    max_leaves=5,
)
guarded_facts = st.fixed_dictionaries(
    {
        "steps.today": st.integers(0, 200_000),
        "pain.avg_7d": st.floats(0, 10),
        "shoes.km": st.floats(0, 1e6),
        "pain.change": st.floats(-10, 10),
        "plan.target": st.integers(1, 1_000_000),
    }
)
_GUARD = " and ".join(
    f"{name} is not null"
    for name in ("steps.today", "pain.avg_7d", "shoes.km", "pain.change", "plan.target")
)


@settings(max_examples=120, deadline=None)
@given(arithmetic, guarded_facts)
def test_it_renders_any_guarded_arithmetic_without_null_or_long_decimals(
    expression: str, facts: dict[str, Any]
) -> None:
    text = f"Value {{{expression}}}"
    refused: list[str] = []
    try:
        ruleset = rules.load_ruleset(with_rule(_GUARD, text))
    except rules.RuleSetError as exc:
        refused = [issue.message for issue in exc.errors]
    # Refused at load only for a division that can be by zero, or a result past the bound.
    assert all("can show null" in m or "beyond the limit" in m for m in refused), refused
    if refused:
        return
    failed: list[str] = []
    try:
        texts = [tip.text for tip in ruleset.evaluate(facts, now=NOW).tips]
    except rules.RuleRuntimeError as exc:  # a value no text can show (inf): the rule's error
        failed, texts = [exc.rule_id], []
    assert failed in ([], ["r2"])
    assert all(bad_text(text) is None for text in texts), texts
