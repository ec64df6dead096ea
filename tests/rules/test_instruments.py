"""Questionnaires in the engine: the PEG, clinics' instrument YAML, `ask:` and the prom facts."""

from __future__ import annotations

import datetime as dt

import pytest

import rules
from rules.facts import CATALOGUE
from rules.facts_prom import PromScore, prom_facts
from rules.instruments import (
    BUILTIN,
    PEG,
    InstrumentError,
    answer_problems,
    load_instrument,
    score,
)
from rules.reference import History, compute_facts

NOW = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)

ASKING = """\
ruleset: asking
title: Asking
settings:
  decision_times: ["08:30"]
  max_tips_per_day: 1
  target: {initial: 4000, min: 2000, max: 6000}
tips:
  walk: {category: general, title: Walk, text: Go for a walk}
rules:
  - id: walk
    priority: 10
    when: steps.today < 1000
    then: [{send_tip: walk}]
  - id: peg-checkin
    description: Ask the PEG.
    reason: We check in every four weeks.
    when: patient.days_enrolled % 28 < 7
    then:
      - ask: peg
    cooldown: 21d
  - id: better
    when: prom.peg.change <= -1 and prom.peg.latest < 5
    then: [{hold_progression: 2}]
"""

SLEEP = """\
instrument: sleep-check
title: Sleep and your back
intro: Think about the last seven nights.
scoring: {method: sum, decimals: 0}
items:
  - id: nights
    text: How many nights did back pain wake you?
    scale: {low: 0, high: 7, low_label: none, high_label: every night}
  - id: settle
    text: How hard was it to settle again?
    scale: {low: 0, high: 3, low_label: easy, high_label: very hard}
"""


def test_the_peg_has_three_items_from_0_to_10_scored_as_their_mean() -> None:
    assert [item.id for item in PEG.items] == ["pain", "enjoyment", "activity"]
    assert all((item.low, item.high) == (0, 10) for item in PEG.items)
    assert all(item.low_label and item.high_label for item in PEG.items)
    assert score(PEG, {"pain": 7, "enjoyment": 5, "activity": 6}) == 6.0
    assert score(PEG, {"pain": 7, "enjoyment": 5, "activity": 5}) == 5.7
    assert score(PEG, {"pain": 0, "enjoyment": 0, "activity": 1}) == 0.3
    assert BUILTIN == {"peg": PEG}


def test_answers_are_checked_item_by_item() -> None:
    assert answer_problems(PEG, {"pain": 3, "enjoyment": 0, "activity": 10}) == {}
    problems = answer_problems(PEG, {"pain": 11, "enjoyment": True, "sleep": 2})
    assert problems == {
        "pain": "must be from 0 to 10",
        "enjoyment": "must be a whole number from 0 to 10",
        "activity": "is not answered",
        "sleep": "not an item of peg (items: pain, enjoyment, activity)",
    }
    assert answer_problems(PEG, {"pain": 2.5, "enjoyment": 1, "activity": 1}) == {
        "pain": "must be a whole number from 0 to 10"
    }


def test_a_clinic_instrument_loads_from_yaml() -> None:
    sleep = load_instrument(SLEEP)
    assert sleep.id == "sleep-check"
    assert [(i.id, i.low, i.high) for i in sleep.items] == [("nights", 0, 7), ("settle", 0, 3)]
    assert (sleep.score_low, sleep.score_high) == (0.0, 10.0)
    assert score(sleep, {"nights": 3, "settle": 2}) == 5.0
    assert sleep.source_text == SLEEP


def test_instrument_errors_name_line_column_and_path() -> None:
    text = SLEEP.replace("method: sum", "method: median").replace("high: 3,", "high: 0,")
    text = text.replace("    text: How hard", "    colour: red\n    text: How hard")
    with pytest.raises(InstrumentError) as caught:
        load_instrument(text, source="sleep.yaml")
    found = [issue.as_dict() for issue in caught.value.errors]
    assert found == [
        {
            "line": 4,
            "column": 19,
            "path": "scoring.method",
            "message": "Must be one of: mean, sum",
        },
        {"line": 10, "column": 5, "path": "items[1].colour", "message": "unknown key 'colour'"},
        {
            "line": 12,
            "column": 27,
            "path": "items[1].scale.high",
            "message": "high must be greater than low",
        },
    ]
    assert str(caught.value).startswith("sleep.yaml:4:19: scoring.method")


def test_an_instrument_may_not_take_a_built_in_id_or_repeat_an_item() -> None:
    text = SLEEP.replace("instrument: sleep-check", "instrument: peg").replace(
        "id: settle", "id: nights"
    )
    with pytest.raises(InstrumentError) as caught:
        load_instrument(text)
    assert [(e.line, e.path, e.message) for e in caught.value.errors] == [
        (1, "instrument", "'peg' is built in: pick another id"),
        (9, "items[1].id", "duplicate item id 'nights'"),
    ]


def test_unsafe_or_broken_yaml_is_an_issue_not_an_exception() -> None:
    for text in ("a: &x 1\nb: *x\n", "- just\n- a list\n", "title: [unclosed\n"):
        with pytest.raises(InstrumentError) as caught:
            load_instrument(text)
        assert caught.value.errors


def test_ask_names_a_known_questionnaire() -> None:
    with pytest.raises(rules.RuleSetError) as caught:
        rules.load_ruleset(ASKING.replace("ask: peg", "ask: pge"), source="asking.yaml")
    (issue,) = caught.value.errors
    assert (issue.line, issue.column, issue.path) == (19, 14, "rules[1].then[0].ask")
    assert issue.message == "unknown questionnaire 'pge' (did you mean 'peg'?); known: peg"
    clinic = ASKING.replace("ask: peg", "ask: sleep-check")
    with pytest.raises(rules.RuleSetError):
        rules.load_ruleset(clinic)
    loaded = rules.load_ruleset(clinic, instruments={"peg", "sleep-check"})
    assert loaded.rule("peg-checkin").asks == ("sleep-check",)


def test_a_firing_ask_is_in_the_decision_with_a_kind_inbox_note() -> None:
    ruleset = rules.load_ruleset(ASKING)
    decision = ruleset.evaluate({"patient.days_enrolled": 0, "steps.today": 10}, now=NOW)
    assert decision.fired == ["walk", "peg-checkin"]
    assert [ask.as_dict() for ask in decision.asks] == [
        {"rule_id": "peg-checkin", "instrument": "peg"}
    ]
    walk, note = decision.tips  # the budget of 1 went to the walk: the ask spends none
    assert walk.tip_id == "walk"
    assert (note.tip_id, note.category, note.asks) == ("ask-peg", "checkin", "questionnaire")
    assert note.title == "A short check-in is waiting"
    assert "no right or wrong answers" in note.text
    assert note.why == "We check in every four weeks."
    assert decision.to_dict()["asks"] == [{"rule_id": "peg-checkin", "instrument": "peg"}]
    assert "questionnaire peg asked by peg-checkin" in decision.explain()


def test_an_ask_cools_down_and_waits_out_a_safety_episode() -> None:
    ruleset = rules.load_ruleset(ASKING)
    state = rules.EvaluationState(last_fired={"peg-checkin": NOW - dt.timedelta(days=3)})
    cooling = ruleset.evaluate({"patient.days_enrolled": 3}, state=state, now=NOW)
    assert cooling.asks == []
    assert "peg-checkin" not in cooling.fired
    facts = {"patient.days_enrolled": 0, "safety.episode_open": True}
    held = ruleset.evaluate({**facts, "safety.episode_tier": "urgent"}, now=NOW)
    assert held.asks == []
    assert held.tips == []
    assert held.suppressed["peg-checkin"].startswith("safety episode")


def test_rules_read_the_peg_score() -> None:
    ruleset = rules.load_ruleset(ASKING)
    better = ruleset.evaluate({"prom.peg.change": -2.3, "prom.peg.latest": 4.0}, now=NOW)
    assert "better" in better.fired
    unknown = ruleset.evaluate({}, now=NOW)  # no answers yet: both facts null
    assert "better" not in unknown.fired


def test_the_catalogue_defines_the_peg_facts() -> None:
    latest, change = CATALOGUE["prom.peg.latest"], CATALOGUE["prom.peg.change"]
    assert (latest.type, latest.low, latest.high, latest.grid) == ("number", 0.0, 10.0, 0.1)
    assert (change.low, change.high) == (-10.0, 10.0)
    assert "first" in change.definition
    assert latest.nullable
    assert change.nullable


def test_reference_prom_facts_use_the_latest_and_the_first_score() -> None:
    at = [NOW - dt.timedelta(days=days) for days in (56, 28, 1)]
    scores = [PromScore("peg", at[1], 5.3), PromScore("peg", at[0], 7.0)]
    scores += [PromScore("other", at[2], 1.0)]
    assert prom_facts([], NOW) == {"prom.peg.latest": None, "prom.peg.change": None}
    assert prom_facts(scores[:1], NOW) == {"prom.peg.latest": 5.3, "prom.peg.change": None}
    assert prom_facts(scores, NOW) == {"prom.peg.latest": 5.3, "prom.peg.change": -1.7}
    future = [*scores, PromScore("peg", NOW + dt.timedelta(hours=1), 1.0)]
    assert prom_facts(future, NOW)["prom.peg.latest"] == 5.3
    tied = [*scores, PromScore("peg", at[1], 4.0)]  # same moment: the one stored last wins
    assert prom_facts(tied, NOW)["prom.peg.latest"] == 4.0
    history = History(timezone="UTC", enrolled_at=NOW - dt.timedelta(days=60), prom=scores)
    facts = compute_facts(history, NOW)
    assert (facts["prom.peg.latest"], facts["prom.peg.change"]) == (5.3, -1.7)


def test_two_rules_asking_the_same_questionnaire_ask_it_once() -> None:
    twice = ASKING.replace(
        "  - id: better\n",
        "  - id: again\n    when: patient.days_enrolled >= 0\n    then: [{ask: peg}]\n"
        "  - id: better\n",
    )
    decision = rules.load_ruleset(twice).evaluate({"patient.days_enrolled": 1}, now=NOW)
    assert decision.fired == ["peg-checkin", "again"]
    assert [ask.rule_id for ask in decision.asks] == ["peg-checkin"]
    assert [tip.tip_id for tip in decision.tips] == ["ask-peg"]
    assert decision.suppressed_actions == [
        {"rule_id": "again", "action": "ask peg", "reason": "asked already in this evaluation"}
    ]
