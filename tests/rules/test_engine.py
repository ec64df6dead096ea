"""Evaluation semantics: priority, stop, cooldown, budget, targets, rotation, traces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import rules
from rules import EvaluationState
from tests.rules.conftest import BASE

NOW = datetime(2026, 2, 2, 8, 30, tzinfo=UTC)

RULES = (
    BASE
    + """\
  - id: low-first
    priority: 10
    when: pain.latest >= 1
    then: [{send_tip: walk}, {set_target: "plan.target * 2"}]
  - id: urgent
    priority: 100
    on: [pain_report]
    when: pain.red_flag and pain.latest is not null
    then:
      - send_tip: care
      - alert_clinician: {severity: urgent, message: "Flags: {pain.red_flags}, pain {pain.latest}"}
      - hold_progression: 14
    stop: true
  - id: tie-a
    priority: 50
    when: pain.latest >= 5
    then: [{send_tip: walk}]
    cooldown: 2h
  - id: tie-b
    priority: 50
    when: pain.latest >= 5
    then: [{hold_progression: 3}]
"""
)


def ruleset() -> rules.RuleSet:
    return rules.load_ruleset(RULES)


def test_it_runs_rules_by_priority_with_ties_in_file_order() -> None:
    decision = ruleset().evaluate({"pain.latest": 8, "plan.target": 5000}, now=NOW)
    assert decision.fired == ["flare", "tie-a", "tie-b", "low-first"]
    assert decision.suppressed == {"urgent": "trigger: runs on pain_report"}


def test_it_keeps_only_the_highest_set_target_and_records_the_other() -> None:
    decision = ruleset().evaluate({"pain.latest": 8, "plan.target": 5000}, now=NOW)
    assert decision.target == 4000
    assert decision.target_rule == "flare"
    assert {
        "rule_id": "low-first",
        "action": "set_target",
        "reason": "flare already set the target",
    } in decision.suppressed_actions


def test_it_stops_lower_rules_and_exempts_urgent_tips_from_the_budget() -> None:
    facts = {"pain.latest": 8, "pain.red_flag": True, "pain.red_flags": frozenset({"fever"})}
    state = EvaluationState(tips_sent_today=5)
    decision = ruleset().evaluate(facts, "pain_report", state, NOW)
    assert decision.fired == ["urgent"]
    assert decision.suppressed["flare"] == "stopped by urgent"
    assert [(t.tip_id, t.urgent) for t in decision.tips] == [("care", True)]
    assert decision.alerts[0].as_dict() == {
        "rule_id": "urgent",
        "severity": "urgent",
        "message": "Flags: a fever, pain 8",
    }
    assert decision.hold_days == 14


def test_it_suppresses_tip_only_rules_over_budget_but_keeps_other_actions() -> None:
    # The budget is spent; flare's tip still goes out because flare lowers the target.
    state = EvaluationState(tips_sent_today=2, max_tips_per_day=2)
    decision = ruleset().evaluate({"pain.latest": 8, "plan.target": 5000}, state=state, now=NOW)
    assert [t.tip_id for t in decision.tips] == ["rest"]
    assert decision.suppressed["tie-a"] == "budget: max_tips_per_day (2) reached"
    assert "flare" in decision.fired
    assert "low-first" in decision.fired  # its set_target was still considered
    dropped = [a for a in decision.suppressed_actions if a["rule_id"] == "low-first"]
    assert {
        "rule_id": "low-first",
        "action": "send_tip walk",
        "reason": "budget: max_tips_per_day reached",
    } in dropped


def test_it_honours_cooldowns_in_minutes_hours_and_days() -> None:
    state = EvaluationState(last_fired={"tie-a": NOW - timedelta(minutes=90)})
    decision = ruleset().evaluate({"pain.latest": 6}, state=state, now=NOW)
    assert (
        decision.suppressed["tie-a"]
        == f"cooldown until {(NOW + timedelta(minutes=30)).isoformat()}"
    )
    state = EvaluationState(last_fired={"tie-a": NOW - timedelta(hours=2)})
    assert "tie-a" in ruleset().evaluate({"pain.latest": 6}, state=state, now=NOW).fired


def test_it_rotates_variants_without_repeating_the_last_one() -> None:
    seen = []
    last = None
    for _ in range(4):
        state = EvaluationState(last_variant={} if last is None else {"walk": last})
        decision = ruleset().evaluate({"pain.latest": 6}, state=state, now=NOW)
        tip = next(t for t in decision.tips if t.tip_id == "walk")
        assert tip.variant != last
        last = tip.variant
        seen.append(tip.title)
    assert seen == ["Walk", "Walk 2", "Walk 3", "Walk"]


def test_it_clamps_targets_to_settings_and_the_weekly_cap() -> None:
    ruleset_ = ruleset()
    facts = {"pain.latest": 2, "plan.target": 3000}
    capped = ruleset_.evaluate(facts, state=EvaluationState(target_7d_ago=3000), now=NOW)
    assert capped.target_requested == 6000
    assert capped.target == 3300
    assert capped.target_notes == ["capped 6000 -> 3300 (max_weekly_increase)"]
    unknown_base = ruleset_.evaluate(facts, now=NOW)
    assert unknown_base.target == 3300  # falls back to the current target as the base
    high = ruleset_.evaluate(
        {"pain.latest": 2, "plan.target": 5800}, state=EvaluationState(target_7d_ago=5800), now=NOW
    )
    assert high.target == 6000
    assert high.target_notes[-1] == "clamped 6380 -> 6000 (settings.target min/max)"
    low = ruleset_.evaluate({"pain.latest": 9, "plan.target": 2100}, now=NOW)
    assert low.target == 2000


def test_it_refuses_increases_while_progression_is_held() -> None:
    decision = ruleset().evaluate(
        {"pain.latest": 2, "plan.target": 3000, "plan.progression_held": True}, now=NOW
    )
    assert decision.target is None
    assert decision.target_notes[1] == "increase to 3300 refused: progression is held"


def test_it_ignores_a_target_that_evaluates_to_null() -> None:
    decision = ruleset().evaluate({"pain.latest": 2}, now=NOW)
    assert decision.target is None
    assert {
        "rule_id": "low-first",
        "action": "set_target",
        "reason": "the expression gave null",
    } in (decision.suppressed_actions)


def test_it_explains_why_with_values() -> None:
    decision = ruleset().evaluate({"pain.latest": 8, "plan.target": 5000}, now=NOW)
    rest = decision.tips[0]
    assert (rest.title, rest.text) == ("Rest", "Pain 8/10")
    assert rest.why == "Your care plan suggested this."  # no reason, no description
    assert decision.traces["flare"].entries[0].values == "8 >= 7"
    text = decision.explain()
    assert "- flare: FIRED" in text
    assert "pain.latest >= 7  ->  8 >= 7  ->  true" in text
    assert "- urgent: not fired (trigger: runs on pain_report)" in text


def test_it_serialises_decisions_to_json() -> None:
    facts = {
        "pain.latest": 8,
        "pain.red_flag": True,
        "pain.red_flags": frozenset({"fever", "trauma"}),
    }
    data = ruleset().evaluate(facts, "pain_report", now=NOW).to_dict()
    again = json.loads(json.dumps(data))
    assert again["fired"] == ["urgent"]
    assert again["facts"]["pain.red_flags"] == ["fever", "trauma"]
    assert again["facts"]["trigger"] == "pain_report"
    assert again["traces"][0]["conditions"][0] == {
        "expr": "pain.red_flag",
        "values": "true",
        "result": True,
    }


def test_it_treats_missing_facts_as_null() -> None:
    decision = ruleset().evaluate({}, now=NOW)
    assert decision.fired == []
    assert set(decision.suppressed.values()) <= {"condition false", "trigger: runs on pain_report"}
