"""YAML values that cannot be built, stored or trusted are issues with a line and column."""

from __future__ import annotations

import pytest

import rules
from rules.source import MAX_NUMBER, load_document
from tests.rules.conftest import BASE


def _issues(text: str) -> list[rules.Issue]:
    with pytest.raises(rules.RuleSetError) as caught:
        rules.load_ruleset(text)
    return caught.value.errors


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "says"),
    [
        ("initial: 4000", "initial: !!int abc", 6, 21, "'abc' is not a valid whole number"),
        ('["08:30", "15:00"]', '[!!timestamp abc, "15:00"]', 4, 20, "not a valid date"),
        ("title: Demo", "title: 2026-13-45", 2, 8, "quote it to keep it as text"),
        ("max_tips_per_day: 2", "max_tips_per_day: !!bool maybe", 5, 21, "true or false"),
        ("max_tips_per_day: 2", "max_tips_per_day: 1" + "0" * 5000, 5, 21, "number too large"),
        ("max: 6000", "max: 12345678901", 6, 43, "number too large"),
        ("max: 6000", "max: .inf", 6, 43, "finite"),
        ("0.10}", ".nan}", 6, 70, "finite"),
        ("title: Demo", 'title: "De\\0mo"', 2, 8, "NUL"),
        ("title: Demo", 'title: "De\\ud800mo"', 2, 8, "unpaired surrogates"),
        ("title: Demo", "title: De\x00mo", 2, 10, "U+0000"),
        ("max: 6000", "max: 150000", 6, 43, "less than or equal to 100000"),
    ],
)
def test_it_locates_values_it_cannot_trust(
    old: str, new: str, line: int, column: int, says: str
) -> None:
    assert old in BASE
    issues = _issues(BASE.replace(old, new, 1))
    found = [(i.line, i.column, i.message) for i in issues]
    assert any((i.line, i.column) == (line, column) and says in i.message for i in issues), found
    assert all(not i.message.startswith(":") for i in issues)


def test_it_refuses_a_key_holding_a_nul() -> None:
    document, issues = load_document('ruleset: demo\n"ti\\0tle": Demo\n')
    assert document is not None
    assert [(i.line, i.column) for i in issues] == [(2, 1)]
    assert "NUL" in issues[0].message


def test_it_accepts_numbers_up_to_the_bound() -> None:
    document, issues = load_document(f"a: {MAX_NUMBER}\nb: -{MAX_NUMBER}\nc: 0.5\n")
    assert issues == []
    assert document is not None
    assert document.data == {"a": MAX_NUMBER, "b": -MAX_NUMBER, "c": 0.5}


def test_it_bounds_cooldowns_and_ids() -> None:
    long_id = "r" * 65
    text = BASE.replace("id: flare", f"id: {long_id}").replace(
        '      - set_target: "plan.target * 0.8"\n',
        '      - set_target: "plan.target * 0.8"\n    cooldown: 366d\n',
    )
    messages = [i.message for i in _issues(text)]
    assert "a cooldown lasts at most 365 days" in messages
    assert any("Longer than maximum length 64" in m for m in messages)
