"""`RuleSet.evaluate(..., trace=False)`: the same decision, traces only for fired rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rules import EvaluationState
from tests.rules.test_engine import ruleset

NOW = datetime(2026, 2, 2, 8, 30, tzinfo=UTC)
FACTS: dict[str, object] = {"pain.latest": 8, "plan.target": 5000}


def test_it_decides_the_same_without_traces() -> None:
    state = EvaluationState(last_fired={"tie-a": NOW - timedelta(hours=1)}, tips_sent_today=1)
    full = ruleset().evaluate(FACTS, "schedule", state, NOW)
    quick = ruleset().evaluate(FACTS, "schedule", state, NOW, trace=False)
    assert quick.fired == full.fired
    assert quick.suppressed == full.suppressed
    assert quick.suppressed_actions == full.suppressed_actions
    assert quick.tips == full.tips  # including each tip's `why`
    assert (quick.target, quick.target_notes, quick.hold_days) == (
        full.target,
        full.target_notes,
        full.hold_days,
    )
    assert quick.alerts == full.alerts


def test_it_traces_only_fired_rules_and_keeps_every_reason() -> None:
    decision = ruleset().evaluate(FACTS, "schedule", now=NOW, trace=False)
    assert not decision.traced
    fired = {rule_id for rule_id, t in decision.traces.items() if t.fired}
    assert fired == set(decision.fired)
    assert all(decision.traces[rule_id].entries for rule_id in fired)
    assert all(not decision.traces[rule_id].entries for rule_id in decision.suppressed)
    assert all(decision.traces[r].reason == why for r, why in decision.suppressed.items())
    assert "traces" not in decision.to_dict()
    assert ruleset().evaluate(FACTS, "schedule", now=NOW).to_dict()["traces"]
