"""A loaded rule set and its evaluation (SPEC §5 semantics as amended by §11.2).

`RuleSet.evaluate(facts, trigger, state, now)` runs the rules by priority (ties in file order).
A rule fires when its trigger matches, its `when` is true, it is not in cooldown and no higher
rule with `stop: true` has a true `when` (whether that rule fired, cools down or was over the
budget). Only the highest firing rule's `set_target` counts; the target is then capped at
`max_weekly_increase` over `state.target_7d_ago` (or the current target when unknown), refused
while progression is held if it would rise, clamped to `settings.target` min/max and rounded to
whole steps. Tips beyond the day's budget are suppressed, except `safety` tips, tips of rules
with an urgent `alert_clinician` action, tips answering a `pain_report`, and tips of the rule
whose target lowers the patient's goal (a target never falls without the patient being told
why). A safety episode holds the evaluation as `rules.safety` describes.

Speed: each trigger gets ONE compiled function valuing every applicable condition (facts read
once, settings and the trigger inlined); tip texts are single compiled functions; traces are
derived only when read (`rules.decision`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from rules.asks import ask
from rules.codes import TRIGGERS
from rules.decision import Alert, Decision, EvaluationState, RenderedTip
from rules.errors import RuleRuntimeError
from rules.expr import compile_conditions
from rules.kinds import ActionKind, Severity
from rules.model import Rule, Settings, TestCase, Tip, Variant, parse_duration
from rules.randomization import RANDOMISED_OUT, randomize
from rules.safety import Pause, episode_change, pause
from rules.targets import number, settle
from rules.templates import Template, fuse_texts

__all__ = ["RuleSet", "parse_duration"]

_NO_STATE = EvaluationState()
_Texts = Callable[[Mapping[str, object]], tuple[str, ...]] | tuple[str, ...]
_ANSWERS = "pain_report"  # tips answering this trigger are never dropped by the budget
_OPEN = "safety.episode_open"


@dataclass(frozen=True)
class _Program:
    """What one trigger evaluates: its rules, one fused condition function, default reasons.

    `base` holds every rule's reason as if none fired (the trigger's, or "condition false"):
    an evaluation copies it and replaces only the entries of rules whose condition is true.
    """

    rules: tuple[Rule, ...]
    which: Callable[[Mapping[str, object]], list[int]]
    base: dict[str, str]


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
        self.constants = settings.facts()
        self._programs: dict[str, _Program] = {}
        self._texts: dict[tuple[str, str, int], _Texts] = {}
        self._limit = settings.max_tips_per_day
        safe = {tip_id for tip_id, tip in tips.items() if tip.category == "safety"}
        # Rules a safety episode holds back (they send tips, none of them safety tips), and
        # rules a spent budget never skips (every tip they send is a safety tip).
        self._unsafe = frozenset(
            r.id for r in rules if (r.tip_ids or r.asks) and not safe & set(r.tip_ids)
        )
        self._safe = frozenset(r.id for r in rules if r.tip_ids and set(r.tip_ids) <= safe)

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with this id."""
        return next(rule for rule in self.rules if rule.id == rule_id)

    def _program(self, trigger: str) -> _Program:
        """Compile (once per trigger) the fused condition function of the rules it runs."""
        program = self._programs.get(trigger)
        if program is None:
            if trigger not in TRIGGERS:
                raise ValueError(f"unknown trigger '{trigger}' (one of: {', '.join(TRIGGERS)})")
            ran = tuple(rule for rule in self.rules if trigger in rule.on)
            base = {
                rule.id: "condition false"
                if trigger in rule.on
                else f"trigger: runs on {', '.join(sorted(rule.on))}"
                for rule in self.rules
            }
            constants = {**self.constants, "trigger": trigger}
            which = compile_conditions([rule.when for rule in ran], constants)
            program = self._programs[trigger] = _Program(ran, which, base)
        return program

    def evaluate(
        self,
        facts: Mapping[str, object],
        trigger: str = "schedule",
        state: EvaluationState | None = None,
        now: datetime | None = None,
        *,
        trace: bool = True,
        texts: bool = True,
    ) -> Decision:
        """Evaluate every rule against `facts` (missing facts are null) and decide.

        `trace=False` keeps sub-condition values for fired rules only (their traces are
        derived when read either way). `texts=False` renders tip texts when first read instead
        of now (for callers that need only which tips were sent). A rule that fails at run time
        raises `RuleRuntimeError` naming the rule and its expression.
        """
        program = self._programs.get(trigger) or self._program(trigger)
        if now is None:
            now = datetime.now(UTC)
        if state is None:
            state = _NO_STATE
        env = dict(facts)
        env["trigger"] = trigger
        try:
            true = program.which(env)
        except Exception as exc:  # any failure becomes the rule's own error
            raise _condition_error(program.rules, env, exc) from exc
        suppressed = dict(program.base)
        change = episode_change(env, trigger)
        held = pause(env, change, state.episode_since, now) if change or env.get(_OPEN) else None
        decision = Decision(
            self.slug,
            trigger,
            now,
            env,
            rules=self.rules,
            settings=self.constants,
            traced=trace,
            suppressed=suppressed,
        )
        decision.episode = change
        if not true:
            return decision
        limit = self._limit if state.max_tips_per_day is None else state.max_tips_per_day
        run = _Run(
            decision,
            state,
            env,
            limit - state.tips_sent_today,
            answering=trigger == _ANSWERS,
            texts=texts,
            paused=held,
        )
        rules = program.rules
        stopped = ""
        for index in true:
            rule = rules[index]
            if stopped:
                suppressed[rule.id] = stopped
                self._randomize(rule, run, now, stopped)
                continue
            held_back = self._randomize(rule, run, now, self._held_back(rule, run, now, limit))
            if held_back:
                suppressed[rule.id] = held_back
            else:
                del suppressed[rule.id]
                self._fire(rule, run)
            if rule.stop:  # its condition is true: lower rules are silenced, fired or not
                stopped = f"stopped by {rule.id}{_why_not_fired(held_back)}"
        if decision.target_requested is not None:
            final, notes = settle(
                self.settings, decision.target_requested, env, state, decision.hold_days, held
            )
            decision.target_notes += notes
            decision.target = final
        return decision

    def _held_back(self, rule: Rule, run: _Run, now: datetime, limit: int) -> str:
        """Why a rule whose condition is true does not fire ('' when it fires)."""
        if run.paused is not None and rule.id in self._unsafe:
            return run.paused.reason
        cooldown = rule.cooldown
        if cooldown is not None:
            last = run.state.last_fired.get(rule.id)
            if last is not None and now - last < cooldown:
                return f"cooldown until {(last + cooldown).isoformat()}"
        if (
            run.budget <= 0
            and rule.skipped_when_broke
            and not run.answering
            and rule.id not in self._safe
        ):
            return f"budget: max_tips_per_day ({limit}) reached"
        return ""

    def _randomize(self, rule: Rule, run: _Run, now: datetime, held_back: str) -> str:
        """Record a randomised rule's outcome; return why it does not fire ('' when it does)."""
        if rule.randomize is None:
            return held_back
        record, held_back = randomize(rule, self.tips, run.state, now, held_back)
        run.decision.randomized.append(record)
        if record.outcome == RANDOMISED_OUT:
            # The slot stays taken: a lower rule's tip in its place would blur the comparison
            # of sending this tip against sending nothing.
            run.budget -= len(rule.tip_ids)
        return held_back

    def _fire(self, rule: Rule, run: _Run) -> None:
        decision = run.decision
        decision.fired.append(rule.id)
        exempt = rule.urgent or run.answering
        if rule.targets and self._set_target(rule, run):
            exempt = True  # this rule lowers the goal: its tips say why
        for tip_id in rule.tip_ids:
            self._send_tip(rule, tip_id, exempt, run)
        if rule.asks:
            held = run.paused.reason if run.paused is not None else None
            ask(rule, decision, run.env, held, lambda action, why: run.drop(rule, action, why))
        if rule.hold_days:
            decision.hold_days = max(decision.hold_days or 0, rule.hold_days)
        for action in rule.alert_actions:
            severity = action.severity or Severity.INFO
            if severity == Severity.URGENT and run.paused is not None and run.paused.attached:
                run.drop(rule, "alert_clinician urgent", f"attached to the {run.paused.reason}")
                continue
            message = _rendered(rule, action.message, run.env)  # type: ignore[arg-type]
            decision.alerts.append(Alert(rule.id, severity, message))

    def _set_target(self, rule: Rule, run: _Run) -> bool:
        """Apply the rule's set_target; return whether it lowers the current target."""
        decision = run.decision
        lowers = False
        for action in rule.actions:
            if action.kind != ActionKind.SET_TARGET or action.expression is None:
                continue
            if decision.target_rule is not None:
                run.drop(rule, "set_target", f"{decision.target_rule} already set the target")
                continue
            try:
                value = action.expression.evaluate(run.env)
                if value is not None and not math.isfinite(value):
                    raise ValueError(f"gave {value}, not a finite number")
            except Exception as exc:  # reported as this rule's failure
                raise RuleRuntimeError(rule.id, action.expression.text, str(exc)) from exc
            if value is None:
                run.drop(rule, "set_target", "the expression gave null")
                continue
            decision.target_rule, decision.target_requested = rule.id, float(value)
            final, _ = settle(self.settings, float(value), run.env, run.state, None, run.paused)
            current = number(run.env.get("plan.target"))
            lowers = final is not None and current is not None and final < round(current)
        return lowers

    def _send_tip(self, rule: Rule, tip_id: str, exempt: bool, run: _Run) -> None:
        if tip_id in run.sent:
            run.drop(rule, f"send_tip {tip_id}", "duplicate tip in this evaluation")
            return
        tip = self.tips[tip_id]
        safety = tip.category == "safety"
        if run.paused is not None and not safety:
            run.drop(rule, f"send_tip {tip_id}", run.paused.reason)
            return
        if not (exempt or safety) and run.budget <= 0:
            run.drop(rule, f"send_tip {tip_id}", "budget: max_tips_per_day reached")
            return
        last = run.state.last_variant.get(tip_id)
        index = 0 if last is None else (last + 1) % len(tip.variants)
        variant = tip.variants[index]
        env = run.env
        if run.texts:
            texts = self._texts.get((rule.id, tip_id, index)) or self._fuse(rule, tip, index)
            if not isinstance(texts, tuple):
                try:
                    texts = texts(env)
                except Exception:
                    _texts(rule, variant, env)  # raises the failing text's own error
                    raise
            title, text, why = texts
            rendered = RenderedTip(
                rule.id, tip_id, tip.category, title, text, index, rule.urgent, tip.asks, why
            )
        else:
            rendered = RenderedTip(
                rule.id,
                tip_id,
                tip.category,
                None,
                None,
                index,
                rule.urgent,
                tip.asks,
                None,
                _later(rule, variant, env),
            )
        run.decision.tips.append(rendered)
        run.sent.add(tip_id)
        if not (exempt or safety):
            run.budget -= 1

    def _fuse(self, rule: Rule, tip: Tip, index: int) -> _Texts:
        """One function (or fixed strings) for a tip variant's title, text and this rule's why."""
        variant = tip.variants[index]
        fused = fuse_texts((variant.title, variant.text, rule.reason), self.constants)
        self._texts[(rule.id, tip.id, index)] = fused
        return fused


class _Run:
    """Mutable bookkeeping of one evaluation."""

    __slots__ = ("answering", "budget", "decision", "env", "paused", "sent", "state", "texts")

    def __init__(
        self,
        decision: Decision,
        state: EvaluationState,
        env: dict[str, object],
        budget: int,
        *,
        answering: bool,
        texts: bool,
        paused: Pause | None,
    ) -> None:
        self.decision = decision
        self.state = state
        self.env = env
        self.budget = budget
        self.answering = answering
        self.texts = texts
        self.paused = paused
        self.sent: set[str] = set()

    def drop(self, rule: Rule, action: str, reason: str) -> None:
        self.decision.suppressed_actions.append(
            {"rule_id": rule.id, "action": action, "reason": reason}
        )


def _rendered(rule: Rule, template: Template, env: Mapping[str, object]) -> str:
    try:
        return template.render(env)
    except Exception as exc:  # reported as this rule's failure
        raise RuleRuntimeError(rule.id, template.text, str(exc) or type(exc).__name__) from exc


def _texts(rule: Rule, variant: Variant, env: Mapping[str, object]) -> tuple[str, str, str]:
    """A tip's title, text and why."""
    try:
        return variant.title.render(env), variant.text.render(env), rule.reason.render(env)
    except Exception:  # find which one failed, and say so
        for template in (variant.title, variant.text, rule.reason):
            _rendered(rule, template, env)
        raise


def _later(
    rule: Rule, variant: Variant, env: Mapping[str, object]
) -> Callable[[], tuple[str, str, str]]:
    return lambda: _texts(rule, variant, env)


def _condition_error(
    rules: tuple[Rule, ...], env: Mapping[str, object], exc: Exception
) -> RuleRuntimeError:
    """Find which condition failed by evaluating each alone (only after a failure)."""
    for rule in rules:
        try:
            rule.when.evaluate(env)
        except Exception as own:  # this is the one that fails
            return RuleRuntimeError(rule.id, rule.when.text, str(own) or type(own).__name__)
    return RuleRuntimeError("?", "", str(exc) or type(exc).__name__)


def _why_not_fired(held_back: str) -> str:
    if not held_back:
        return ""
    if held_back.startswith("safety episode"):
        return " (safety episode)"
    if held_back.startswith(("randomised", "unavailable")):
        return f" ({held_back.partition(' (')[0]})"
    return " (cooling down)" if held_back.startswith("cooldown") else " (over budget)"
