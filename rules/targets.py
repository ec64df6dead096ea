"""Where a requested daily target settles: the weekly cap, holds, safety episodes, min/max."""

from __future__ import annotations

from collections.abc import Mapping

from rules.decision import EvaluationState
from rules.model import Settings
from rules.safety import Pause


def settle(  # noqa: PLR0917 - the rule set passes its whole context
    settings: Settings,
    requested: float,
    env: Mapping[str, object],
    state: EvaluationState,
    hold_days: int | None,
    paused: Pause | None,
) -> tuple[int | None, list[str]]:
    """The target a request settles to (None: unchanged), with notes on what changed it.

    The target is capped at `max_weekly_increase` over `state.target_7d_ago` (or the current
    target when unknown) - or over the patient's own `steps.baseline` when that is higher:
    a goal a step above what the patient already walks is no overload - refused if it would
    rise while progression is held or a safety episode is open, clamped to `settings.target`
    min/max and rounded to whole steps.
    """
    notes: list[str] = []
    current = number(env.get("plan.target"))
    value = requested
    base = state.target_7d_ago if state.target_7d_ago is not None else current
    baseline = number(env.get("steps.baseline"))
    if baseline is not None:
        base = baseline if base is None else max(base, baseline)
    if base is not None:
        cap = base * (1 + settings.max_weekly_increase)
        ceiling = max(cap, current) if current is not None else cap
        if value > ceiling:
            notes.append(f"capped {round(value)} -> {round(ceiling)} (max_weekly_increase)")
            value = ceiling
    held = bool(env.get("plan.progression_held")) or bool(hold_days)
    if (held or paused is not None) and current is not None and value > current:
        why = "progression is held" if paused is None else paused.reason
        notes.append(f"increase to {round(value)} refused: {why}")
        value = current
    clamped = min(max(value, settings.target_min), settings.target_max)
    if clamped != value:
        notes.append(f"clamped {round(value)} -> {round(clamped)} (settings.target min/max)")
    final = round(clamped)
    if current is not None and final == round(current):
        notes.append("target unchanged")
        return None, notes
    return final, notes


def number(value: object) -> float | None:
    """A fact's value as a number (None for null, booleans and anything else)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
