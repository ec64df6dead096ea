"""SPEC §11.2 evaluation semantics: stop while cooling, budget exemptions, reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import rules
from rules import EvaluationState

NOW = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
DEFAULT = rules.load_ruleset(rules.default_ruleset_text())

RULES = """\
ruleset: semantics
title: Semantics
settings:
  decision_times: ["08:30", "15:00"]
  max_tips_per_day: 1
  target: {initial: 4000, min: 2000, max: 8000, max_weekly_increase: 0.10}
tips:
  stop-tip: {category: general, title: Stop, text: Stop now}
  lower-tip: {category: pain, title: Lower, text: "Goal now {plan.target * 0.8}"}
  raise-tip: {category: progression, title: Raise, text: Up}
  chat-tip: {category: general, title: Chat, text: Hello}
  form-tip: {category: form, title: Form, text: Walk tall}
rules:
  - id: stopper
    priority: 100
    when: pain.latest >= 9
    reason: "You rated your back {pain.latest} out of 10."
    then: [{send_tip: stop-tip}]
    cooldown: 1d
    stop: true
  - id: lower
    priority: 80
    when: pain.latest >= 6 and plan.target is not null
    then: [{send_tip: lower-tip}, {set_target: "plan.target * 0.8"}]
  - id: raise
    priority: 70
    when: pain.latest <= 2 and plan.target is not null
    then: [{send_tip: raise-tip}, {set_target: "plan.target * 1.05"}]
  - id: chat
    priority: 50
    description: A friendly hello.
    when: pain.latest >= 0
    then: [{send_tip: chat-tip}]
  - id: form
    priority: 40
    when: pain.latest >= 0
    then: [{send_tip: form-tip}]
"""


def semantics() -> rules.RuleSet:
    return rules.load_ruleset(RULES)


def test_it_silences_lower_rules_while_a_stop_rule_cools_down() -> None:
    state = EvaluationState(last_fired={"stopper": NOW - timedelta(hours=3)})
    decision = semantics().evaluate({"pain.latest": 9, "plan.target": 5000}, "schedule", state, NOW)
    assert decision.fired == []
    assert decision.suppressed["stopper"].startswith("cooldown until")
    for rule_id in ("lower", "raise", "chat", "form"):
        assert decision.suppressed[rule_id] in (
            "stopped by stopper (cooling down)",
            "condition false",
        )
    assert decision.suppressed["chat"] == "stopped by stopper (cooling down)"
    assert decision.tips == []


def test_it_silences_lower_rules_while_a_stop_rule_is_over_budget() -> None:
    state = EvaluationState(tips_sent_today=1)
    decision = semantics().evaluate({"pain.latest": 9}, "schedule", state, NOW)
    assert decision.suppressed["stopper"] == "budget: max_tips_per_day (1) reached"
    assert decision.suppressed["chat"] == "stopped by stopper (over budget)"


def test_it_does_not_stop_anything_when_the_stop_rule_condition_is_false() -> None:
    decision = semantics().evaluate({"pain.latest": 3}, "schedule", None, NOW)
    assert decision.suppressed["stopper"] == "condition false"
    assert decision.fired == ["chat"]
    assert decision.suppressed["form"] == "budget: max_tips_per_day (1) reached"


def test_it_never_drops_tips_answering_a_pain_report_for_the_budget() -> None:
    state = EvaluationState(tips_sent_today=5)
    decision = semantics().evaluate({"pain.latest": 4}, "pain_report", state, NOW)
    assert decision.fired == ["chat", "form"]
    assert [tip.tip_id for tip in decision.tips] == ["chat-tip", "form-tip"]


def test_it_never_drops_the_tip_of_a_rule_that_lowers_the_target() -> None:
    state = EvaluationState(tips_sent_today=1)
    lowered = semantics().evaluate({"pain.latest": 7, "plan.target": 5000}, "schedule", state, NOW)
    assert lowered.target == 4000
    assert [tip.tip_id for tip in lowered.tips] == ["lower-tip"]
    assert lowered.tips[0].text == "Goal now 4,000"
    assert lowered.suppressed["chat"] == "budget: max_tips_per_day (1) reached"


def test_it_still_budgets_the_tip_of_a_rule_that_raises_the_target() -> None:
    state = EvaluationState(tips_sent_today=1)
    raised = semantics().evaluate({"pain.latest": 1, "plan.target": 5000}, "schedule", state, NOW)
    assert raised.target == 5250
    assert raised.tips == []
    assert {
        "rule_id": "raise",
        "action": "send_tip raise-tip",
        "reason": "budget: max_tips_per_day reached",
    } in raised.suppressed_actions


def test_it_does_not_exempt_a_lowering_request_the_floor_turns_into_no_change() -> None:
    state = EvaluationState(tips_sent_today=1)
    floor = semantics().evaluate({"pain.latest": 7, "plan.target": 2000}, "schedule", state, NOW)
    assert floor.target is None  # clamped back to the 2,000 minimum: nothing was lowered
    assert floor.tips == []


def test_it_gives_the_rendered_reason_as_the_patient_why() -> None:
    stop = semantics().evaluate({"pain.latest": 9}, "schedule", None, NOW)
    assert stop.tips[0].why == "You rated your back 9 out of 10."
    chat = semantics().evaluate({"pain.latest": 3}, "schedule", None, NOW)
    assert chat.tips[0].why == "A friendly hello."


def test_it_renders_texts_when_first_read_if_asked_to_wait() -> None:
    facts = {"pain.latest": 7, "plan.target": 5000}
    now = semantics().evaluate(facts, "pain_report", None, NOW)
    later = semantics().evaluate(facts, "pain_report", None, NOW, texts=False)
    assert later.tips == now.tips
    assert [tip.as_dict() for tip in later.tips] == [tip.as_dict() for tip in now.tips]


def test_it_keeps_the_default_set_quiet_while_a_safety_episode_is_open() -> None:
    facts = {
        "pain.red_flag": True,
        "pain.red_flags": frozenset({"numbness_saddle"}),
        "pain.red_flag_tier": "emergency",
        "safety.episode_open": True,
        "safety.episode_tier": "emergency",
        "pain.latest": 8,
        "pain.hours_since": 4,
        "plan.target": 5000,
        "time.hour": 15,
        "steps.today": 100,
    }
    state = EvaluationState(episode_since=NOW - timedelta(hours=4))
    decision = DEFAULT.evaluate(facts, "schedule", state, NOW)
    assert decision.fired == []
    assert (
        decision.suppressed["pain-flare"] == "safety episode open since 2026-02-02T11:00:00+00:00"
    )
    assert decision.tips == []
    assert decision.target is None


def test_it_gives_every_default_rule_a_reason_in_plain_words() -> None:
    assert rules.warnings(DEFAULT) == []
    assert all(rule.has_reason for rule in DEFAULT.rules)
    facts = {"pain.latest": 8, "pain.hours_since": 2, "plan.target": 5000}
    decision = DEFAULT.evaluate(facts, "pain_report", None, NOW)
    [tip] = decision.tips
    assert tip.why == "You rated your back 8 out of 10, so we are easing off for a few days."
