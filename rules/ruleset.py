"""A loaded rule set and its evaluation (SPEC §5 semantics).

`RuleSet.evaluate(facts, trigger, state, now)` runs the rules by priority (ties in file order).
A rule fires when its trigger matches, its `when` is true, it is not in cooldown and no
higher rule with `stop: true` fired. Only the highest firing rule's `set_target` counts; the
target is then capped at `max_weekly_increase` over `state.target_7d_ago` (or the current
target when unknown), refused while progression is held if it would rise, clamped to
`settings.target` min/max and rounded to whole steps. Tips beyond the day's budget are
suppressed, except tips of rules with an urgent `alert_clinician` action.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property

from rules.decision import Alert, Decision, EvaluationState, RenderedTip, RuleTrace
from rules.expr import Expression, TraceEntry
from rules.templates import Template

UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """Parse `30m`, `12h` or `2d` (already validated) into a timedelta."""
    return timedelta(**{UNITS[text[-1]]: int(text[:-1])})


@dataclass(frozen=True)
class Settings:
    """The rule set's `settings` block."""

    decision_times: tuple[time, ...]
    max_tips_per_day: int
    quiet_hours: tuple[time, time] | None
    target_initial: float
    target_min: float
    target_max: float
    max_weekly_increase: float

    def facts(self) -> dict[str, object]:
        """Return the `settings.*` facts."""
        return {
            "settings.max_tips_per_day": self.max_tips_per_day,
            "settings.target.initial": self.target_initial,
            "settings.target.min": self.target_min,
            "settings.target.max": self.target_max,
            "settings.target.max_weekly_increase": self.max_weekly_increase,
        }


@dataclass(frozen=True)
class Variant:
    """One wording of a tip."""

    title: Template
    text: Template


@dataclass(frozen=True)
class Tip:
    """A tip of the library; variant 0 is the main wording."""

    id: str
    category: str
    variants: tuple[Variant, ...]
    asks: str | None


@dataclass(frozen=True)
class Action:
    """One `then` item: kind is send_tip, set_target, hold_progression or alert_clinician."""

    kind: str
    tip: str | None = None
    expression: Expression | None = None
    days: int | None = None
    severity: str | None = None
    message: Template | None = None


@dataclass(frozen=True)
class Rule:
    """A compiled rule."""

    id: str
    description: str
    priority: int
    on: frozenset[str]
    when: Expression
    actions: tuple[Action, ...]
    cooldown: timedelta | None
    stop: bool

    @cached_property
    def urgent(self) -> bool:
        """Whether the rule raises an urgent clinician alert (its tips skip the budget)."""
        return any(a.kind == "alert_clinician" and a.severity == "urgent" for a in self.actions)

    @cached_property
    def tips_only(self) -> bool:
        """Whether every action sends a tip (such a rule is skipped once the budget is spent)."""
        return all(a.kind == "send_tip" for a in self.actions)


@dataclass(frozen=True)
class TestCase:
    """An embedded test: facts in, rules expected to fire or not."""

    name: str
    trigger: str
    facts: dict[str, object]
    fires: tuple[str, ...]
    not_fires: tuple[str, ...]
    target: float | None
    has_target: bool
    tips: tuple[str, ...] | None
    # Rules that fired a moment before the test's evaluation, so they are in cooldown.
    cooling: tuple[str, ...] = ()


class RuleSet:
    """A validated, compiled rule set. Build it with `rules.load_ruleset`."""

    def __init__(
        self,
        slug: str,
        *,
        title: str,
        description: str,
        settings: Settings,
        tips: dict[str, Tip],
        rules: list[Rule],
        tests: list[TestCase],
        source: str = "<string>",
        text: str = "",
    ) -> None:
        self.slug = slug
        self.title = title
        self.description = description
        self.settings = settings
        self.tips = tips
        # sorted() is stable, so equal priorities keep file order.
        self.rules = sorted(rules, key=lambda rule: -rule.priority)
        self.tests = tests
        self.source = source
        self.text = text
        self._settings_facts = settings.facts()
        self._off_trigger = {
            rule.id: f"trigger: runs on {', '.join(sorted(rule.on))}" for rule in self.rules
        }

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with this id."""
        return next(rule for rule in self.rules if rule.id == rule_id)

    def evaluate(
        self,
        facts: Mapping[str, object],
        trigger: str = "schedule",
        state: EvaluationState | None = None,
        now: datetime | None = None,
        *,
        trace: bool = True,
    ) -> Decision:
        """Evaluate every rule against `facts` (missing facts are null) and decide.

        With `trace=False` only fired rules get their sub-condition values (their tips' `why`
        needs them); the others keep their reason without entries. The decision is otherwise
        identical, so re-running with `trace=True` on the same inputs re-derives every trace.
        """
        now = now or datetime.now(UTC)
        state = state or EvaluationState()
        env: dict[str, object] = {**self._settings_facts, **facts, "trigger": trigger}
        decision = Decision(self.slug, trigger, now, env, traced=trace)
        limit = (
            self.settings.max_tips_per_day
            if state.max_tips_per_day is None
            else state.max_tips_per_day
        )
        run = _Run(decision, state, env, limit - state.tips_sent_today)
        last_fired = state.last_fired
        for rule in self.rules:
            if trigger not in rule.on:
                run.skip(rule, self._off_trigger[rule.id], ())
                continue
            result = rule.when.evaluate(env)
            entries = tuple(rule.when.trace(env)) if trace else ()
            if not result:
                run.skip(rule, "condition false", entries)
            elif run.stopped_by:
                run.skip(rule, f"stopped by {run.stopped_by}", entries)
            elif rule.cooldown and _cooling(last_fired.get(rule.id), rule.cooldown, now):
                until = last_fired[rule.id] + rule.cooldown
                run.skip(rule, f"cooldown until {until.isoformat()}", entries)
            elif not rule.urgent and run.budget <= 0 and rule.tips_only:
                run.skip(rule, f"budget: max_tips_per_day ({limit}) reached", entries)
            else:
                self._fire(rule, entries or tuple(rule.when.trace(env)), run)
        self._settle_target(decision, env, state)
        return decision

    def _fire(self, rule: Rule, entries: tuple[TraceEntry, ...], run: _Run) -> None:
        decision = run.decision
        decision.fired.append(rule.id)
        decision.traces[rule.id] = RuleTrace(rule.id, True, "fired", entries)
        for action in rule.actions:
            if action.kind == "send_tip" and action.tip is not None:
                self._send_tip(rule, action.tip, entries, run)
            elif action.kind == "set_target" and action.expression is not None:
                if decision.target_rule is not None:
                    run.drop(rule, "set_target", f"{decision.target_rule} already set the target")
                    continue
                value = action.expression.evaluate(run.env)
                if value is None:
                    run.drop(rule, "set_target", "the expression gave null")
                    continue
                decision.target_rule, decision.target_requested = rule.id, float(value)
            elif action.kind == "hold_progression" and action.days:
                decision.hold_days = max(decision.hold_days or 0, action.days)
            elif action.kind == "alert_clinician" and action.message is not None:
                message = action.message.render(run.env)
                decision.alerts.append(Alert(rule.id, action.severity or "info", message))
        if rule.stop:
            run.stopped_by = rule.id

    def _send_tip(
        self, rule: Rule, tip_id: str, entries: tuple[TraceEntry, ...], run: _Run
    ) -> None:
        if tip_id in run.sent:
            run.drop(rule, f"send_tip {tip_id}", "duplicate tip in this evaluation")
            return
        if not rule.urgent and run.budget <= 0:
            run.drop(rule, f"send_tip {tip_id}", "budget: max_tips_per_day reached")
            return
        tip = self.tips[tip_id]
        last = run.state.last_variant.get(tip_id)
        index = 0 if last is None else (last + 1) % len(tip.variants)
        variant = tip.variants[index]
        rendered = RenderedTip(
            rule.id,
            tip.id,
            tip.category,
            variant.title.render(run.env),
            variant.text.render(run.env),
            index,
            rule.urgent,
            tip.asks,
            _why(rule, entries),
        )
        run.decision.tips.append(rendered)
        run.sent.add(tip_id)
        if not rule.urgent:
            run.budget -= 1

    def _settle_target(
        self, decision: Decision, env: Mapping[str, object], state: EvaluationState
    ) -> None:
        requested = decision.target_requested
        if requested is None:
            return
        notes = decision.target_notes
        settings = self.settings
        current = _number(env.get("plan.target"))
        value = requested
        base = state.target_7d_ago if state.target_7d_ago is not None else current
        if base is not None:
            cap = base * (1 + settings.max_weekly_increase)
            ceiling = max(cap, current) if current is not None else cap
            if value > ceiling:
                notes.append(f"capped {round(value)} -> {round(ceiling)} (max_weekly_increase)")
                value = ceiling
        held = bool(env.get("plan.progression_held")) or bool(decision.hold_days)
        if held and current is not None and value > current:
            notes.append(f"increase to {round(value)} refused: progression is held")
            value = current
        clamped = min(max(value, settings.target_min), settings.target_max)
        if clamped != value:
            notes.append(f"clamped {round(value)} -> {round(clamped)} (settings.target min/max)")
        final = round(clamped)
        if current is not None and final == round(current):
            notes.append("target unchanged")
            return
        decision.target = final


@dataclass
class _Run:
    """Mutable bookkeeping of one evaluation."""

    decision: Decision
    state: EvaluationState
    env: dict[str, object]
    budget: int
    stopped_by: str | None = None

    def __post_init__(self) -> None:
        self.sent: set[str] = set()

    def skip(self, rule: Rule, reason: str, entries: tuple[TraceEntry, ...]) -> None:
        self.decision.suppressed[rule.id] = reason
        self.decision.traces[rule.id] = RuleTrace(rule.id, False, reason, entries)

    def drop(self, rule: Rule, action: str, reason: str) -> None:
        self.decision.suppressed_actions.append(
            {"rule_id": rule.id, "action": action, "reason": reason}
        )


def _cooling(last: datetime | None, cooldown: timedelta, now: datetime) -> bool:
    return last is not None and now - last < cooldown


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _why(rule: Rule, entries: tuple[TraceEntry, ...]) -> str:
    """Say in plain words why the rule fired, from the conditions that were true."""
    true = [entry for entry in entries if entry.result] or list(entries)
    reasons = "; ".join(f"{entry.expr} ({entry.values})" for entry in true)
    lead = rule.description.rstrip(".") if rule.description else f"Rule {rule.id}"
    return f"{lead}. Because: {reasons}." if reasons else f"{lead}."
