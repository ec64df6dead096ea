"""Safety episodes in the engine and the simulator (SPEC §11.1), on a small rule set."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

import rules
from rules import EvaluationState
from rules.codes import RED_FLAG_TIERS, highest_tier, tier_rank
from rules.reference import History, PainReport, Resolution

NOW = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
SINCE = datetime(2026, 2, 1, 11, 0, tzinfo=UTC)

RULES = """\
ruleset: safety
title: Safety
settings:
  decision_times: ["08:30", "15:00"]
  max_tips_per_day: 1
  target: {initial: 4000, min: 2000, max: 8000, max_weekly_increase: 0.5}
tips:
  care: {category: safety, title: Care, text: Get checked}
  calm: {category: safety, title: Calm, text: Plan on hold}
  walk: {category: form, title: Walk, text: Walk tall}
  rest: {category: pain, title: Rest, text: Rest}
rules:
  - id: flag
    priority: 100
    when: pain.red_flag_tier == 'emergency' or pain.red_flag_tier == 'urgent'
    then:
      - send_tip: care
      - alert_clinician: {severity: urgent, message: Flags}
  - id: mixed
    priority: 90
    when: pain.latest >= 5
    then: [{send_tip: calm}, {send_tip: rest}]
  - id: raise
    priority: 80
    when: plan.target >= 1
    then: [{set_target: "plan.target * 1.2"}]
  - id: nudge
    priority: 70
    when: pain.latest >= 0
    then: [{send_tip: walk}]
  - id: reminder
    priority: 60
    when: safety.episode_open
    then: [{send_tip: calm}]
"""


def ruleset() -> rules.RuleSet:
    return rules.load_ruleset(RULES)


def test_it_ranks_the_tiers_of_every_red_flag() -> None:
    assert highest_tier({"night_pain", "fever"}) == "urgent"
    assert highest_tier({"night_pain", "leg_weakness"}) == "emergency"
    assert highest_tier({"night_pain"}) == "soon"
    assert highest_tier(()) is None
    assert tier_rank("emergency") > tier_rank("urgent") > tier_rank("soon") > tier_rank(None)
    assert set(RED_FLAG_TIERS) == set(rules.CATALOGUE["pain.red_flags"].codes or {})


def test_it_opens_an_episode_and_holds_the_same_evaluation() -> None:
    facts = {
        "pain.red_flags": frozenset({"fever"}),
        "pain.red_flag_tier": "urgent",
        "pain.latest_red_flag_tier": "urgent",
        "pain.latest": 6,
        "plan.target": 5000,
    }
    decision = ruleset().evaluate(facts, "pain_report", None, NOW)
    assert decision.episode is not None
    assert decision.episode.as_dict() == {"action": "open", "tier": "urgent", "flags": ["fever"]}
    assert decision.fired == ["flag", "mixed", "raise"]
    assert [tip.tip_id for tip in decision.tips] == ["care", "calm"]
    since = f"safety episode open since {NOW.isoformat()}"
    assert {"rule_id": "mixed", "action": "send_tip rest", "reason": since} in (
        decision.suppressed_actions
    )
    assert decision.suppressed["nudge"] == since
    assert decision.target is None
    assert f"increase to 6000 refused: {since}" in decision.target_notes
    assert [alert.severity for alert in decision.alerts] == ["urgent"]
    assert decision.to_dict()["episode"] == decision.episode.as_dict()
    assert "safety episode: open (urgent)" in decision.explain()


def test_it_sends_only_safety_tips_while_an_episode_is_open() -> None:
    facts = {"safety.episode_open": True, "safety.episode_tier": "emergency", "pain.latest": 2}
    state = EvaluationState(episode_since=SINCE)
    decision = ruleset().evaluate(facts, "schedule", state, NOW)
    assert decision.episode is None
    assert decision.fired == ["reminder"]
    assert decision.suppressed["nudge"] == f"safety episode open since {SINCE.isoformat()}"
    assert [tip.category for tip in decision.tips] == ["safety"]


def test_it_lets_a_target_fall_but_never_rise_during_an_episode() -> None:
    lower = rules.load_ruleset(RULES.replace('"plan.target * 1.2"', '"plan.target * 0.8"'))
    facts = {"safety.episode_open": True, "plan.target": 5000}
    assert lower.evaluate(facts, "schedule", None, NOW).target == 4000
    raised = ruleset().evaluate(facts, "schedule", None, NOW)
    assert raised.target is None
    assert "increase to 6000 refused: safety episode open" in raised.target_notes


def test_it_attaches_a_repeated_flag_and_escalates_a_more_severe_one() -> None:
    facts = {
        "safety.episode_open": True,
        "safety.episode_tier": "urgent",
        "pain.red_flags": frozenset({"fever"}),
        "pain.red_flag_tier": "urgent",
        "pain.latest_red_flag_tier": "urgent",
    }
    state = EvaluationState(episode_since=SINCE)
    repeat = ruleset().evaluate(facts, "pain_report", state, NOW)
    assert repeat.episode is not None
    assert (repeat.episode.action, repeat.episode.tier) == ("attach", "urgent")
    assert [tip.tip_id for tip in repeat.tips] == ["care", "calm"]
    assert repeat.alerts == []
    assert {
        "rule_id": "flag",
        "action": "alert_clinician urgent",
        "reason": f"attached to the safety episode open since {SINCE.isoformat()}",
    } in repeat.suppressed_actions
    worse = {
        **facts,
        "pain.red_flags": frozenset({"fever", "leg_weakness"}),
        "pain.red_flag_tier": "emergency",
        "pain.latest_red_flag_tier": "emergency",
    }
    escalated = ruleset().evaluate(worse, "pain_report", state, NOW)
    assert escalated.episode is not None
    assert (escalated.episode.action, escalated.episode.tier) == ("escalate", "emergency")
    assert [alert.severity for alert in escalated.alerts] == ["urgent"]


def test_it_neither_opens_nor_attaches_for_night_pain_or_an_old_flag() -> None:
    soon = {
        "pain.red_flags": frozenset({"night_pain"}),
        "pain.red_flag_tier": "soon",
        "pain.latest": 3,
    }
    decision = ruleset().evaluate(soon, "pain_report", None, NOW)
    assert decision.episode is None
    assert decision.fired == ["nudge"]
    old = {
        "safety.episode_open": True,
        "safety.episode_tier": "urgent",
        "pain.red_flag_tier": "urgent",
        "pain.latest_red_flag_tier": None,
    }
    assert ruleset().evaluate(old, "pain_report", None, NOW).episode is None


def test_it_never_drops_safety_tips_for_the_budget() -> None:
    state = EvaluationState(tips_sent_today=5)
    decision = ruleset().evaluate({"safety.episode_open": True}, "schedule", state, NOW)
    assert decision.fired == ["reminder"]
    assert [tip.tip_id for tip in decision.tips] == ["calm"]
    budget = ruleset().evaluate({"pain.latest": 1}, "schedule", state, NOW)
    assert budget.suppressed["nudge"] == "budget: max_tips_per_day (1) reached"


def test_it_says_a_stop_rule_was_held_back_by_the_episode() -> None:
    text = RULES.replace(
        "    then: [{send_tip: walk}]\n", "    then: [{send_tip: walk}]\n    stop: true\n"
    )
    decision = rules.load_ruleset(text).evaluate(
        {"safety.episode_open": True, "pain.latest": 1}, "schedule", None, NOW
    )
    assert decision.suppressed["nudge"] == "safety episode open"
    assert decision.suppressed["reminder"] == "stopped by nudge (safety episode)"


# --- the simulator: episodes from decisions, resolutions from the history ---------------------

DEFAULT = rules.load_ruleset(rules.default_ruleset_text())
START = date(2026, 6, 1)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 6, 1 + day, hour, 0, tzinfo=UTC)


def flagged_history(*resolutions: Resolution, flags: tuple[str, ...] = ("fever",)) -> History:
    history = History(timezone="UTC", enrolled_at=at(0, 7))
    history.pain = [PainReport(at(2, 11), 4, frozenset(flags))]
    return history


def test_it_lowers_the_target_on_resume_lower_and_reopens_on_a_new_flag() -> None:
    history = flagged_history()
    history.resolutions = [Resolution(at(4, 9), "resume_lower", 3000)]
    history.pain.append(PainReport(at(6, 11), 4, frozenset({"leg_weakness"})))
    days = rules.simulate(DEFAULT, history, START, START + timedelta(days=8))
    assert [d.safety for d in days if d.safety] == [
        ["11:00 episode opened (urgent)"],
        ["09:00 resume_lower: episode closed, target 3,000"],
        ["11:00 episode opened (emergency)"],
    ]
    assert days[4].target == 3000
    assert days[5].episode is None
    assert days[6].episode == "emergency"


def test_it_keeps_the_episode_open_on_keep_paused_and_ignores_a_resolution_without_one() -> None:
    history = flagged_history()
    history.resolutions = [
        Resolution(at(1, 9), "resume"),
        Resolution(at(3, 9), "keep_paused", note="Waiting for the blood tests."),
    ]
    days = rules.simulate(DEFAULT, history, START, START + timedelta(days=5))
    assert days[1].safety == ["09:00 resume: no safety episode was open (ignored)"]
    assert days[3].safety == ["09:00 keep_paused: the urgent episode stays open"]
    assert all(day.episode == "urgent" and day.held for day in days[2:])


def test_it_escalates_an_urgent_episode_on_an_emergency_flag() -> None:
    history = flagged_history()
    history.pain.append(PainReport(at(3, 10), 5, frozenset({"bladder_bowel_change"})))
    days = rules.simulate(DEFAULT, history, START, START + timedelta(days=4))
    assert days[3].safety == ["10:00 episode escalated (emergency)"]
    assert days[3].alerts == ["urgent"]
    assert days[4].episode == "emergency"
    assert sum(len(day.alerts) for day in days) == 2


@pytest.mark.parametrize("decision", ["resume", "resume_lower"])
def test_it_closes_the_episode_so_the_facts_clear(decision: str) -> None:
    history = flagged_history()
    target = 2500 if decision == "resume_lower" else None
    history.resolutions = [Resolution(at(3, 8), decision, target)]
    days = rules.simulate(DEFAULT, history, START, START + timedelta(days=4))
    facts = days[3].facts
    assert facts["safety.episode_open"] is False
    assert facts["safety.days_since_resolved"] == 0
    assert facts["pain.red_flags"] == frozenset()  # reported before the resolution
    assert days[4].facts["safety.days_since_resolved"] == 1
