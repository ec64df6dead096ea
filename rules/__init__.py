"""Backstride's rules engine: a pure library (no Flask, no database, no integrations).

Public surface, stable for the service:

- `load_ruleset(text, source="<string>") -> RuleSet`: load, validate and compile YAML; raises
  `RuleSetError` whose `.errors` are `Issue(line, column, path, message)` (`as_dict()`).
- `RuleSet.evaluate(facts, trigger="schedule", state=None, now=None, *, trace=True,
  texts=True) -> Decision` (`texts=False`: tip texts rendered when first read).
- `EvaluationState`: cooldown, rotation, budget and weekly-cap memory loaded by the service,
  and when the open safety episode began (`episode_since`).
- `Decision`: fired, suppressed, suppressed_actions, tips (`RenderedTip`, whose `why` is the
  rule's reason in plain words), target, hold_days, alerts, episode (`rules.safety.EpisodeChange`:
  open, escalate or attach; the caller persists it), traces (derived when first read),
  `explain()` (conditions as and/or trees), `to_dict()`. Safety episodes are applied by the
  engine itself (`rules.safety`): while one is open only `safety` tips go out and no target
  rises.
- `simulate(ruleset, history, start, end) -> list[DayResult]`, with `History` and
  `compute_facts(history, now)` in `rules.reference` (the oracle for the service's SQL); a
  history's `resolutions` close (or keep) the episodes the simulation opens.
- `CATALOGUE` (`rules.facts`): every fact's name, type, unit, precise definition, whether it
  can be null, its range and its codes' labels (`rules.codes`, with the red flags' triage
  tiers and the conditions that need a clinician's clearance).
- `default_ruleset_text()`: the YAML of the default rule set `low-back-walking`.
- `warnings(ruleset)`: advice that does not block a rule set (the CLI and the API print it).
- `RuleRuntimeError`: a rule that failed at run time (rule id, expression, message);
  `SimulationTooLarge`: a simulation past `rules.simulation.MAX_WORK`; `HistoryError`: an
  invalid history (`.errors` as `(where, message)`), from `rules.history.parse_history`.
"""

from __future__ import annotations

from pathlib import Path

from rules.advice import warnings
from rules.decision import Alert, Decision, EvaluationState, RenderedTip, RuleTrace
from rules.errors import (
    ExpressionError,
    HistoryError,
    Issue,
    RuleRuntimeError,
    RuleSetError,
    SimulationTooLarge,
)
from rules.expr import Expression, TraceEntry, compile_expression
from rules.facts import CATALOGUE, Fact
from rules.loader import load_ruleset, run_tests
from rules.reference import History, compute_facts
from rules.ruleset import RuleSet
from rules.simulation import DayResult, simulate

DEFAULT_RULESET_PATH = Path(__file__).resolve().parent / "defaults" / "low_back_walking.yaml"


def default_ruleset_text() -> str:
    """Return the YAML text of the default rule set."""
    return DEFAULT_RULESET_PATH.read_text(encoding="utf-8")


__all__ = [
    "CATALOGUE",
    "DEFAULT_RULESET_PATH",
    "Alert",
    "DayResult",
    "Decision",
    "EvaluationState",
    "Expression",
    "ExpressionError",
    "Fact",
    "History",
    "HistoryError",
    "Issue",
    "RenderedTip",
    "RuleRuntimeError",
    "RuleSet",
    "RuleSetError",
    "RuleTrace",
    "SimulationTooLarge",
    "TraceEntry",
    "compile_expression",
    "compute_facts",
    "default_ruleset_text",
    "load_ruleset",
    "run_tests",
    "simulate",
    "warnings",
]
