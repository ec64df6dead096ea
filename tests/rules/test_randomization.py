"""Micro-randomised rules: the seeded draw, its records and the bounds of P (SPEC §11.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules import EvaluationState, RuleSetError, load_ruleset
from rules.randomization import FIRED, INELIGIBLE, RANDOMISED_OUT, draw
from tests.rules.conftest import yaml_text

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)

NUDGE = """
  - id: nudge
    when: steps.today < 1000
    randomize: {probability: 0.5}
    then:
      - send_tip: walk
"""


def _ruleset(extra: str = NUDGE):
    return load_ruleset(yaml_text(extra))


def test_it_draws_the_same_number_for_the_same_decision() -> None:
    assert draw("7", NOW, "nudge") == draw("7", NOW, "nudge")
    assert draw("7", NOW, "nudge") != draw("8", NOW, "nudge")
    assert draw("7", NOW, "nudge") != draw("7", NOW + timedelta(minutes=1), "nudge")
    assert 0.0 <= draw("7", NOW, "other") < 1.0


def test_it_fires_about_p_of_the_time_and_records_every_eligible_decision() -> None:
    ruleset = _ruleset()
    outcomes = []
    for patient in range(400):
        state = EvaluationState(seed=str(patient))
        decision = ruleset.evaluate({"steps.today": 10}, "schedule", state, NOW)
        (record,) = decision.randomized
        assert record.probability == 0.5
        assert record.tip_id == "walk"
        assert record.variant == 0
        assert (record.outcome == FIRED) == ("nudge" in decision.fired)
        assert (record.outcome == FIRED) == (record.draw is not None and record.draw < 0.5)
        if record.outcome == RANDOMISED_OUT:
            assert decision.suppressed["nudge"].startswith("randomised out")
            assert decision.tips == []
        outcomes.append(record.outcome)
    share = outcomes.count(FIRED) / len(outcomes)
    assert 0.43 < share < 0.57


def test_it_replays_the_same_draw() -> None:
    ruleset = _ruleset()
    first = ruleset.evaluate({"steps.today": 10}, "schedule", EvaluationState(seed="42"), NOW)
    again = ruleset.evaluate({"steps.today": 10}, "schedule", EvaluationState(seed="42"), NOW)
    assert first.randomized == again.randomized
    assert first.fired == again.fired


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (EvaluationState(seed="1", unavailable="quiet hours"), "unavailable: quiet hours"),
        (EvaluationState(seed="1", tips_sent_today=2), "budget"),
        (EvaluationState(seed="1", last_fired={"nudge": NOW}), "cooldown"),
    ],
)
def test_it_records_an_unavailable_patient_as_ineligible(
    state: EvaluationState, reason: str
) -> None:
    ruleset = _ruleset(NUDGE + "    cooldown: 1d\n")
    decision = ruleset.evaluate({"steps.today": 10}, "schedule", state, NOW)
    (record,) = decision.randomized
    assert record.outcome == INELIGIBLE
    assert record.draw is None
    assert reason in record.reason
    assert "nudge" not in decision.fired


def test_it_records_a_safety_episode_as_ineligible() -> None:
    ruleset = _ruleset()
    facts = {"steps.today": 10, "safety.episode_open": True, "safety.episode_tier": "urgent"}
    decision = ruleset.evaluate(facts, "schedule", EvaluationState(seed="1"), NOW)
    (record,) = decision.randomized
    assert record.outcome == INELIGIBLE
    assert "nudge" not in decision.fired


def test_it_makes_no_record_when_the_condition_is_false() -> None:
    decision = _ruleset().evaluate(
        {"steps.today": 5000}, "schedule", EvaluationState(seed="1"), NOW
    )
    assert decision.randomized == []


def test_it_fires_without_a_draw_when_there_is_no_patient() -> None:
    decision = _ruleset().evaluate({"steps.today": 10}, "schedule", None, NOW)
    assert decision.fired == ["nudge"]
    assert decision.randomized[0].draw is None


def test_a_randomised_out_rule_keeps_its_budget_slot() -> None:
    extra = NUDGE.replace("0.5", "0.000001") + (
        "  - id: other\n    priority: -1\n    when: pain.latest is not null\n"
        "    then:\n      - send_tip: rest\n"
    )
    state = EvaluationState(seed="1", tips_sent_today=1)
    facts = {"steps.today": 10, "pain.latest": 3}
    decision = _ruleset(extra).evaluate(facts, "schedule", state, NOW)
    assert decision.randomized[0].outcome == RANDOMISED_OUT
    assert "other" not in decision.fired
    assert decision.suppressed["other"].startswith("budget")


@pytest.mark.parametrize("probability", ["0", "-0.1", "1.5", "true", "'half'"])
def test_it_refuses_a_probability_out_of_bounds(probability: str) -> None:
    with pytest.raises(RuleSetError) as caught:
        _ruleset(NUDGE.replace("0.5", probability))
    assert any("probability" in issue.path for issue in caught.value.errors)


def test_it_allows_probability_one() -> None:
    assert _ruleset(NUDGE.replace("0.5", "1")).rule("nudge").randomize == 1.0


@pytest.mark.parametrize(
    ("action", "words"),
    [("set_target: 3000", "send_tip"), ("send_tip: care", "safety tip")],
)
def test_it_refuses_to_randomise_targets_and_safety_tips(action: str, words: str) -> None:
    with pytest.raises(RuleSetError) as caught:
        _ruleset(NUDGE.replace("send_tip: walk", action))
    (issue,) = [i for i in caught.value.errors if "randomize" in i.path]
    assert words in issue.message
    assert issue.line > 1


def test_a_simulation_draws_as_live_evaluation_would() -> None:
    from datetime import date, time  # noqa: PLC0415 - only this test

    from rules import History, simulate  # noqa: PLC0415

    ruleset = _ruleset(NUDGE.replace("steps.today < 1000", "steps.today is null"))
    history = History(timezone="UTC", enrolled_at=NOW - timedelta(days=30), seed="42")
    days = simulate(ruleset, history, date(2026, 3, 2), date(2026, 3, 15))
    fired = 0
    for day in days:
        moments = [datetime.combine(day.day, time(h, m), UTC) for h, m in ((8, 30), (15, 0))]
        assert [d.now for d in day.decisions] == moments
        for decision in day.decisions:
            (record,) = decision.randomized
            assert record.draw == draw("42", decision.now, "nudge")
            assert ("nudge" in decision.fired) == (record.draw < 0.5)
            fired += "nudge" in decision.fired
    assert 0 < fired < 2 * len(days)


@pytest.mark.parametrize("own", [True, False], ids=["patient's own", "rule set's"])
def test_a_simulation_records_decisions_in_quiet_hours_ineligible(own: bool) -> None:
    from datetime import date, time  # noqa: PLC0415 - only this test

    from rules import History, simulate  # noqa: PLC0415

    quiet = (time(21, 0), time(9, 0))  # crosses midnight; covers the 08:30 decision time
    text = yaml_text(NUDGE.replace("steps.today < 1000", "steps.today is null"))
    if not own:
        text = text.replace(
            "  max_tips_per_day: 2\n",
            '  max_tips_per_day: 2\n  quiet_hours: {start: "21:00", end: "09:00"}\n',
        )
    ruleset = load_ruleset(text)
    zone = "Europe/London"
    history = History(
        timezone=zone,
        enrolled_at=NOW - timedelta(days=30),
        seed="42",
        quiet_hours=quiet if own else None,
    )
    days = simulate(ruleset, history, date(2026, 3, 23), date(2026, 4, 2))  # BST from 29 March
    morning = afternoon = 0
    for day in days:
        first, second = day.decisions
        (early,) = first.randomized
        assert first.now.astimezone(history.zone).time() == time(8, 30)
        assert early.outcome == INELIGIBLE
        assert early.draw is None
        assert early.reason == "ineligible: unavailable: quiet hours"
        assert "nudge" not in first.fired
        morning += 1
        (later,) = second.randomized
        assert later.outcome in (FIRED, RANDOMISED_OUT)
        assert later.draw == draw("42", second.now, "nudge")
        afternoon += 1
    assert morning == afternoon == len(days) == 11
