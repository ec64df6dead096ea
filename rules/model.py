"""The parts of a loaded rule set: settings, tips, rules, actions and embedded tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from functools import cached_property

from rules.expr import Expression
from rules.kinds import ActionKind, Severity
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
        """Return the `settings.*` facts (constants of the rule set, inlined when compiled)."""
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
    """One `then` item: send_tip, set_target, hold_progression, alert_clinician or ask."""

    kind: ActionKind
    tip: str | None = None
    expression: Expression | None = None
    days: int | None = None
    severity: Severity | None = None
    message: Template | None = None
    instrument: str | None = None


@dataclass(frozen=True)
class Rule:
    """A compiled rule.

    `reason`: the patient's "why" for its tips (the `reason:` template, or the description
    when a rule has none). `urgent`: it raises an urgent clinician alert, so its tips skip the
    budget. `tips_only`: every action sends a tip (such a rule is skipped once the budget is
    spent). `targets`: it has a `set_target` action.
    """

    id: str
    description: str
    priority: int
    on: frozenset[str]
    when: Expression
    actions: tuple[Action, ...]
    cooldown: timedelta | None
    stop: bool
    reason: Template
    has_reason: bool = False
    # `randomize: {probability: P}`: fires with probability P where it would fire
    # (`rules.randomization`); None for an ordinary rule.
    randomize: float | None = None

    @cached_property
    def urgent(self) -> bool:
        """Whether the rule raises an urgent clinician alert (its tips skip the budget)."""
        return any(
            a.kind == ActionKind.ALERT_CLINICIAN and a.severity == Severity.URGENT
            for a in self.actions
        )

    @cached_property
    def tips_only(self) -> bool:
        """Whether every action sends a tip."""
        return all(a.kind == ActionKind.SEND_TIP for a in self.actions)

    @cached_property
    def targets(self) -> bool:
        """Whether the rule has a set_target action."""
        return any(a.kind == ActionKind.SET_TARGET for a in self.actions)

    @cached_property
    def tip_ids(self) -> tuple[str, ...]:
        """The tips the rule sends, in order."""
        return tuple(a.tip for a in self.actions if a.kind == ActionKind.SEND_TIP and a.tip)

    @cached_property
    def asks(self) -> tuple[str, ...]:
        """The questionnaires (instrument ids) the rule asks the patient to answer."""
        return tuple(
            a.instrument for a in self.actions if a.kind == ActionKind.ASK and a.instrument
        )

    @cached_property
    def hold_days(self) -> int:
        """The longest progression hold the rule asks for (0: none)."""
        return max(
            (a.days or 0 for a in self.actions if a.kind == ActionKind.HOLD_PROGRESSION), default=0
        )

    @cached_property
    def alert_actions(self) -> tuple[Action, ...]:
        """The rule's alert_clinician actions."""
        return tuple(a for a in self.actions if a.kind == ActionKind.ALERT_CLINICIAN and a.message)

    @cached_property
    def skipped_when_broke(self) -> bool:
        """Whether a spent budget skips the rule: it only sends tips, none of them urgent."""
        return self.tips_only and not self.urgent


@dataclass(frozen=True)
class TestCase:
    """An embedded test: facts in, rules expected to fire or not."""

    __test__ = False  # not a pytest test class

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
