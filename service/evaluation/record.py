"""What an evaluation stores, and how its full trace is re-derived when someone asks "why".

The pipeline evaluates with `trace=False` and stores, per evaluation: the patient's facts, the
rule-set version, the trigger and the moment (columns), and a compact decision: fired rules,
each suppressed rule with its reason, suppressed actions, the target settlement, the hold,
and the part of `EvaluationState` the outcome depended on (cooling rules, tip rotation,
budget, weekly-cap base). `RuleSet.evaluate` is deterministic in those inputs, so re-running
it with `trace=True` gives every sub-condition's value exactly as the original run saw them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import rules
from rules import Decision, EvaluationState
from rules.facts import fact_types
from rules.kinds import Kind

_SET_FACTS = frozenset(name for name, kind in fact_types().items() if kind == Kind.SET)


def decision_record(
    decision: Decision, state: EvaluationState, ruleset: rules.RuleSet
) -> dict[str, Any]:
    """The compact decision column: outcome, reasons and the state it depended on."""
    record: dict[str, Any] = {"fired": decision.fired, "suppressed": decision.suppressed}
    if decision.suppressed_actions:
        record["suppressed_actions"] = decision.suppressed_actions
    if decision.target_requested is not None:
        record["target"] = decision.target
        record["target_rule"] = decision.target_rule
        record["target_requested"] = decision.target_requested
        record["target_notes"] = decision.target_notes
    if decision.hold_days:
        record["hold_days"] = decision.hold_days
    if decision.episode is not None:
        record["episode"] = decision.episode.as_dict()
    if decision.randomized:
        record["randomized"] = [item.as_dict() for item in decision.randomized]
    snapshot = state_record(state, ruleset, decision.now)
    if snapshot:
        record["state"] = snapshot
    return record


def state_record(
    state: EvaluationState, ruleset: rules.RuleSet, now: dt.datetime
) -> dict[str, Any]:
    """The state entries that can change this rule set's outcome at `now` (others are left out).

    A last firing matters only while its rule is cooling down; rotation, the budget and the
    weekly-cap base always matter when present.
    """
    out: dict[str, Any] = {}
    cooling = {}
    for rule in ruleset.rules:
        last = state.last_fired.get(rule.id)
        if last is not None and rule.cooldown and now - last < rule.cooldown:
            cooling[rule.id] = last.isoformat()
    if cooling:
        out["last_fired"] = cooling
    if state.last_variant:
        out["last_variant"] = state.last_variant
    if state.tips_sent_today:
        out["tips_sent_today"] = state.tips_sent_today
    if state.max_tips_per_day is not None:
        out["max_tips_per_day"] = state.max_tips_per_day
    if state.target_7d_ago is not None:
        out["target_7d_ago"] = state.target_7d_ago
    if state.episode_since is not None:
        out["episode_since"] = state.episode_since.isoformat()
    if state.seed is not None and any(rule.randomize for rule in ruleset.rules):
        out["seed"] = state.seed  # the draws of randomised rules replay from it
    if state.unavailable:
        out["unavailable"] = state.unavailable
    return out


def state_from_record(record: dict[str, Any]) -> EvaluationState:
    """Rebuild the EvaluationState stored by `state_record`."""
    snapshot = record.get("state") or {}
    return EvaluationState(
        last_fired={
            rule_id: dt.datetime.fromisoformat(at)
            for rule_id, at in (snapshot.get("last_fired") or {}).items()
        },
        last_variant={tip: int(n) for tip, n in (snapshot.get("last_variant") or {}).items()},
        tips_sent_today=int(snapshot.get("tips_sent_today", 0)),
        max_tips_per_day=snapshot.get("max_tips_per_day"),
        target_7d_ago=snapshot.get("target_7d_ago"),
        episode_since=dt.datetime.fromisoformat(snapshot["episode_since"])
        if snapshot.get("episode_since")
        else None,
        seed=snapshot.get("seed"),
        unavailable=snapshot.get("unavailable"),
    )


def facts_from_record(stored: dict[str, Any]) -> dict[str, object]:
    """The facts as the engine saw them (JSON lists of set facts become sets again)."""
    return {
        name: frozenset(value) if name in _SET_FACTS and isinstance(value, list) else value
        for name, value in stored.items()
    }


def rederive(
    ruleset: rules.RuleSet,
    facts: dict[str, Any],
    record: dict[str, Any],
    trigger: str,
    now: dt.datetime,
) -> Decision | None:
    """Re-run the stored evaluation with full traces; None when it no longer reproduces.

    It would not reproduce only if the rule set behind the stored version changed (e.g. the
    bundled default, version None, after an upgrade); the stored reasons then stand alone.
    """
    decision = ruleset.evaluate(
        facts_from_record(facts), trigger, state_from_record(record), now, trace=True
    )
    same = decision.fired == record.get("fired") and decision.suppressed == record.get("suppressed")
    return decision if same else None
